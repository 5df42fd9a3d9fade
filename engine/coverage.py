"""What a selection kept of each topic: the per-cluster audit and the cluster coverage metrics.

Grid coverage of the 2-D map (`engine.select.grid_cells`) says how much of the picture a
selection touches; these metrics say it in topics (`engine.clusters`): which clusters a filter
kept, at what rate, and which it dropped. All inputs are arrays aligned with the corpus frame
(one cluster id per document, NaN where none) and a boolean mask of the selected documents.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

RARE_SHARE = 0.1  # "rare clusters": the smallest clusters that together hold <= 10% of documents


def _ids(clusters) -> np.ndarray:
    """Cluster ids as int64, -1 for documents without one."""
    values = np.asarray(clusters, dtype=np.float64)
    return np.where(np.isnan(values), -1, values).astype(np.int64)


def cluster_audit(clusters, selected: np.ndarray, labels: dict[int, str] | None = None,
                  quality=None) -> pd.DataFrame:
    """One row per cluster, most under-kept first.

    Columns: cluster, label, n_docs, kept, dropped, share_corpus, share_selection, kept_rate
    (kept / n_docs), loss, mean_quality (of all the cluster's documents, NaN-aware) and
    mean_quality_kept. loss = 1 - kept_rate / overall rate: 1 = the filter dropped the topic
    entirely, 0 = kept at the budget's average rate, < 0 = favoured."""
    ids, selected = _ids(clusters), np.asarray(selected, bool)
    ok = ids >= 0
    ids, chosen = ids[ok], selected[ok]
    q = None if quality is None else np.asarray(quality, np.float64)[ok]
    n_clusters = int(ids.max()) + 1 if len(ids) else 0
    n_docs = np.bincount(ids, minlength=n_clusters)
    kept = np.bincount(ids[chosen], minlength=n_clusters)
    present = np.flatnonzero(n_docs)
    rate = kept.sum() / max(1, n_docs.sum())
    table = pd.DataFrame({"cluster": present, "n_docs": n_docs[present], "kept": kept[present]})
    table["label"] = [(labels or {}).get(int(c), f"cluster {c}") for c in present]
    table["dropped"] = table["n_docs"] - table["kept"]
    table["share_corpus"] = table["n_docs"] / max(1, n_docs.sum())
    table["share_selection"] = table["kept"] / max(1, kept.sum())
    table["kept_rate"] = table["kept"] / table["n_docs"]
    table["loss"] = 1 - table["kept_rate"] / rate if rate > 0 else np.nan
    table["mean_quality"] = _group_mean(ids, q, n_clusters)[present]
    table["mean_quality_kept"] = _group_mean(ids[chosen], None if q is None else q[chosen],
                                             n_clusters)[present]
    columns = ["cluster", "label", "n_docs", "kept", "dropped", "share_corpus", "share_selection",
               "kept_rate", "loss", "mean_quality", "mean_quality_kept"]
    return table[columns].sort_values(["loss", "n_docs"], ascending=[False, False],
                                       kind="stable").reset_index(drop=True)


def _group_mean(ids: np.ndarray, values, n_clusters: int) -> np.ndarray:
    """Mean of `values` per cluster, ignoring NaN (NaN where a cluster has none)."""
    if values is None:
        return np.full(n_clusters, np.nan)
    ok = ~np.isnan(values)
    total = np.bincount(ids[ok], weights=values[ok], minlength=n_clusters)
    count = np.bincount(ids[ok], minlength=n_clusters)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def dropped_topics(audit: pd.DataFrame, min_loss: float = 0.5) -> pd.DataFrame:
    """The audit rows a filter kept at under half its average rate (loss >= `min_loss`), by loss."""
    return audit[audit["loss"] >= min_loss].reset_index(drop=True)


def rare_clusters(clusters, rare_share: float = RARE_SHARE) -> np.ndarray:
    """Ids of the smallest clusters that together hold at most `rare_share` of the documents
    (at least the single smallest one)."""
    ids = _ids(clusters)
    ids = ids[ids >= 0]
    sizes = np.bincount(ids)
    present = np.flatnonzero(sizes)
    order = present[np.argsort(sizes[present], kind="stable")]
    within = np.cumsum(sizes[order]) <= rare_share * len(ids)
    return order[:max(1, int(within.sum()))]


def cluster_metrics(clusters, selected: np.ndarray, rare_share: float = RARE_SHARE) -> dict:
    """Coverage of a selection in topics.

    cluster_coverage: share of the corpus's clusters with at least one selected document.
    cluster_entropy: entropy (nats) of the selection's cluster distribution, divided by log of
        the number of clusters (1 = spread evenly over all clusters, 0 = a single cluster).
    rare_cluster_retention: share of the documents of the rare clusters (`rare_clusters`) that
        the selection keeps; compare with the budget's rate (random keeps about that)."""
    ids, selected = _ids(clusters), np.asarray(selected, bool)
    ok = ids >= 0
    ids, selected = ids[ok], selected[ok]
    if not len(ids):
        return {"cluster_coverage": np.nan, "cluster_entropy": np.nan, "rare_cluster_retention": np.nan}
    sizes = np.bincount(ids)
    n_clusters = int((sizes > 0).sum())
    kept = np.bincount(ids[selected], minlength=len(sizes))
    p = kept[kept > 0] / max(1, kept.sum())
    entropy = float(-(p * np.log(p)).sum() / np.log(n_clusters)) if n_clusters > 1 else np.nan
    rare = np.isin(ids, rare_clusters(ids, rare_share))
    return {"cluster_coverage": float((kept > 0).sum() / n_clusters),
            "cluster_entropy": entropy,
            "rare_cluster_retention": float(selected[rare].mean())}


# --- what the map shows: cluster labels and a picked region ----------------------------------

def label_positions(frame: pd.DataFrame, labels: dict[int, str], min_share: float = 0.0) -> pd.DataFrame:
    """Where to write each cluster's label on the 2-D map: the median x, y of its documents
    (robust to a few strays far away). Columns cluster, label, x, y, n_docs; clusters holding
    less than `min_share` of the mapped documents are left out (their labels would crowd)."""
    ok = frame[["x", "y", "cluster"]].notna().all(axis=1) if "cluster" in frame.columns else None
    if ok is None or not ok.any():
        return pd.DataFrame(columns=["cluster", "label", "x", "y", "n_docs"])
    points = frame.loc[ok, ["x", "y"]].assign(cluster=frame.loc[ok, "cluster"].astype(int))
    table = points.groupby("cluster").agg(x=("x", "median"), y=("y", "median"), n_docs=("x", "size")).reset_index()
    table["label"] = table["cluster"].map(lambda c: labels.get(int(c), f"cluster {c}"))
    keep = table["n_docs"] >= min_share * table["n_docs"].sum()
    return table.loc[keep, ["cluster", "label", "x", "y", "n_docs"]].reset_index(drop=True)


def region_summary(frame: pd.DataFrame, doc_ids, score_columns, labels: dict[int, str] | None = None,
                   n_examples: int = 3) -> dict:
    """What a set of documents picked on the map holds: count, mean of each score, the most
    common clusters (label -> count) and the first `n_examples` snippets."""
    picked = frame[frame["doc_id"].isin(pd.Index(doc_ids))]
    means = {c: float(picked[c].mean()) for c in score_columns if c in picked and picked[c].notna().any()}
    top = {}
    if "cluster" in picked and picked["cluster"].notna().any():
        counts = picked["cluster"].dropna().astype(int).value_counts().head(3)
        top = {(labels or {}).get(int(c), f"cluster {c}"): int(n) for c, n in counts.items()}
    return {"n": len(picked), "means": means, "clusters": top,
            "examples": picked["snippet"].fillna("").head(n_examples).tolist() if "snippet" in picked else []}


def kept_by_group(groups: pd.Series, selections: dict[str, np.ndarray]) -> pd.DataFrame:
    """Share of each group's documents that each selection keeps: one row per group (its size in
    `n_docs`), one column per selection. `groups` (e.g. the documents' `source` field) and every
    boolean mask of `selections` are aligned with the corpus frame. Shows what a strategy does
    to small sources that the topic audit may merge with others."""
    values = groups.fillna("(none)").astype(str).to_numpy()
    names, inverse = np.unique(values, return_inverse=True)
    size = np.bincount(inverse, minlength=len(names))
    table = pd.DataFrame({"group": names, "n_docs": size})
    for name, mask in selections.items():
        table[name] = np.bincount(inverse, weights=np.asarray(mask, float), minlength=len(names)) / size
    return table.sort_values("n_docs").reset_index(drop=True)
