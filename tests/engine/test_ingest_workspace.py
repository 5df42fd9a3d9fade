"""A workspace file that cannot be opened is one line naming the file and the cause, quickly."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import duckdb
import pytest

from engine.cli import main
from engine.errors import UserError
from engine.storage import Workspace


def make(tmp_path, kind):
    path = tmp_path / f"{kind}.duckdb"
    if kind == "folder":
        path.mkdir()
    elif kind == "garbage":
        path.write_bytes(os.urandom(40_000))
    elif kind == "text":
        path.write_text("not a database\n" * 100)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "sqlite":
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE a (x)")
        con.commit()
        con.close()
    elif kind == "truncated":
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE t AS SELECT range AS i, 'x' || range AS s FROM range(200000)")
        con.close()
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    return path


@pytest.mark.parametrize("kind, cause", [
    ("folder", "is a folder, not a workspace file"), ("garbage", "not a DuckDB workspace file"),
    ("text", "not a DuckDB workspace file"), ("empty", "not a DuckDB workspace file (an empty file)"),
    ("sqlite", "not a DuckDB workspace file (it starts with b'SQLite format 3"),
    ("truncated", "the workspace file is truncated or corrupt"),
])
def test_unusable_workspace_files_are_one_line(tmp_path, capsys, kind, cause):
    path = make(tmp_path, kind)
    with pytest.raises(UserError) as err:
        Workspace(path)
    assert str(err.value).startswith(str(path.resolve())) and cause in str(err.value)
    assert main(["--db", str(path), "corpora"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and cause in lines[0]


def test_a_lock_held_by_another_program_is_reported_within_seconds(tmp_path, capsys):
    path = tmp_path / "ws.duckdb"
    Workspace(path)
    holder = subprocess.Popen(  # the path comes through the environment: this command line names no Seedbed part
        [sys.executable, "-c", "import duckdb, os, time; c = duckdb.connect(os.environ['DB']); "
                               "print('held', flush=True); time.sleep(120)"],
        env={**os.environ, "DB": str(path)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        code = main(["--db", str(path), "corpora"])
        waited = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait()
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and waited < 10 and len(lines) == 1
    assert f"{path}: the workspace is locked by " in lines[0] and f"(PID {holder.pid})" in lines[0]
