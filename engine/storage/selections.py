"""Selections area: named, ranked document selections and the curator's accept/reject reviews
(what a person made: never replaced silently - `save_selection` replaces only the name it is given,
`set_reviews` keeps a note unless a new one is written)."""
from __future__ import annotations

import json
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from engine.storage.sql import Con, insert_arrow

SCHEMA = """
CREATE TABLE IF NOT EXISTS selections (
    name TEXT PRIMARY KEY, corpus TEXT, strategy TEXT, params JSON, n_selected BIGINT,
    created_at TIMESTAMP DEFAULT now());
CREATE TABLE IF NOT EXISTS selection_members (
    selection TEXT, doc_id TEXT, rank BIGINT, PRIMARY KEY (selection, doc_id));
CREATE TABLE IF NOT EXISTS reviews (
    corpus TEXT, doc_id TEXT, decision TEXT, note TEXT, reviewer TEXT,
    updated_at TIMESTAMP DEFAULT now(), PRIMARY KEY (corpus, doc_id));
"""


# --- selections ------------------------------------------------------------------------------

def save_selection(con: Con, name: str, corpus: str, strategy: str, params: dict, doc_ids: Sequence[str]) -> None:
    """Store (or replace) a named selection with its parameters and ranked members."""
    con.execute("DELETE FROM selection_members WHERE selection = ?", [name])
    con.execute("DELETE FROM selections WHERE name = ?", [name])
    con.execute("INSERT INTO selections (name, corpus, strategy, params, n_selected) VALUES (?, ?, ?, ?::JSON, ?)",
                [name, corpus, strategy, json.dumps(params, default=str), len(doc_ids)])
    table = pa.table({"doc_id": pa.array(list(doc_ids), pa.string()),
                      "rank": pa.array(np.arange(len(doc_ids), dtype=np.int64))})
    insert_arrow(con, "INSERT INTO selection_members SELECT ?, doc_id, rank FROM batch", table, [name])


def list_selections(con: Con, corpus: str | None = None) -> pd.DataFrame:
    return con.execute(
        "SELECT name, corpus, strategy, params, n_selected, created_at FROM selections "
        "WHERE ? IS NULL OR corpus = ? ORDER BY created_at DESC",
        [corpus, corpus],
    ).df()


def selection(con: Con, name: str) -> dict | None:
    rows = con.execute("SELECT name, corpus, strategy, params, n_selected FROM selections WHERE name = ?",
                       [name]).fetchall()
    if not rows:
        return None
    row = rows[0]
    ids = [r[0] for r in con.execute(
        "SELECT doc_id FROM selection_members WHERE selection = ? ORDER BY rank", [name]).fetchall()]
    return {"name": row[0], "corpus": row[1], "strategy": row[2], "params": json.loads(row[3]),
            "n_selected": row[4], "doc_ids": ids}


def selection_documents(con: Con, name: str) -> pd.DataFrame:
    """What a selection exports: its members in rank order, then the corpus's curator-accepted
    documents outside it (rank NULL, doc_id order): rank, doc_id, text, meta, decision, note."""
    return con.execute(
        "SELECT m.rank, m.doc_id, d.text, d.meta, r.decision, r.note FROM selection_members m "
        "JOIN selections s ON s.name = m.selection JOIN documents d ON d.corpus = s.corpus AND d.doc_id = m.doc_id "
        "LEFT JOIN reviews r ON r.corpus = s.corpus AND r.doc_id = m.doc_id WHERE m.selection = $name "
        "UNION ALL "
        "SELECT NULL, r.doc_id, d.text, d.meta, r.decision, r.note FROM reviews r "
        "JOIN selections s ON s.corpus = r.corpus AND s.name = $name "
        "JOIN documents d ON d.corpus = r.corpus AND d.doc_id = r.doc_id WHERE r.decision = 'accept' "
        "AND r.doc_id NOT IN (SELECT doc_id FROM selection_members WHERE selection = $name) "
        "ORDER BY 1 NULLS LAST, 2",
        {"name": name},
    ).df()



# --- curator reviews -------------------------------------------------------------------------

def set_reviews(con: Con, corpus: str, doc_ids: Sequence[str], decision: str | None,
                reviewer: str, note: str | None = None) -> None:
    """Record accept/reject (decision None clears it) for documents; a note is kept unless replaced."""
    con.executemany(
        "INSERT INTO reviews (corpus, doc_id, decision, note, reviewer, updated_at) VALUES (?, ?, ?, ?, ?, now()) "
        "ON CONFLICT (corpus, doc_id) DO UPDATE SET decision = excluded.decision, reviewer = excluded.reviewer, "
        "note = coalesce(excluded.note, reviews.note), updated_at = now()",
        [(corpus, d, decision, note, reviewer) for d in doc_ids],
    )


def reviews(con: Con, corpus: str) -> pd.DataFrame:
    return con.execute(
        "SELECT doc_id, decision, note, reviewer, updated_at FROM reviews WHERE corpus = ? ORDER BY updated_at",
        [corpus],
    ).df()
