"""Progress reporting shared by every long stage.

A stage calls `progress(stage_label, done, total)` after each step; who listens decides how to
show it: the CLI passes `tqdm_progress()`, the dashboard a function driving `st.progress`,
background runs one that writes the run record. Stages never import a UI. Steps are sized by
`adaptive_steps` to take about `STEP_TARGET_S` each, so progress moves every few seconds on a
busy CPU as well as on a GPU; `RateMeter` turns the updates into a rate and an ETA.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable, Iterator

ProgressFn = Callable[[str, int, int], None]
BYTE_UNITS = {"unit": "B", "unit_scale": True, "unit_divisor": 1000}  # a stage labelled "... (bytes)": MB, MB/s
STEP_TARGET_S = 2.0  # seconds of model work between two progress updates (and stored batches)


def report(progress: ProgressFn | None, label: str, done: int, total: int) -> None:
    """Call `progress` when one was given (stages accept None)."""
    if progress is not None:
        progress(label, int(done), int(total))


def adaptive_steps(n: int, first: int, most: int, target_s: float = STEP_TARGET_S) -> Iterator[tuple[int, int]]:
    """Yield (start, stop) slices of range(n): the first `first` items, then as many as the rate
    measured so far gets done in `target_s` seconds (at least 1, at most `most`). The caller does
    the work between two yields; each slice is timed from one yield to the next."""
    start, size = 0, max(1, min(first, most))
    while start < n:
        stop = min(n, start + size)
        t0 = time.perf_counter()
        yield start, stop
        rate = (stop - start) / max(time.perf_counter() - t0, 1e-6)
        start, size = stop, max(1, min(most, int(rate * target_s)))


class RateMeter:
    """Rate (items/s since the stage started or was resumed) and ETA of one stage's updates."""

    def __init__(self):
        self.stage: str | None = None
        self.t0, self.done0 = 0.0, 0

    def update(self, stage: str, done: int, total: int) -> tuple[float | None, float | None]:
        """(rate, eta_s) after this update; None while nothing has been measured yet."""
        now = time.monotonic()
        if stage != self.stage or done < self.done0:
            self.stage, self.t0, self.done0 = stage, now, done
        elapsed = now - self.t0
        rate = (done - self.done0) / elapsed if elapsed > 0 and done > self.done0 else None
        return rate, ((total - done) / rate if rate else None)

    def describe(self, stage: str, done: int, total: int) -> str:
        """'askllm: 120/400 documents, 1.9/s, about 2 min 27 s left'."""
        rate, eta = self.update(stage, done, total)
        text = f"{stage}: {done}/{total} documents"
        if done >= total:
            return text + ", done"
        if rate is None:
            return text + ", measuring the rate ..."
        return text + f", {rate:.2g}/s, about {format_seconds(eta)} left"


def format_seconds(seconds: float | None) -> str:
    """'45 s', '3 min 05 s', '1 h 02 min'."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def tqdm_progress(refresh_s: float = 1.0, **tqdm_kwargs) -> ProgressFn:
    """A ProgressFn that keeps one tqdm bar per stage label, closed when done reaches total. The
    open bar is redrawn every `refresh_s` seconds, so its clock and ETA move between updates."""
    from tqdm.auto import tqdm

    bars: dict[str, tqdm] = {}
    lock = threading.Lock()

    def tick() -> None:
        while True:
            time.sleep(refresh_s)
            with lock:
                for bar in list(bars.values()):
                    bar.refresh()

    def update(label: str, done: int, total: int) -> None:
        with lock:
            bar = bars.get(label)
            if bar is not None and bar.total != total and done >= bar.n:  # a refined total (ingest estimates)
                bar.total = total
            if bar is None or done < bar.n:  # a new run of this stage
                if bar is not None:
                    bar.close()
                # initial=: documents already stored count as done but not towards the rate
                unit = BYTE_UNITS if label.endswith("(bytes)") else {"unit": "doc"}
                from engine.terminal import safe  # noqa: PLC0415 (labels name files: no escape codes)

                bar = bars[label] = tqdm(total=total, initial=done, desc=safe(label), **unit, **tqdm_kwargs)
            bar.update(done - bar.n)
            if done >= total:
                bar.close()
                del bars[label]

    def close() -> None:
        """End every open bar (its line), so an error printed next starts on a line of its own."""
        with lock:
            for bar in bars.values():
                bar.close()
            bars.clear()

    if sys.stderr.isatty():  # a log file gets a line per update, not one per second
        threading.Thread(target=tick, daemon=True, name="seedbed-progress").start()
    update.close = close
    return update
