"""Two reader processes and one writer process share one workspace file for a minute.

This is the dashboard-while-a-run-writes situation: real processes, a real DuckDB file, only
`engine.storage.Workspace` between them. No lock error may surface, every write must be visible
afterwards, and each reader's row count may only grow.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import UserError
from engine.storage import Workspace
from engine.storage import jobs as db

DURATION_S = float(os.environ.get("SEEDBED_CONCURRENCY_S", "60"))
ROOT = Path(__file__).resolve().parents[2]

# Each role prints one JSON line of stats; any exception exits non-zero with its traceback.
ROLE = r"""
import json, sys, time
from engine.storage import Workspace
from engine.storage import jobs as db
role, path, duration = sys.argv[1], sys.argv[2], float(sys.argv[3])
ws = Workspace(path)
end = time.monotonic() + duration
stats = {"ops": 0, "max_op_s": 0.0, "counts": []}
i = 0
while time.monotonic() < end:
    t = time.monotonic()
    if role == "writer":
        with ws.connect() as con:  # one run record plus a progress update, like a run's batch
            db.insert_job(con, f"w{i:06d}", "score", ["score", "--corpus", "c"], {}, True, "log")
            db.update_job(con, f"w{i:06d}", stage="score", done=i, total=10**6)
        i += 1
    else:
        with ws.connect() as con:
            stats["counts"].append(len(db.list_jobs(con, limit=10**9)))
    stats["ops"] += 1
    stats["max_op_s"] = max(stats["max_op_s"], time.monotonic() - t)
stats["written"] = i
print(json.dumps(stats))
"""


def _spawn(role: str, path: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", ROLE, role, path, str(DURATION_S)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # three processes share the file for DURATION_S (62 s in bench/results/ci_fresh_clone.log)
@pytest.mark.timeout(int(DURATION_S) + 180)
def test_two_readers_one_writer_share_the_file(tmp_path):
    path = str(tmp_path / "ws.duckdb")
    Workspace(path)  # schema first, so the roles start on equal terms
    procs = {name: _spawn(name.rstrip("12"), path) for name in ("writer", "reader1", "reader2")}
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=DURATION_S + 150)
        assert proc.returncode == 0, f"{name} failed:\n{err[-3000:]}"
        assert "lock" not in err.lower(), err[-3000:]
        results[name] = json.loads(out.strip().splitlines()[-1])

    writer = results["writer"]
    with Workspace(path).connect() as con:
        stored = db.list_jobs(con, limit=10**9)
    assert len(stored) == writer["written"]  # no lost write
    assert stored["id"].is_unique and stored["done"].notna().all()  # every progress update landed
    # Not starved: each open/commit/close costs ~50 ms on a busy 2-core box, so three processes
    # share roughly 10-20 transactions a second; demand one every two seconds from each (one a
    # second failed at 58 of 60 when the CI box ran other tests beside this one).
    assert writer["written"] >= DURATION_S / 2, f"writer starved: {writer}"
    for name in ("reader1", "reader2"):
        counts = results[name]["counts"]
        assert len(counts) >= DURATION_S / 2, f"{name} starved: {len(counts)} reads"
        assert all(a <= b for a, b in zip(counts, counts[1:])), f"{name} saw a count go down"
        assert counts[-1] <= writer["written"]
    print({name: {k: v for k, v in r.items() if k != "counts"} for name, r in results.items()})


def test_threads_opening_and_closing_at_once_never_fail(tmp_path):
    """Streamlit sessions are threads of one process: DuckDB 2.0 raises "Unique file handle conflict"
    when one thread opens the file while another's last connection closes it (seen in the browser
    test when the demo loaded); Workspace.connect waits it out like a lock."""
    import threading

    ws, errors = Workspace(tmp_path / "ws.duckdb"), []

    def open_close() -> None:
        for _ in range(150):
            try:
                with ws.connect() as con:
                    con.execute("SELECT 1").fetchall()
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(str(exc)[:200])

    threads = [threading.Thread(target=open_close) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_short_read_while_another_process_checkpoints_is_retried(tmp_path, monkeypatch):
    """DuckDB can read a short block when it opens the file during another process's checkpoint;
    the open is retried, and only a file still short after SHORT_READ_WAIT_S is called corrupt."""
    import duckdb

    from engine.storage import open_errors

    ws, real_connect, calls = Workspace(tmp_path / "ws.duckdb"), duckdb.connect, []

    def short_twice(path, *args, **kwargs):
        calls.append(path)
        if len(calls) <= 2:
            raise duckdb.IOException("IO Error: Could not read enough bytes from file: attempted to read 4096")
        return real_connect(path, *args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", short_twice)
    with ws.connect() as con:
        assert con.execute("SELECT 1").fetchone() == (1,)
    assert len(calls) == 3

    monkeypatch.setattr(open_errors, "SHORT_READ_WAIT_S", 0.2)
    monkeypatch.setattr(duckdb, "connect", lambda *a, **k: (_ for _ in ()).throw(
        duckdb.IOException("IO Error: Could not read enough bytes from file")))
    with pytest.raises(UserError, match="truncated or corrupt"):
        with ws.connect():
            pass
