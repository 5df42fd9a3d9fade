"""Statistics of a proxy check: mean held-out loss with a 95% t-interval over seeds, the paired loss
gap of two selections (seed k of one against seed k of the other: same initial weights and batch
order positions, so the pairing removes the seed's own noise), curves with bands, and the one
verdict line. Pure functions over lists of floats; nothing here trains or stores."""
from __future__ import annotations

import math

import numpy as np


def t_interval(values) -> tuple[float, float | None]:
    """(mean, half-width of the 95% Student-t interval); half-width None with fewer than 2 values."""
    from scipy.stats import t  # noqa: PLC0415

    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()), None
    return float(x.mean()), float(t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def entry_summary(name: str, losses: list[float], curves: list[list]) -> dict:
    """One selection: mean loss, its interval and the mean curve with its band per eval point."""
    mean, half = t_interval(losses)
    points = []
    for i, (tokens, _loss) in enumerate(curves[0]):
        m, h = t_interval([c[i][1] for c in curves])
        points.append({"tokens": tokens, "mean": round(m, 5), "lo": round(m - (h or 0), 5), "hi": round(m + (h or 0), 5)})
    return {"name": name, "loss_mean": round(mean, 5), "loss_ci95": _ci(mean, half),
            "losses": [round(v, 5) for v in losses], "curve": points}


def _ci(mean: float, half: float | None) -> list[float] | None:
    return None if half is None else [round(mean - half, 5), round(mean + half, 5)]


def pair_summary(a: str, a_losses: list[float], b: str, b_losses: list[float]) -> dict:
    """`better` (lower mean loss) and the paired gap worse minus better with its 95% interval."""
    gap = np.asarray(b_losses) - np.asarray(a_losses)  # > 0: a is better
    better, worse = (a, b) if gap.mean() >= 0 else (b, a)
    gap = gap if better == a else -gap  # worse minus better, seed by seed
    mean, half = t_interval(gap)
    ci = _ci(mean, half)
    return {"better": better, "worse": worse, "gap_mean": round(mean, 5), "gap_ci95": ci,
            "half_width": None if half is None else round(half, 5),
            "includes_zero": ci is None or ci[0] <= 0.0}


def choice_summary(per_seed: list[dict]) -> dict:
    """A multiple-choice target's figures for one entry: mean probability on the right choice with
    its 95% interval over seeds, and mean accuracy of the top choice."""
    mean, half = t_interval([r["p_correct"] for r in per_seed])
    return {"p_correct_mean": round(mean, 5), "p_correct_ci95": _ci(mean, half),
            "acc_mean": round(float(np.mean([r["acc"] for r in per_seed])), 5), "choice_items": per_seed[0]["items"]}


def choice_gap(pair: dict, better: list[dict], worse: list[dict]) -> dict:
    """The pair's paired gap in probability on the right choice (better minus worse by loss, seed by seed)."""
    mean, half = t_interval(np.asarray([r["p_correct"] for r in better]) - [r["p_correct"] for r in worse])
    return {**pair, "p_correct_gap_mean": round(mean, 5), "p_correct_gap_ci95": _ci(mean, half)}


def verdict(pair: dict, tokens: int, seeds: int) -> str:
    """One line: 'combined beats random by 0.031 ± 0.012 nats at 2M tokens, 3 seeds' or, when the
    95% interval includes zero (or there is one seed), 'no measured difference ...'."""
    at = f"at {_tokens(tokens)} tokens, {seeds} seed{'s' if seeds != 1 else ''}"
    if pair["half_width"] is None:
        return (f"no measured difference between {pair['better']} and {pair['worse']}: one seed gives no interval "
                f"(gap {pair['gap_mean']:.3f} nats {at}); use --seeds 3")
    spread = f"{pair['gap_mean']:.3f} ± {pair['half_width']:.3f} nats"
    if pair["includes_zero"]:
        return (f"no measured difference between {pair['better']} and {pair['worse']}: {spread} {at}, "
                "the 95% interval includes zero")
    return f"{pair['better']} beats {pair['worse']} by {spread} {at}"


def _tokens(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)
