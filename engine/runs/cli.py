"""`python -m engine runs ...`: start any engine verb as a backend run, list, show, cancel, resume."""
from __future__ import annotations

import argparse
import json

from engine.storage import Workspace


def register(subparsers) -> None:
    """Add the `runs` group to the engine CLI's sub-parsers (each handler takes (ws, args) -> int)."""
    runs = subparsers.add_parser("runs", help="backend runs: start, list, show, cancel, resume")
    sub = runs.add_subparsers(dest="runs_command", required=True)
    start = sub.add_parser("start", help="start VERB [ARGS...] as a run; prints the run id last")
    start.add_argument("command", nargs=argparse.REMAINDER, help="an engine command, e.g. score --corpus c4")
    start.set_defaults(runs_handler=_start)
    lst = sub.add_parser("list", help="runs, newest first")
    lst.add_argument("--limit", type=int, default=50)
    lst.set_defaults(runs_handler=_list)
    for name, handler, text in (("show", _show, "one run's record and log tail"),
                                ("cancel", _cancel, "stop a queued or running run"),
                                ("resume", _resume, "continue a failed or cancelled run")):
        p = sub.add_parser(name, help=text)
        p.add_argument("run_id")
        if name == "resume":
            p.add_argument("--wait", action="store_true", help="block until the run ends; exit 1 unless done")
        p.set_defaults(runs_handler=handler)
    runs.set_defaults(func=run_command)


def run_command(args) -> int:
    """Entry point the CLI calls for the `runs` group (uses the global `--db`)."""
    return args.runs_handler(Workspace(getattr(args, "db", None)), args)


def _start(ws: Workspace, args) -> int:
    from engine.runs.launcher import start_run

    print(start_run(ws, list(args.command)))
    return 0


def _list(ws: Workspace, args) -> int:
    from engine.runs.launcher import list_runs

    frame = list_runs(ws, args.limit)
    if frame.empty:
        print("no runs")
        return 0
    cols = ["id", "kind", "status", "stage", "done", "total", "pid", "device", "created_at", "error"]
    print(frame[cols].to_string(index=False, max_colwidth=60))
    return 0


def _print_record(rec: dict) -> None:
    from engine.runs.launcher import log_tail

    shown = {k: v for k, v in rec.items() if v is not None}
    print(json.dumps(shown, indent=2, default=str))
    tail = log_tail(rec, 2000)
    if tail.strip():
        print("--- log tail ---")
        print(tail)


def _show(ws: Workspace, args) -> int:
    from engine.runs.launcher import dispatch, get_run

    dispatch(ws)  # dead-process detection before showing a 'running' status
    _print_record(get_run(ws, args.run_id))
    return 0


def _cancel(ws: Workspace, args) -> int:
    from engine.runs.launcher import cancel_run

    rec = cancel_run(ws, args.run_id)
    print(f"{rec['id']} {rec['status']}")
    return 0


def _resume(ws: Workspace, args) -> int:
    from engine.runs.launcher import resume_run, wait_run

    rec = resume_run(ws, args.run_id)
    if args.wait:
        rec = wait_run(ws, args.run_id)
    print(f"{rec['id']} {rec['status']}" + (f": {rec['error']}" if rec["error"] else ""))
    return 0 if rec["status"] == "done" or not args.wait else 1
