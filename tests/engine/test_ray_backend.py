"""The Ray backend against the in-process backend on the same corpus, with a real local Ray
cluster (loopback only), the real default models and real DuckDB workspaces."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow.parquet as pq
import pytest

from engine import pipeline
from engine import ray_backend as rb
from engine.storage import Workspace
from engine.storage import corpus as store
from engine.storage import selections as selection_store
from engine.storage import signals as signal_store

pytestmark = pytest.mark.ray  # starts a local Ray cluster (30-70 s a test on 2 cores): `scripts/test.sh --all`

DATA = Path(__file__).parents[1] / "data"

SHORT_DOCS = 16  # the judge scores these on CPU inside a Ray actor: keep them few and short


@pytest.fixture(scope="module")
def ray_cluster():
    ray = rb.init_ray(rb.RayOptions())
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    """The shortest C4 sample documents as JSONL, plus one broken row."""
    docs = pd.read_json(DATA / "c4_sample.jsonl", lines=True)
    docs = docs.loc[docs.text.str.len().sort_values().index[:SHORT_DOCS]]
    path = tmp_path_factory.mktemp("corpus") / "small.jsonl"
    path.write_text(docs.to_json(orient="records", lines=True) + '{"text": "unterminated\n')
    return path


def frames(ws: Workspace, corpus: str = "c") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with ws.connect() as con:
        return (store.documents(con, corpus), store.ingest_issues(con, corpus),
                store.list_corpora(con)[["name", "n_docs", "n_duplicates", "n_skipped"]])


def test_inputs_stream_from_duckdb_into_even_shards(workspace, small_corpus, tmp_path):
    """The driver writes shards from a DuckDB stream (batches of 3 here, shards of 5), never the
    whole corpus at once; shards hold every missing document once, shortest first."""
    pipeline.ingest(workspace, small_corpus, "c")
    with workspace.connect() as con:
        n = rb._stage_inputs(tmp_path / "job", lambda: signal_store.missing_reader(con, "c", "scores", "no-such-key", 3), 5)
        all_ids = store.documents(con, "c")["doc_id"].tolist()
    tables = [pq.read_table(p) for p in sorted((tmp_path / "job" / "in").glob("*.parquet"))]
    assert n == SHORT_DOCS and [t.num_rows for t in tables] == [5, 5, 5, 1]
    texts = [text for t in tables for text in t.column("text").to_pylist()]
    assert [len(t) for t in texts] == sorted(len(t) for t in texts)
    assert sorted(i for t in tables for i in t.column("doc_id").to_pylist()) == sorted(all_ids)


def test_cpu_actors_share_the_cpus_so_torch_keeps_its_threads(ray_cluster):
    """Ray caps a worker's threads at the CPUs it reserves: a lone CPU actor embedded at half
    speed on this 2-core machine until it reserved them all (bench/results/ray_results.md)."""
    cores = os.cpu_count()
    assert rb._pool(ray_cluster, rb.RayOptions()) == (1, 0.0, cores)
    assert rb._pool(ray_cluster, rb.RayOptions(actors=2)) == (2, 0.0, max(1, cores // 2))


def test_pipeline_on_ray_equals_in_process(ray_cluster, small_corpus, tmp_path):
    local, remote = Workspace(tmp_path / "local.duckdb"), Workspace(tmp_path / "ray.duckdb")
    options = rb.RayOptions(shard_size=5, work_dir=str(tmp_path / "jobs"))
    pipeline.ingest(local, small_corpus, "c")
    rb.ingest(remote, small_corpus, "c", options=options)
    for a, b in zip(frames(local), frames(remote)):
        pd.testing.assert_frame_equal(a, b)
    assert frames(remote)[1]["line"].tolist() == [SHORT_DOCS + 1]  # the broken row, named

    for ws, stages in ((local, pipeline), (remote, rb)):
        extra = {"options": options} if stages is rb else {}
        stages.embed(ws, "c", **extra)
        stages.score(ws, "c", "askllm", **extra)
        stages.density(ws, "c", **extra)
    with local.connect() as con:
        expected = store.corpus_frame(con, "c")
    with remote.connect() as con:
        got = store.corpus_frame(con, "c")
    assert expected["doc_id"].tolist() == got["doc_id"].tolist()
    np.testing.assert_allclose(got["askllm"], expected["askllm"], atol=2e-3)  # other batches, same scores
    np.testing.assert_allclose(got["density"], expected["density"], rtol=1e-9)  # merged sketch == one sketch
    for strategy in ("askllm", "density", "combined"):
        assert list(pipeline.select(local, "c", strategy, budget=0.5, seed=3).doc_ids) == \
            list(pipeline.select(remote, "c", strategy, budget=0.5, seed=3).doc_ids)
    assert not list((tmp_path / "jobs").glob("*")), "attached jobs leave no folder behind"


def test_killed_worker_is_retried_and_output_complete(ray_cluster, small_corpus, tmp_path):
    local, remote = Workspace(tmp_path / "local.duckdb"), Workspace(tmp_path / "ray.duckdb")
    for ws in (local, remote):
        pipeline.ingest(ws, small_corpus, "c")
    pipeline.embed(local, "c")
    killed = []

    def kill_a_worker_once_work_started():
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            done = list((tmp_path / "jobs").glob("*/embed/*.parquet"))
            workers = [p for p in psutil.process_iter(["cmdline"])
                       if "MapWorker" in " ".join(p.info["cmdline"] or [])]
            if done and workers:
                workers[0].kill()  # SIGKILL: as if the machine under it died
                killed.append(workers[0].pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_worker_once_work_started)
    killer.start()
    rb.embed(remote, "c", options=rb.RayOptions(shard_size=1, work_dir=str(tmp_path / "jobs")))
    killer.join()
    assert killed, "no worker was running to kill"
    with local.connect() as con:
        ids, vectors = signal_store.embeddings(con, "c", pipeline.embedding_key("all-minilm-l6-v2"))
    with remote.connect() as con:
        ids2, vectors2 = signal_store.embeddings(con, "c", pipeline.embedding_key("all-minilm-l6-v2"))
    assert list(ids2) == list(ids) and len(ids) == SHORT_DOCS
    np.testing.assert_allclose(vectors2, vectors, atol=1e-5)


def test_restarted_driver_skips_written_shards(ray_cluster, small_corpus, tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    pipeline.ingest(ws, small_corpus, "c")
    options = rb.RayOptions(shard_size=2, work_dir=str(tmp_path / "jobs"))

    def die_after_two_shards(stage, done, total):
        if done >= 2:
            raise KeyboardInterrupt  # the driver dies; written shards stay on disk

    with pytest.raises(KeyboardInterrupt):
        rb.embed(ws, "c", options=options, progress=die_after_two_shards)
    written = list((tmp_path / "jobs").glob("*/embed/*.parquet"))
    assert 2 <= len(written) < SHORT_DOCS // 2
    restarted = []
    rb.embed(ws, "c", options=options, progress=lambda s, d, t: restarted.append(d))
    assert restarted[0] == len(written), "the restarted driver counts written shards as done"
    with ws.connect() as con:
        assert len(signal_store.embeddings(con, "c", pipeline.embedding_key("all-minilm-l6-v2"))[0]) == SHORT_DOCS


def test_pipeline_verb_on_ray_stores_the_same_rows_as_in_process(ray_cluster, small_corpus, tmp_path, capsys):
    """`python -m engine pipeline PATH --corpus C --backend ray` (the CLI's own code, attached to the
    module's Ray): the same stage descriptions run on Ray (ingest, embed, density) and in-process
    (the map); stored rows and selection are equal."""
    from engine.cli import main

    local, remote = Workspace(tmp_path / "local.duckdb"), Workspace(tmp_path / "ray.duckdb")
    args = ["pipeline", str(small_corpus), "--corpus", "c", "--signals", "none", "--strategy", "density",
            "--budget", "5", "--name", "five"]
    assert main(["--db", local.path, *args]) == 0
    capsys.readouterr()
    assert main(["--db", remote.path, *args, "--backend", "ray"]) == 0
    out = capsys.readouterr().out
    assert "on Ray" in out and out.splitlines()[-1].startswith("select: selected 5 of")
    for a, b in zip(frames(local), frames(remote)):
        pd.testing.assert_frame_equal(a, b)
    with local.connect() as con:
        expected, ids = store.corpus_frame(con, "c"), selection_store.selection(con, "five")["doc_ids"]
        vectors = signal_store.embeddings(con, "c", "all-minilm-l6-v2")
    with remote.connect() as con:
        got, ids_ray = store.corpus_frame(con, "c"), selection_store.selection(con, "five")["doc_ids"]
        vectors_ray = signal_store.embeddings(con, "c", "all-minilm-l6-v2")
    assert list(vectors[0]) == list(vectors_ray[0])
    np.testing.assert_allclose(vectors[1], vectors_ray[1], atol=1e-5)
    np.testing.assert_allclose(got["density"], expected["density"], rtol=1e-9)
    np.testing.assert_allclose(got[["x", "y"]], expected[["x", "y"]], atol=1e-6)
    assert ids == ids_ray
