"""Filters over the rule, language and near-duplicate signals: which documents a curator drops
before any strategy ranks them, and what each rule would drop.

Pure pandas/NumPy over a corpus frame that carries the filter columns (`with_filter_columns`):
failed_rules (list of rule names), first_failed, failed_reason, language_code, near_dup_of.
`FilterSpec` is what a user chose (Explore's controls, `select --drop-failing ...`); it is saved
with a selection's parameters so a saved selection says what was filtered out.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from engine import gopher, line_rules
from engine.errors import UserError

RULE_SIGNALS = ("gopher_quality", "gopher_repetition", "c4_rules", "fineweb_rules")
LANGUAGE, NEAR_DUPS = "language", "near_dups"
CHEAP_STAGES = (*RULE_SIGNALS, LANGUAGE, NEAR_DUPS)  # run by `pipeline` by default: CPU, thousands of docs/s
ALL_RULES = "all"
RULES = tuple(r.name for r in (*gopher.QUALITY_RULES, *gopher.REPETITION_RULES, *line_rules.C4_RULES,
                               *line_rules.FINEWEB_RULES))
FILTER_COLUMNS = ("failed_rules", "first_failed", "failed_reason", "language_code", "near_dup_of")


@dataclass(frozen=True)
class FilterSpec:
    """`drop_rules`: rule names whose failure drops a document ("all" = any rule); `languages`:
    keep only these language codes (empty = any); `exclude_near_dups`: drop near-duplicates of a
    kept document."""

    drop_rules: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    exclude_near_dups: bool = False

    def active(self) -> bool:
        return bool(self.drop_rules or self.languages or self.exclude_near_dups)

    def params(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()} if self.active() else {}


def with_filter_columns(con, corpus: str, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (one row per doc_id) with the filter columns joined on doc_id, in the caller's transaction."""
    from engine.storage import details  # noqa: PLC0415

    extra = details.filter_columns(con, corpus, RULE_SIGNALS, LANGUAGE, NEAR_DUPS).set_index("doc_id")
    out = frame.drop(columns=[c for c in FILTER_COLUMNS if c in frame.columns])
    return out.join(extra, on="doc_id")


def _failed(frame: pd.DataFrame) -> pd.Series:
    if "failed_rules" not in frame:
        return pd.Series([[] for _ in range(len(frame))], index=frame.index)
    return frame["failed_rules"].map(lambda v: list(v) if v is not None and not isinstance(v, float) else [])


def keep_mask(frame: pd.DataFrame, spec: FilterSpec) -> np.ndarray:
    """True for documents the filters keep. A filter on a signal the corpus lacks is a UserError
    (dropping nothing silently would look like "everything passed")."""
    keep = np.ones(len(frame), bool)
    if spec.drop_rules:
        if not any(n in frame and frame[n].notna().any() for n in RULE_SIGNALS):
            raise UserError("no rule signal is stored for this corpus: run `python -m engine score --signal "
                            "gopher_quality` (and the other rule signals) or the pipeline first")
        drop = set(spec.drop_rules)
        unknown = sorted(drop - {ALL_RULES, *RULES})
        if unknown:
            raise UserError(f"unknown rule {', '.join(unknown)}: choose 'all' or from {', '.join(RULES)}")
        keep &= ~_failed(frame).map(lambda f: bool(f) and (ALL_RULES in drop or bool(drop.intersection(f)))).to_numpy(bool)
    if spec.languages:
        if "language_code" not in frame or frame["language_code"].isna().all():
            raise UserError("no language is stored for this corpus: run `python -m engine score --signal language`")
        keep &= frame["language_code"].isin(spec.languages).to_numpy(bool)
    if spec.exclude_near_dups:
        if NEAR_DUPS not in frame or frame[NEAR_DUPS].isna().all():
            raise UserError("no near-duplicate clusters are stored: run `python -m engine score --signal near_dups`")
        keep &= frame["near_dup_of"].isna().to_numpy(bool)
    return keep


def rule_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per rule that any document fails: rule, fails (documents failing it), only
    (documents it alone drops), most failing first."""
    failed = _failed(frame)
    every = failed.explode().dropna()
    if every.empty:
        return pd.DataFrame({"rule": [], "fails": [], "only": []})
    only = failed[failed.map(len) == 1].map(lambda f: f[0]).value_counts()
    counts = every.value_counts().rename_axis("rule").reset_index(name="fails")
    counts["only"] = counts["rule"].map(only).fillna(0).astype(int)
    return counts.sort_values(["fails", "rule"], ascending=[False, True], kind="stable").reset_index(drop=True)


def language_counts(frame: pd.DataFrame) -> pd.Series:
    """Documents per language code, most common first (empty before the language stage ran)."""
    if "language_code" not in frame:
        return pd.Series(dtype=int)
    return frame["language_code"].dropna().value_counts()


def failure_share(frame: pd.DataFrame) -> pd.Series:
    """Per cluster id, the share of its documents failing any rule (for the per-cluster audit)."""
    if "cluster" not in frame or "failed_rules" not in frame:
        return pd.Series(dtype=float)
    fails = _failed(frame).map(bool).astype(float)
    return fails.groupby(frame["cluster"]).mean()
