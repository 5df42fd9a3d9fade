"""Corpus area: documents, their per-signal outputs, selections and curator reviews.

Stage outputs are keyed by document id (a hash of the text) and by the parameters that produced
them (`signal_key`), so another setting never overwrites earlier results and a document shared by
two corpora is embedded and scored once.
"""
from __future__ import annotations

import json
from typing import Iterable, Sequence

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

SCHEMA = """
CREATE TABLE IF NOT EXISTS corpora (
    name TEXT PRIMARY KEY, created_at TIMESTAMP DEFAULT now(), text_column TEXT,
    n_docs BIGINT DEFAULT 0, n_duplicates BIGINT DEFAULT 0, n_skipped BIGINT DEFAULT 0, sources JSON);
CREATE TABLE IF NOT EXISTS documents (
    corpus TEXT, doc_id TEXT, text TEXT, n_chars BIGINT, meta JSON, source TEXT, line BIGINT,
    PRIMARY KEY (corpus, doc_id));
CREATE TABLE IF NOT EXISTS ingest_issues (
    corpus TEXT, source TEXT, line BIGINT, problem TEXT, created_at TIMESTAMP DEFAULT now());
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT, doc_id TEXT, vector FLOAT[], PRIMARY KEY (model, doc_id));
CREATE TABLE IF NOT EXISTS scores (
    signal_key TEXT, doc_id TEXT, value DOUBLE, truncated BOOLEAN DEFAULT false,
    PRIMARY KEY (signal_key, doc_id));
CREATE TABLE IF NOT EXISTS signals (
    corpus TEXT, kind TEXT, signal_key TEXT, params JSON, updated_at TIMESTAMP DEFAULT now(),
    PRIMARY KEY (corpus, kind, signal_key));
CREATE TABLE IF NOT EXISTS projections (
    corpus TEXT, doc_id TEXT, x DOUBLE, y DOUBLE, PRIMARY KEY (corpus, doc_id));
CREATE TABLE IF NOT EXISTS projection_params (
    corpus TEXT PRIMARY KEY, params JSON, updated_at TIMESTAMP DEFAULT now());
CREATE TABLE IF NOT EXISTS selections (
    name TEXT PRIMARY KEY, corpus TEXT, strategy TEXT, params JSON, n_selected BIGINT,
    created_at TIMESTAMP DEFAULT now());
CREATE TABLE IF NOT EXISTS selection_members (
    selection TEXT, doc_id TEXT, rank BIGINT, PRIMARY KEY (selection, doc_id));
CREATE TABLE IF NOT EXISTS reviews (
    corpus TEXT, doc_id TEXT, decision TEXT, note TEXT, reviewer TEXT,
    updated_at TIMESTAMP DEFAULT now(), PRIMARY KEY (corpus, doc_id));
"""

Con = duckdb.DuckDBPyConnection


def _insert_arrow(con: Con, sql: str, table: pa.Table, params: Sequence = ()) -> None:
    """Run `sql` (which reads from the view `batch`) over an Arrow table."""
    con.register("batch", table)
    try:
        con.execute(sql, list(params))
    finally:
        con.unregister("batch")


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
    _insert_arrow(
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


# --- embeddings and scores (content-keyed caches) --------------------------------------------

# Documents of a corpus with nothing stored under a key, per cache table (the key is a parameter).
_STORED = {"embeddings": "SELECT doc_id FROM embeddings WHERE model = $key",
           "scores": "SELECT doc_id FROM scores WHERE signal_key = $key"}


def _missing(con: Con, corpus: str, table: str, key: str, order: str):
    """Relation of doc_id, text of the corpus's documents with nothing under `key` in `table`."""
    return con.sql(f"SELECT d.doc_id, d.text FROM documents d ANTI JOIN ({_STORED[table]}) s USING (doc_id) "
                   f"WHERE d.corpus = $corpus ORDER BY {order}", params={"key": key, "corpus": corpus})


def missing_rows(con: Con, corpus: str, table: str, key: str) -> pd.DataFrame:
    """doc_id, text of the corpus's documents with nothing stored under `key` in `table`
    ("embeddings" or "scores"), in doc_id order."""
    return _missing(con, corpus, table, key, "d.doc_id").df()


def missing_embeddings(con: Con, corpus: str, model: str) -> pd.DataFrame:
    """doc_id, text of the corpus's documents with no stored embedding for `model`."""
    return _missing(con, corpus, "embeddings", model, "d.doc_id").df()


def put_embeddings(con: Con, model: str, doc_ids: Sequence[str], vectors: np.ndarray) -> None:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    table = pa.table({
        "doc_id": pa.array(list(doc_ids), pa.string()),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1]),
    })
    _insert_arrow(con, "INSERT OR IGNORE INTO embeddings SELECT ?, doc_id, vector::FLOAT[] FROM batch", table, [model])


