"""Backend jobs: any `python -m engine VERB ...` command as a first-class, durable job.

(Names: a *job* is a background process running one engine command; an *LLM2LLM run* is the
augmentation loop's own record, `engine.storage.llm2llm`. The CLI group is `jobs`, with `runs`
kept as an alias; the stored table is still called `runs`.)

A job is a record in the workspace (`engine.storage.jobs`) plus one process started in its own
session (`start_new_session`), so it survives the browser tab closing and the Streamlit server
restarting. The process (`engine.jobs.worker`) runs the ordinary CLI in-process, writes its
status and throttled progress (stage, done/total, rate, ETA) into its own record, and logs
stdout/stderr to `<workspace dir>/runs/<id>/log.txt`.

Concurrency: there is no long-lived writer. Every process (dashboard sessions, runs, CLI) opens
the DuckDB file for one short transaction at a time and retries while another process holds it
(`Workspace.connect`); stages write one batch per transaction. Queue decisions read and update
the runs table inside one such transaction, which is exclusive across processes, so two
launchers never start the same run.

Queue: runs of heavy verbs (embedding, scoring, LLM2LLM, ...) need the device (the GPU, or the
CPU on a machine without one) and wait while `max_device_runs` (default 1) such runs are
running; light verbs (select, export, listings) start at once. Whoever changes the picture
starts what may start next: `start_job`, a finishing run, `cancel_job`, and every `refresh`.

Dead runs: a 'running' record whose process is gone (kill -9, reboot), or whose pid now belongs
to another process (start times differ), becomes 'failed' with a "process died" error. Resuming
re-queues the same record with the resume form of its command; stages skip stored work, so the
result equals an uninterrupted run's.
"""
from engine.jobs.launcher import (JobsConfig, cancel_job, dispatch, get_job, jobs_of_llm2llm, list_jobs, log_tail,
                                  refresh, resume_job, start_job, wait_job)
from engine.jobs.progress import JobProgress

__all__ = ["JobsConfig", "JobProgress", "cancel_job", "dispatch", "get_job", "jobs_of_llm2llm", "list_jobs",
           "log_tail", "refresh", "resume_job", "start_job", "wait_job"]
