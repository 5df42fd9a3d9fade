"""Start, queue, watch, cancel and resume jobs (see `engine.jobs` for the design)."""
from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psutil

from engine.errors import UserError
from engine.storage import Workspace
from engine.storage import jobs as db

# Verbs that use little CPU and no model start at once; every other verb waits for the device.
LIGHT_VERBS = {"corpora", "select", "export", "ingest", ("llm2llm", "status"), ("llm2llm", "export")}
GROUP_VERBS = {"llm2llm"}  # verbs whose second word is a sub-command (part of the run's kind)
_LAUNCH_GRACE_S = 60.0  # a claimed run may show no pid for this long before it counts as dead


@dataclass
class JobsConfig:
    """How runs share the machine. `max_device_runs` defaults to $SEEDBED_MAX_DEVICE_RUNS or 1."""
    max_device_runs: int = field(default_factory=lambda: int(os.environ.get("SEEDBED_MAX_DEVICE_RUNS", "1")))
    # SIGTERM, then SIGKILL after this long. Short: a job's Python SIGTERM handler runs only once
    # the current model step returns to the interpreter (seconds on a busy CPU), and every stage
    # stores each finished step in its own transaction, so a kill loses at most that one step.
    cancel_grace_s: float = 2.0
    poll_s: float = 1.0  # `wait_job` polling period


def jobs_dir(ws: Workspace) -> Path:
    """Run folders live beside the workspace file: `<dir>/runs/<id>/log.txt`."""
    return Path(ws.path).parent / "runs"


def kind_of(argv: list[str]) -> str:
    """'score', 'pipeline', 'llm2llm run', ... : the verb, with the sub-command for groups."""
    return " ".join(argv[:2]) if argv[0] in GROUP_VERBS and len(argv) > 1 else argv[0]


def needs_device(argv: list[str]) -> bool:
    return argv[0] not in LIGHT_VERBS and tuple(argv[:2]) not in LIGHT_VERBS


def params_of(argv: list[str]) -> dict:
    """`--key value` pairs (a bare `--flag` is True) and positionals under 'args', for display."""
    params: dict = {}
    rest = argv[2:] if argv[0] in GROUP_VERBS else argv[1:]
    i = 0
    while i < len(rest):
        tok = rest[i]
        if tok.startswith("--"):
            key, eq, value = tok[2:].partition("=")
            if eq:
                params[key] = value
            elif i + 1 < len(rest) and not rest[i + 1].startswith("--"):
                params[key], i = rest[i + 1], i + 1
            else:
                params[key] = True
        else:
            params.setdefault("args", []).append(tok)
        i += 1
    return params


def llm2llm_run_of(argv: list[str]) -> str | None:
    """The LLM2LLM run an `llm2llm ...` command drives (`run --name X`, `resume X`, `status X`, ...)."""
    if argv[0] != "llm2llm" or len(argv) < 2:
        return None
    params = params_of(argv)
    return str(params["name"]) if "name" in params else (params.get("args") or [None])[0]


def resume_argv(argv: list[str]) -> list[str]:
    """The command that continues a run: LLM2LLM runs continue by name with `llm2llm resume`;
    every other verb is idempotent and skips stored work, so it simply runs again."""
    if argv[:2] == ["llm2llm", "run"]:
        params = params_of(argv)
        if "name" in params:
            return ["llm2llm", "resume", str(params["name"])]
    return list(argv)


def _validate(argv: list[str], parser=None) -> None:
    """Catch a typo now rather than in a job that fails in the queue: `parser` is the engine
    CLI's (the CLI hands it in; this package never imports the CLI)."""
    if not argv:
        raise UserError("jobs start needs a command, e.g. jobs start score --corpus NAME")
    if argv[0] in {"jobs", "runs", "--db"} or argv[0].startswith("-"):
        raise UserError(f"jobs start VERB [ARGS...]: '{argv[0]}' is not an engine verb")
    if parser is None:
        return
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
    except SystemExit as exc:
        why = (said.getvalue().strip().splitlines() or ["not a valid command"])[-1].removeprefix("error: ")
        raise UserError(f"jobs start {' '.join(argv)}: {why}") from exc


