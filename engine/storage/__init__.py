"""The workspace: one DuckDB file that owns every table of Seedbed.

Concurrency design: DuckDB lets one process at a time hold a file open for writing, so nobody
holds it for long. Every read and every write opens a short connection (`Workspace.connect`),
does one transaction and closes it; long stages write one batch per transaction. A connection
that meets another process's lock retries with backoff for `lock_timeout_s`, so the dashboard
(several sessions) and background runs share the file without "database is locked" errors.
Within one process DuckDB shares a single instance between threads, so Streamlit sessions
never conflict with each other.

All SQL lives in this package: one submodule per area, each with its `SCHEMA` (and `MIGRATIONS`
for columns added later, so a workspace made by older code opens unchanged) and the queries of
that area: `corpus` (corpora, documents, skipped rows, the per-document view), `signals`
(embeddings, scores, active-signal markers, the map), `selections` (selections and curator
reviews), `llm2llm` (LLM2LLM runs), `jobs` (background jobs). Every query that carries user input
is parameterised.
"""
from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from pathlib import Path
from typing import Iterator

import duckdb

from engine.storage import open_errors
from engine.storage.sql import Con, insert_arrow  # noqa: F401 (the package's API; areas import engine.storage.sql)

DEFAULT_DB = "seedbed.duckdb"
_initialised: set[str] = set()
_init_lock = threading.Lock()


def default_db_path() -> str:
    """`$SEEDBED_DB` when set, else `./seedbed.duckdb`."""
    return os.environ.get("SEEDBED_DB", DEFAULT_DB)


class Workspace:
    """A handle on a workspace file; cheap to create, holds no connection between calls."""

    def __init__(self, path: str | os.PathLike | None = None, lock_timeout_s: float = 120.0):
        self.path = str(Path(path or default_db_path()).expanduser().resolve())
        self.lock_timeout_s = lock_timeout_s
        open_errors.check_file(self.path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._ensure_schema()

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection inside one transaction; commits on success, rolls back on error."""
        con = self._open()
        try:
            con.execute("BEGIN TRANSACTION")
            yield con
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def _open(self) -> duckdb.DuckDBPyConnection:
        start = time.monotonic()
        delay = 0.01
        while True:
            try:
                return duckdb.connect(self.path)
            except duckdb.Error as exc:  # one line naming the file and the cause (storage/open_errors.py)
                holder = open_errors.lock_holder(str(exc))
                waited = time.monotonic() - start
                if holder is None and open_errors.SHORT_READ_MARKER in str(exc) and waited < open_errors.SHORT_READ_WAIT_S:
                    time.sleep(0.05)  # a checkpoint in flight (open_errors.SHORT_READ_MARKER)
                    continue
                if holder is None:
                    raise open_errors.describe(self.path, exc) from None
                if time.monotonic() - start > open_errors.lock_wait_s(holder, self.lock_timeout_s):
                    raise open_errors.locked(self.path, holder, time.monotonic() - start) from None
                time.sleep(delay * (1 + random.random()))  # jitter: readers and writers don't march in step
                delay = min(delay * 2, 0.25)

    def _ensure_schema(self) -> None:
        with _init_lock:
            if self.path in _initialised:
                return
            from engine.storage import (corpus, details, ingest_log, jobs, llm2llm, proxy,  # noqa: PLC0415
                                        quality_models, review_log, selections, signals)

            with self.connect() as con:
                for area in (corpus, ingest_log, signals, selections, llm2llm, jobs, review_log, details,
                             quality_models, proxy):
                    if area.SCHEMA.strip():
                        con.execute(area.SCHEMA)
                    for statement in getattr(area, "MIGRATIONS", ()):
                        con.execute(statement)
            _initialised.add(self.path)

