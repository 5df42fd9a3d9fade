"""Data-selection strategies over the per-document signals: pure NumPy, fast enough for a slider.

Sachdeva et al. 2024, "How to Train Data-Efficient LLMs" (https://arxiv.org/abs/2402.09668):
Ask-LLM keeps the top-k documents by the judge's P("yes"); Density samples documents without
replacement with probability proportional to 1/density (inverse propensity), so rare regions of
the embedding space survive and redundant ones are thinned. Perplexity top-k (quality = -log
ppl) and random are the paper's baselines.

Every strategy is "score each eligible document with a key, keep the k largest" (stable sort,
ties in doc_id order). Sampling uses Gumbel keys: log(p_i) + G_i with G_i ~ Gumbel(0, 1), top-k,
is exactly sequential sampling without replacement with probabilities ∝ p_i (Gumbel-top-k).
`combined` mixes the two orderings on one scale: key = w * pct(quality) + (1 - w) * pct(IPS key),
pct = percentile rank in (0, 1]. Because each term is skipped when its weight is zero, w = 1
reproduces `askllm` (or the chosen quality column) and w = 0 reproduces `density` bit for bit,
for the same seed. Noise is drawn for every row of the frame, so a document's key does not
depend on which other documents happen to be scored.

The coverage propensity (`propensities`): with topic clusters stored (`engine.clusters`) it is
"clusters", a two-level density share(cluster) x density / median density of the cluster, so
inverse propensity first evens out topics, then spreads within each; without them, "density"
alone (the paper's). The sketch's density alone keeps rare sources no better than random on the
skewed benchmark (rare sources are tight groups: dense locally, rare in mass); the two-level one
does: bench/coverage_results.md. `temperature` T sharpens it: P ∝ propensity^(-1/T); lower T
keeps more rare documents, T = 1 is plain inverse propensity (equal expected share per topic).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine import stages
from engine.coverage import cluster_metrics
from engine.errors import UserError
from engine.ranks import percentile_ranks

COVERAGE = "density"  # the coverage side of `combined`
PROPENSITIES = ("clusters", "density")  # how the coverage side weighs documents (module docstring)
TEMPERATURE = 0.5  # default T, chosen on bench/results/coverage_results.md (T = 1 keeps fewer rare documents)
LEGACY = {"temperature": 1.0, "propensity": "density"}  # what selections saved before these settings used


def strategies() -> tuple[str, ...]:
    """random, one strategy per signal that `select` uses (registry order), combined."""
    return ("random", *(s.name for s in stages.signals() if s.select), "combined")


def quality_signals() -> tuple[str, ...]:
    """Signals that can be the quality side of `combined` (top-k by their good direction)."""
    return tuple(s.name for s in stages.signals("top"))


__getattr__ = stages.registry_constants(__name__, STRATEGIES=strategies, QUALITY_COLUMNS=quality_signals)

_STREAM_RANDOM, _STREAM_DENSITY = 1, 2  # independent noise streams per seed


@dataclass
class SelectionResult:
    """Ranked doc_ids (rank 0 first) and how they were chosen; `n_excluded` documents lacked a
    signal the strategy needs and were left out (never sorted as NaN)."""

    doc_ids: np.ndarray
    strategy: str
    params: dict
    n_pool: int
    n_excluded: int
    message: str = ""
    name: str | None = None
    corpus: str | None = None
    seconds: float = 0.0
    excluded_by: dict = field(default_factory=dict)
    rows: np.ndarray | None = None  # positions of doc_ids in the frame that was ranked


def budget_count(budget: float | int, n_docs: int) -> int:
    """Documents to keep: a float in (0, 1] is a fraction of the corpus, a whole number a count."""
    if isinstance(budget, bool) or not isinstance(budget, (int, float, np.integer, np.floating)) \
            or not math.isfinite(budget) or budget <= 0:
        raise UserError(f"budget {budget!r} must be a fraction in (0, 1] or a whole number of documents")
    if isinstance(budget, (int, np.integer)) or (budget > 1 and float(budget).is_integer()):
        return int(budget)
    if budget > 1:
        raise UserError(f"budget {budget} must be a fraction in (0, 1] or a whole number of documents")
    return max(1, int(round(budget * n_docs))) if n_docs else 0


def ips_keys(density: np.ndarray, noise: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Gumbel-top-k keys for sampling without replacement with P ∝ (1/density)^(1/temperature):
    1 is the paper's inverse propensity, below 1 sharper (bench/results/coverage_results.md sweeps it)."""
    return -np.log(np.clip(density, 1e-300, None)) / temperature + noise


