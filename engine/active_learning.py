"""The "label next" queue: which documents a curator decision teaches the quality model most.

Choice (`choose`): among undecided embedded documents, the `pool` most uncertain under the current
quality model (|P(accept) - 0.5| smallest; before a model exists, the unsupervised ensemble's
rank stands in, and with no signal at all every document is equally uncertain), taken round-robin
over topic clusters (the clusters with the fewest decisions first), so a batch spreads over
topics instead of circling one confusing corner. Never a near-duplicate twice: a document is
left out when its whitespace- and case-normalised text hash equals a decided (or already
chosen) one's, or its embedding's cosine similarity to one is >= `near_dup`.

DEFAULTS, on evidence: bench/active_learning_tune.py simulated a curator on 1,200 web-page lines
of the quality set's train split (never the documents bench/active_learning.py reports) and
compared variants by mean held-out AUC after 20/40/80 decisions (4 repeats). Round 1 (its file
bench/results/active_learning_tune_round1.json, before the calibration fix): uncertainty alone 0.649, random
0.736. Round 2 (bench/results/active_learning_tune.json): half the slots uncertain, half random, both spread
over clusters 0.756; random among non-near-duplicates 0.753; random 0.739; 20% random 0.741. The
best is the default, but every variant but uncertainty alone lies within about 0.02 of random: no
measured gain. On the reported documents (bench/results/active_learning.md) the queue did not beat random
either: 0.813 vs 0.838 after 40 decisions on 550 blocks, 0.847 vs 0.853 after 80.

Each served document comes with the model's guess and why (`explain`): P(accept), the rank of
every quality signal, and the nearest decided documents (decision, similarity, a plain-text
snippet). Pure functions over arrays, plus `next_batch`, which reads the workspace; the caller
passes the signals' good ends, so no stage, pipeline or CLI module is imported here.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine import quality_model
from engine.ensemble import oriented_ranks, rank_mean
from engine.errors import UserError
from engine.models import model_fingerprint


@dataclass(frozen=True)
class QueueConfig:
    """near_dup: cosine similarity at or above which two documents count as the same; pool: the
    most uncertain candidates per requested document that the cluster round-robin picks from;
    explore: the chance that a slot is filled at random instead (uncertainty alone keeps asking
    about one boundary of a model that may still be wrong; chosen on the quality set's train-split
    LINES by bench/active_learning_tune.py, never on the documents bench/active_learning.py reports)."""

    near_dup: float = 0.95
    pool: int = 5
    explore: float = 0.5  # tuned: see the module docstring
    density: float = 0.0  # information density (Settles & Craven 2008): uncertainty x typicality^density
    spread: bool = True  # exploring slots, too, go round the clusters (random within each)
    seed: int = 0


def text_hash(text: str) -> str:
    """Hash of the text with case and whitespace normalised: exact duplicates up to layout."""
    return hashlib.sha1(re.sub(r"\s+", " ", str(text)).strip().lower().encode()).hexdigest()


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def uncertainty(proba: np.ndarray | None, n: int) -> np.ndarray:
    """1 at P = 0.5, 0 at P in {0, 1}; all ones when there is no estimate yet."""
    if proba is None:
        return np.ones(n)
    return 1 - 2 * np.abs(np.nan_to_num(np.asarray(proba, np.float64), nan=0.5) - 0.5)


def choose(unit: np.ndarray, labels: np.ndarray, proba: np.ndarray | None, n: int,
           hashes: dict[int, str] | None = None, clusters: np.ndarray | None = None,
           config: QueueConfig = QueueConfig(), exclude: np.ndarray | None = None) -> list[int]:
    """Row indices of up to `n` documents to decide next (see the module docstring).

    `unit`: unit-length embeddings; `labels`: 1 accept / 0 reject / -1 undecided per row;
    `proba`: the model's P(accept) or None; `hashes`: row -> normalised text hash (rows without
    one are compared by embedding only); `clusters`: a topic id per row or None; `exclude`: a
    boolean mask of rows not to serve (skipped this session)."""
    decided = labels >= 0
    rng = np.random.default_rng([config.seed, int(decided.sum())])  # another draw after every decision
    open_ = ~decided if exclude is None else ~decided & ~exclude
    hashes = hashes or {}
    seen_hash = {hashes[i] for i in np.flatnonzero(decided) if i in hashes}
    groups = np.zeros(len(labels), int) if clusters is None else np.nan_to_num(clusters, nan=-1).astype(int)
    u = uncertainty(proba, len(labels)) * typicality(unit, groups) ** config.density
    u = u + rng.uniform(0, 1e-6, len(labels))  # seeded tie-break
    order = np.flatnonzero(open_)[np.argsort(-u[open_], kind="stable")]
    if decided.any() and len(order):
        close = (unit[order] @ unit[decided].T).max(1) >= config.near_dup
        order = order[~close]
    order = np.array([i for i in order if i not in hashes or hashes[i] not in seen_hash], dtype=int)
    n_random = int(rng.binomial(n, config.explore)) if config.explore > 0 else 0
    picked: list[int] = []
    state = (unit, hashes, seen_hash, config.near_dup)
    _round_robin(order[:max(n * config.pool, n)], groups, decided, n - n_random, picked, state)
    rest = rng.permutation(np.setdiff1d(order, picked))  # the exploring slots, and any the pool left empty
    if config.spread:
        _round_robin(rest, groups, decided, n, picked, state)
    _round_robin(rest, np.zeros(len(labels), int), decided, n, picked, state)
    return picked


def _round_robin(candidates: np.ndarray, groups: np.ndarray, decided: np.ndarray, n: int, picked: list[int],
                 state: tuple) -> None:
    """Append to `picked` (up to `n` in all) the first fresh candidate of each cluster in turn,
    the clusters with the fewest decisions first; `candidates` are in priority order."""
    unit, hashes, seen_hash, near_dup = state
    candidates = np.asarray(candidates, int)
    per_cluster = {g: list(candidates[groups[candidates] == g]) for g in dict.fromkeys(groups[candidates].tolist())}
    taught = {g: int((groups[decided] == g).sum()) for g in per_cluster}
    cycle = sorted(per_cluster, key=lambda g: (taught[g], -len(per_cluster[g])))
    while len(picked) < n and any(per_cluster.values()):
        for g in cycle:
            while per_cluster[g] and len(picked) < n:
                i = int(per_cluster[g].pop(0))
                if i not in picked and _fresh(i, picked, unit, hashes, seen_hash, near_dup):
                    picked.append(i)
                    seen_hash.add(hashes.get(i, f"row{i}"))
                    break


def _fresh(i: int, picked: list[int], unit: np.ndarray, hashes: dict, seen_hash: set, near_dup: float) -> bool:
    """Neither the same normalised text nor a near-duplicate embedding of anything decided or picked."""
    if i in hashes and hashes[i] in seen_hash:
        return False
    return not picked or float((unit[picked] @ unit[i]).max()) < near_dup


def typicality(unit: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(1 + cosine to the centroid of the row's cluster) / 2: high for typical documents, low for
    outliers (a cheap stand-in for the mean similarity to every other document)."""
    out = np.empty(len(unit))
    for g in np.unique(groups):
        rows = groups == g
        centre = unit[rows].mean(0)
        out[rows] = (1 + unit[rows] @ (centre / max(np.linalg.norm(centre), 1e-12))) / 2
    return out


