"""Storage areas on a real DuckDB file: corpus (documents), signals (content-keyed outputs),
selections (selections + reviews), jobs (with its migration), and a workspace written by the
code before the storage split, which must open unchanged and give the same selections."""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from engine import pipeline
from engine.select import replay_args
from engine.storage import Workspace
from engine.storage import corpus as store
from engine.storage import jobs as jobs_db
from engine.storage import selections as selection_store
from engine.storage import signals as signal_store

DATA = Path(__file__).parents[1] / "data"


def _docs(*texts: str) -> pd.DataFrame:
    return pd.DataFrame({"doc_id": [f"d{i}" for i in range(len(texts))], "text": list(texts),
                         "n_chars": [len(t) for t in texts], "meta": ["{}"] * len(texts),
                         "source": ["s.jsonl"] * len(texts), "line": list(range(1, len(texts) + 1))})


@pytest.fixture
def corpus(workspace):
    with workspace.connect() as con:
        store.upsert_corpus(con, "c", "text", "s.jsonl")
        assert store.insert_documents(con, "c", _docs("alpha beta", "Gamma", "delta 100%")) == 3
        assert store.insert_documents(con, "c", _docs("alpha beta")) == 0  # same id: stored once
    return workspace


def test_documents_search_is_parameterised_and_counted(corpus):
    with corpus.connect() as con:
        assert store.count_documents(con, "c") == 3
        assert store.search_documents(con, "c", "GAMMA")["text"].tolist() == ["Gamma"]
        assert store.count_search(con, "c", "%") == 1  # a literal, not a LIKE pattern
        assert store.count_search(con, "c", "'; DROP TABLE documents; --") == 0
        assert store.count_documents(con, "c") == 3


def test_outputs_are_keyed_by_settings_and_missing_rows_follow_them(corpus):
    with corpus.connect() as con:
        signal_store.put_scores(con, "k1", ["d0", "d1"], np.array([0.1, 0.2]))
        signal_store.set_signal(con, "c", "askllm", "k1", {"a": 1})
        signal_store.put_scores(con, "k2", ["d0"], np.array([0.9]))
        assert signal_store.missing_rows(con, "c", "scores", "k1")["doc_id"].tolist() == ["d2"]
        assert signal_store.missing_rows(con, "c", "scores", "k2")["doc_id"].tolist() == ["d1", "d2"]
        signal_store.put_embeddings(con, "m", ["d1", "d0"], np.eye(2, 3, dtype=np.float32))
        ids, vectors = signal_store.embeddings(con, "c", "m")
        assert ids.tolist() == ["d0", "d1"] and vectors.tolist() == [[0, 1, 0], [1, 0, 0]]
        assert signal_store.scored_counts(con, "c") == {"k1": 2}
        frame = store.corpus_frame(con, "c")
    got = frame.set_index("doc_id")["askllm"]
    assert got["d0"] == pytest.approx(0.1) and got["d1"] == pytest.approx(0.2) and np.isnan(got["d2"])


def test_a_selection_replaces_only_its_name_and_reviews_keep_notes(corpus):
    with corpus.connect() as con:
        selection_store.save_selection(con, "a", "c", "random", {"seed": 1}, ["d2", "d0"])
        selection_store.save_selection(con, "b", "c", "random", {"seed": 2}, ["d1"])
        selection_store.save_selection(con, "a", "c", "random", {"seed": 3}, ["d0"])
        assert selection_store.selection(con, "a")["doc_ids"] == ["d0"]
        assert selection_store.selection(con, "b")["doc_ids"] == ["d1"]
        selection_store.set_reviews(con, "c", ["d1"], "accept", "ana", "keep me")
        selection_store.set_reviews(con, "c", ["d1"], "accept", "ben")
        assert selection_store.reviews(con, "c")[["doc_id", "note", "reviewer"]].values.tolist() == \
            [["d1", "keep me", "ben"]]
        exported = selection_store.selection_documents(con, "a")  # members, then accepted outside
        assert exported["doc_id"].tolist() == ["d0", "d1"] and pd.isna(exported["rank"].iloc[1])


