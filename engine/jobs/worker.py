"""The body of one job process: `python -m engine --db DB jobs work JOB_ID` (started by the launcher).

Runs the ordinary CLI in-process on the record's argv, handing it a `JobProgress` so the CLI's
progress also writes the job record, then records how it ended and starts whatever the queue
lets start next. stdout/stderr already go to the job's log.
"""
from __future__ import annotations

import os
import signal
import socket
import traceback

import psutil

from engine.jobs.progress import JobProgress
from engine.storage import Workspace
from engine.storage import jobs as db


class Terminated(BaseException):
    """SIGTERM arrived (cancel, shutdown): unwind through `finally` blocks, then record the end."""


def _on_sigterm(signum, frame):  # noqa: ARG001
    raise Terminated()


def _error_line(log_path: str, exit_code: int) -> str:
    """The CLI's one-line `error: ...` from the end of the log, else the exit code."""
    try:
        with open(log_path, "rb") as f:
            f.seek(max(0, os.path.getsize(log_path) - 8192))
            lines = f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for line in reversed(lines):
        if line.startswith("error:"):
            return line[len("error:"):].strip()
    last = next((ln for ln in reversed(lines) if ln.strip()), "")
    return f"exit code {exit_code}" + (f": {last.strip()[:300]}" if last else "")


def _mark_started(ws: Workspace, rec: dict) -> bool:
    device = None
    if rec["needs_device"]:
        from engine.models import pick_device  # noqa: PLC0415 (torch import only for device runs)

        device = pick_device()
    with ws.connect() as con:
        return db.set_status_if(con, rec["id"], "running", ["running"], pid=os.getpid(),
                                pid_started=psutil.Process().create_time(), host=socket.gethostname(),
                                device=device)


def _run_cli(ws: Workspace, argv: list[str], run_command, progress) -> int:
    try:
        code = run_command(["--db", ws.path, *argv], progress)
    except SystemExit as exc:  # argparse exits on bad arguments
        code = exc.code if isinstance(exc.code, int) else 1
    except Exception:  # a bug, not a user error: keep the traceback in the log
        traceback.print_exc()
        code = 1
    return int(code or 0)


def work(ws: Workspace, job_id: str, run_command) -> int:
    """Run job `job_id`'s command with `run_command(argv, progress)` (the CLI's `main`, handed in
    by `python -m engine jobs work`), its progress also written to the job record; then record
    how it ended and start what the queue lets start next."""
    from engine.progress import tqdm_progress  # noqa: PLC0415

    with ws.connect() as con:
        rec = db.get_job(con, job_id)
    if rec is None or not _mark_started(ws, rec):
        return 0  # cancelled between claim and start: nothing to do
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = _run_cli(ws, rec["argv"], run_command, JobProgress(ws, job_id, tqdm_progress()))
        status = "done" if code == 0 else "failed"
        error = None if code == 0 else _error_line(rec["log_path"], code)
    except Terminated:
        code, status, error = 143, "failed", "terminated (SIGTERM)"
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with ws.connect() as con:  # a cancel records 'cancelled' before it signals: say the same here
        now = db.get_job(con, job_id)
    if now is not None and now["status"] == "cancelled":
        status = "cancelled"
    print(f"=== job {job_id} ended: {status}" + (" by user" if status == "cancelled" else f" (exit code {code})"),
          flush=True)
    if status == "cancelled":
        return code  # the canceller records it and starts what the queue lets start next
    with ws.connect() as con:  # a cancelled record stays cancelled
        db.set_status_if(con, job_id, status, ["running"], ended_at=db.utcnow(), exit_code=code, error=error)
    from engine.jobs.launcher import dispatch  # noqa: PLC0415

    dispatch(ws)
    return code
