"""The noise floor of an LLM2LLM comparison and the number of seeds needed to see a gain.

A run's student is trained with ONE training seed at every iteration (`LLM2LLMConfig.seed_for_training`),
so the difference between two iterations is the data's alone. What a different training seed does to
the same data is measured, not assumed: with `noise_seeds` k the run trains its seed set k more times
with training seeds `noise_train_seeds` (the `noise` stage of iteration 0), and the spread of those
accuracies, sigma, is the retraining noise of one student. A gain of one run (n = 1) or the mean
gain over n cells (paired by cell) is "measured" only when it exceeds

    floor = 2 * max(sigma * sqrt(2 / n), sd_of_the_paired_gains / sqrt(n))

(two standard errors of a difference of two students; the observed spread of the gains over cells is
used when it is larger). Inside the floor the verdict is "no measured gain".
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

Z_FACTOR = 2.0  # floor = 2 standard errors (about a 95% two-sided band)
NOISE_SEED_STRIDE = 1000  # noise training seeds: train_seed + 1000 * j, far from any iteration's


def noise_train_seeds(train_seed: int, k: int) -> list[int]:
    """The training seeds of a run's k noise replicates (replicate j = 1..k)."""
    return [train_seed + NOISE_SEED_STRIDE * j for j in range(1, k + 1)]


def sample_sd(values: Sequence[float]) -> float | None:
    """Sample standard deviation (ddof 1); None for fewer than two values."""
    values = [float(v) for v in values if v is not None and not math.isnan(v)]
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def pooled_sd(groups: Iterable[Sequence[float]]) -> float | None:
    """Within-group standard deviation pooled over groups (cells): the spread that retraining the
    SAME data with another training seed causes, free of the between-cell (seed sample) spread."""
    ss, dof = 0.0, 0
    for group in groups:
        values = [float(v) for v in group if v is not None and not math.isnan(v)]
        if len(values) < 2:
            continue
        mean = sum(values) / len(values)
        ss += sum((v - mean) ** 2 for v in values)
        dof += len(values) - 1
    return math.sqrt(ss / dof) if dof else None


def noise_floor(sigma: float | None, n: int, gain_sd: float | None = None) -> float | None:
    """The smallest mean gain over `n` paired cells that is not retraining noise (module docstring);
    None when no spread was measured."""
    if n < 1 or (sigma is None and gain_sd is None):
        return None
    parts = [sigma * math.sqrt(2.0 / n)] if sigma is not None else []
    if gain_sd is not None and not math.isnan(gain_sd) and n > 1:
        parts.append(gain_sd / math.sqrt(n))
    return Z_FACTOR * max(parts)


def verdict(gain: float | None, floor: float | None) -> str:
    """'gain' only above the floor; 'no measured gain' inside it (or below); 'no noise floor'
    when none was measured (then no gain can be claimed either)."""
    if gain is None or (isinstance(gain, float) and math.isnan(gain)):
        return "not evaluated"
    if floor is None:
        return "no noise floor (no measured gain)"
    if gain > floor:
        return "gain"
    return "loss" if gain < -floor else "no measured gain"


def seeds_needed(sigma: float, delta: float = 0.03, alpha: float = 0.05, power: float = 0.8,
                 paired: bool = True, gain_sd: float | None = None) -> int:
    """Cells (seeds) per arm to detect a gain of `delta` with a two-sided test at `alpha` and the
    given power (normal approximation). Paired (same cells, the arms share iteration 0): the sd of a
    gain is `gain_sd` when measured, else sigma * sqrt(2) (two students, independent noise):
    n = ((z_{1-alpha/2} + z_{power}) * sd / delta)^2. Unpaired (separate cells): 2 * (z * sigma / delta)^2
    per arm plus the between-cell spread, which this cannot know; use paired designs."""
    from scipy.stats import norm

    if sigma <= 0 or delta <= 0:
        raise ValueError("sigma and delta must be positive")
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    if paired:
        sd = gain_sd if gain_sd is not None else sigma * math.sqrt(2.0)
        return max(2, math.ceil((z * sd / delta) ** 2))
    return max(2, math.ceil(2 * (z * sigma / delta) ** 2))


# Retraining sd of SmolLM2-135M students (8 epochs, test accuracy by label likelihood), measured on
# an H200 with 6 retrainings of 3 cells (bench/results/llm2llm_results_gpu-noise.md, 2026-12-07):
# TREC 0.100 at 27 seeds / 0.067 at 54, SST-2 0.054 / 0.029. The 27-seed (larger) spread is kept:
# a default must not promise power that the smaller seed set lacks.
MEASURED_SD: dict[str, float | None] = {"trec": 0.100, "sst2": 0.054}
FALLBACK_SEEDS = 3  # CPU, or a task with no measured spread: what an experiment can afford there


def default_seeds(task: str, on_gpu: bool, delta: float = 0.03) -> int:
    """Seeds (cells) an experiment uses by default: on a GPU, enough to detect `delta` at the
    measured retraining spread of `task` (paired, alpha 0.05, power 0.8); else `FALLBACK_SEEDS`."""
    sd = MEASURED_SD.get(task)
    return seeds_needed(sd, delta) if on_gpu and sd else FALLBACK_SEEDS
