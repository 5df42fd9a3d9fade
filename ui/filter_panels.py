"""Streamlit widgets of the rule, language and near-duplicate filters (`engine.filters`): the
Explore sidebar's filter controls with what each drops, and a document's near-duplicates."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from engine import api, filters
from engine.user_text import escape_markdown


def sidebar_filters(bar, frame: pd.DataFrame, corpus: str) -> filters.FilterSpec:
    """Filter controls in `bar`; the chosen `FilterSpec` (nothing active before the stages ran)."""
    counts = filters.rule_counts(frame)
    languages = filters.language_counts(frame)
    has_dups = filters.NEAR_DUPS in frame and frame[filters.NEAR_DUPS].notna().any()
    box = bar.expander("Filters: rules, language, near-duplicates", expanded=False)
    if counts.empty and languages.empty and not has_dups:
        box.caption("Run the rule, language and near_dups stages (they are cheap) to filter here.")
        return filters.FilterSpec()
    n_fail = int(frame["failed_rules"].map(len).gt(0).sum()) if "failed_rules" in frame else 0
    drop_all = box.checkbox(f"Drop documents that fail any rule ({n_fail:,})", key=f"filters_all_{corpus}",
                            help="Gopher quality and repetition, C4 and FineWeb rules (their published thresholds).")
    labels = {r.rule: f"{r.rule}: fails {r.fails:,}, alone drops {r.only:,}" for r in counts.itertuples()}
    rules = box.multiselect("Or only these rules", list(labels), format_func=labels.get, disabled=drop_all,
                            key=f"filters_rules_{corpus}", help="Counts: documents failing the rule; of those, "
                            "documents that fail no other rule.")
    langs = box.multiselect("Keep only languages", list(languages.index), key=f"filters_lang_{corpus}",
                            format_func=lambda c: f"{c} ({languages[c]:,})")
    n_dup = int(frame["near_dup_of"].notna().sum()) if "near_dup_of" in frame else 0
    dedup = box.checkbox(f"Exclude near-duplicates ({n_dup:,})", key=f"filters_dups_{corpus}", disabled=not has_dups,
                         help="Keep one representative per near-duplicate cluster (MinHash LSH).")
    spec = filters.FilterSpec((filters.ALL_RULES,) if drop_all else tuple(rules), tuple(langs), dedup)
    if spec.active():
        box.caption(f"{int((~filters.keep_mask(frame, spec)).sum()):,} documents filtered out before selection.")
    return spec


def duplicates_panel(corpus: str, doc_id: str, where=st) -> None:
    """The document's near-duplicates (its cluster's other members), or nothing when it has none."""
    dups = api.near_duplicates(ui.workspace(), corpus, doc_id)
    if dups.empty:
        return
    where.caption(f"{len(dups)} near-duplicate(s) of this document:")
    for row in dups.itertuples():
        kept = " (kept)" if row.is_representative else ""
        where.text(f"{row.doc_id[:12]}{kept}: {row.snippet[:160]}")


def rule_verdict(row: pd.Series, where=st) -> None:
    """The first failed rule and why, or that it passes every rule computed."""
    if isinstance(row.get("first_failed"), str) and row["first_failed"]:
        where.caption(f"Fails {escape_markdown(row['first_failed'])}: {escape_markdown(str(row['failed_reason']))}")
