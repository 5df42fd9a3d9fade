"""Jobs area: one row per background job (a `python -m engine ...` command in its own process),
in the table `runs` (its name before jobs were called jobs; stored data is unchanged).

The record is the only state a job has: the launcher, the job process itself (status, progress)
and every dashboard session read and write it through short transactions, so a Streamlit restart
or a killed job loses nothing. `llm2llm_run` names the LLM2LLM run a job drives (added by a
migration, and filled in for jobs recorded before it from their command). Because `Workspace.connect` holds the file exclusively for one
transaction, a read-then-update inside one `connect()` is atomic across processes: the queue
relies on that to never start a queued run twice.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Sequence

import duckdb
import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, kind TEXT, argv JSON, params JSON, status TEXT, needs_device BOOLEAN,
    pid BIGINT, pid_started DOUBLE, host TEXT, device TEXT,
    stage TEXT, done BIGINT, total BIGINT, rate DOUBLE, eta_s DOUBLE,
    created_at TIMESTAMP, started_at TIMESTAMP, ended_at TIMESTAMP, updated_at TIMESTAMP,
    log_path TEXT, error TEXT, exit_code INTEGER, attempts INTEGER DEFAULT 0);
"""
MIGRATIONS = (
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS llm2llm_run TEXT",
    # jobs recorded before the column: `llm2llm run ... --name X` (params) or `llm2llm resume X` (argv)
    "UPDATE runs SET llm2llm_run = coalesce(json_extract_string(params, '$.name'), json_extract_string(argv, '$[2]')) "
    "WHERE kind LIKE 'llm2llm %' AND llm2llm_run IS NULL",
)

Con = duckdb.DuckDBPyConnection
STATUSES = ("queued", "running", "done", "failed", "cancelled")
TERMINAL = ("done", "failed", "cancelled")
# Columns `update_job` may set; names are checked against this set, values are always parameters.
_MUTABLE = {"status", "pid", "pid_started", "host", "device", "stage", "done", "total", "rate", "eta_s",
            "started_at", "ended_at", "log_path", "error", "exit_code", "attempts", "argv"}
_COLUMNS = ("id, kind, argv, params, status, needs_device, pid, pid_started, host, device, stage, done, "
            "total, rate, eta_s, created_at, started_at, ended_at, updated_at, log_path, error, exit_code, attempts, "
            "llm2llm_run")


def utcnow() -> datetime:
    """Naive UTC timestamp: every process writes the same clock whatever its time zone."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def insert_job(con: Con, run_id: str, kind: str, argv: Sequence[str], params: dict,
               needs_device: bool, log_path: str, llm2llm_run: str | None = None) -> None:
    con.execute(
        "INSERT INTO runs (id, kind, argv, params, status, needs_device, created_at, updated_at, log_path, "
        "llm2llm_run) VALUES (?, ?, ?::JSON, ?::JSON, 'queued', ?, ?, ?, ?, ?)",
        [run_id, kind, json.dumps(list(argv)), json.dumps(params), needs_device, utcnow(), utcnow(), log_path,
         llm2llm_run],
    )


def update_job(con: Con, run_id: str, **fields: Any) -> None:
    """Set the given columns (a whitelist) of one run and bump `updated_at`."""
    bad = set(fields) - _MUTABLE
    if bad:
        raise ValueError(f"not a mutable run column: {sorted(bad)}")
    if "argv" in fields:
        fields["argv"] = json.dumps(list(fields["argv"]))
    sets = ", ".join(f"{name} = ?" for name in fields)
    con.execute(f"UPDATE runs SET {sets}, updated_at = ? WHERE id = ?", [*fields.values(), utcnow(), run_id])


def set_status_if(con: Con, run_id: str, status: str, expected: Sequence[str], **fields: Any) -> bool:
    """Compare-and-set: move the run to `status` only when its status is one of `expected`."""
    rows = con.execute("SELECT status FROM runs WHERE id = ?", [run_id]).fetchall()
    if not rows or rows[0][0] not in expected:
        return False
    update_job(con, run_id, status=status, **fields)
    return True


def _record(row: tuple) -> dict:
    rec = dict(zip([c.strip() for c in _COLUMNS.split(",")], row))
    rec["argv"] = json.loads(rec["argv"]) if rec["argv"] else []
    rec["params"] = json.loads(rec["params"]) if rec["params"] else {}
    return rec


def get_job(con: Con, run_id: str) -> dict | None:
    rows = con.execute(f"SELECT {_COLUMNS} FROM runs WHERE id = ?", [run_id]).fetchall()
    return _record(rows[0]) if rows else None


def jobs_with_status(con: Con, statuses: Sequence[str]) -> list[dict]:
    rows = con.execute(f"SELECT {_COLUMNS} FROM runs WHERE list_contains(?, status) ORDER BY created_at, id",
                       [list(statuses)]).fetchall()
    return [_record(r) for r in rows]


def list_jobs(con: Con, limit: int = 200, kind: str | None = None, llm2llm_run: str | None = None) -> pd.DataFrame:
    """Newest first (optionally of one kind, or driving one LLM2LLM run); `argv` and `params` stay
    JSON text (display); use `get_job` for one record."""
    return con.execute(
        f"SELECT {_COLUMNS} FROM runs WHERE (? IS NULL OR kind = ?) AND (? IS NULL OR llm2llm_run = ?) "
        "ORDER BY created_at DESC, id DESC LIMIT ?",
        [kind, kind, llm2llm_run, llm2llm_run, limit],
    ).df()


def claim_queued(con: Con, max_device_runs: int) -> list[dict]:
    """Mark as 'running' (pid not yet known) the queued runs that may start now, oldest first:
    every run that needs no device, and device runs while fewer than `max_device_runs` run.
    Call inside one `connect()` so two launchers never claim the same run."""
    busy = con.execute("SELECT count(*) FROM runs WHERE status = 'running' AND needs_device").fetchall()[0][0]
    claimed = []
    for rec in jobs_with_status(con, ["queued"]):
        if rec["needs_device"]:
            if busy >= max_device_runs:
                continue
            busy += 1
        update_job(con, rec["id"], status="running", pid=None, pid_started=None, started_at=utcnow(),
                   ended_at=None, error=None, exit_code=None, stage=None, done=None, total=None,
                   rate=None, eta_s=None)
        claimed.append(rec)
    return claimed
