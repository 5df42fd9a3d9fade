"""A judge distilled to corpus scale: an LLM judge scores a sample, a small head on the stored
embeddings learns its scores and scores every document at embedding speed.

The recipe of FineWeb-Edu's classifier (Penedo et al. 2024, arXiv 2406.17557) and NeMo Curator's
quality classifiers, on Seedbed's own parts: the judge is any quality signal (Ask-LLM by default),
the features are the sentence embeddings already stored for density and the map. The head is a
ridge regression on the judge's percentile ranks, a logistic regression on "judge above its
median", or a one-hidden-layer MLP; its regularisation is cross-validated, its validation figures
(Spearman and ROC-AUC against the judge) come from sample rows it never saw. Curator decisions,
when present, join the training rows as ranks 1 / 0 with more weight.

Pure functions over NumPy arrays; `engine.stage_runners.run_distilled` wires them to storage.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np

from engine.errors import UserError
from engine.ranks import percentile_ranks  # noqa: F401 (also this module's API: the heads' targets)

HEADS = ("ridge", "logistic", "mlp")


@dataclass(frozen=True)
class DistillConfig:
    """Which judge teaches, how big its sample is and which head learns it."""

    judge: str = "askllm"  # the signal whose scores the head learns (a per-document signal)
    judge_model: str = ""  # "" = that signal's default model (e.g. qwen2.5-coder-1.5b-instruct)
    sample_size: int = 0  # 0 = min(corpus, max(min_sample, sample_frac x corpus))
    min_sample: int = 2000
    sample_frac: float = 0.05
    head: str = "ridge"
    holdout: float = 0.2  # share of the sample kept out of training for the validation figures
    curator_weight: float = 3.0  # weight of a curator decision relative to one judge score
    seed: int = 0

    def __post_init__(self):
        if self.head not in HEADS:
            raise UserError(f"unknown distilled head '{self.head}'; choose from {', '.join(HEADS)}")
        if self.sample_size < 0 or self.min_sample < 1 or not 0 < self.sample_frac <= 1:
            raise UserError("sample_size must be >= 0, min_sample >= 1 and sample_frac in (0, 1]")
        if not 0.05 <= self.holdout <= 0.5 or self.curator_weight < 0:
            raise UserError("holdout must be in [0.05, 0.5] and curator_weight >= 0")

    def key(self, judge_key: str = "") -> str:
        """`distilled:<head>:<judge's key>` + every result-changing non-default setting."""
        extras = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self)
                  if f.name not in {"judge", "judge_model", "head"} and getattr(self, f.name) != f.default]
        return ":".join(["distilled", self.head, f"[{judge_key or self.judge}]", *extras])


def sample_size(n_docs: int, config: DistillConfig) -> int:
    """How many documents the judge scores: `config.sample_size`, or the default rule."""
    if n_docs < 1:
        raise UserError("the corpus has no documents to distil a judge on")
    if config.sample_size > n_docs:
        raise UserError(f"sample of {config.sample_size} documents is larger than the corpus ({n_docs}); "
                        f"use --sample-size {n_docs} or less (0 = default rule)")
    if config.sample_size:
        return config.sample_size
    return min(n_docs, max(config.min_sample, math.ceil(config.sample_frac * n_docs)))


def draw_sample(n_docs: int, size: int, seed: int, clusters: np.ndarray | None = None) -> np.ndarray:
    """Sorted row indices of a seeded sample; proportional to cluster sizes when `clusters` is
    given (largest remainder, so small clusters still get their share), uniform otherwise."""
    rng = np.random.default_rng(seed)
    if clusters is None or len(np.unique(clusters)) < 2:
        return np.sort(rng.choice(n_docs, size=size, replace=False))
    labels, counts = np.unique(np.asarray(clusters), return_counts=True)
    quota = counts * size / n_docs
    take = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - take))[:size - take.sum()]:
        take[i] += 1
    picks = [rng.choice(np.flatnonzero(clusters == lab), size=t, replace=False) for lab, t in zip(labels, take)]
    return np.sort(np.concatenate(picks))


# --- heads: plain arrays, so a stored head is JSON and loading it runs no pickled code ---------

def _fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, head: str, seed: int) -> dict:
    """Fit one head with its regularisation chosen by 5-fold cross-validation inside (X, y)."""
    from sklearn.linear_model import LogisticRegressionCV, RidgeCV
    from sklearn.neural_network import MLPRegressor

    reps = np.maximum(1, np.round(w).astype(int))  # weights as repeated rows: RidgeCV's weighted path
    if head == "ridge":                              # is ~100x slower and MLPRegressor has none
        model = RidgeCV(alphas=np.logspace(-2, 3, 11)).fit(np.repeat(X, reps, axis=0), np.repeat(y, reps))
        return {"head": head, "w": model.coef_.tolist(), "b": float(model.intercept_), "alpha": float(model.alpha_)}
    if head == "logistic":
        binary = (y >= 0.5).astype(int)
        if len(np.unique(binary)) < 2:
            raise UserError("the judge gave every sampled document the same score: nothing to learn")
        model = LogisticRegressionCV(Cs=np.logspace(-2, 2, 9), cv=5, max_iter=2000, random_state=seed,
                                     use_legacy_attributes=False)
        model.fit(X, binary, sample_weight=w)
        return {"head": head, "w": np.ravel(model.coef_).tolist(), "b": float(np.ravel(model.intercept_)[0]), "C": float(np.ravel(model.C_)[0])}
    X, y = np.repeat(X, reps, axis=0), np.repeat(y, reps)
    best = None  # pick the L2 penalty by the fit on its internal early-stopping split
    for alpha in (1e-3, 1e-1):
        model = MLPRegressor(hidden_layer_sizes=(64,), alpha=alpha, max_iter=300, early_stopping=True, random_state=seed).fit(X, y)
        if best is None or model.best_validation_score_ > best[0]:
            best = (model.best_validation_score_, alpha, model)
    _, alpha, model = best
    return {"head": head, "W1": model.coefs_[0].tolist(), "b1": model.intercepts_[0].tolist(),
            "W2": model.coefs_[1][:, 0].tolist(), "b2": float(model.intercepts_[1][0]), "alpha": alpha}


def apply_head(head: dict, X: np.ndarray) -> np.ndarray:
    """Scores (higher = the judge would like it more) of the rows of `X` under a fitted head."""
    X = np.asarray(X, np.float32)
    if head["head"] == "mlp":
        hidden = np.maximum(X @ np.asarray(head["W1"], np.float32) + np.asarray(head["b1"], np.float32), 0)
        return (hidden @ np.asarray(head["W2"], np.float32) + head["b2"]).astype(np.float64)
    z = X @ np.asarray(head["w"], np.float32) + head["b"]
    return 1 / (1 + np.exp(-z.astype(np.float64))) if head["head"] == "logistic" else z.astype(np.float64)


def validation(judge: np.ndarray, predicted: np.ndarray) -> dict:
    """Agreement of the head with the judge on held-out rows: Spearman, and ROC-AUC of the head
    for "judge above its median"."""
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    top = judge > np.median(judge)
    auc = float(roc_auc_score(top, predicted)) if 0 < top.sum() < len(top) else float("nan")
    return {"spearman": round(float(spearmanr(judge, predicted).statistic), 4), "auc": round(auc, 4),
            "n_heldout": int(len(judge))}


def fit_distilled(X: np.ndarray, judge: np.ndarray, config: DistillConfig,
                  curator_X: np.ndarray | None = None, curator_y: np.ndarray | None = None) -> dict:
    """Fit the head on judge scores of the sampled rows (+ curator decisions) and validate it.

    `X`: embeddings of the sampled rows; `judge`: their judge scores. A seeded `holdout` share of
    the judge rows is kept out to measure agreement; the returned head is then refitted on every
    row. Returns {"head", "validation", "n_train", "n_curator"}."""
    judge = np.asarray(judge, np.float64)
    if len(judge) < 20 or np.unique(judge).size < 2:
        raise UserError(f"need at least 20 judged documents with differing scores to distil; got {len(judge)}")
    targets = percentile_ranks(judge)
    n_cur = 0 if curator_y is None else len(curator_y)
    rows = np.vstack([X, curator_X]) if n_cur else np.asarray(X)
    y = np.concatenate([targets, np.asarray(curator_y, np.float64)]) if n_cur else targets
    w = np.concatenate([np.ones(len(judge)), np.full(n_cur, config.curator_weight)])
    rng = np.random.default_rng(config.seed)
    held = rng.choice(len(judge), size=max(5, int(round(config.holdout * len(judge)))), replace=False)
    train = np.setdiff1d(np.arange(len(y)), held)
    probe = _fit(rows[train], y[train], w[train], config.head, config.seed)
    figures = validation(judge[held], apply_head(probe, rows[held]))
    head = _fit(rows, y, w, config.head, config.seed)
    return {"head": head, "validation": figures, "n_train": int(len(y)), "n_curator": int(n_cur)}


def judge_settings(stored: dict | None, fields: set[str], judge_model: str = "") -> dict:
    """The judge settings a head learns: those of the corpus's active judge signal (what was
    scored or chosen, e.g. `score --set template=content`), minus settings that do not change
    results; fresh defaults (+ `judge_model`) when nothing is stored or another model is named."""
    if not stored or (judge_model and stored.get("model") != judge_model):
        return {"model": judge_model or None}
    return {k: v for k, v in stored.items() if k in fields and k not in ("device", "batch_size", "batch_tokens")}


def head_digest(head: dict) -> str:
    return hashlib.sha1(json.dumps(head, sort_keys=True).encode()).hexdigest()[:12]
