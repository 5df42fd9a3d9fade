"""Curator review: accept/reject decisions, nearest neighbours, and "learn from the curator".

A curator's decisions are written at once (one short transaction per click) so they survive a
reload and are seen by every session on the workspace. Once there are enough decisions of both
kinds, `train_curator` fits a logistic regression on the stored document embeddings, measures it
by stratified k-fold ROC-AUC, and stores its probability for every embedded document as a signal
of kind "curator" in `scores`/`signals` - so `select` can use the curator's own taste as the
quality side of the quality/coverage weight, and refreshing it as decisions grow closes the loop.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from engine.errors import UserError
from engine.models import DEFAULT_EMBEDDER, model_fingerprint
from engine.storage import Workspace
from engine.storage import selections as selection_store
from engine.storage import signals as signal_store

ACCEPT, REJECT = "accept", "reject"
DECISIONS = (ACCEPT, REJECT)


def record(ws: Workspace, corpus: str, doc_ids, decision: str | None, reviewer: str,
           note: str | None = None) -> int:
    """Store `decision` ("accept", "reject", or None to clear) for `doc_ids`; returns how many."""
    if decision is not None and decision not in DECISIONS:
        raise UserError(f"decision must be one of {', '.join(DECISIONS)} (or none), got {decision!r}")
    if not reviewer or not reviewer.strip():
        raise UserError("a reviewer name is required to record a decision")
    ids = list(doc_ids)
    if ids:
        with ws.connect() as con:
            selection_store.set_reviews(con, corpus, ids, decision, reviewer.strip(), note or None)
    return len(ids)


def progress_counts(decisions: pd.Series) -> dict:
    """Counts of accepted / rejected / unreviewed among a set of documents' decisions."""
    d = decisions.fillna("")
    return {"accept": int((d == ACCEPT).sum()), "reject": int((d == REJECT).sum()),
            "unreviewed": int((d == "").sum()), "total": int(len(d))}


def filter_queue(frame: pd.DataFrame, status: str = "all", score: str | None = None,
                 lo: float | None = None, hi: float | None = None) -> pd.DataFrame:
    """Rows of `frame` (corpus_frame columns) by review status ("all", "unreviewed", "accept",
    "reject") and, when `score` names a column, by lo <= value <= hi (missing values dropped)."""
    out = frame
    if status == "unreviewed":
        out = out[out["decision"].isna()]
    elif status in DECISIONS:
        out = out[out["decision"] == status]
    if score and score in out.columns and (lo is not None or hi is not None):
        v = out[score]
        keep = v.notna() & (v >= (-np.inf if lo is None else lo)) & (v <= (np.inf if hi is None else hi))
        out = out[keep]
    return out


def neighbours(doc_ids: np.ndarray, vectors: np.ndarray, doc_id: str, k: int = 5) -> list[tuple[str, float]]:
    """The `k` nearest documents to `doc_id` by cosine similarity over (doc_ids, vectors), best first."""
    hit = np.flatnonzero(doc_ids == doc_id)
    if not len(hit) or len(doc_ids) < 2:
        return []
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = unit @ unit[hit[0]]
    sims[hit[0]] = -np.inf
    k = min(k, len(doc_ids) - 1)
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.argsort(-sims[top])]
    return [(str(doc_ids[i]), float(sims[i])) for i in top]


@dataclass(frozen=True)
class CuratorConfig:
    """The "learn from the curator" classifier.

    min_per_class: accepted AND rejected documents needed before training is offered.
    folds: stratified cross-validation folds for the reported ROC-AUC (fewer if a class is small).
    C: inverse L2 regularisation of the logistic regression (embeddings are 384-d, labels few).
    embed_model: whose stored embeddings are the features (run `embed` first).
    """

    min_per_class: int = 20
    folds: int = 5
    C: float = 1.0
    seed: int = 0
    embed_model: str = DEFAULT_EMBEDDER

    def key(self, corpus: str) -> str:
        """Signal key: per corpus (decisions are), stable across refreshes so new values replace old."""
        digest = hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]
        return f"curator:{corpus}:{digest}"


@dataclass
class CuratorResult:
    signal_key: str
    auc: float
    n_accept: int
    n_reject: int
    n_scored: int


def labelled(ws: Workspace, corpus: str, config: CuratorConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(doc_ids, vectors, labels) of every embedded document; label 1 accept, 0 reject, -1 none."""
    with ws.connect() as con:
        ids, vecs = signal_store.embeddings(con, corpus, model_fingerprint(config.embed_model))
        rev = selection_store.reviews(con, corpus)
    decision = dict(zip(rev["doc_id"], rev["decision"]))
    labels = np.array([{ACCEPT: 1, REJECT: 0}.get(decision.get(d), -1) for d in ids], dtype=np.int64)
    return ids, vecs, labels


def train_curator(ws: Workspace, corpus: str, config: CuratorConfig | None = None) -> CuratorResult:
    """Fit the curator classifier, store its accept-probability for every embedded document as the
    corpus's active "curator" signal (params carry the cross-validated ROC-AUC), return the result."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 (keeps page imports light)
    from sklearn.model_selection import StratifiedKFold, cross_val_score  # noqa: PLC0415

    config = config or CuratorConfig()
    ids, vecs, labels = labelled(ws, corpus, config)
    n_acc, n_rej = int((labels == 1).sum()), int((labels == 0).sum())
    if min(n_acc, n_rej) < config.min_per_class:
        raise UserError(f"curator signal needs {config.min_per_class} accepted and {config.min_per_class} "
                        f"rejected embedded documents in '{corpus}'; it has {n_acc} and {n_rej}")
    x, y = vecs[labels >= 0], labels[labels >= 0]
    model = LogisticRegression(C=config.C, max_iter=1000, class_weight="balanced")
    folds = StratifiedKFold(n_splits=min(config.folds, n_acc, n_rej), shuffle=True, random_state=config.seed)
    auc = float(np.mean(cross_val_score(model, x, y, cv=folds, scoring="roc_auc")))
    proba = model.fit(x, y).predict_proba(vecs)[:, 1]
    key = config.key(corpus)
    params = {**asdict(config), "auc": auc, "n_accept": n_acc, "n_reject": n_rej}
    with ws.connect() as con:
        signal_store.put_scores(con, key, list(ids), proba)
        signal_store.set_signal(con, corpus, "curator", key, params)
    return CuratorResult(key, auc, n_acc, n_rej, len(ids))


def curator_status(ws: Workspace, corpus: str) -> dict | None:
    """The stored curator signal's params (auc, n_accept, n_reject, ...) or None if never trained."""
    with ws.connect() as con:
        sig = signal_store.signals(con, corpus)
    sig = sig[sig["kind"] == "curator"]
    if sig.empty:
        return None
    return json.loads(sig["params"].iloc[0])


def map_selection_name(corpus: str) -> str:
    """Name under which the documents picked on the map (box/lasso) are stored for review."""
    return f"{corpus}/map"


def save_map_selection(ws: Workspace, corpus: str, doc_ids) -> str:
    """Store the documents picked on the map as a selection, so the pick survives a reload."""
    name = map_selection_name(corpus)
    ids = [str(d) for d in doc_ids]
    with ws.connect() as con:
        selection_store.save_selection(con, name, corpus, "map", {"source": "box/lasso on the map", "n": len(ids)}, ids)
    return name