def _old_jobs_table(path: Path) -> None:
    """The runs table as the code before `llm2llm_run` wrote it, with an LLM2LLM job in it."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, kind TEXT, argv JSON, params JSON, status TEXT, "
                "needs_device BOOLEAN, pid BIGINT, pid_started DOUBLE, host TEXT, device TEXT, stage TEXT, "
                "done BIGINT, total BIGINT, rate DOUBLE, eta_s DOUBLE, created_at TIMESTAMP, started_at TIMESTAMP, "
                "ended_at TIMESTAMP, updated_at TIMESTAMP, log_path TEXT, error TEXT, exit_code INTEGER, "
                "attempts INTEGER DEFAULT 0)")
    for job_id, argv, params in (("j1", ["llm2llm", "run", "--task", "trec", "--name", "t1"], {"name": "t1"}),
                                 ("j2", ["llm2llm", "resume", "t1"], {"args": ["t1"]}),
                                 ("j3", ["score", "--corpus", "c"], {"corpus": "c"})):
        con.execute("INSERT INTO runs (id, kind, argv, params, status, created_at) VALUES (?, ?, ?, ?, 'done', now())",
                    [job_id, " ".join(argv[:2]) if argv[0] == "llm2llm" else argv[0], json.dumps(argv),
                     json.dumps(params)])
    con.close()


def test_jobs_migration_names_the_llm2llm_run_of_old_jobs(tmp_path):
    from engine.jobs import jobs_of_llm2llm, start_job

    _old_jobs_table(tmp_path / "ws.duckdb")
    ws = Workspace(tmp_path / "ws.duckdb")
    assert sorted(jobs_of_llm2llm(ws, "t1")["id"]) == ["j1", "j2"]
    with ws.connect() as con:
        assert jobs_db.get_job(con, "j3")["llm2llm_run"] is None
    new = start_job(ws, ["llm2llm", "status", "t1"])  # a new job records its run name itself
    assert new in set(jobs_of_llm2llm(ws, "t1")["id"])


def _table_counts(path) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] for t in tables}
    finally:
        con.close()


def test_a_workspace_made_before_the_split_opens_unchanged(tmp_path):

    """tests/data/workspace_v1.duckdb.gz was written by the code before this layout
    (tests/data/make_workspace_v1.py): every row is still there, and re-running each saved
    selection with its stored parameters gives the same documents in the same order."""
    path = tmp_path / "v1.duckdb"
    with gzip.open(DATA / "workspace_v1.duckdb.gz") as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    before = _table_counts(path)
    ws = Workspace(path)
    with ws.connect() as con:
        saved = selection_store.list_selections(con, "c4")
        frame = store.corpus_frame(con, "c4")
        reviews = selection_store.reviews(con, "c4")
    after = _table_counts(path)  # new areas may add empty tables; no row of the old ones changes
    assert {t: n for t, n in after.items() if t in before} == before and not any(after[t] for t in after if t not in before)
    assert {"askllm", "perplexity", "density", "curator"} <= set(frame.columns) and len(frame) == 60
    assert len(reviews) == 44 and set(reviews["note"].dropna()) == {"good"}
    assert len(saved) == 8
    for row in saved[saved["strategy"] != "map"].itertuples():
        params = json.loads(row.params)
        args = replay_args(params)  # saved before temperature / propensity: the settings of then
        assert params["strategy"] not in ("density", "combined") or (args["temperature"], args["propensity"]) == (1.0, "density")
        again = pipeline.select(ws, "c4", **args)
        with ws.connect() as con:
            stored = selection_store.selection(con, row.name)["doc_ids"]
        assert list(again.doc_ids) == stored, row.name
    from engine.jobs import list_jobs

    assert list_jobs(ws)["id"].tolist() == ["20260101-000000-abcd"]
