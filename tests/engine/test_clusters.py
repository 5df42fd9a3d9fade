"""engine.clusters: k-means topics with c-TF-IDF labels, stored and reused as a stage."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine import pipeline
from engine.clusters import ClusterConfig, assign_clusters, clusters_for, keyword_labels, stored_labels
from engine.errors import UserError
from engine.stage_runners import run_clusters
from engine.storage import corpus as store

from conftest import DATA


def test_k_grows_with_the_corpus_within_bounds():
    assert clusters_for(20) == 2 and clusters_for(2_500) == 25 and clusters_for(10**6) == 64


def test_keywords_name_each_cluster_by_its_own_terms():
    texts = ["the goalkeeper saved a penalty in the football match"] * 3 + \
            ["bake the bread dough in the oven at high heat"] * 3 + ["the oven and the match"]
    labels = keyword_labels(texts, np.array([0, 0, 0, 1, 1, 1, 1]), n_keywords=2)
    # "match" is as frequent in cluster 0 as its other words but also in cluster 1: lower idf
    assert set(labels[0].split(" · ")) <= {"goalkeeper", "saved", "penalty", "football"}
    assert set(labels[1].split(" · ")) <= {"oven", "bake", "bread", "dough", "high", "heat"}


def test_cluster_ids_are_ordered_by_size():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 0.05, (30, 4)) + 1, rng.normal(0, 0.05, (10, 4)) - 1])
    ids = assign_clusters(x, ClusterConfig(n_clusters=2))
    assert ids[:30].tolist() == [0] * 30 and ids[30:].tolist() == [1] * 10


@pytest.fixture(scope="module")
def two_topics(tmp_path_factory):
    """A real workspace: 60 C4 web documents and 70 TREC questions, embedded with MiniLM."""
    from engine.storage import Workspace

    folder = tmp_path_factory.mktemp("clusters")
    ws = Workspace(folder / "ws.duckdb")
    pipeline.ingest(ws, DATA / "c4_sample.jsonl", "mix")
    pipeline.ingest(ws, questions(DATA / "llm2llm_trec_train.label", folder), "mix")
    pipeline.embed(ws, "mix")
    return ws


def questions(label_file, folder):
    """The TREC file's questions without their labels, one per line, as a .txt corpus."""
    out = folder / (label_file.stem + ".txt")
    lines = label_file.read_text(encoding="latin-1").splitlines()  # TREC files are ISO-8859-1
    out.write_text("\n".join(line.split(" ", 1)[1] for line in lines) + "\n")
    return out


def test_stage_separates_real_topics_and_labels_them(two_topics):
    result = run_clusters(two_topics, "mix", ClusterConfig(n_clusters=2))
    with two_topics.connect() as con:
        frame = store.corpus_frame(con, "mix", snippet_chars=0)
        docs = store.documents(con, "mix")
        labels = stored_labels(con, "mix")
    assert result.n_computed == len(frame) == 130
    is_question = frame["doc_id"].map(docs.set_index("doc_id")["meta"].map(lambda m: not json.loads(m))).to_numpy()
    question_cluster = np.bincount(frame["cluster"][is_question].astype(int)).argmax()
    purity = (frame["cluster"][is_question] == question_cluster).mean()
    assert purity > 0.9, purity
    assert (frame["cluster"][~is_question] != question_cluster).mean() > 0.9
    assert len(labels) == 2 and all(len(v.split(" · ")) == 3 for v in labels.values())


def test_export_carries_cluster_id_and_label(two_topics, tmp_path):
    import pandas as pd

    run_clusters(two_topics, "mix", ClusterConfig(n_clusters=2))
    pipeline.select(two_topics, "mix", "random", budget=10, name="ten")
    out = pipeline.export(two_topics, "ten", tmp_path / "ten.parquet")
    table = pd.read_parquet(out.path)
    with two_topics.connect() as con:
        labels = stored_labels(con, "mix")
        frame = store.corpus_frame(con, "mix", snippet_chars=0).set_index("doc_id")
    assert len(table) == 10 and table["cluster"].dtype == "Int64"
    assert table["cluster"].tolist() == frame.loc[table["doc_id"], "cluster"].astype(int).tolist()
    assert table["cluster_label"].tolist() == [labels[c] for c in table["cluster"]]


def test_stage_reuses_stored_clusters_until_the_embeddings_change(two_topics, tmp_path):
    config = ClusterConfig(n_clusters=3)
    first = run_clusters(two_topics, "mix", config)
    again = run_clusters(two_topics, "mix", config)
    assert first.n_computed == 130 and again.n_computed == 0 and again.n_cached == 130
    pipeline.ingest(two_topics, questions(DATA / "llm2llm_trec_test.label", tmp_path), "mix")
    pipeline.embed(two_topics, "mix")
    grown = run_clusters(two_topics, "mix", config)
    assert grown.n_computed == 160


def test_bad_input_says_what_is_needed(workspace):
    pipeline.ingest(workspace, DATA / "ingest_lines.txt", "tiny")
    with pytest.raises(UserError, match=r"at least 20 documents, the corpus has [1-4]\b"):
        run_clusters(workspace, "tiny")
    pipeline.ingest(workspace, DATA / "c4_sample.jsonl", "noemb")
    with pytest.raises(UserError, match="60 documents of 'noemb' have no .* embedding"):
        run_clusters(workspace, "noemb")
    with pytest.raises(UserError, match="n_clusters must be >= 2"):
        ClusterConfig(n_clusters=1)
