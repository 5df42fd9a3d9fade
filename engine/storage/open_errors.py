"""One-line answers for a workspace file that cannot be opened: a folder, a file that is not a
DuckDB database (or is cut short), or a file locked by another program. A lock held by a Seedbed
process (CLI, dashboard, a run, tests) is waited for; a lock held by any other program (a DuckDB
shell, a notebook) is reported after FOREIGN_LOCK_WAIT_S, since it will not be released soon."""
from __future__ import annotations

import re
from pathlib import Path

from engine.errors import UserError

FOREIGN_LOCK_WAIT_S = 3.0
# The last one is DuckDB's in-process race (2.0): a thread opens the file while another thread's last
# connection is tearing the shared instance down; it clears in milliseconds, so it is waited for too.
LOCK_MARKERS = ("Could not set lock", "database is locked", "Conflicting lock", "Unique file handle conflict")
# Opened while another process's checkpoint rewrites the file, DuckDB 2.0 can read a short block;
# it reads whole a moment later. Only a file still short after SHORT_READ_WAIT_S is called corrupt.
SHORT_READ_MARKER = "Could not read enough bytes"
SHORT_READ_WAIT_S = 3.0
_HOLDER = re.compile(r"held in (.+?) \(PID (\d+)\)")
# What a Seedbed process runs: its program, `-m` module or script (never its other arguments: any
# program that opened the default workspace names `seedbed.duckdb` there, and was waited for 120 s).
_SEEDBED_PROGRAMS = {"streamlit", "pytest", "py.test"}
_SEEDBED_MODULES = re.compile(r"^(engine|streamlit|pytest)(\.|$)")
_SEEDBED_SCRIPTS = {"app.py", "dashboard.py", "streamlit", "pytest"}
_SEEDBED_CODE = re.compile(r"\b(from|import) engine\b")
_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


def check_file(path: str) -> None:
    """Refuse, before DuckDB sees it, a path that is a folder or a file that is not a DuckDB database
    (DuckDB would otherwise try to download a reader for e.g. a SQLite file)."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{path}: is a folder, not a workspace file; give a file such as {p / 'seedbed.duckdb'}")
    if not p.exists():
        if p.parent.exists() and not p.parent.is_dir():
            raise UserError(f"{path}: {p.parent} is a file, not a folder")
        return
    with open(p, "rb") as f:
        head = f.read(16)
    if len(head) < 12 or head[8:12] != _MAGIC:
        what = "an empty file" if not head else f"it starts with {head!r}"
        raise UserError(f"{path}: not a DuckDB workspace file ({what}); give another --db or move the file away")


def lock_holder(message: str) -> tuple[str, int | None] | None:
    """(program, pid) holding the lock named in a DuckDB error, or None when it is no lock error."""
    if not any(m in message for m in LOCK_MARKERS):
        return None
    found = _HOLDER.search(message)
    return (found.group(1), int(found.group(2))) if found else ("another process", None)


def held_by_seedbed(pid: int | None) -> bool:
    """Whether a lock holder looks like Seedbed (worth waiting for); unknown holders count as Seedbed."""
    if pid is None:
        return True
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return True  # gone already (retry at once) or not visible: behave as before
    return is_seedbed_command([a for a in args if a])


def is_seedbed_command(args: list[str]) -> bool:
    """Whether a command line (argv) runs Seedbed: the CLI or a job (`-m engine`), the dashboard,
    the tests, a Ray worker, or Python code importing `engine`."""
    if not args:
        return True
    program = Path(args[0]).name
    if args[0].startswith("ray::") or program in _SEEDBED_PROGRAMS:
        return True
    rest = [a for a in args[1:] if a not in ("-u", "-B", "-O", "-E", "-s", "-I")]  # interpreter flags
    if len(rest) >= 2 and rest[0] == "-m":
        return bool(_SEEDBED_MODULES.match(rest[1]))
    if len(rest) >= 2 and rest[0] == "-c":
        return bool(_SEEDBED_CODE.search(rest[1]))
    return bool(rest) and Path(rest[0]).name in _SEEDBED_SCRIPTS


def lock_wait_s(holder: tuple[str, int | None], seedbed_wait_s: float) -> float:
    """How long to wait for a lock: a Seedbed holder commits soon, another program may never."""
    return seedbed_wait_s if held_by_seedbed(holder[1]) else FOREIGN_LOCK_WAIT_S


def locked(path: str, holder: tuple[str, int | None], waited: float) -> UserError:
    program, pid = holder
    who = f"{program} (PID {pid})" if pid else program
    return UserError(f"{path}: the workspace is locked by {who} (waited {waited:.0f} s); "
                     f"close that program or use another --db")


def describe(path: str, exc: Exception) -> UserError:
    """The one-line UserError for a DuckDB error raised while opening `path`."""
    message = " ".join(str(exc).split())
    if "Is a directory" in message:
        return UserError(f"{path}: is a folder, not a workspace file")
    if "not a valid DuckDB database" in message:
        return UserError(f"{path}: not a DuckDB workspace file")
    if "Could not read enough bytes" in message or "Corrupt" in message or "checksum" in message.lower():
        return UserError(f"{path}: the workspace file is truncated or corrupt ({message[:200]}); "
                         "restore it from a copy or use another --db")
    return UserError(f"{path}: cannot open the workspace ({message[:300]})")
