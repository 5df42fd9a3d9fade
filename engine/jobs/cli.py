"""`python -m engine jobs ...` (alias `runs`): start any engine verb as a background job, list,
show, cancel, resume. Registered by `engine.cli`; the full parser reaches `start` as `args.parser`."""
from __future__ import annotations

import argparse
import json

from engine.terminal import say
from engine.storage import Workspace


def register(subparsers) -> None:
    """Add the `jobs` group (and its alias `runs`) to the engine CLI's sub-parsers."""
    jobs = subparsers.add_parser("jobs", aliases=["runs"], help="background jobs: start, list, show, cancel, resume")
    sub = jobs.add_subparsers(dest="jobs_command", required=True)
    start = sub.add_parser("start", help="start VERB [ARGS...] as a job; prints the job id last")
    start.add_argument("command", nargs=argparse.REMAINDER, help="an engine command, e.g. score --corpus c4")
    start.set_defaults(jobs_handler=_start)
    lst = sub.add_parser("list", help="jobs, newest first")
    lst.add_argument("--limit", type=int, default=50)
    lst.set_defaults(jobs_handler=_list)
    for name, handler, text in (("show", _show, "one job's record and log tail"),
                                ("cancel", _cancel, "stop a queued or running job"),
                                ("resume", _resume, "continue a failed or cancelled job")):
        p = sub.add_parser(name, help=text)
        p.add_argument("job_id")
        if name == "resume":
            p.add_argument("--wait", action="store_true", help="block until the job ends; exit 1 unless done")
        p.set_defaults(jobs_handler=handler)
    work = sub.add_parser("work", help="(started by the launcher) run queued job JOB_ID in this process")
    work.add_argument("job_id")
    work.set_defaults(jobs_handler=_work)
    jobs.set_defaults(func=jobs_command)


def jobs_command(args) -> int:
    """Entry point the CLI calls for the `jobs` group (uses the global `--db`)."""
    return args.jobs_handler(Workspace(getattr(args, "db", None)), args)


def _start(ws: Workspace, args) -> int:
    from engine.jobs.launcher import start_job  # noqa: PLC0415

    say(start_job(ws, list(args.command), parser=getattr(args, "parser", None)))
    return 0


def _work(ws: Workspace, args) -> int:
    from engine.jobs.worker import work  # noqa: PLC0415

    return work(ws, args.job_id, args.run_command)


def _list(ws: Workspace, args) -> int:
    from engine.jobs.launcher import list_jobs  # noqa: PLC0415

    frame = list_jobs(ws, args.limit)
    if frame.empty:
        say("no jobs")
        return 0
    cols = ["id", "kind", "status", "stage", "done", "total", "pid", "device", "created_at", "error"]
    say(frame[cols].to_string(index=False, max_colwidth=60))
    return 0


def _print_record(rec: dict) -> None:
    from engine.jobs.launcher import log_tail  # noqa: PLC0415

    shown = {k: v for k, v in rec.items() if v is not None}
    say(json.dumps(shown, indent=2, default=str))
    tail = log_tail(rec, 2000)
    if tail.strip():
        say("--- log tail ---")
        say(tail)


def _show(ws: Workspace, args) -> int:
    from engine.jobs.launcher import dispatch, get_job  # noqa: PLC0415

    dispatch(ws)  # dead-process detection before showing a 'running' status
    _print_record(get_job(ws, args.job_id))
    return 0


def _cancel(ws: Workspace, args) -> int:
    from engine.jobs.launcher import cancel_job  # noqa: PLC0415

    rec = cancel_job(ws, args.job_id)
    say(f"{rec['id']} {rec['status']}")
    return 0


def _resume(ws: Workspace, args) -> int:
    from engine.jobs.launcher import resume_job, wait_job  # noqa: PLC0415

    rec = resume_job(ws, args.job_id)
    if args.wait:
        rec = wait_job(ws, args.job_id)
    say(f"{rec['id']} {rec['status']}" + (f": {rec['error']}" if rec["error"] else ""))
    return 0 if rec["status"] == "done" or not args.wait else 1
