"""Curator decisions, neighbours and the curator classifier on a real DuckDB workspace."""
import numpy as np
import pandas as pd
import pytest

from engine import review
from engine.errors import UserError
from engine.storage import Workspace
from engine.storage import corpus as store
from engine.storage import selections as selection_store
from engine.storage import signals as signal_store

MODEL = "test-vectors"


def _workspace(tmp_path, n=60, dim=16, seed=0):
    """n documents whose vectors form two clusters; 'good' docs sit in cluster 1."""
    rng = np.random.default_rng(seed)
    ws = Workspace(tmp_path / "ws.duckdb")
    ids = [f"d{i:03d}" for i in range(n)]
    good = np.arange(n) % 2 == 0
    centre = np.where(good[:, None], 1.0, -1.0) * np.ones((n, dim)) / np.sqrt(dim)
    vecs = centre + rng.normal(0, 0.5 / np.sqrt(dim), (n, dim))
    docs = pd.DataFrame({"doc_id": ids, "text": [f"text {i}" for i in ids], "n_chars": 8,
                         "meta": "{}", "source": "t.jsonl", "line": np.arange(n)})
    with ws.connect() as con:
        store.upsert_corpus(con, "c", "text", "t.jsonl")
        store.insert_documents(con, "c", docs)
        signal_store.put_embeddings(con, MODEL, ids, vecs)
    return ws, ids, good


def test_record_survives_reopen_and_validates(tmp_path):
    ws, ids, _ = _workspace(tmp_path)
    assert review.record(ws, "c", ids[:3], "accept", "ana", note="clean") == 3
    review.record(ws, "c", ids[1:2], "reject", "bo")
    with Workspace(tmp_path / "ws.duckdb").connect() as con:
        rev = selection_store.reviews(con, "c").set_index("doc_id")
    assert rev.loc[ids[0], "decision"] == "accept" and rev.loc[ids[1], "decision"] == "reject"
    assert rev.loc[ids[1], "note"] == "clean" and rev.loc[ids[1], "reviewer"] == "bo"
    with pytest.raises(UserError, match="decision"):
        review.record(ws, "c", ids[:1], "maybe", "ana")
    with pytest.raises(UserError, match="reviewer"):
        review.record(ws, "c", ids[:1], "accept", " ")


def test_filter_queue_and_progress():
    frame = pd.DataFrame({"doc_id": list("abcd"), "decision": ["accept", None, "reject", None],
                          "askllm": [0.9, 0.2, np.nan, 0.6]})
    assert list(review.filter_queue(frame, "unreviewed")["doc_id"]) == ["b", "d"]
    assert list(review.filter_queue(frame, "all", "askllm", 0.5, 1.0)["doc_id"]) == ["a", "d"]
    assert list(review.filter_queue(frame, "reject")["doc_id"]) == ["c"]
    assert review.progress_counts(frame["decision"]) == {"accept": 1, "reject": 1, "unreviewed": 2, "total": 4}


def test_neighbours_are_cosine_nearest():
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    vecs = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], dtype=np.float32)
    got = review.neighbours(ids, vecs, "a", k=2)
    assert [d for d, _ in got] == ["b", "c"] and got[0][1] > 0.99
    assert review.neighbours(ids, vecs, "zz") == []


def test_curator_needs_both_classes(tmp_path):
    ws, ids, good = _workspace(tmp_path)
    review.record(ws, "c", [i for i, g in zip(ids, good) if g][:25], "accept", "ana")
    with pytest.raises(UserError, match="25 and 0"):
        review.train_curator(ws, "c", review.CuratorConfig(embed_model=MODEL))


def test_curator_learns_decisions_and_is_selectable_signal(tmp_path):
    ws, ids, good = _workspace(tmp_path)
    config = review.CuratorConfig(embed_model=MODEL)
    review.record(ws, "c", [i for i, g in zip(ids, good) if g][:22], "accept", "ana")
    review.record(ws, "c", [i for i, g in zip(ids, good) if not g][:22], "reject", "ana")
    result = review.train_curator(ws, "c", config)
    assert result.n_accept == 22 and result.n_reject == 22 and result.n_scored == 60
    assert result.auc > 0.9  # clusters are separable: a broken fit or flipped labels fails this
    with ws.connect() as con:
        frame = store.corpus_frame(con, "c")
    scores = frame.set_index("doc_id")["curator"]
    # unreviewed documents (the last 16) are scored too, good ones above bad ones
    rest = pd.Series(good, index=ids).iloc[44:]
    assert scores[rest[rest].index].min() > scores[rest[~rest].index].max()
    status = review.curator_status(ws, "c")
    assert status["n_accept"] == 22 and abs(status["auc"] - result.auc) < 1e-9
    # refreshing replaces the values under the same key rather than piling up signals
    review.record(ws, "c", [ids[-2]], "accept", "ana")
    review.train_curator(ws, "c", config)
    with ws.connect() as con:
        assert (signal_store.signals(con, "c")["kind"] == "curator").sum() == 1
