"""What the dashboard pages show, computed without Streamlit: upload previews, selection masks,
score histograms, map colours. Pure pandas/NumPy over `storage.corpus.corpus_frame`, fast enough to recompute on
every slider move for 100,000 documents (see bench/bench_dashboard.py)."""
from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from engine import ingest_formats as formats
from engine import readers
from engine import stages


def signal_names() -> tuple[str, ...]:
    """Every registered signal, in registry order: the frame's possible score columns."""
    return tuple(s.name for s in stages.signals())


def colour_choices() -> tuple[str, ...]:
    """What the map can be coloured by: selection, review status, or any signal."""
    return ("selected", "review status", *signal_names())


__getattr__ = stages.registry_constants(__name__, SCORE_COLUMNS=signal_names, COLOUR_CHOICES=colour_choices)


def selected_mask(frame: pd.DataFrame, doc_ids) -> np.ndarray:
    """Boolean mask over `frame` rows of the given doc_ids (hash lookup, not a sort)."""
    mask = np.zeros(len(frame), bool)
    pos = pd.Index(frame["doc_id"]).get_indexer(pd.Index(doc_ids))
    mask[pos[pos >= 0]] = True
    return mask


def score_columns(frame: pd.DataFrame) -> list[str]:
    """The score columns present in `frame` with at least one value."""
    return [c for c in signal_names() if c in frame.columns and frame[c].notna().any()]


def histograms(frame: pd.DataFrame, mask: np.ndarray, columns=None, bins: int = 30) -> dict[str, pd.DataFrame]:
    """Per score column: bin centre, count of all documents and of the selected ones (same edges,
    so the two bars compare directly). Missing values are left out of both counts."""
    out = {}
    for col in columns or score_columns(frame):
        v = frame[col].to_numpy(dtype=np.float64)
        ok = ~np.isnan(v)
        if not ok.any():
            continue
        edges = np.histogram_bin_edges(v[ok], bins=bins)
        everything, _ = np.histogram(v[ok], edges)
        chosen, _ = np.histogram(v[ok & mask], edges)
        out[col] = pd.DataFrame({"value": (edges[:-1] + edges[1:]) / 2, "all": everything, "selected": chosen})
    return out


def colour_values(frame: pd.DataFrame, mask: np.ndarray, colour_by: str,
                  labels: dict[int, str] | None = None) -> tuple[pd.Series, bool]:
    """Values to colour the map by and whether they are continuous (scores) or categories."""
    if colour_by == "cluster":  # categories named "id: label" (engine.clusters)
        return frame["cluster"].map(lambda c: "no cluster" if pd.isna(c) else
                                    f"{int(c)}: {(labels or {}).get(int(c), 'cluster')}"), False
    if colour_by == "selected":
        return pd.Series(np.where(mask, "selected", "not selected"), index=frame.index), False
    if colour_by == "review status":
        return frame["decision"].fillna("unreviewed"), False
    if colour_by == "language_code":  # categories (engine.language): the code, "none" before the stage ran
        return frame["language_code"].fillna("none"), False
    return frame[colour_by], True


def hover_text(frame: pd.DataFrame, width: int = 120) -> list[str]:
    """Snippet plus the available scores, one string per row, for the map's hover labels."""
    cols = score_columns(frame)
    snippets = frame["snippet"].fillna("").str.slice(0, width).str.replace("\n", " ", regex=False)
    parts = [snippets.map(lambda s: s.replace("<", "&lt;"))]
    for c in cols:
        parts.append(f"<br>{c}: " + frame[c].map(lambda v: "-" if pd.isna(v) else f"{v:.3f}"))
    parts.append("<br>review: " + frame["decision"].fillna("unreviewed"))
    for col, name in (("first_failed", "fails"), ("language_code", "language"), ("near_dup_of", "near-duplicate of")):
        if col in frame and frame[col].notna().any():  # engine.filters columns: names and ids, not user text
            parts.append(frame[col].map(lambda v, n=name: "" if pd.isna(v) or v == "" else f"<br>{n}: {str(v)[:16]}"))
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out.tolist()


def preview(path: str | Path, n: int = 5) -> tuple[pd.DataFrame, list[str]]:
    """The first `n` readable rows of an uploaded file, and its text-like columns (string values),
    longest average first - the likely text column leads. Raises UserError for an unknown format."""
    path = Path(path)
    kind = formats.format_of(path)
    src = formats.Source(path, path.name, lambda *_: None, lambda *_: None)
    good = (v for _, v in readers.rows(src, kind, formats.ReadOptions()) if not isinstance(v, formats.Problem))
    rows = [v if isinstance(v, dict) else {"text": v} for v in islice(good, n)]
    table = pd.DataFrame(rows)
    lengths = {c: table[c].map(lambda v: len(v) if isinstance(v, str) else -1).mean() for c in table.columns}
    text_like = sorted((c for c, m in lengths.items() if m >= 0), key=lambda c: -lengths[c])
    return table, text_like
