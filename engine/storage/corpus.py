"""Corpus area: corpora, their documents and the rows ingest skipped; and `corpus_frame`, the
one-row-per-document view (signals, map position, review decision) every consumer reads.

A document's id is a hash of its text, so a corpus stores each text once and the stage outputs
(`engine.storage.signals`) are shared by every corpus that holds the document.
"""
from __future__ import annotations

import json
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from engine.storage.sql import Con, insert_arrow
from engine.storage.signals import active_signal_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS corpora (
    name TEXT PRIMARY KEY, created_at TIMESTAMP DEFAULT now(), text_column TEXT,
    n_docs BIGINT DEFAULT 0, n_duplicates BIGINT DEFAULT 0, n_skipped BIGINT DEFAULT 0, sources JSON);
CREATE TABLE IF NOT EXISTS documents (
    corpus TEXT, doc_id TEXT, text TEXT, n_chars BIGINT, meta JSON, source TEXT, line BIGINT,
    PRIMARY KEY (corpus, doc_id));
CREATE TABLE IF NOT EXISTS ingest_issues (
    corpus TEXT, source TEXT, line BIGINT, problem TEXT, created_at TIMESTAMP DEFAULT now());
"""

# --- corpora and documents -------------------------------------------------------------------

def corpus_exists(con: Con, corpus: str) -> bool:
    return con.execute("SELECT count(*) FROM corpora WHERE name = ?", [corpus]).fetchall()[0][0] > 0


def upsert_corpus(con: Con, corpus: str, text_column: str, source: str) -> None:
    con.execute(
        "INSERT INTO corpora (name, text_column, sources) VALUES (?, ?, ?::JSON) ON CONFLICT (name) "
        "DO UPDATE SET sources = json_merge_patch(corpora.sources, excluded.sources)",
        [corpus, text_column, json.dumps({source: True})],
    )


def insert_documents(con: Con, corpus: str, docs: pd.DataFrame) -> int:
    """Insert rows (doc_id, text, n_chars, meta, source, line); returns how many were new."""
    before = count_documents(con, corpus)
    insert_arrow(
        con,
        "INSERT OR IGNORE INTO documents SELECT ?, doc_id, text, n_chars, meta::JSON, source, line FROM batch",
        pa.Table.from_pandas(docs, preserve_index=False),
        [corpus],
    )
    return count_documents(con, corpus) - before


def record_ingest(con: Con, corpus: str, duplicates: int, issues: Iterable[tuple[str, int, str]]) -> None:
    """Store skipped rows (source, line, problem) and refresh the corpus counters."""
    issues = list(issues)
    if issues:
        con.executemany("INSERT INTO ingest_issues (corpus, source, line, problem) VALUES (?, ?, ?, ?)",
                        [(corpus, *i) for i in issues])
    con.execute(
        "UPDATE corpora SET n_docs = (SELECT count(*) FROM documents WHERE corpus = ?), "
        "n_duplicates = n_duplicates + ?, n_skipped = n_skipped + ? WHERE name = ?",
        [corpus, duplicates, len(issues), corpus],
    )


def record_ingest_notes(con: Con, corpus: str, notes: Iterable[tuple[str, int, str]]) -> None:
    """Log remarks on rows that were kept (e.g. decoded as Latin-1); unlike issues, not counted as skipped."""
    notes = list(notes)
    if notes:
        con.executemany("INSERT INTO ingest_issues (corpus, source, line, problem) VALUES (?, ?, ?, ?)",
                        [(corpus, *n) for n in notes])


def count_documents(con: Con, corpus: str) -> int:
    return con.execute("SELECT count(*) FROM documents WHERE corpus = ?", [corpus]).fetchall()[0][0]


def list_corpora(con: Con) -> pd.DataFrame:
    return con.execute(
        "SELECT name, n_docs, n_duplicates, n_skipped, text_column, created_at FROM corpora ORDER BY created_at"
    ).df()


def ingest_issues(con: Con, corpus: str) -> pd.DataFrame:
    return con.execute(
        "SELECT source, line, problem FROM ingest_issues WHERE corpus = ? ORDER BY created_at, source, line",
        [corpus],
    ).df()


def documents(con: Con, corpus: str, doc_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """doc_id, text, n_chars, meta for a corpus (or only the given ids), in doc_id order."""
    if doc_ids is None:
        return con.execute(
            "SELECT doc_id, text, n_chars, meta FROM documents WHERE corpus = ? ORDER BY doc_id", [corpus]
        ).df()
    return con.execute(
        "SELECT doc_id, text, n_chars, meta FROM documents WHERE corpus = ? AND list_contains(?, doc_id) "
        "ORDER BY doc_id",
        [corpus, list(doc_ids)],
    ).df()


def search_documents(con: Con, corpus: str, query: str = "", min_chars: int = 0,
                     max_chars: int | None = None, limit: int = 50, offset: int = 0,
                     meta_query: str = "") -> pd.DataFrame:
    """Case-insensitive substring search in the text (and, with `meta_query`, in the metadata JSON)
    with length filters; the queries are parameters, never SQL."""
    return con.execute(
        "SELECT doc_id, text, n_chars, meta, source, line FROM documents WHERE corpus = ? AND n_chars >= ? "
        "AND n_chars <= ? AND (? = '' OR contains(lower(text), lower(?))) "
        "AND (? = '' OR contains(lower(CAST(meta AS TEXT)), lower(?))) ORDER BY doc_id LIMIT ? OFFSET ?",
        [corpus, min_chars, max_chars if max_chars is not None else 2**62, query, query,
         meta_query, meta_query, limit, offset],
    ).df()


def count_search(con: Con, corpus: str, query: str = "", min_chars: int = 0, max_chars: int | None = None,
                 meta_query: str = "") -> int:
    """How many documents `search_documents` would page through (same filters)."""
    return con.execute(
        "SELECT count(*) FROM documents WHERE corpus = ? AND n_chars >= ? AND n_chars <= ? "
        "AND (? = '' OR contains(lower(text), lower(?))) "
        "AND (? = '' OR contains(lower(CAST(meta AS TEXT)), lower(?)))",
        [corpus, min_chars, max_chars if max_chars is not None else 2**62, query, query, meta_query, meta_query],
    ).fetchall()[0][0]


# --- the joined view every consumer reads ----------------------------------------------------

def corpus_frame(con: Con, corpus: str, snippet_chars: int = 200) -> pd.DataFrame:
    """One row per document: doc_id, snippet, n_chars, each active signal as a column
    (askllm, perplexity, density, curator, ... when present), x, y, and the review decision."""
    frame = con.execute(
        "SELECT d.doc_id, left(d.text, ?) AS snippet, d.n_chars, p.x, p.y, r.decision "
        "FROM documents d LEFT JOIN projections p ON p.corpus = d.corpus AND p.doc_id = d.doc_id "
        "LEFT JOIN reviews r ON r.corpus = d.corpus AND r.doc_id = d.doc_id WHERE d.corpus = ? ORDER BY d.doc_id",
        [snippet_chars, corpus],
    ).df()
    for kind in con.execute("SELECT DISTINCT kind FROM signals WHERE corpus = ?", [corpus]).fetchall():
        key = active_signal_key(con, corpus, kind[0])
        values = con.execute("SELECT doc_id, value FROM scores WHERE signal_key = ?", [key]).df()
        frame[kind[0]] = frame["doc_id"].map(values.set_index("doc_id")["value"]) if len(values) else np.nan
    return frame



def meta_field(con: Con, corpus: str, field: str) -> pd.Series:
    """One metadata field (e.g. 'source') of every document, as text indexed by doc_id (None
    where a document lacks it); the field name is a parameter, never SQL."""
    frame = con.execute("SELECT doc_id, json_extract_string(meta, '$.' || ?) AS value FROM documents "
                        "WHERE corpus = ?", [field, corpus]).df()
    return frame.set_index("doc_id")["value"]


# --- ingest on Ray (engine.ray_backend) -------------------------------------------------------

def documents_with_source(con: Con, corpus: str) -> pd.DataFrame:
    """Every stored column of the corpus's documents (meta as JSON text), for shipping elsewhere."""
    return con.execute(
        "SELECT doc_id, text, n_chars, meta::TEXT AS meta, source, line FROM documents WHERE corpus = ? "
        "ORDER BY source, line", [corpus]).df()


def attach_document_shards(con: Con, corpus: str, files: Sequence[str]) -> tuple[int, int, list]:
    """Insert the document rows of Parquet shards (rows with `problem` set are skipped-row issues).
    Returns (document rows read, documents new to the corpus, issues as (source, line, problem))."""
    files = [str(f) for f in files]
    before = count_documents(con, corpus)
    con.execute("INSERT OR IGNORE INTO documents SELECT ?, doc_id, text, n_chars, meta::JSON, source, line "
                "FROM read_parquet(?) WHERE problem IS NULL", [corpus, files])
    n_rows = con.execute("SELECT count(*) FROM read_parquet(?) WHERE problem IS NULL", [files]).fetchall()[0][0]
    issues = con.execute("SELECT source, line, problem FROM read_parquet(?) WHERE problem IS NOT NULL "
                         "ORDER BY source, line", [files]).fetchall()
    return n_rows, count_documents(con, corpus) - before, issues
