"""The `distilled` and `quality` stages on a real DuckDB workspace: sampling, resumable judging,
curator labels, stored head and figures, bad input, rank-mean vs stack.

Fast tests use `app_workspace` (synthetic 8-d embeddings: even positions form one cluster) and a
LABELLED TEST DOUBLE judge whose score is that cluster plus noise, so a head can learn it; the
slow test runs the real embedder and the real SmolLM2 perplexity judge end to end."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from engine import pipeline, stages
from engine.errors import UserError
from engine.storage import corpus as cstore, signals as sstore


@dataclasses.dataclass(frozen=True)
class DoubleConfig:
    model: str = "test-double"
    device: str | None = None

    def key(self) -> str:
        return "double-judge:v1"


class DoubleJudge:
    """TEST DOUBLE for a slow LLM judge: cluster of the document (+ noise); can fail after N calls."""

    def __init__(self, side: dict[str, float], fail_after: int | None = None):
        self.side, self.fail_after, self.calls, self.docs = side, fail_after, 0, 0

    def __call__(self, texts, config):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("killed")  # stands in for a kill between two stored chunks
        self.calls += 1
        self.docs += len(texts)
        rng = np.random.default_rng(len(texts))
        return np.array([self.side[t] for t in texts]) + rng.normal(0, 0.3, len(texts))


@pytest.fixture
def double(app_workspace, monkeypatch):
    with app_workspace.connect() as con:
        docs = cstore.documents(con, "c4")
    side = {t: float(i % 2 == 0) for i, t in enumerate(docs["text"])}  # = the fixture's embedding clusters
    judge = DoubleJudge(side)
    monkeypatch.setattr(stages, "STAGES", stages.STAGES)  # register() below is undone after the test
    stages.register(stages.Stage("double", stages.SIGNAL, DoubleConfig, judge, stages.SCORES, "Double", "test double",
                                 chunk=(10, 10)))
    return judge


def _signal(ws, kind):
    with ws.connect() as con:
        sig = sstore.signals(con, "c4")
    row = sig[sig["kind"] == kind].iloc[0]
    return row["signal_key"], json.loads(row["params"])


def test_distilled_resumes_after_a_kill_and_stores_head_and_figures(app_workspace, double):
    config = stages.stage("distilled").make_config(judge="double", sample_size=40, holdout=0.25)
    double.fail_after = 2
    with pytest.raises(RuntimeError, match="killed"):
        pipeline.run_stage(app_workspace, "c4", "distilled", config)
    with app_workspace.connect() as con:
        assert len(sstore.scores_of(con, "double-judge:v1", cstore.documents(con, "c4")["doc_id"])) == 20
    double.fail_after, double.docs = None, 0
    result = pipeline.run_stage(app_workspace, "c4", "distilled", config)
    assert double.docs == 20  # only the sampled documents the killed run had not judged
    key, params = _signal(app_workspace, "distilled")
    assert key.startswith("distilled:ridge:[double-judge:v1]:") and key.endswith(":c4:all-minilm-l6-v2")
    assert len(params["sample"]) == 40 and params["judge_key"] == "double-judge:v1"
    assert params["validation"]["n_heldout"] == 10 and params["validation"]["auc"] > 0.8
    assert "w" in params["head"] and "distilled" in result.message
    with app_workspace.connect() as con:
        frame = cstore.corpus_frame(con, "c4", snippet_chars=0)
    even = np.arange(len(frame)) % 2 == 0  # doc_id order = the fixture's order
    assert spearmanr(frame["distilled"], even).statistic > 0.7  # all 60 scored, unseen ones too


def test_distilled_bad_input_is_one_line_and_keeps_what_is_stored(app_workspace, double, tmp_path):
    with pytest.raises(UserError, match=r"sample of 99 documents is larger than the corpus \(60\)"):
        pipeline.run_stage(app_workspace, "c4", "distilled",
                           stages.stage("distilled").make_config(judge="double", sample_size=99))
    (tmp_path / "new.jsonl").write_text('{"text": "a fresh document without any embedding yet"}\n')
    pipeline.ingest(app_workspace, tmp_path / "new.jsonl", "fresh")
    with pytest.raises(UserError, match="have no all-minilm-l6-v2 embedding: run `python -m engine embed"):
        pipeline.run_stage(app_workspace, "fresh", "distilled", stages.stage("distilled").make_config(judge="double"))
    with pytest.raises(UserError, match="must be a per-document signal"):
        pipeline.run_stage(app_workspace, "c4", "distilled", stages.stage("distilled").make_config(judge="density"))
    assert _signal(app_workspace, "askllm")[0] == "askllm:fixture"  # nothing already stored was touched


def test_quality_rank_mean_then_stack_on_curator_decisions(app_workspace):
    from engine import review

    pipeline.run_stage(app_workspace, "c4", "quality")
    key, params = _signal(app_workspace, "quality")
    assert key.startswith("quality:rank-mean:askllm@") and params["members"] == ["askllm"]
    assert "why_not_stack" in params  # no decisions yet
    with pytest.raises(UserError, match="needs >= 30 curator decisions"):
        pipeline.run_stage(app_workspace, "c4", "quality", stages.stage("quality").make_config(mode="stack"))
    with app_workspace.connect() as con:
        frame = cstore.corpus_frame(con, "c4", snippet_chars=0)
    ids = frame["doc_id"].tolist()
    review.record(app_workspace, "c4", ids[0:40:2], "accept", "tester")
    review.record(app_workspace, "c4", ids[1:40:2], "reject", "tester")
    result = pipeline.run_stage(app_workspace, "c4", "quality")
    key2, params2 = _signal(app_workspace, "quality")
    assert params2["mode"] == "stack" and params2["stack"]["n_decisions"] == 40 and "stack" in result.message
    assert key2.startswith("quality:stack:askllm@") and key2 != key
    with app_workspace.connect() as con:
        assert len(sstore.scores_of(con, key, ids)) == 60  # the rank-mean values are still stored


@pytest.mark.slow
def test_distilled_end_to_end_with_real_embedder_and_judge(workspace, smollm2, embedder):
    from tests.conftest import DATA

    pipeline.ingest(workspace, DATA / "c4_sample.jsonl", "c4")
    pipeline.embed(workspace, "c4")
    config = stages.stage("distilled").make_config(judge="perplexity", sample_size=24)
    pipeline.run_stage(workspace, "c4", "distilled", config)
    key, params = _signal(workspace, "distilled")
    assert params["judge_key"].startswith("perplexity:smollm2-135m-instruct") and len(params["sample"]) == 24
    assert np.isfinite(params["validation"]["spearman"])
    pipeline.run_stage(workspace, "c4", "quality")
    with workspace.connect() as con:
        frame = cstore.corpus_frame(con, "c4", snippet_chars=0)
    assert frame["distilled"].notna().all() and frame["quality"].notna().all()


@pytest.mark.parametrize("quality", ["quality", "distilled"])
def test_select_combined_uses_the_ensemble_or_the_distilled_signal(app_workspace, double, quality, capsys):
    from engine.cli import main
    from engine.storage import selections as selstore

    if quality == "distilled":
        pipeline.run_stage(app_workspace, "c4", "distilled",
                           stages.stage("distilled").make_config(judge="double", sample_size=40))
    pipeline.run_stage(app_workspace, "c4", "quality")
    db = ["--db", app_workspace.path]
    assert main([*db, "select", "--corpus", "c4", "--strategy", "combined", "--quality", quality, "--weight", "1",
                 "--budget", "10", "--name", f"by-{quality}"]) == 0
    with app_workspace.connect() as con:
        saved = selstore.selection(con, f"by-{quality}")
        frame = cstore.corpus_frame(con, "c4", snippet_chars=0)
    assert saved["params"]["quality"] == quality
    assert saved["params"]["signals"][quality] == _signal(app_workspace, quality)[0]  # the stored key it read
    top = frame.sort_values([quality, "doc_id"], ascending=[False, True])["doc_id"].head(10)
    assert set(saved["doc_ids"]) == set(top)  # weight 1 = top-k of that signal
