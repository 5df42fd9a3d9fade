"""Progress of a run written into its record: stage, done/total, rate and ETA, throttled."""
from __future__ import annotations

import sys
import time
from typing import Callable

import duckdb

from engine.storage import Workspace
from engine.storage import jobs as db

ProgressFn = Callable[[str, int, int], None]


class JobProgress:
    """A `progress(stage, done, total)` that also updates run `run_id`'s record.

    Writes at most once per `interval_s` (each write is one short transaction that briefly holds
    the workspace file), plus on every stage change and when a stage completes. The rate is items
    per second since the stage started; the ETA is what is left at that rate.
    """

    def __init__(self, ws: Workspace, run_id: str, inner: ProgressFn | None = None, interval_s: float = 1.0):
        self.ws, self.run_id, self.inner, self.interval_s = ws, run_id, inner, interval_s
        self._stage: str | None = None
        self._t0 = self._last = 0.0
        self._done0 = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.inner is not None:
            self.inner(stage, done, total)
        now = time.monotonic()
        changed = stage != self._stage
        if changed:
            self._stage, self._t0, self._done0 = stage, now, done
        elif now - self._last < self.interval_s and done < total:
            return
        elapsed = now - self._t0
        rate = (done - self._done0) / elapsed if elapsed > 0 and done > self._done0 else None
        eta = (total - done) / rate if rate and total else None
        self._write(stage=stage, done=int(done), total=int(total), rate=rate, eta_s=eta)
        # The interval counts from the end of the write: a write slowed by a busy file or machine
        # must not make the next call write again at once.
        self._last = time.monotonic()

    def _write(self, **fields) -> None:
        try:
            with self.ws.connect() as con:
                db.update_job(con, self.run_id, **fields)
        except duckdb.Error as exc:  # a display write must never fail the run itself; say so in the log
            print(f"[seedbed] run progress not recorded: {str(exc).splitlines()[0]}", file=sys.stderr)
