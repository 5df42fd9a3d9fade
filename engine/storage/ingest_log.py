"""Ingest bookkeeping: how far each file (by content and read options) has been stored, so an
interrupted ingest resumes where its last commit ended, a re-ingest adds nothing, and the corpus
counters are recomputed from what is stored (never incremented blindly).

`ingest_sources` has one row per (corpus, source name): the `fingerprint` of the file version (its
content and read options) last read, `rows_done` rows of it (in reading order, skipped rows
included) accounted for, `rows_good` of them usable documents, `complete` once it was read to its
end. A new version of a source (edited, or read with other options such as the Latin-1 fallback)
starts its counts afresh and replaces the source's logged issues; documents, once stored, stay.
Issues are logged once per (corpus, source, line, problem); `kept` marks a remark on a stored row
rather than a skipped one. Counters: n_docs = stored documents; n_skipped = logged issues that are
not remarks; n_duplicates = usable rows of the current versions - n_docs (0 at least).
"""
from __future__ import annotations

from typing import Iterable

import duckdb
import pyarrow as pa

SCHEMA = """
CREATE TABLE IF NOT EXISTS ingest_sources (
    corpus TEXT, source TEXT, fingerprint TEXT, rows_done BIGINT DEFAULT 0, rows_good BIGINT DEFAULT 0,
    complete BOOLEAN DEFAULT false, updated_at TIMESTAMP DEFAULT now(), PRIMARY KEY (corpus, source));
"""
MIGRATIONS = ("ALTER TABLE ingest_issues ADD COLUMN IF NOT EXISTS kept BOOLEAN DEFAULT false",)
Con = duckdb.DuckDBPyConnection


def advance(con: Con, corpus: str, source: str, fingerprint: str, rows_done: int, good: int,
            complete: bool, new_version: bool) -> None:
    """Record a committed stretch of a file; `new_version` replaces what an earlier version left
    (its counts and its logged issues: call before logging this version's issues)."""
    if new_version:
        con.execute("DELETE FROM ingest_issues WHERE corpus = ? AND source = ?", [corpus, source])
        con.execute("DELETE FROM ingest_sources WHERE corpus = ? AND source = ?", [corpus, source])
    con.execute(
        "INSERT INTO ingest_sources (corpus, source, fingerprint, rows_done, rows_good, complete) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (corpus, source) DO UPDATE SET "
        "rows_done = excluded.rows_done, rows_good = ingest_sources.rows_good + excluded.rows_good, "
        "complete = excluded.complete, updated_at = now()",
        [corpus, source, fingerprint, rows_done, good, complete])


def insert_documents(con: Con, corpus: str, parquet: str) -> int:
    """Insert the (doc_id, text, n_chars, meta, source, line) rows of a staged Parquet file in
    file order (of equal doc_ids the first is kept); returns how many were new to the corpus."""
    before = count(con, corpus)
    con.execute("INSERT OR IGNORE INTO documents SELECT ?, doc_id, text, n_chars, meta::JSON, source, line "
                "FROM read_parquet(?)", [corpus, parquet])
    return count(con, corpus) - before


def corpus_progress(con: Con, corpus: str) -> dict[str, tuple[str, int, bool]]:
    """source -> (fingerprint, rows accounted for, read to its end) for every file of the corpus."""
    rows = con.execute("SELECT source, fingerprint, rows_done, complete FROM ingest_sources WHERE corpus = ?",
                       [corpus]).fetchall()
    return {s: (f, int(n), bool(c)) for s, f, n, c in rows}


def log_issues(con: Con, corpus: str, issues: Iterable[tuple[str, int, str]], kept: bool) -> None:
    """Append issues not logged yet for this corpus (a re-run does not repeat them)."""
    issues = list(issues)
    if not issues:
        return
    table = pa.table({"source": [i[0] for i in issues], "line": pa.array([i[1] for i in issues], pa.int64()),
                      "problem": [i[2] for i in issues]})
    con.register("new_issues", table)
    try:
        con.execute("INSERT INTO ingest_issues (corpus, source, line, problem, kept) "
                    "SELECT DISTINCT ?, n.source, n.line, n.problem, ? FROM new_issues n WHERE NOT EXISTS "
                    "(SELECT 1 FROM ingest_issues i WHERE i.corpus = ? AND i.source = n.source "
                    "AND i.line = n.line AND i.problem = n.problem)", [corpus, kept, corpus])
    finally:
        con.unregister("new_issues")


def refresh_counters(con: Con, corpus: str) -> None:
    """Set the corpus counters from what is stored (see the module docstring)."""
    con.execute(
        "UPDATE corpora SET n_docs = d.n, n_skipped = (SELECT count(*) FROM ingest_issues "
        "WHERE corpus = $c AND NOT coalesce(kept, false)), n_duplicates = CASE WHEN s.good IS NULL "
        "THEN corpora.n_duplicates ELSE greatest(s.good - d.n, 0) END "
        "FROM (SELECT count(*) AS n FROM documents WHERE corpus = $c) d, "
        "(SELECT sum(rows_good) AS good FROM ingest_sources WHERE corpus = $c) s WHERE name = $c",
        {"c": corpus})


def count(con: Con, corpus: str) -> int:
    return con.execute("SELECT count(*) FROM documents WHERE corpus = ?", [corpus]).fetchall()[0][0]