def nearest_decided(unit: np.ndarray, labels: np.ndarray, row: int, k: int = 3) -> list[tuple[int, float]]:
    """The `k` decided rows most similar to `row` (cosine), best first."""
    decided = np.flatnonzero(labels >= 0)
    if not len(decided):
        return []
    sims = unit[decided] @ unit[row]
    top = np.argsort(-sims)[:k]
    return [(int(decided[t]), float(sims[t])) for t in top]


def explain(row: int, doc_ids: np.ndarray, unit: np.ndarray, labels: np.ndarray, proba: np.ndarray | None,
            ranks: dict[str, np.ndarray], snippets: dict[str, str], k: int = 3) -> dict:
    """The model's guess for one row and why: P(accept), each signal's percentile rank (high =
    good), the nearest decided documents with their decision, similarity and a plain snippet,
    and all of it as one plain-text sentence (`why`; never Markdown)."""
    p = None if proba is None else float(proba[row])
    signal_ranks = {n: (None if np.isnan(r[row]) else round(float(r[row]), 3)) for n, r in ranks.items()}
    near = [{"doc_id": str(doc_ids[i]), "decision": "accept" if labels[i] == 1 else "reject",
             "similarity": round(s, 3), "snippet": snippets.get(str(doc_ids[i]), "")[:120]}
            for i, s in nearest_decided(unit, labels, row, k)]
    parts = [f"model P(accept) {p:.2f} -> {'accept' if p >= 0.5 else 'reject'}" if p is not None
             else "no model yet (needs accepted and rejected decisions)"]
    parts += [f"{n} rank {v:.2f}" for n, v in signal_ranks.items() if v is not None]
    parts += [f"nearest decided: {x['decision']} at similarity {x['similarity']:.2f} ({x['snippet'][:60]!r})"
              for x in near[:1]]
    return {"doc_id": str(doc_ids[row]), "p_accept": None if p is None else round(p, 4),
            "guess": None if p is None else ("accept" if p >= 0.5 else "reject"),
            "signal_ranks": signal_ranks, "neighbours": near, "why": "; ".join(parts)}


