"""Details area: what a rule or label signal says beside its value, and near-duplicate clusters.

`signal_details` holds, per (signal_key, doc_id), the label (first failed rule, or a language
code), a human reason, every failed rule and the measured values as JSON; it is written in the
same transaction as the value in `scores`, so a killed stage leaves both or neither for a chunk.
`near_dups` holds, per (corpus, signal_key, doc_id), the document's near-duplicate cluster
(the doc_id of its representative) and whether it is that representative.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from engine.storage.sql import Con, insert_arrow

SCHEMA = """
CREATE TABLE IF NOT EXISTS signal_details (
    signal_key TEXT, doc_id TEXT, label TEXT, reason TEXT, failed TEXT[], detail JSON,
    PRIMARY KEY (signal_key, doc_id));
CREATE TABLE IF NOT EXISTS near_dups (
    corpus TEXT, signal_key TEXT, doc_id TEXT, representative TEXT, size INTEGER,
    PRIMARY KEY (corpus, signal_key, doc_id));
"""


def details_table(doc_ids, output) -> pa.Table:
    """doc_id, value, truncated, label, reason, failed, detail from a `rules.RuleOutput`."""
    return pa.table({
        "doc_id": doc_ids if isinstance(doc_ids, (pa.Array, pa.ChunkedArray)) else pa.array(list(doc_ids), pa.string()),
        "value": pa.array(np.asarray(output.values, np.float64)),
        "truncated": pa.array(np.asarray(output.truncated, bool)),
        "label": pa.array(output.label, pa.string()), "reason": pa.array(output.reason, pa.string()),
        "failed": pa.array(output.failed, pa.list_(pa.string())), "detail": pa.array(output.detail, pa.string())})


_INSERT_SCORES = "INSERT OR REPLACE INTO scores SELECT ?, doc_id, value, truncated FROM {src}"
_INSERT_DETAILS = ("INSERT OR REPLACE INTO signal_details SELECT ?, doc_id, label, reason, failed, detail::JSON "
                   "FROM {src}")


def put_details(con: Con, signal_key: str, doc_ids: Sequence[str], output) -> None:
    """Store a batch's values (in `scores`) and details, in the caller's transaction."""
    table = details_table(doc_ids, output)
    insert_arrow(con, _INSERT_SCORES.format(src="batch"), table, [signal_key])
    insert_arrow(con, _INSERT_DETAILS.format(src="batch"), table, [signal_key])


def attach_detail_shards(con: Con, signal_key: str, files: Sequence[str]) -> None:
    """Insert Parquet shards written from `details_table` (the Ray backend)."""
    if files:
        files = [str(f) for f in files]
        con.execute(_INSERT_SCORES.format(src="read_parquet(?)"), [signal_key, files])
        con.execute(_INSERT_DETAILS.format(src="read_parquet(?)"), [signal_key, files])


def details(con: Con, corpus: str, signal_key: str) -> pd.DataFrame:
    """doc_id, label, reason, failed, detail of the corpus's documents under `signal_key`."""
    return con.execute(
        "SELECT s.doc_id, s.label, s.reason, s.failed, s.detail::TEXT AS detail FROM signal_details s "
        "JOIN documents d ON d.doc_id = s.doc_id AND d.corpus = ? WHERE s.signal_key = ? ORDER BY s.doc_id",
        [corpus, signal_key]).df()


def put_near_dups(con: Con, corpus: str, signal_key: str, doc_ids: Sequence[str], representative: Sequence[str],
                  size: Sequence[int]) -> None:
    """Replace the corpus's near-duplicate clusters under `signal_key`."""
    con.execute("DELETE FROM near_dups WHERE corpus = ? AND signal_key = ?", [corpus, signal_key])
    table = pa.table({"doc_id": pa.array(list(doc_ids), pa.string()),
                      "representative": pa.array(list(representative), pa.string()),
                      "size": pa.array(np.asarray(size, np.int32))})
    insert_arrow(con, "INSERT INTO near_dups SELECT ?, ?, doc_id, representative, size FROM batch", table,
                 [corpus, signal_key])


def near_dups(con: Con, corpus: str, signal_key: str) -> pd.DataFrame:
    """doc_id, representative, size of every document in a cluster of two or more."""
    return con.execute("SELECT doc_id, representative, size FROM near_dups WHERE corpus = ? AND signal_key = ? "
                       "AND size > 1 ORDER BY representative, doc_id", [corpus, signal_key]).df()


def duplicates_of(con: Con, corpus: str, signal_key: str, doc_id: str) -> pd.DataFrame:
    """doc_id, snippet, n_chars, is_representative of the other members of `doc_id`'s cluster."""
    return con.execute(
        "SELECT n.doc_id, left(d.text, 200) AS snippet, d.n_chars, n.doc_id = n.representative AS is_representative "
        "FROM near_dups n JOIN documents d ON d.doc_id = n.doc_id AND d.corpus = n.corpus "
        "WHERE n.corpus = ? AND n.signal_key = ? AND n.doc_id <> ? AND n.representative = "
        "(SELECT representative FROM near_dups WHERE corpus = ? AND signal_key = ? AND doc_id = ?) ORDER BY n.doc_id",
        [corpus, signal_key, doc_id, corpus, signal_key, doc_id]).df()


def filter_columns(con: Con, corpus: str, rule_kinds: Sequence[str], language_kind: str,
                   near_dup_kind: str) -> pd.DataFrame:
    """Per document of the corpus, from the active keys of the given signal kinds: failed_rules
    (every failed rule of every rule signal, in registry order), first_failed and failed_reason
    (of the first rule signal that failed), language_code, near_dup_of (the kept representative
    of a near-duplicate; None for kept documents). Absent signals give empty/None columns."""
    keys = {k: con.execute("SELECT signal_key FROM signals WHERE corpus = ? AND kind = ? ORDER BY updated_at DESC "
                           "LIMIT 1", [corpus, k]).fetchall() for k in (*rule_kinds, language_kind, near_dup_kind)}
    keys = {k: v[0][0] for k, v in keys.items() if v}
    rule_keys = [keys[k] for k in rule_kinds if k in keys]
    return con.execute(
        "WITH r AS (SELECT doc_id, flatten(list(failed ORDER BY list_position(?, signal_key))) AS failed_rules, "
        "  first(label ORDER BY list_position(?, signal_key)) FILTER (WHERE label <> '') AS first_failed, "
        "  first(reason ORDER BY list_position(?, signal_key)) FILTER (WHERE label <> '') AS failed_reason "
        "  FROM signal_details WHERE list_contains(?, signal_key) GROUP BY doc_id) "
        "SELECT d.doc_id, coalesce(r.failed_rules, []::TEXT[]) AS failed_rules, r.first_failed, r.failed_reason, "
        "l.label AS language_code, CASE WHEN n.representative <> n.doc_id THEN n.representative END AS near_dup_of "
        "FROM documents d LEFT JOIN r USING (doc_id) "
        "LEFT JOIN signal_details l ON l.doc_id = d.doc_id AND l.signal_key = ? "
        "LEFT JOIN near_dups n ON n.doc_id = d.doc_id AND n.corpus = d.corpus AND n.signal_key = ? "
        "WHERE d.corpus = ? ORDER BY d.doc_id",
        [rule_keys, rule_keys, rule_keys, rule_keys, keys.get(language_kind, ""), keys.get(near_dup_kind, ""),
         corpus]).df()
