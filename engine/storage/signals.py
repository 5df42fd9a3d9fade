"""Signals area: what the stages compute per document and per corpus - embeddings, scores, the
marker of each corpus's active signal of each kind, and the 2-D map.

Outputs are keyed by document id (a hash of the text) and by the settings that produced them
(`signal_key`, the embedder's fingerprint), so another setting never overwrites earlier results and
a document shared by two corpora is embedded and scored once. A stage writes its marker
(`set_signal`) in the same transaction as its last outputs.
"""
from __future__ import annotations

import json
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from engine.storage.sql import Con, insert_arrow

SCHEMA = """
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
"""


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


def put_embeddings(con: Con, model: str, doc_ids: Sequence[str], vectors: np.ndarray) -> None:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    table = pa.table({
        "doc_id": pa.array(list(doc_ids), pa.string()),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1]),
    })
    insert_arrow(con, "INSERT OR IGNORE INTO embeddings SELECT ?, doc_id, vector::FLOAT[] FROM batch", table, [model])


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
    insert_arrow(con, "INSERT OR REPLACE INTO scores SELECT ?, doc_id, value, truncated FROM batch", table,
                  [signal_key])


def scores_of(con: Con, signal_key: str, doc_ids: Sequence[str]) -> pd.Series:
    """Stored values of `signal_key` for those of `doc_ids` that have one, indexed by doc_id (sorted)."""
    return con.execute(
        "SELECT doc_id, value FROM scores WHERE signal_key = ? AND list_contains(?, doc_id) ORDER BY doc_id",
        [signal_key, list(doc_ids)],
    ).df().set_index("doc_id")["value"]


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
    insert_arrow(con, "INSERT INTO projections SELECT ?, doc_id, x, y FROM batch", table, [corpus])


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



# --- shards written by the Ray backend (engine.ray_backend) ----------------------------------

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
