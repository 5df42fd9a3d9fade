"""Review history: every change to a curator decision or note, as an event (who, when, what was
there before, what is there after), grouped by action so one undo reverses a whole bulk click.
The current state stays in `reviews` (corpus area); this log is append-only except for the
`undone` mark, so the history of a document always shows what happened, undos included."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from engine.storage.sql import Con

SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS review_event_seq;
CREATE TABLE IF NOT EXISTS review_events (
    seq BIGINT DEFAULT nextval('review_event_seq') PRIMARY KEY, action_id TEXT, corpus TEXT, doc_id TEXT,
    reviewer TEXT, kind TEXT, decision_before TEXT, decision_after TEXT, note_before TEXT, note_after TEXT,
    created_at TIMESTAMP DEFAULT now(), undone BOOLEAN DEFAULT false);
"""


def current(con: Con, corpus: str, doc_ids: Sequence[str]) -> pd.DataFrame:
    """doc_id, decision, note of the given documents (a row only where a review exists)."""
    return con.execute("SELECT doc_id, decision, note FROM reviews WHERE corpus = ? AND list_contains(?, doc_id)",
                       [corpus, list(doc_ids)]).df()


def put_state(con: Con, corpus: str, rows: Sequence[tuple[str, str | None, str | None]], reviewer: str) -> None:
    """Set (doc_id, decision, note) exactly, NULLs included (what an undo restores)."""
    con.executemany(
        "INSERT INTO reviews (corpus, doc_id, decision, note, reviewer, updated_at) VALUES (?, ?, ?, ?, ?, now()) "
        "ON CONFLICT (corpus, doc_id) DO UPDATE SET decision = excluded.decision, note = excluded.note, "
        "reviewer = excluded.reviewer, updated_at = now()",
        [(corpus, d, dec, note, reviewer) for d, dec, note in rows])


def log(con: Con, action_id: str, corpus: str, reviewer: str, kind: str,
        rows: Sequence[tuple[str, str | None, str | None, str | None, str | None]]) -> None:
    """Append events (doc_id, decision_before, decision_after, note_before, note_after) of one action."""
    con.executemany(
        "INSERT INTO review_events (action_id, corpus, doc_id, reviewer, kind, decision_before, decision_after, "
        "note_before, note_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(action_id, corpus, r[0], reviewer, kind, *r[1:]) for r in rows])


def last_action(con: Con, corpus: str, reviewer: str | None = None) -> pd.DataFrame:
    """The events of the newest action on the corpus (by `reviewer` when given) that is not undone
    and is not itself an undo; empty when there is none."""
    found = con.execute(
        "SELECT action_id FROM review_events WHERE corpus = ? AND NOT undone AND kind <> 'undo' "
        "AND (? IS NULL OR reviewer = ?) ORDER BY seq DESC LIMIT 1", [corpus, reviewer, reviewer]).fetchall()
    if not found:
        return pd.DataFrame(columns=["doc_id", "decision_before", "note_before", "kind", "at"])
    return con.execute("SELECT doc_id, decision_before, note_before, decision_after, note_after, kind, created_at AS at "
                       "FROM review_events WHERE action_id = ? ORDER BY seq", [found[0][0]]).df().assign(
        action_id=found[0][0])


def mark_undone(con: Con, action_id: str) -> None:
    con.execute("UPDATE review_events SET undone = true WHERE action_id = ?", [action_id])


def history(con: Con, corpus: str, doc_id: str) -> pd.DataFrame:
    """Every event of one document, newest first: at, reviewer, kind, before/after, undone."""
    return con.execute(
        "SELECT created_at AS at, reviewer, kind, decision_before, decision_after, note_before, note_after, undone "
        "FROM review_events WHERE corpus = ? AND doc_id = ? ORDER BY seq DESC", [corpus, doc_id]).df()


def undoable(con: Con, corpus: str, reviewer: str | None = None) -> int:
    """How many actions could be undone, one after another."""
    return con.execute(
        "SELECT count(DISTINCT action_id) FROM review_events WHERE corpus = ? AND NOT undone AND kind <> 'undo' "
        "AND (? IS NULL OR reviewer = ?)", [corpus, reviewer, reviewer]).fetchall()[0][0]