def start_job(ws: Workspace, argv: list[str], config: JobsConfig | None = None, parser=None) -> str:
    """Record `python -m engine ARGV` as a queued job, start it when the queue allows; return its
    id. With `parser` (`engine.cli.build_parser()`) a bad command is refused before queueing."""
    argv = [str(a) for a in argv]
    _validate(argv, parser)
    run_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    log = jobs_dir(ws) / run_id / "log.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    with ws.connect() as con:
        db.insert_job(con, run_id, kind_of(argv), argv, params_of(argv), needs_device(argv), str(log),
                      llm2llm_run_of(argv))
    dispatch(ws, config)
    return run_id


def dispatch(ws: Workspace, config: JobsConfig | None = None) -> list[str]:
    """Mark dead runs failed, then launch every queued run that may start now; returns their ids."""
    config = config or JobsConfig()
    refresh(ws)
    with ws.connect() as con:  # one exclusive transaction: no other launcher claims the same run
        claimed = db.claim_queued(con, config.max_device_runs)
    for rec in claimed:
        _launch(ws, rec)
    return [r["id"] for r in claimed]


def _launch(ws: Workspace, rec: dict) -> None:
    env = dict(os.environ, SEEDBED_RUN_ID=rec["id"], SEEDBED_DB=ws.path, PYTHONUNBUFFERED="1")
    root = str(Path(__file__).resolve().parents[2])  # so `-m engine` imports from any working directory
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    with open(rec["log_path"], "ab") as log:
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(rec['argv'])}\n".encode())
        log.flush()
        proc = subprocess.Popen(  # own session: survives the launcher (Streamlit, a CLI) exiting
            [sys.executable, "-m", "engine", "--db", ws.path, "jobs", "work", rec["id"]],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    with ws.connect() as con:
        db.set_status_if(con, rec["id"], "running", ["running"], pid=proc.pid,
                         pid_started=_start_time(proc.pid), host=socket.gethostname())


def _start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def is_alive(rec: dict) -> bool:
    """Whether a 'running' record's process still runs (unknown host: assume so)."""
    if rec["host"] and rec["host"] != socket.gethostname():
        return True
    if rec["pid"] is None:
        started = rec["started_at"]
        return started is not None and (db.utcnow() - started).total_seconds() < _LAUNCH_GRACE_S
    try:
        proc = psutil.Process(int(rec["pid"]))
        if proc.status() == psutil.STATUS_ZOMBIE:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(proc.pid, os.WNOHANG)  # reap it when this process (Streamlit, a CLI) launched it
            return False
        # A reused pid belongs to a process started later than ours.
        return rec["pid_started"] is None or abs(proc.create_time() - rec["pid_started"]) < 1.0
    except psutil.Error:
        return False


def refresh(ws: Workspace) -> list[str]:
    """Mark 'running' runs whose process is gone as failed ("process died"); returns their ids."""
    with ws.connect() as con:
        running = db.jobs_with_status(con, ["running"])
    dead = [r for r in running if not is_alive(r)]
    if dead:
        with ws.connect() as con:
            for r in dead:
                db.set_status_if(con, r["id"], "failed", ["running"], ended_at=db.utcnow(),
                                 error=f"process died (pid {r['pid']} gone: killed or machine restarted)")
    return [r["id"] for r in dead]


def get_job(ws: Workspace, run_id: str) -> dict:
    with ws.connect() as con:
        return _record(con, ws, run_id)


def _record(con, ws: Workspace, run_id: str, allowed: tuple[str, ...] = (), action: str = "") -> dict:
    """The run's record inside the caller's transaction; a UserError when it does not exist or
    (with `allowed`) when its status does not allow `action`."""
    rec = db.get_job(con, run_id)
    if rec is None:
        raise UserError(f"no run '{run_id}' in {ws.path}")
    if allowed and rec["status"] not in allowed:
        raise UserError(f"run {run_id} is {rec['status']}; only {' or '.join(allowed)} runs can be {action}")
    return rec


def list_jobs(ws: Workspace, limit: int = 200) -> pd.DataFrame:
    """Jobs newest first, after dead-process detection and starting what may start: the one
    listing every view uses, so a dead job never shows as running."""
    dispatch(ws)
    with ws.connect() as con:
        return db.list_jobs(con, limit)


def jobs_of_llm2llm(ws: Workspace, name: str) -> pd.DataFrame:
    """Jobs that ran (or resumed) LLM2LLM run `name`, newest first, after dead-process detection."""
    dispatch(ws)
    with ws.connect() as con:
        return db.list_jobs(con, llm2llm_run=name)


def cancel_job(ws: Workspace, run_id: str, config: JobsConfig | None = None) -> dict:
    """Cancel a queued run, or stop a running one: SIGTERM to its process group, SIGKILL after
    `cancel_grace_s`. Records 'cancelled' first so the run's own exit does not overwrite it."""
    config = config or JobsConfig()
    with ws.connect() as con:
        rec = _record(con, ws, run_id, ("queued", "running"), "cancelled")
        db.set_status_if(con, run_id, "cancelled", ["queued", "running"], ended_at=db.utcnow(),
                         error="cancelled by user")
    local = not rec["host"] or rec["host"] == socket.gethostname()  # never signal a pid of another machine
    if rec["status"] == "running" and rec["pid"] and local and is_alive(rec):
        if _stop_group(int(rec["pid"]), config.cancel_grace_s):  # killed: it could not log its own end
            _log_line(rec, f"=== job {run_id} ended: cancelled by user (stopped with SIGKILL after "
                           f"{config.cancel_grace_s:g} s)")
    elif rec["status"] == "queued":
        _log_line(rec, f"=== job {run_id} ended: cancelled by user before it started")
    dispatch(ws, config)
    return get_job(ws, run_id)


def _stop_group(pid: int, grace_s: float) -> bool:
    """SIGTERM to the run's process group (the run leads its own session, so the group id is its
    pid), SIGKILL after `grace_s`. Returns True when it had to SIGKILL. A zombie counts as gone:
    a run whose parent is not this process (started by another job, a CLI) stays a zombie until
    its parent reaps it, and waiting for it to vanish used to cost the whole grace period."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return False
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _running(pid):
            return False
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    return True


def _running(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)  # reap it when this process launched it
            return False
        return True
    except psutil.Error:
        return False


def _log_line(rec: dict, line: str) -> None:
    """Append one line to a run's log (the launcher speaks for a run that cannot), unless the run
    already wrote its own end line before it was killed."""
    if f"job {rec['id']} ended:" in log_tail(rec, 400):
        return
    with contextlib.suppress(OSError):
        with open(rec["log_path"], "a", encoding="utf-8") as log:
            log.write(line + "\n")


def resume_job(ws: Workspace, run_id: str, config: JobsConfig | None = None) -> dict:
    """Re-queue a failed or cancelled run (same id and log) with the resume form of its command."""
    refresh(ws)
    with ws.connect() as con:
        rec = _record(con, ws, run_id, ("failed", "cancelled"), "resumed")
        db.set_status_if(con, run_id, "queued", ["failed", "cancelled"], argv=resume_argv(rec["argv"]),
                         attempts=(rec["attempts"] or 0) + 1, error=None, ended_at=None, exit_code=None)
    dispatch(ws, config)
    return get_job(ws, run_id)


def wait_job(ws: Workspace, run_id: str, timeout_s: float | None = None, config: JobsConfig | None = None) -> dict:
    """Block until the run is done, failed or cancelled (or `timeout_s` passes); returns the record."""
    config = config or JobsConfig()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        dispatch(ws, config)  # also notices a run that died while we waited
        rec = get_job(ws, run_id)
        if rec["status"] in db.TERMINAL or (deadline is not None and time.monotonic() > deadline):
            return rec
        time.sleep(config.poll_s)


def log_tail(rec: dict, max_chars: int = 4000) -> str:
    """The end of a run's log; tqdm's carriage-return redraws are collapsed to their last state."""
    path = Path(rec.get("log_path") or "")
    if not path.is_file():
        return ""
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 4 * max_chars))
        text = f.read().decode("utf-8", errors="replace")
    lines = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n")]
    return "\n".join(lines)[-max_chars:]
