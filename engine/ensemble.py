"""The `quality` signal: one score that combines every available quality signal.

Default: the mean of the members' percentile ranks (each oriented so that high = good), which
needs no labels and no common scale: a judge's P(yes), a log-perplexity and a distilled head's
output all count alike. When the curator has accepted and rejected enough documents, a logistic
stack fitted on those decisions weighs the members instead (Wolpert 1992, "Stacked
generalization"); its cross-validated ROC-AUC is stored with it. The members and the way they
were combined are part of the signal's key, so another combination never overwrites this one.

Pure functions over NumPy arrays; `engine.stage_runners.run_quality` wires them to storage.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from engine.errors import UserError
from engine.filters import RULE_SIGNALS
from engine.ranks import percentile_ranks

RULES_MEMBER = "rules"  # the mean share of heuristic rules passed: a member on evidence (bench/results/filters_results.md)

MODES = ("auto", "rank-mean", "stack")


@dataclass(frozen=True)
class EnsembleConfig:
    """How members are combined: "rank-mean", "stack" (curator decisions needed) or "auto"."""

    mode: str = "auto"  # auto: stack when the curator made enough decisions, else rank-mean
    min_decisions: int = 30  # decisions needed for a stack, with at least min_per_class of each
    min_per_class: int = 10
    seed: int = 0

    def __post_init__(self):
        if self.mode not in MODES:
            raise UserError(f"unknown quality mode '{self.mode}'; choose from {', '.join(MODES)}")
        if self.min_per_class < 2 or self.min_decisions < 2 * self.min_per_class:
            raise UserError("min_per_class must be >= 2 and min_decisions >= 2 x min_per_class")


def ensemble_key(mode: str, member_keys: dict[str, str], decisions: str = "") -> str:
    """`quality:<mode>:<member names>@<hash of their full keys (+ the decisions a stack saw)>`."""
    names = "+".join(sorted(member_keys))
    digest = hashlib.sha1((repr(sorted(member_keys.items())) + decisions).encode()).hexdigest()[:8]
    return f"quality:{mode}:{names}@{digest}"


def oriented_ranks(members: dict[str, np.ndarray], good: dict[str, str]) -> np.ndarray:
    """(docs, members) percentile ranks with high = good; a signal whose low end is good is flipped."""
    cols = []
    for name, values in members.items():
        ranks = percentile_ranks(values)
        cols.append(1 - ranks if good.get(name, "high") == "low" else ranks)
    return np.column_stack(cols)


def rank_mean(ranks: np.ndarray) -> np.ndarray:
    """Mean percentile rank over the members a document has (NaN where it has none)."""
    with np.errstate(invalid="ignore"):
        counts = (~np.isnan(ranks)).sum(1)
        return np.where(counts > 0, np.nansum(ranks, 1) / np.maximum(counts, 1), np.nan)


def enough_decisions(labels: np.ndarray, config: EnsembleConfig) -> str:
    """"" when the curator's 0/1 decisions can fit a stack, else the reason in one line."""
    pos, neg = int(np.sum(labels == 1)), int(np.sum(labels == 0))
    if pos + neg < config.min_decisions or min(pos, neg) < config.min_per_class:
        return (f"a stacked quality signal needs >= {config.min_decisions} curator decisions with >= "
                f"{config.min_per_class} accepts and rejects; there are {pos} accepts and {neg} rejects")
    return ""


def fit_stack(ranks: np.ndarray, labels: np.ndarray, config: EnsembleConfig) -> dict:
    """Logistic regression of accept (1) / reject (0) on the members' ranks; missing ranks count
    as 0.5 (no opinion). Returns weights, intercept and a 5-fold cross-validated ROC-AUC."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.metrics import roc_auc_score

    X = np.nan_to_num(ranks, nan=0.5)
    model = LogisticRegression(C=1.0, max_iter=1000)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=config.seed)
    held_out = cross_val_predict(model, X, labels, cv=folds, method="predict_proba")[:, 1]
    model.fit(X, labels)
    return {"w": model.coef_[0].tolist(), "b": float(model.intercept_[0]),
            "cv_auc": round(float(roc_auc_score(labels, held_out)), 4), "n_decisions": int(len(labels))}


def apply_stack(stack: dict, ranks: np.ndarray) -> np.ndarray:
    z = np.nan_to_num(ranks, nan=0.5) @ np.asarray(stack["w"]) + stack["b"]
    return 1 / (1 + np.exp(-z))


def combine(members: dict[str, np.ndarray], good: dict[str, str], config: EnsembleConfig = EnsembleConfig(),
            decisions: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """(quality per document, record) from aligned member arrays (NaN = not scored).

    `decisions`: per document 1 accept / 0 reject / NaN none. The record names the mode used,
    the members, and for a stack its weights and cross-validated AUC."""
    if not members:
        raise UserError("no quality signal to combine yet: compute askllm, perplexity or distilled first")
    ranks = oriented_ranks(members, good)
    mode, record = config.mode, {"members": list(members)}
    if mode != "rank-mean":
        labels = np.asarray(decisions if decisions is not None else np.full(len(ranks), np.nan), np.float64)
        seen = ~np.isnan(labels)
        reason = enough_decisions(labels[seen], config)
        if reason and mode == "stack":
            raise UserError(reason)
        if not reason:
            record["stack"] = fit_stack(ranks[seen], labels[seen].astype(int), config)
            return apply_stack(record["stack"], ranks), {**record, "mode": "stack"}
        record["why_not_stack"] = reason
    return rank_mean(ranks), {**record, "mode": "rank-mean"}


def default_quality(frame, members: list[str], good: dict[str, str]) -> np.ndarray:
    """The `quality` column of a corpus frame: the stored combined signal when computed, else the
    rank-mean of the quality signals present (so an export always carries one); NaN when none is."""
    if "quality" in frame:
        return frame["quality"].to_numpy(np.float64)
    present = {n: frame[n].to_numpy(np.float64) for n in members if n in frame}
    present.update(rules_member(frame) if present else {})  # rules join a combination, never stand alone
    if not present:
        return np.full(len(frame), np.nan)
    return rank_mean(oriented_ranks(present, good))


def rules_member(frame) -> dict[str, np.ndarray]:
    """{"rules": mean over the rule signals present of their share of rules passed} (NaN where a
    document has none), or {} when no rule signal is stored. One member, not four: on the labelled
    pages the rank-mean of Ask-LLM and this mean beat Ask-LLM alone on the train split (the
    decision) and on dev (reported), bench/results/filters_results.md; on single lines it did not help."""
    present = [n for n in RULE_SIGNALS if n in frame and frame[n].notna().any()]
    if not present:
        return {}
    values = frame[present].to_numpy(np.float64)
    counts = (~np.isnan(values)).sum(1)
    with np.errstate(invalid="ignore"):  # all-NaN rows stay NaN
        return {RULES_MEMBER: np.where(counts > 0, np.nansum(values, 1) / np.maximum(counts, 1), np.nan)}
