"""How well each quality signal agrees with this corpus's curator, and with the other signals.

The bundled judge evidence (engine/judges.py) was measured on someone else's labels; a curator's
accept/reject decisions are the labels that matter for THIS corpus. For each stored quality
signal: ROC-AUC against the decisions (accept = positive, the signal oriented so high = good),
with a 95% stratified-bootstrap CI (accepts and rejects resampled apart, as in
bench/quality_auc.py) and n; the distilled head's validation figures from its stored params; and
the Spearman rank correlation between signals over the documents that have both.

Pure functions over the corpus frame (`engine.storage.corpus.corpus_frame`) and signal params.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
from scipy.stats import rankdata

MIN_PER_CLASS = 5  # fewer accepts or rejects than this: no AUC (it would be noise)


def auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC-AUC by the rank-sum (Mann-Whitney) identity; ties count half. `y`: 1/True = positive."""
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((rankdata(s)[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_ci(y: np.ndarray, s: np.ndarray, reps: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """(AUC, 2.5th, 97.5th percentile) over `reps` bootstrap resamples that draw positives and
    negatives apart (also bench/quality_auc.py's statistics).

    Vectorised: a resample is a vector of multinomial counts, and its AUC is the count-weighted
    share of (positive, negative) pairs in order, read off cumulative negative counts over the
    sorted distinct scores (ties count half)."""
    from scipy.sparse import csr_matrix  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    _, group = np.unique(s, return_inverse=True)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    wp = rng.multinomial(len(pos), np.full(len(pos), 1 / len(pos)), size=reps).astype(np.float64)
    wn = rng.multinomial(len(neg), np.full(len(neg), 1 / len(neg)), size=reps).astype(np.float64)
    onehot = csr_matrix((np.ones(len(neg)), (np.arange(len(neg)), group[neg])), shape=(len(neg), group.max() + 1))
    neg_at = np.asarray((onehot.T @ wn.T).T)  # (reps, distinct scores): negatives at each score
    below = np.cumsum(neg_at, axis=1) - neg_at
    wins = below[:, group[pos]] + 0.5 * neg_at[:, group[pos]]
    boots = (wins * wp).sum(1) / (len(pos) * len(neg))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return auc(y, s), float(lo), float(hi)


def curator_agreement(frame: pd.DataFrame, good: dict[str, str], reps: int = 1000) -> pd.DataFrame:
    """One row per signal in `good` (name -> "high" / "low": its good end) present in `frame`:
    n decided documents it scored, accepts, rejects, ROC-AUC [CI] against the decisions, or why not."""
    decided = frame["decision"].isin(["accept", "reject"]) if "decision" in frame else pd.Series(False, frame.index)
    rows = []
    for name, direction in good.items():
        if name not in frame:
            continue
        have = decided & frame[name].notna()
        y = (frame.loc[have, "decision"] == "accept").to_numpy()
        s = frame.loc[have, name].to_numpy(float) * (-1 if direction == "low" else 1)
        row = {"signal": name, "n": int(have.sum()), "accepts": int(y.sum()), "rejects": int((~y).sum())}
        if min(row["accepts"], row["rejects"]) < MIN_PER_CLASS:
            row["note"] = f"needs >= {MIN_PER_CLASS} accepts and >= {MIN_PER_CLASS} rejects among scored documents"
        else:
            row["auc"], row["ci_lo"], row["ci_hi"] = auc_ci(y, s, reps)
        rows.append(row)
    return pd.DataFrame(rows, columns=["signal", "n", "accepts", "rejects", "auc", "ci_lo", "ci_hi", "note"])


def rank_correlations(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Spearman correlation between each pair of signals (pairwise over documents having both)."""
    present = [n for n in names if n in frame and frame[n].notna().any()]
    return frame[present].corr(method="spearman") if present else pd.DataFrame()


def distilled_figures(params_json: str | dict | None) -> dict:
    """The distilled head's stored validation figures (Spearman, AUC vs its judge on held-out
    sample rows, n), its judge's key, sample and training sizes; {} when none is stored."""
    if not params_json:
        return {}
    params = json.loads(params_json) if isinstance(params_json, str) else params_json
    figures = dict(params.get("validation", {}))
    figures.update({k: params[k] for k in ("judge_key", "n_train", "n_curator") if k in params})
    if "sample" in params:
        figures["sample_size"] = len(params["sample"])
    return figures


def corpus_evidence(ws, corpus: str, reps: int = 1000) -> dict:
    """For `corpus`: "agreement" (curator_agreement over the quality signals), "correlations"
    (Spearman between them) and "distilled" (the head's stored validation figures, or {})."""
    from engine import stages  # noqa: PLC0415
    from engine.storage import corpus as cstore, signals as sstore  # noqa: PLC0415

    with ws.connect() as con:
        stages.require_corpus(con, corpus)
        frame = cstore.corpus_frame(con, corpus, snippet_chars=0)
        params = sstore.signals(con, corpus).drop_duplicates("kind").set_index("kind")["params"]
    good = {s.name: s.good for s in stages.signals("top")}
    return {"agreement": curator_agreement(frame, good, reps), "correlations": rank_correlations(frame, list(good)),
            "distilled": distilled_figures(params.get("distilled"))}