def embeddings(con: Con, corpus: str, model: str) -> tuple[np.ndarray, np.ndarray]:
    """(doc_ids, vectors) of the corpus's embedded documents, in doc_id order."""
    table = con.sql(
        "SELECT e.doc_id, e.vector FROM embeddings e JOIN documents d USING (doc_id) "
        "WHERE e.model = $model AND d.corpus = $corpus ORDER BY e.doc_id",
        params={"model": model, "corpus": corpus},
    ).to_arrow_table()
    ids = np.asarray(table.column("doc_id").to_pylist(), dtype=object)
    if not len(ids):
        return ids, np.zeros((0, 0), np.float32)
    flat = table.column("vector").combine_chunks()
    return ids, np.asarray(flat.flatten(), dtype=np.float32).reshape(len(ids), -1)


def missing_scores(con: Con, corpus: str, signal_key: str) -> pd.DataFrame:
    """doc_id, text of the corpus's documents with no stored value for `signal_key`."""
    return _missing(con, corpus, "scores", signal_key, "d.doc_id").df()


def missing_reader(con: Con, corpus: str, table: str, key: str, rows: int) -> pa.RecordBatchReader:
    """doc_id, text of the corpus's documents with nothing stored under `key` in `table`
    ("embeddings" or "scores"), shortest first, streamed `rows` at a time: a driver sharding a
    large corpus never holds it whole."""
    return _missing(con, corpus, table, key, "length(d.text), d.doc_id").to_arrow_reader(rows)


def embeddings_reader(con: Con, corpus: str, model: str, rows: int) -> pa.RecordBatchReader:
    """doc_id, vector of the corpus's embedded documents, streamed `rows` at a time."""
    return con.sql(
        "SELECT e.doc_id, e.vector FROM embeddings e JOIN documents d USING (doc_id) "
        "WHERE e.model = $model AND d.corpus = $corpus ORDER BY e.doc_id",
        params={"model": model, "corpus": corpus}).to_arrow_reader(rows)


def put_scores(con: Con, signal_key: str, doc_ids: Sequence[str], values: np.ndarray,
               truncated: np.ndarray | None = None) -> None:
    table = pa.table({
        "doc_id": pa.array(list(doc_ids), pa.string()),
        "value": pa.array(np.asarray(values, dtype=np.float64)),
        "truncated": pa.array(np.zeros(len(doc_ids), bool) if truncated is None else np.asarray(truncated, bool)),
    })
    _insert_arrow(con, "INSERT OR REPLACE INTO scores SELECT ?, doc_id, value, truncated FROM batch", table,
                  [signal_key])


def set_signal(con: Con, corpus: str, kind: str, signal_key: str, params: dict) -> None:
    """Mark `signal_key` as the corpus's current signal of `kind` (askllm, perplexity, density, ...)."""
    con.execute(
        "INSERT OR REPLACE INTO signals (corpus, kind, signal_key, params, updated_at) VALUES (?, ?, ?, ?::JSON, now())",
        [corpus, kind, signal_key, json.dumps(params, default=str)],
    )


def signals(con: Con, corpus: str) -> pd.DataFrame:
    """The corpus's signals, newest first: kind, signal_key, params, updated_at."""
    return con.execute(
        "SELECT kind, signal_key, params, updated_at FROM signals WHERE corpus = ? ORDER BY updated_at DESC",
        [corpus],
    ).df()


def active_signal_key(con: Con, corpus: str, kind: str) -> str | None:
    rows = con.execute(
        "SELECT signal_key FROM signals WHERE corpus = ? AND kind = ? ORDER BY updated_at DESC LIMIT 1",
        [corpus, kind],
    ).fetchall()
    return rows[0][0] if rows else None