def propensities(frame: pd.DataFrame, how: str = "clusters") -> tuple[np.ndarray, str, str]:
    """(propensity per frame row, the kind used, a note): "clusters" = share of the document's
    cluster x density / its cluster's median density (falls back to "density" alone, with the
    reason, when clusters are missing for a document that has a density)."""
    if how not in PROPENSITIES:
        raise UserError(f"unknown propensity '{how}': choose one of {', '.join(PROPENSITIES)}")
    density = frame[COVERAGE].to_numpy(dtype=np.float64)
    if how == "density":
        return density, "density", ""
    cluster = frame["cluster"].to_numpy(dtype=np.float64) if "cluster" in frame.columns else np.full(len(frame), np.nan)
    lacking = int((np.isnan(cluster) & ~np.isnan(density)).sum())
    if lacking:
        return density, "density", (f"{lacking} documents have no topic cluster: density alone "
                                    "(run the clusters stage for topic-aware sampling)")
    ids = pd.Series(cluster.astype(np.int64))
    share = ids.map(ids.value_counts(normalize=True)).to_numpy()
    median = pd.Series(density).groupby(ids).transform("median").to_numpy()
    return share * density / np.where(median > 0, median, 1.0), "clusters", ""


def replay_args(params: dict) -> dict:
    """`choose` keyword arguments that reproduce a saved selection from its stored params
    (selections saved before temperature / propensity existed used `LEGACY`)."""
    keys = ("strategy", "weight", "budget", "seed", "quality", "temperature", "propensity")
    return {k: params.get(k, LEGACY.get(k)) for k in keys if k in params or k in LEGACY}


def _noise(seed: int, n: int, stream: int) -> np.ndarray:
    rng = np.random.default_rng([int(seed), stream])
    return rng.gumbel(size=n) if stream == _STREAM_DENSITY else rng.random(n)


def needed_columns(strategy: str, weight: float, quality: str) -> list[str]:
    """The frame columns a strategy reads (a combined term with weight 0 is not read)."""
    if strategy not in strategies():
        raise UserError(f"unknown strategy '{strategy}': choose one of {', '.join(strategies())}")
    if strategy == "combined":
        if quality not in quality_signals():
            raise UserError(f"unknown quality signal '{quality}': choose one of {', '.join(quality_signals())}")
        if not 0.0 <= weight <= 1.0:
            raise UserError(f"weight {weight} must be in [0, 1] (1 = quality only, 0 = coverage only)")
        return [c for c, w in ((quality, weight), (COVERAGE, 1.0 - weight)) if w > 0]
    return [] if strategy == "random" else [strategy]


def _eligible(frame: pd.DataFrame, columns: list[str], corpus: str) -> tuple[np.ndarray, dict]:
    """Mask of rows with every needed column present, and how many rows each column excluded."""
    mask = np.ones(len(frame), bool)
    excluded = {}
    for col in columns:
        if col not in frame.columns or frame[col].isna().all():
            hint = stages.stage(col).how_to_get(corpus)
            raise UserError(f"no '{col}' scores for corpus '{corpus or '?'}': {hint}")
        present = frame[col].notna().to_numpy()
        excluded[col] = int((~present).sum())
        mask &= present
    return mask, excluded


def _keys(frame: pd.DataFrame, mask: np.ndarray, strategy: str, weight: float, quality: str,
          seed: int, ips=None) -> np.ndarray:
    """Keys of the eligible rows (larger = chosen first); a signal whose good end is "low" is
    ranked by its negation. `ips()`: the inverse-propensity keys of the eligible rows."""
    def col(name):
        values = frame[name].to_numpy(dtype=np.float64)[mask]
        return -values if stages.stage(name).good == "low" and stages.stage(name).select == "top" else values
    if strategy == "random":
        return _noise(seed, len(frame), _STREAM_RANDOM)[mask]
    if strategy != "combined" and stages.stage(strategy).select == "ips":
        return ips()
    if strategy != "combined":
        return col(strategy)
    key = np.zeros(int(mask.sum()))
    if weight > 0:
        key += weight * percentile_ranks(col(quality), from_zero=False)
    if weight < 1:
        key += (1.0 - weight) * percentile_ranks(ips(), from_zero=False)
    return key


def choose(frame: pd.DataFrame, strategy: str, weight: float = 0.5, budget: float | int = 0.2,
           seed: int = 0, quality: str = "askllm", corpus: str | None = None,
           temperature: float = TEMPERATURE, propensity: str = "clusters") -> SelectionResult:
    """Rank `frame` (columns of `storage.corpus.corpus_frame`, doc_id order) and keep `budget`.
    `temperature` and `propensity` shape the coverage side (module docstring); the params record
    the propensity actually used."""
    weight, temperature = float(weight), float(temperature)
    if not (math.isfinite(temperature) and temperature > 0):
        raise UserError(f"temperature {temperature} must be > 0 (1 = plain inverse propensity, lower keeps more rare documents)")
    columns = needed_columns(strategy, weight, quality)
    k = budget_count(budget, len(frame))
    mask, excluded_by = _eligible(frame, columns, corpus)
    used = {}

    def ips():
        values, used["propensity"], used["note"] = propensities(frame, propensity)
        return ips_keys(values[mask], _noise(seed, len(frame), _STREAM_DENSITY)[mask], temperature)
    keys = _keys(frame, mask, strategy, weight, quality, seed, ips)
    rows = np.flatnonzero(mask)[np.argsort(-keys, kind="stable")[:k]]
    doc_ids = frame["doc_id"].to_numpy()[rows]
    n_pool, n_excluded = int(mask.sum()), int(len(frame) - mask.sum())
    params = {"strategy": strategy, "weight": weight, "budget": budget, "seed": int(seed), "quality": quality}
    message = f"selected {len(doc_ids)} of {len(frame)} documents by {strategy}"
    if used:
        params.update(temperature=temperature, propensity=used["propensity"])
        message += f" (coverage: {used['propensity']} propensity, temperature {temperature:g})"
        message += f"; {used['note']}" if used["note"] else ""
    if n_excluded:
        why = ", ".join(f"{n} without {c}" for c, n in excluded_by.items() if n)
        message += f"; excluded {n_excluded} ({why})"
    if len(doc_ids) < k:
        message += f"; budget {k} exceeds the {n_pool} eligible documents"
    return SelectionResult(doc_ids, strategy, params, n_pool, n_excluded, message,
                           corpus=corpus, excluded_by=excluded_by, rows=rows)


