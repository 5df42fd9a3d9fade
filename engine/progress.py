"""Progress reporting shared by every long stage.

A stage calls `progress(stage_label, done, total)` after each batch; who listens decides how to
show it: the CLI passes `tqdm_progress()`, the dashboard a function driving `st.progress`,
background runs one that writes the run record. Stages never import a UI.
"""
from __future__ import annotations

from typing import Callable

ProgressFn = Callable[[str, int, int], None]
BYTE_UNITS = {"unit": "B", "unit_scale": True, "unit_divisor": 1000}  # a stage labelled "... (bytes)": MB, MB/s


def report(progress: ProgressFn | None, label: str, done: int, total: int) -> None:
    """Call `progress` when one was given (stages accept None)."""
    if progress is not None:
        progress(label, int(done), int(total))


def tqdm_progress(**tqdm_kwargs) -> ProgressFn:
    """A ProgressFn that keeps one tqdm bar per stage label, closed when done reaches total."""
    from tqdm.auto import tqdm

    bars: dict[str, tqdm] = {}

    def update(label: str, done: int, total: int) -> None:
        bar = bars.get(label)
        if bar is None or bar.total != total or done < bar.n:  # a new run of this stage
            if bar is not None:
                bar.close()
            unit = BYTE_UNITS if label.endswith("(bytes)") else {"unit": "doc"}
            bar = bars[label] = tqdm(total=total, desc=label, **unit, **tqdm_kwargs)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
            del bars[label]

    return update
