"""`process`: the default chain as one action; skipped stages say why and never stop the rest;
estimates come only from rates measured on this machine."""
import subprocess
import sys

import numpy as np
import pytest

from engine import pipeline, process, rates
from engine.cli import main
from engine.errors import UserError
from engine.models import DEFAULT_EMBEDDER, model_fingerprint
from engine.storage import corpus as store
from engine.storage import signals as signal_store

from conftest import DATA


def small_corpus(workspace, tmp_path, n: int, vectors: bool = True) -> str:
    """`n` real C4 documents; with `vectors`, seeded synthetic embeddings stand in for the embed
    stage (the model's own test is tests/test_models.py)."""
    src = tmp_path / f"docs{n}.jsonl"
    src.write_text("".join(DATA.joinpath("c4_sample.jsonl").read_text().splitlines(keepends=True)[:n]))
    pipeline.ingest(workspace, src, f"c{n}")
    if vectors:
        with workspace.connect() as con:
            ids = store.documents(con, f"c{n}")["doc_id"].tolist()
            vecs = np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32)
            signal_store.put_embeddings(con, model_fingerprint(DEFAULT_EMBEDDER), ids, vecs)
    return f"c{n}"


def test_plan_skips_clusters_below_twenty_documents_with_the_reason(workspace, tmp_path):
    corpus = small_corpus(workspace, tmp_path, 15)
    steps = {s.stage: s for s in process.plan(workspace, corpus)}
    assert steps["clusters"].skip == "clusters need at least 20 documents, the corpus has 15"
    assert steps["embed"].skip == "already stored" and steps["askllm"].n_todo == 15 and not steps["askllm"].skip
    lines = process.describe(list(steps.values()))
    assert "clusters: skipped (clusters need at least 20 documents, the corpus has 15)" in lines
    assert any(line.startswith("askllm: 15 documents, not yet measured on this machine") for line in lines)


@pytest.mark.slow  # k-means and its imports: ~50 s on the shared, busy 2-core machine
def test_run_skips_and_failures_never_stop_the_rest(workspace, tmp_path, monkeypatch):
    small = small_corpus(workspace, tmp_path, 15)
    corpus = small_corpus(workspace, tmp_path, 25)
    real = pipeline.run_stage

    def density_fails(ws, corpus, name, **kw):  # test double: one stage failing with a user error
        if name == "density":
            raise UserError("density broke (test double)")
        return real(ws, corpus, name, **kw)

    monkeypatch.setattr(pipeline, "run_stage", density_fails)
    seen = []
    results = process.run(workspace, corpus, ("density", "clusters"),
                          progress=lambda label, done, total: seen.append(label))
    by = {r.stage: r.message for r in results}
    assert by["density"] == "failed: density broke (test double)"
    assert "clusters" in seen and not by["clusters"].startswith(("failed", "skipped"))  # ran after the failure
    assert "cluster" in pipeline.stage_status(workspace, corpus)["signals"]
    small_results = process.run(workspace, small, ("clusters",))
    assert small_results[0].message.startswith("skipped: clusters need at least 20")


def test_vector_stages_skip_without_embeddings(workspace, tmp_path):
    corpus = small_corpus(workspace, tmp_path, 25, vectors=False)
    results = process.run(workspace, corpus, ("density", "clusters"))
    assert [r.message for r in results] == ["skipped: needs every document's embedding: the embed step did "
                                            "not finish"] * 2


def test_estimate_uses_only_rates_measured_here(workspace, tmp_path):
    corpus = small_corpus(workspace, tmp_path, 15, vectors=False)
    assert process.plan(workspace, corpus, ("embed",))[0].seconds is None
    rates.record(workspace, "embed", 5, 10.0)  # below MIN_MEASURED_DOCS: says more about loading
    assert rates.seconds_for(workspace, "embed", 15) is None
    rates.record(workspace, "embed", 30, 12.0)
    step = process.plan(workspace, corpus, ("embed",))[0]
    assert step.seconds == pytest.approx(6.0)
    assert process.describe([step]) == ["embed: 15 documents, about 6 s at the rate measured on this machine"]
    assert process.total_seconds([step]) == (pytest.approx(6.0), True)


def test_cli_plan_and_one_job_command(workspace, tmp_path, capsys):
    corpus = small_corpus(workspace, tmp_path, 15)
    assert main(["--db", str(workspace.path), "process", "--corpus", corpus, "--plan"]) == 0
    out = capsys.readouterr().out
    assert "clusters: skipped" in out and "askllm: 15 documents" in out
    assert main(["--db", str(workspace.path), "process", "--corpus", corpus, "--stages", "nope"]) == 2


def test_closed_pipe_ends_quietly(workspace, tmp_path):
    small_corpus(workspace, tmp_path, 15, vectors=False)
    proc = subprocess.Popen([sys.executable, "-m", "engine", "--db", str(workspace.path), "select", "--corpus",
                             "c15", "--strategy", "random", "--budget", "10", "--ids"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head` exiting before the output comes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and "Traceback" not in err and "BrokenPipe" not in err


def test_scores_cached_from_another_corpus_are_marked_for_this_one(workspace, tmp_path):
    corpus = small_corpus(workspace, tmp_path, 15)
    from conftest import DATA as data  # the same texts, scored once under the judge's real key
    key = pipeline.signal_config("askllm").key()
    with workspace.connect() as con:
        ids = store.documents(con, corpus)["doc_id"].tolist()
        signal_store.put_scores(con, key, ids, np.linspace(0, 1, len(ids)))  # stand-in values
    step = process.plan(workspace, corpus, ("askllm",))[0]
    assert step.skip is None and step.n_todo == 0 and data.exists()
    result = process.run(workspace, corpus, ("askllm",))[0]
    assert result.n_computed == 0 and "askllm" in pipeline.stage_status(workspace, corpus)["signals"]
    assert process.plan(workspace, corpus, ("askllm",))[0].skip == "already stored"