# --- projection ------------------------------------------------------------------------------

def put_projection(con: Con, corpus: str, doc_ids: Sequence[str], xy: np.ndarray) -> None:
    con.execute("DELETE FROM projections WHERE corpus = ?", [corpus])
    table = pa.table({"doc_id": pa.array(list(doc_ids), pa.string()),
                      "x": pa.array(xy[:, 0].astype(np.float64)), "y": pa.array(xy[:, 1].astype(np.float64))})
    _insert_arrow(con, "INSERT INTO projections SELECT ?, doc_id, x, y FROM batch", table, [corpus])


def set_projection_params(con: Con, corpus: str, params: dict) -> None:
    """Record the settings of the corpus's stored projection (checked before recomputing)."""
    con.execute("INSERT OR REPLACE INTO projection_params (corpus, params, updated_at) VALUES (?, ?::JSON, now())",
                [corpus, json.dumps(params, sort_keys=True, default=str)])


def projection_params(con: Con, corpus: str) -> dict | None:
    rows = con.execute("SELECT params FROM projection_params WHERE corpus = ?", [corpus]).fetchall()
    return json.loads(rows[0][0]) if rows else None


# --- stage bookkeeping (counts for the pipeline and the home page) ---------------------------

def embedded_counts(con: Con, corpus: str) -> dict[str, int]:
    """model -> how many of the corpus's documents have an embedding from it."""
    rows = con.execute(
        "SELECT e.model, count(*) FROM embeddings e JOIN documents d USING (doc_id) WHERE d.corpus = ? "
        "GROUP BY e.model ORDER BY e.model", [corpus]).fetchall()
    return {m: int(n) for m, n in rows}


def scored_counts(con: Con, corpus: str) -> dict[str, int]:
    """signal_key -> how many of the corpus's documents have a stored value, for its signals."""
    rows = con.execute(
        "SELECT g.signal_key, count(s.doc_id) FROM signals g LEFT JOIN (scores s JOIN documents d "
        "ON d.doc_id = s.doc_id AND d.corpus = ?) ON s.signal_key = g.signal_key WHERE g.corpus = ? "
        "GROUP BY g.signal_key", [corpus, corpus]).fetchall()
    return {k: int(n) for k, n in rows}


def count_projected(con: Con, corpus: str) -> int:
    return con.execute("SELECT count(*) FROM projections WHERE corpus = ?", [corpus]).fetchall()[0][0]


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


# --- selections ------------------------------------------------------------------------------

def save_selection(con: Con, name: str, corpus: str, strategy: str, params: dict, doc_ids: Sequence[str]) -> None:
    """Store (or replace) a named selection with its parameters and ranked members."""
    con.execute("DELETE FROM selection_members WHERE selection = ?", [name])
    con.execute("DELETE FROM selections WHERE name = ?", [name])
    con.execute("INSERT INTO selections (name, corpus, strategy, params, n_selected) VALUES (?, ?, ?, ?::JSON, ?)",
                [name, corpus, strategy, json.dumps(params, default=str), len(doc_ids)])
    table = pa.table({"doc_id": pa.array(list(doc_ids), pa.string()),
                      "rank": pa.array(np.arange(len(doc_ids), dtype=np.int64))})
    _insert_arrow(con, "INSERT INTO selection_members SELECT ?, doc_id, rank FROM batch", table, [name])


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


# --- shards written by the Ray backend (engine.ray_backend) ----------------------------------

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


def attach_embedding_shards(con: Con, model: str, files: Sequence[str]) -> None:
    """Insert (doc_id, vector) Parquet shards as embeddings of `model`; stored rows are kept."""
    if files:
        con.execute("INSERT OR IGNORE INTO embeddings SELECT ?, doc_id, vector::FLOAT[] FROM read_parquet(?)",
                    [model, [str(f) for f in files]])


def attach_score_shards(con: Con, signal_key: str, files: Sequence[str]) -> None:
    """Insert (doc_id, value, truncated) Parquet shards as scores under `signal_key`."""
    if files:
        con.execute("INSERT OR REPLACE INTO scores SELECT ?, doc_id, value, truncated FROM read_parquet(?)",
                    [signal_key, [str(f) for f in files]])
