"""The real selection pipeline with the real default models on a small C4 slice.

One module-scoped run (ingest -> embed -> Ask-LLM -> perplexity -> density -> project) is shared
by the tests below; the 16 shortest documents of the committed C4 sample keep it to seconds of
model time on 2 CPU cores.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine import pipeline
from engine.errors import UserError
from engine.export import read_selection_metadata
from engine.select import STRATEGIES
from engine.storage import Workspace
from engine.storage import corpus as store
from engine.storage import selections as selection_store
from engine.storage import signals as signal_store

DATA = Path(__file__).parents[1] / "data"
N_DOCS = 16
pytestmark = pytest.mark.slow  # the shared run loads three real models (~1 min on 2 cores)


def _write_docs(path, docs):
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


@pytest.fixture(scope="module")
def c4_docs():
    docs = [json.loads(line) for line in (DATA / "c4_sample.jsonl").read_text().splitlines()]
    return sorted(docs, key=lambda d: len(d["text"]))[:N_DOCS + 2]  # 2 spare for the "new docs" test


@pytest.fixture(scope="module")
def run(tmp_path_factory, c4_docs, gemma_judge, smollm2, embedder):
    """A workspace where every stage ran once; returns (ws, {stage: first-run result}).
    The session fixtures load the three default models once for every test module."""
    tmp = tmp_path_factory.mktemp("pipeline")
    ws = Workspace(tmp / "ws.duckdb")
    pipeline.ingest(ws, _write_docs(tmp / "c4.jsonl", c4_docs[:N_DOCS]), "c4")
    results = {"embed": pipeline.embed(ws, "c4"),
               "askllm": pipeline.score(ws, "c4", "askllm"),
               "perplexity": pipeline.score(ws, "c4", "perplexity"),
               "density": pipeline.density(ws, "c4"),
               "project": pipeline.project(ws, "c4")}
    return ws, results


def _frame(ws):
    with ws.connect() as con:
        return store.corpus_frame(con, "c4")


def test_every_stage_computes_every_document_once(run):
    ws, results = run
    assert {s: r.n_computed for s, r in results.items()} == dict.fromkeys(results, N_DOCS)
    again = [pipeline.embed(ws, "c4"), pipeline.score(ws, "c4", "askllm"), pipeline.score(ws, "c4", "perplexity"),
             pipeline.density(ws, "c4"), pipeline.project(ws, "c4")]
    assert [(r.n_computed, r.n_cached) for r in again] == [(0, N_DOCS)] * 5


def test_stored_signals_are_real_model_outputs(run):
    frame = _frame(run[0])
    assert len(frame) == N_DOCS
    assert frame["askllm"].between(0, 1).all() and frame["askllm"].std() > 0  # P(yes) varies per document
    assert (frame["perplexity"] < 0).all()  # quality = -log ppl; a 135M LM never reaches ppl <= 1 on C4
    assert (frame["density"] > 0).all() and frame[["x", "y"]].notna().all().all()
    assert frame[["x", "y"]].std().min() > 0  # a real spread, not a degenerate map
    status = pipeline.stage_status(run[0], "c4")
    assert status["embedded"] == {"all-minilm-l6-v2": N_DOCS} and status["projected"] == N_DOCS
    assert {k: v["n_scored"] for k, v in status["signals"].items()} == dict.fromkeys(
        ["askllm", "perplexity", "density"], N_DOCS)


RUN_SIGNALS = ("askllm", "perplexity", "density")  # what the shared run computed
RUN_STRATEGIES = [s for s in STRATEGIES if s in (*RUN_SIGNALS, "random", "combined")]


@pytest.mark.parametrize("strategy", RUN_STRATEGIES)
def test_each_strategy_selects_the_budget_and_saves(run, strategy):
    ws = run[0]
    result = pipeline.select(ws, "c4", strategy, weight=0.5, budget=0.25, seed=1, name=f"sel-{strategy}")
    assert len(result.doc_ids) == 4 and len(set(result.doc_ids)) == 4
    with ws.connect() as con:
        saved = selection_store.selection(con, f"sel-{strategy}")
    assert saved["doc_ids"] == list(result.doc_ids) and saved["params"]["seed"] == 1
    if strategy in ("askllm", "perplexity"):  # top-k really is the k best by that signal
        frame = _frame(ws).set_index("doc_id")[strategy]
        assert set(result.doc_ids) == set(frame.nlargest(4).index)


@pytest.mark.parametrize("strategy", [s for s in STRATEGIES if s not in (*RUN_STRATEGIES, "curator")])
def test_a_strategy_without_its_scores_names_the_command_that_makes_them(run, strategy):
    with pytest.raises(UserError, match=f"no '{strategy}' scores .*--signal {strategy}"):
        pipeline.select(run[0], "c4", strategy, weight=0.5, budget=0.25, seed=1)


def test_combined_weight_extremes_equal_the_pure_strategies(run):
    ws = run[0]
    for seed in (0, 5):
        ids = lambda s, w=0.5: list(pipeline.select(ws, "c4", s, weight=w, budget=6, seed=seed).doc_ids)  # noqa
        assert ids("combined", 1.0) == ids("askllm")
        assert ids("combined", 0.0) == ids("density")


def test_curator_strategy_needs_the_curator_signal(run):
    with pytest.raises(UserError, match="curator"):
        pipeline.select(run[0], "c4", "curator")


def test_export_drops_rejected_and_carries_signals_and_params(run, tmp_path):
    ws = run[0]
    pipeline.select(ws, "c4", "combined", budget=8, seed=0, name="export-me")
    with ws.connect() as con:
        ids = selection_store.selection(con, "export-me")["doc_ids"]
        selection_store.set_reviews(con, "c4", ids[:1], "reject", "tester", "boilerplate")
        selection_store.set_reviews(con, "c4", ids[1:2], "accept", "tester", "good")
    for name in ("out.jsonl", "out.parquet"):
        result = pipeline.export(ws, "export-me", tmp_path / name)
        path = tmp_path / name
        rows = pd.read_json(path, lines=True) if name.endswith("jsonl") else pd.read_parquet(path)
        assert result.n_rows == len(rows) == 7 and result.n_rejected == 1
        assert list(rows["doc_id"]) == ids[1:] and list(rows["rank"]) == list(range(1, 8))
        assert {"text", "meta", "askllm", "perplexity", "density", "decision", "note"} <= set(rows.columns)
        assert rows.loc[0, "note"] == "good" and rows["askllm"].notna().all()
        meta = read_selection_metadata(tmp_path / name)
        assert meta["strategy"] == "combined" and meta["params"]["budget"] == 8 and meta["n_rejected"] == 1


def test_new_documents_are_the_only_ones_computed(run, tmp_path, c4_docs):
    ws = run[0]
    pipeline.ingest(ws, _write_docs(tmp_path / "more.jsonl", c4_docs[N_DOCS:]), "c4")
    assert pipeline.embed(ws, "c4").n_computed == 2
    # Not scored yet: Ask-LLM top-k says which documents it left out instead of sorting NaN.
    result = pipeline.select(ws, "c4", "askllm", budget=0.5)
    assert result.n_excluded == 2 and "2 without askllm" in result.message
    assert len(result.doc_ids) == 9  # half of 18, all from the 16 scored
    assert pipeline.score(ws, "c4", "askllm").n_computed == 2
    assert pipeline.density(ws, "c4").n_computed == N_DOCS + 2  # density is relative to the corpus
    frame = _frame(ws)
    assert frame["askllm"].notna().all() and np.isfinite(frame["density"]).all()


def test_an_interrupted_stage_keeps_finished_chunks_and_resumes(workspace, tmp_path, c4_docs, embedder):
    pipeline.ingest(workspace, _write_docs(tmp_path / "c4.jsonl", c4_docs[:10]), "c4")
    calls = []

    def interrupt_after_first_chunk(label, done, total):
        calls.append((label, done, total))
        if done > 0:
            raise KeyboardInterrupt  # what Ctrl-C (or a killed run) does between two chunks

    with pytest.raises(KeyboardInterrupt):
        pipeline.embed(workspace, "c4", chunk_size=4, progress=interrupt_after_first_chunk)
    assert calls == [("embed", 0, 10), ("embed", 4, 10)]
    calls.clear()
    result = pipeline.embed(workspace, "c4", chunk_size=4, progress=lambda *a: calls.append(a))
    assert (result.n_computed, result.n_cached) == (6, 4)
    done = [d for _, d, _ in calls]  # steps follow the measured rate, never above chunk_size
    assert calls[0] == ("embed", 4, 10) and calls[-1] == ("embed", 10, 10)
    assert all(0 < b - a <= 4 for a, b in zip(done, done[1:]))
    with workspace.connect() as con:
        ids, vectors = signal_store.embeddings(con, "c4", "all-minilm-l6-v2")
    assert len(ids) == 10 and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_pipeline_verb_runs_every_stage_in_order(workspace, tmp_path, c4_docs, capsys):
    from engine.cli import main

    path = _write_docs(tmp_path / "c4.jsonl", c4_docs[:12])
    args = ["--db", workspace.path, "pipeline", str(path), "--corpus", "c4", "--signals", "none",
            "--strategy", "density", "--budget", "3", "--name", "dense3"]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    cheap = ["gopher_quality", "gopher_repetition", "c4_rules", "fineweb_rules", "language", "near_dups"]
    assert [line.split(":")[0] for line in out] == ["c4", *cheap, "embed", "density", "clusters", "project", "select"]
    assert out[9] == "clusters: skipped: clusters need at least 20 documents"  # too few: said, not failed
    assert out[-1].startswith("select: selected 3 of 12 documents by density (coverage: density propensity")
    assert out[-1].endswith("saved as 'dense3'")
    assert main(args) == 0  # everything stored: the second run computes nothing
    assert "embedded 0 documents" in capsys.readouterr().out


def test_projection_above_max_points_fits_a_sample_and_places_the_rest(run):
    from engine.project import project_vectors

    with run[0].connect() as con:
        _, vectors = signal_store.embeddings(con, "c4", "all-minilm-l6-v2")
    xy, message = project_vectors(vectors, max_points=10, seed=3)
    assert xy.shape == (len(vectors), 2) and np.isfinite(xy).all()
    assert f"sample of 10 of {len(vectors)}" in message and "UMAP.transform" in message
    assert np.array_equal(xy, project_vectors(vectors, max_points=10, seed=3)[0])  # seeded
    with pytest.raises(UserError, match="max_points"):
        project_vectors(vectors, max_points=2)


def test_chunks_are_small_on_cpu_large_on_gpu_unless_given():
    assert pipeline.chunk_for(None, "cpu", 64, 2048) == 64
    assert pipeline.chunk_for(None, "cuda:1", 64, 2048) == 2048  # a GPU idles between small chunks
    assert pipeline.chunk_for(8, "cuda", 64, 2048) == 8
