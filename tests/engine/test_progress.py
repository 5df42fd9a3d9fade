"""Progress: steps sized by the measured rate, rate/ETA text, tqdm bars that ignore stored work."""
from __future__ import annotations

import io

from engine import progress


class FakeClock:
    """perf_counter/monotonic that advance only when the test says the work took time."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_steps_start_small_then_take_about_the_target_time(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    sizes = []
    for start, stop in progress.adaptive_steps(100, first=4, most=64, target_s=2.0):
        sizes.append(stop - start)
        clock.now += 0.5 * (stop - start)  # 2 items/s: each step should hold ~4 items
    assert sizes[0] == 4 and set(sizes[1:-1]) == {4} and sum(sizes) == 100


def test_steps_grow_to_the_cap_when_fast_and_shrink_to_one_when_slow(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    fast = []
    for start, stop in progress.adaptive_steps(1000, first=4, most=256, target_s=2.0):
        fast.append(stop - start)
        clock.now += 0.001 * (stop - start)
    assert fast[0] == 4 and max(fast) == 256 and sum(fast) == 1000
    slow = []
    for start, stop in progress.adaptive_steps(5, first=4, most=64, target_s=2.0):
        slow.append(stop - start)
        clock.now += 10.0 * (stop - start)  # 0.1 items/s: one item per step, an update every 10 s
    assert slow == [4, 1]


def test_rate_meter_measures_from_the_first_update_and_says_the_eta(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    meter = progress.RateMeter()
    assert meter.describe("askllm", 100, 400) == "askllm: 100/400 documents, measuring the rate ..."
    clock.now = 10.0
    assert meter.describe("askllm", 120, 400) == "askllm: 120/400 documents, 2/s, about 2 min 20 s left"
    assert meter.describe("askllm", 400, 400).endswith(", done")


def test_tqdm_bar_counts_stored_documents_as_done_but_not_in_the_rate():
    out = io.StringIO()
    update = progress.tqdm_progress(file=out, mininterval=0)
    update("embed", 300, 400)
    update("embed", 400, 400)
    text = out.getvalue()
    assert "300/400" in text and "400/400" in text