def select_ids(frame: pd.DataFrame, strategy: str, weight: float = 0.5, budget: float | int = 0.2,
               seed: int = 0, quality: str = "askllm", **coverage) -> np.ndarray:
    """The chosen doc_ids, best first (see `choose`; `coverage`: temperature, propensity)."""
    return choose(frame, strategy, weight, budget, seed, quality, **coverage).doc_ids


def grid_cells(x: np.ndarray, y: np.ndarray, grid: int = 20) -> np.ndarray:
    """Cell index of each point on a grid x grid lattice over the points' bounding box (-1: no point)."""
    def axis(v):
        lo, hi = np.nanmin(v), np.nanmax(v)
        return np.clip(np.nan_to_num((v - lo) / ((hi - lo) or 1.0) * grid, nan=0).astype(np.int64), 0, grid - 1)
    return np.where(np.isnan(x) | np.isnan(y), -1, axis(x) * grid + axis(y))


def choose_all(frame: pd.DataFrame, budget: float | int = 0.2, seed: int = 0, weight: float = 0.5,
               quality: str = "askllm", **coverage) -> dict[str, SelectionResult]:
    """Every strategy the frame's signals allow, at the same budget and seed."""
    chosen: dict[str, SelectionResult] = {}
    for strategy in strategies():
        try:
            chosen[strategy] = choose(frame, strategy, weight, budget, seed, quality, **coverage)
        except UserError:
            continue  # signal not computed yet: the strategy is simply not offered
    return chosen


def compare_strategies(frame: pd.DataFrame, budget: float | int = 0.2, seed: int = 0,
                       weight: float = 0.5, quality: str = "askllm", grid: int = 20,
                       **coverage) -> pd.DataFrame:
    """One row per strategy the frame's signals allow: n, n_excluded, mean quality (of `quality`),
    map coverage (fraction of occupied grid cells of the 2-D projection that the selection hits;
    NaN without a projection; `coverage`: temperature, propensity), with a `cluster` column the topic coverage of
    `engine.coverage.cluster_metrics`, and Jaccard overlap with every other strategy (`overlap_<name>`)."""
    chosen = choose_all(frame, budget, seed, weight, quality, **coverage)
    has_xy = {"x", "y"} <= set(frame.columns) and frame["x"].notna().any()
    cells = grid_cells(frame["x"].to_numpy(float), frame["y"].to_numpy(float), grid) if has_xy else None
    occupied = len(np.unique(cells[cells >= 0])) if has_xy else 0
    q = frame[quality].to_numpy(float) if quality in frame.columns else None
    members = {}
    for s, r in chosen.items():
        members[s] = np.zeros(len(frame), bool)
        members[s][r.rows] = True
    rows = []
    for s, r in chosen.items():
        hit = cells[r.rows] if has_xy else None
        row = {"strategy": s, "n": len(r.rows), "n_excluded": r.n_excluded,
               "mean_quality": float(np.nanmean(q[r.rows])) if q is not None and len(r.rows) else np.nan,
               "coverage": len(np.unique(hit[hit >= 0])) / occupied if has_xy else np.nan}
        if "cluster" in frame.columns and frame["cluster"].notna().any():
            row.update(cluster_metrics(frame["cluster"], members[s]))
        for other, m in members.items():
            union = int((members[s] | m).sum())
            row[f"overlap_{other}"] = int((members[s] & m).sum()) / union if union else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def switch_budget(mode: str, fraction: float, count: int | None, n_docs: int) -> float | int:
    """The budget in `mode` ('count' or 'fraction') when the budget switches, keeping the same
    number of documents: 0.10 of 400 -> 40 documents, and 40 of 400 -> 0.10."""
    n = max(1, int(n_docs))
    if mode == "count":
        return max(1, min(n, round(float(fraction) * n)))
    count = n // 5 if count is None else int(count)
    return min(1.0, max(0.01, round(count / n, 2)))
