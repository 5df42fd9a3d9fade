"""Review never loses a decision: bulk clicks skip decided documents, notes are saved on their own,
every change is in the history (who, when, what) and undo reverses the last action. Real DuckDB."""
from __future__ import annotations

import pandas as pd
import pytest

from engine import pipeline, review
from engine.errors import UserError
from engine.storage import corpus as store
from engine.storage import selections as selection_store

from tests.conftest import DATA


@pytest.fixture
def ws(workspace):
    pipeline.ingest(workspace, DATA / "c4_sample.jsonl", "c4")
    return workspace


def _ids(ws, n):
    with ws.connect() as con:
        return store.documents(con, "c4")["doc_id"].tolist()[:n]


def _state(ws):
    with ws.connect() as con:
        rev = selection_store.reviews(con, "c4").set_index("doc_id")
    return rev


def test_bulk_accept_skips_a_rejected_document_unless_told_otherwise(ws):
    a, b, c = _ids(ws, 3)
    review.decide(ws, "c4", [b], review.REJECT, "ann", change_decided=True)
    result = review.decide(ws, "c4", [a, b, c], review.ACCEPT, "bob")
    assert (result.changed, result.skipped_decided) == (2, 1)
    assert _state(ws).loc[b, "decision"] == review.REJECT
    forced = review.decide(ws, "c4", [a, b, c], review.ACCEPT, "bob", change_decided=True)
    assert (forced.changed, forced.skipped_decided) == (1, 0)
    assert _state(ws).loc[b, "decision"] == review.ACCEPT


def test_a_note_alone_is_stored_and_keeps_the_decision(ws):
    (a,) = _ids(ws, 1)
    assert review.save_note(ws, "c4", a, "  boilerplate at the end ", "ann")
    assert _state(ws).loc[a, "note"] == "boilerplate at the end" and pd.isna(_state(ws).loc[a, "decision"])
    review.decide(ws, "c4", [a], review.ACCEPT, "ann")
    assert _state(ws).loc[a, "note"] == "boilerplate at the end"  # a decision without a note keeps it
    assert not review.save_note(ws, "c4", a, "boilerplate at the end", "ann")  # unchanged: no event


def test_undo_reverses_the_last_action_only_and_history_says_who_when_what(ws):
    a, b = _ids(ws, 2)
    review.decide(ws, "c4", [a], review.REJECT, "ann")
    review.decide(ws, "c4", [a, b], review.ACCEPT, "ann", change_decided=True)
    undone = review.undo_last(ws, "c4", "ann")
    assert (undone.restored, undone.kept, undone.kind) == (2, 0, "decision")
    state = _state(ws)
    assert state.loc[a, "decision"] == review.REJECT and pd.isna(state.loc[b, "decision"])
    events = review.history(ws, "c4", a)
    assert list(events["kind"]) == ["undo", "decision", "decision"]
    assert list(events["reviewer"]) == ["ann"] * 3 and events["at"].notna().all()
    assert list(events["undone"]) == [False, True, False]
    assert (events.iloc[0]["decision_before"], events.iloc[0]["decision_after"]) == (review.ACCEPT, review.REJECT)
    assert review.undo_last(ws, "c4", "ann").restored == 1  # then the first reject
    assert pd.isna(_state(ws).loc[a, "decision"]) and review.undoable(ws, "c4", "ann") == 0
    assert review.undo_last(ws, "c4", "ann").kind is None


def test_undo_leaves_a_document_someone_changed_since(ws):
    (a,) = _ids(ws, 1)
    review.decide(ws, "c4", [a], review.ACCEPT, "ann")
    review.decide(ws, "c4", [a], review.REJECT, "bob", change_decided=True)
    undone = review.undo_last(ws, "c4", "ann")
    assert (undone.restored, undone.kept) == (0, 1)
    assert _state(ws).loc[a, "decision"] == review.REJECT


def test_undo_needs_a_reviewer_and_unknown_decisions_are_refused(ws):
    (a,) = _ids(ws, 1)
    with pytest.raises(UserError, match="reviewer"):
        review.undo_last(ws, "c4", " ")
    with pytest.raises(UserError, match="decision must be"):
        review.decide(ws, "c4", [a], "maybe", "ann")


def test_sort_by_score_or_curator_uncertainty():
    frame = pd.DataFrame({"doc_id": list("abcd"), "askllm": [0.2, 0.9, None, 0.5],
                          "curator": [0.1, 0.55, 0.95, 0.4]})
    assert list(review.sort_queue(frame, "score, high to low", "askllm")["doc_id"]) == ["b", "d", "a", "c"]
    assert list(review.sort_queue(frame, "score, low to high", "askllm")["doc_id"]) == ["a", "d", "b", "c"]
    assert list(review.sort_queue(frame, "curator uncertainty (closest to 0.5 first)")["doc_id"]) == ["b", "d", "a", "c"]


def test_history_reads_as_who_when_what(ws):
    (a,) = _ids(ws, 1)
    review.decide(ws, "c4", [a], review.REJECT, "ann")
    review.save_note(ws, "c4", a, "menu only", "bob")
    table = review.history_table(review.history(ws, "c4", a))
    assert list(table["who"]) == ["bob", "ann"]
    assert list(table["what"]) == ["note 'menu only' (was '')", "reject (was unreviewed)"]
