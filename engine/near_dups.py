"""The `near_dups` stage: near-duplicate clusters of a corpus (MinHash LSH, `engine.minhash`) and
one representative kept per cluster by a rule the user picks.

Stored: every document's cluster (the doc_id of its representative) and size in `near_dups`,
and as the signal's value 1.0 for a kept document (a representative or a document without
near-duplicates) and 0.0 for a near-duplicate of a kept one, so `select --exclude-near-duplicates`
and Explore drop the 0s. The clusters are relative to the corpus: new documents recompute them.

Keep rules: "longest" (most characters, then smallest doc_id), "quality" (highest value of the
corpus's active quality signal - `quality`, else askllm, perplexity, distilled - falling back
to "longest" where none is stored).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine import minhash
from engine.errors import UserError

KEEP_RULES = ("longest", "quality")
QUALITY_ORDER = ("quality", "askllm", "perplexity", "distilled")


@dataclass(frozen=True)
class NearDupConfig:
    """`threshold`: estimated Jaccard similarity of word `shingle`-grams above which two documents
    are near-duplicates; `num_perm` MinHash permutations; `keep`: which member of a cluster stays."""

    threshold: float = 0.8
    num_perm: int = 128
    shingle: int = 5
    seed: int = 1
    keep: str = "longest"

    def __post_init__(self):
        if self.keep not in KEEP_RULES:
            raise UserError(f"unknown keep rule '{self.keep}'; choose from {', '.join(KEEP_RULES)}")
        if not 0 < self.threshold <= 1 or self.num_perm < 2 or self.shingle < 1:
            raise UserError("near_dups needs 0 < threshold <= 1, num_perm >= 2 and shingle >= 1")

    def key(self) -> str:
        return f"near_dups:j{self.threshold}:p{self.num_perm}:s{self.shingle}:seed{self.seed}:keep={self.keep}"


def representatives(first: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Per document the index of its cluster's kept member: the highest `priority` (ties: the
    lowest index). `first` is `minhash.clusters`' output."""
    order = np.lexsort((np.arange(len(first)), -priority, first))  # by cluster, best first
    best = np.empty(len(first), np.int64)
    starts = np.r_[True, first[order][1:] != first[order][:-1]]
    best_of_cluster = order[starts]
    best[order] = np.repeat(best_of_cluster, np.diff(np.r_[np.flatnonzero(starts), len(order)]))
    return best


def keep_priority(docs: pd.DataFrame, frame: pd.DataFrame, keep: str) -> tuple[np.ndarray, str]:
    """(priority per document of `docs`, what it is): n_chars, or a quality signal with n_chars as tie-break."""
    lengths = docs["n_chars"].to_numpy(np.float64)
    if keep == "quality":
        for name in QUALITY_ORDER:
            if name in frame and frame[name].notna().any():
                q = docs["doc_id"].map(frame.set_index("doc_id")[name]).to_numpy(np.float64)
                q = np.where(np.isnan(q), -np.inf, q)
                ranks = pd.Series(q).rank(method="dense").to_numpy()
                return ranks * (lengths.max() + 1) + lengths, name  # quality first, then length
    return lengths, "n_chars"


def find(docs: pd.DataFrame, frame: pd.DataFrame, config: NearDupConfig) -> pd.DataFrame:
    """doc_id, representative, size, kept for `docs` (doc_id, text, n_chars)."""
    sig = minhash.signatures(docs["text"], config.num_perm, config.shingle, config.seed)
    first = minhash.clusters(sig, config.threshold)
    priority, _ = keep_priority(docs, frame, config.keep)
    rep = representatives(first, priority)
    ids = docs["doc_id"].to_numpy()
    size = np.bincount(first, minlength=len(first))[first]
    return pd.DataFrame({"doc_id": ids, "representative": ids[rep], "size": size, "kept": rep == np.arange(len(ids))})


def run_near_dups(ws, corpus: str, config: NearDupConfig, progress=None, embed_model=None):  # noqa: ARG001
    """The stage: cluster the corpus, store clusters and the kept flag, mark the key active.
    Returns (stage name, computed, cached, seconds, message) for the registry's StageResult."""
    from engine.progress import report  # noqa: PLC0415
    from engine.storage import corpus as cstore, details as dstore, signals as sstore  # noqa: PLC0415

    t0, key = time.perf_counter(), config.key()
    with ws.connect() as con:
        if not cstore.corpus_exists(con, corpus):
            raise UserError(f"no corpus named '{corpus}'; ingest one with `python -m engine ingest PATH --corpus {corpus}`")
        docs = cstore.documents(con, corpus)
        frame = cstore.corpus_frame(con, corpus, snippet_chars=0)
    report(progress, "near_dups", 0, len(docs))
    found = find(docs, frame, config)
    with ws.connect() as con:
        dstore.put_near_dups(con, corpus, key, found["doc_id"], found["representative"], found["size"])
        sstore.put_scores(con, key, found["doc_id"].tolist(), found["kept"].to_numpy(np.float64))
        sstore.set_signal(con, corpus, "near_dups", key, {**config.__dict__})
    report(progress, "near_dups", len(docs), len(docs))
    n_clusters = int(((found["size"] > 1) & found["kept"]).sum())
    dropped = int((~found["kept"]).sum())
    return ("near_dups", len(docs), 0, time.perf_counter() - t0,
            f"{n_clusters} near-duplicate clusters; {dropped} of {len(docs)} documents are near-duplicates of a "
            f"kept one (keep = {config.keep}) as {key}")
