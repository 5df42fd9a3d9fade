"""The body of one run process: `python -m engine.runs.worker DB RUN_ID` (started by the launcher).

Runs the ordinary CLI in-process on the record's argv, with `SEEDBED_RUN_ID` set so the CLI's
progress also writes the run record (`engine.runs.progress.run_progress`), then records how it
ended and starts whatever the queue lets start next. stdout/stderr already go to the run's log.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import traceback

import psutil

from engine.storage import Workspace
from engine.storage import runs as db


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


def _run_cli(ws: Workspace, argv: list[str]) -> int:
    from engine.cli import main as cli_main  # noqa: PLC0415

    try:
        code = cli_main(["--db", ws.path, *argv])
    except SystemExit as exc:  # argparse exits on bad arguments
        code = exc.code if isinstance(exc.code, int) else 1
    except Exception:  # a bug, not a user error: keep the traceback in the log
        traceback.print_exc()
        code = 1
    return int(code or 0)


def main(args: list[str] | None = None) -> int:
    db_path, run_id = (args or sys.argv[1:])[:2]
    ws = Workspace(db_path)
    with ws.connect() as con:
        rec = db.get_run(con, run_id)
    if rec is None or not _mark_started(ws, rec):
        return 0  # cancelled between claim and start: nothing to do
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = _run_cli(ws, rec["argv"])
        status = "done" if code == 0 else "failed"
        error = None if code == 0 else _error_line(rec["log_path"], code)
    except Terminated:
        code, status, error = 143, "failed", "terminated (SIGTERM)"
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    print(f"=== run {run_id} ended: {status} (exit code {code})", flush=True)
    with ws.connect() as con:  # a cancelled record stays cancelled
        db.set_status_if(con, run_id, status, ["running"], ended_at=db.utcnow(), exit_code=code, error=error)
    from engine.runs.launcher import dispatch  # noqa: PLC0415

    dispatch(ws)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