def next_batch(ws, corpus: str, n: int, good: dict[str, str], skip=(), config: QueueConfig = QueueConfig(),
               model_config: quality_model.QualityModelConfig = quality_model.QualityModelConfig()) -> dict:
    """Up to `n` documents to decide next on `corpus`, each with text, guess and why, plus the
    model's evidence ("model": the fit summary, or "no_model": the one-line reason)."""
    from engine.storage import corpus as cstore, signals as sstore  # noqa: PLC0415

    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    with ws.connect() as con:
        if not cstore.corpus_exists(con, corpus):
            raise UserError(f"no corpus named {corpus!r}")
        ids, vectors = sstore.embeddings(con, corpus, model_fingerprint(model_config.embed_model))
        frame = cstore.corpus_frame(con, corpus, snippet_chars=200)
    if not len(ids):
        raise UserError(f"corpus {corpus!r} has no stored embeddings: run `python -m engine embed --corpus {corpus}`")
    aligned = frame.set_index("doc_id").reindex(ids)
    labels = aligned["decision"].map({"accept": 1, "reject": 0}).fillna(-1).to_numpy(int)
    members = quality_model.member_names(frame, good)
    ranks = {m: oriented_ranks({m: aligned[m].to_numpy(np.float64)}, good)[:, 0] for m in members}
    try:
        fit = quality_model.fit_quality(ids, vectors, frame, good, model_config)
        proba, evidence = fit.proba, {"model": fit.summary()}
    except UserError as exc:
        proba = rank_mean(np.column_stack(list(ranks.values()))) if ranks else None
        evidence = {"no_model": str(exc)}
    unit = unit_rows(vectors)
    picked = _pick(ws, corpus, ids, unit, labels, proba, aligned, n, set(skip), config)
    snippets = aligned["snippet"].fillna("").to_dict()
    model_proba = proba if "model" in evidence else None
    with ws.connect() as con:
        texts = cstore.documents(con, corpus, [str(ids[i]) for i in picked]).set_index("doc_id")["text"]
    docs = [{**explain(i, ids, unit, labels, model_proba, ranks, snippets), "text": str(texts.get(ids[i], ""))}
            for i in picked]
    how = ("at random among undecided documents that are not near-duplicates of a decided one"
           if config.explore >= 1 else f"{1 - config.explore:.0%} the model's least certain, {config.explore:.0%} at "
           "random, spread over topic clusters; never a near-duplicate of a decided one")
    return {"corpus": corpus, "n_decided": int((labels >= 0).sum()), "chosen": how, "documents": docs, **evidence}


def _pick(ws, corpus, ids, unit, labels, proba, aligned: pd.DataFrame, n, skip: set, config) -> list[int]:
    """`choose` with text hashes of the decided documents and of the most uncertain candidates."""
    from engine.storage import corpus as cstore  # noqa: PLC0415

    exclude = np.isin(ids, list(skip)) if skip else None
    rough = choose(unit, labels, proba, n * config.pool, None, None, QueueConfig(1.01, 1, 0.0, config.seed), exclude)
    rows = sorted(set(rough) | set(np.flatnonzero(labels >= 0).tolist()))
    with ws.connect() as con:
        texts = cstore.documents(con, corpus, [str(ids[i]) for i in rows]).set_index("doc_id")["text"]
    row_of = {str(d): i for i, d in enumerate(ids)}
    hashes = {row_of[d]: text_hash(t) for d, t in texts.items()}
    clusters = aligned["cluster"].to_numpy(np.float64) if "cluster" in aligned else None
    return choose(unit, labels, proba, n, hashes, clusters, config, exclude)
