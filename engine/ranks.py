"""Percentile ranks: the one rank function of the selection strategies and the quality signals.

Average ranks (ties share the mean of their positions, from np.unique's counts), scaled two ways:
`from_zero=False` (select's `combined`): rank / n in (0, 1]; `from_zero=True` (the distilled
head's targets, the quality ensemble): (rank - 1) / (n - 1) in [0, 1], a single value 0.5.
NaN stays NaN and takes no rank. Pure NumPy: imported by algorithm modules, imports nothing."""
from __future__ import annotations

import numpy as np


def percentile_ranks(values: np.ndarray, from_zero: bool = True) -> np.ndarray:
    """Percentile rank of each value (float64, NaN where the value is NaN); scaling above."""
    values = np.asarray(values, np.float64)
    out = np.full(len(values), np.nan)
    ok = ~np.isnan(values)
    n = int(ok.sum())
    if not n:
        return out
    _, inverse, counts = np.unique(values[ok], return_inverse=True, return_counts=True)
    average = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    if not from_zero:
        out[ok] = average / n
    else:
        out[ok] = 0.5 if n == 1 else (average - 1) / (n - 1)
    return out
