"""Export of saved selections: formats, rejected documents, signals, parameters."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from engine import pipeline
from engine.errors import UserError
from engine.export import read_selection_metadata
from engine.review import record
from engine.storage import corpus as store
from engine.storage import signals as signal_store

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture
def selected(workspace):
    """Corpus 'c4' (60 docs from the committed sample) with one stored signal, a saved random
    selection of 10 and a curator decision on its first two members."""
    pipeline.ingest(workspace, DATA / "c4_sample.jsonl", "c4")
    with workspace.connect() as con:
        ids = store.documents(con, "c4")["doc_id"].tolist()
        # Stored through the real storage API: a stand-in signal, the models are tested elsewhere.
        signal_store.put_scores(con, "askllm:test", ids, [i / len(ids) for i in range(len(ids))])
        signal_store.set_signal(con, "c4", "askllm", "askllm:test", {"test": True})
    chosen = list(pipeline.select(workspace, "c4", "random", budget=10, seed=3, name="r10").doc_ids)
    record(workspace, "c4", chosen[:1], "reject", "ann", "cookie banner")
    record(workspace, "c4", chosen[1:2], "accept", "ann", "clean prose")
    return workspace, chosen


@pytest.mark.parametrize("name", ["sel.jsonl", "sel.parquet"])
def test_export_writes_ranked_unrejected_documents_with_signals(selected, tmp_path, name):
    ws, chosen = selected
    result = pipeline.export(ws, "r10", tmp_path / "out" / name)
    rows = pd.read_parquet(result.path) if name.endswith("parquet") else pd.read_json(result.path, lines=True)
    assert (result.n_rows, result.n_rejected) == (9, 1) and len(rows) == 9
    assert list(rows.columns) == ["rank", "doc_id", "text", "meta", "askllm", "quality", "decision", "note"]
    # no combined signal stored: `quality` is the rank-mean of the quality signals present (askllm alone)
    assert rows["quality"].rank().tolist() == rows["askllm"].rank().tolist() and rows["quality"].between(0, 1).all()
    assert list(rows["doc_id"]) == chosen[1:] and list(rows["rank"]) == list(range(1, 10))
    assert rows.loc[0, ["decision", "note"]].tolist() == ["accept", "clean prose"]
    assert rows["decision"].iloc[1:].isna().all() and rows["text"].str.len().min() > 0
    with ws.connect() as con:
        docs = store.documents(con, "c4", chosen[1:]).set_index("doc_id")
    assert rows.set_index("doc_id")["text"].equals(docs.loc[rows["doc_id"], "text"].rename("text"))
    meta = rows.loc[0, "meta"]
    assert (json.loads(meta) if isinstance(meta, str) else meta)["url"].startswith("http")
    params = read_selection_metadata(result.path)
    assert params["strategy"] == "random" and params["params"]["seed"] == 3 and params["n_exported"] == 9
    sidecar = ["sel.selection.json"] if name.endswith("jsonl") else []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([name, *sidecar])  # no temp file left


def test_export_format_override_and_bad_names(selected, tmp_path):
    ws, _ = selected
    out = pipeline.export(ws, "r10", tmp_path / "data.bin", fmt="parquet")
    assert len(pd.read_parquet(out.path)) == 9
    with pytest.raises(UserError, match=r"data\.csv.*\.jsonl, \.jsonl\.gz or \.parquet"):
        pipeline.export(ws, "r10", tmp_path / "data.csv")
    with pytest.raises(UserError, match="no selection named 'nope' \\(known: r10\\)"):
        pipeline.export(ws, "nope", tmp_path / "x.jsonl")


def test_export_adds_accepted_documents_outside_the_selection(selected, tmp_path):
    ws, chosen = selected
    with ws.connect() as con:
        outside = sorted(set(store.documents(con, "c4")["doc_id"]) - set(chosen))[:2]
    record(ws, "c4", outside, "accept", "ann", "keep this one too")
    record(ws, "c4", outside[1:], "reject", "bob")  # changed their mind: not exported
    rows = pd.read_parquet(pipeline.export(ws, "r10", tmp_path / "sel.parquet").path)
    assert list(rows["doc_id"]) == chosen[1:] + outside[:1]
    assert pd.isna(rows["rank"].iloc[-1]) and rows["decision"].iloc[-1] == "accept"


# --- formats users ask for and safe targets ------------------------------------------------------

def test_export_jsonl_gz_round_trips_through_ingest(selected, tmp_path):
    ws, chosen = selected
    result = pipeline.export(ws, "r10", tmp_path / "sel.jsonl.gz")
    rows = pd.read_json(result.path, lines=True, compression="gzip")
    assert list(rows["doc_id"]) == chosen[1:] and result.sidecar.endswith("sel.selection.json")
    assert read_selection_metadata(result.path)["n_exported"] == 9
    assert pipeline.ingest(ws, result.path, "back").n_new == 9


def test_export_datasets_folder_reads_back(selected, tmp_path):
    ws, chosen = selected
    result = pipeline.export(ws, "r10", tmp_path / "sel_ds", fmt="datasets")
    folder = Path(result.path)
    assert sorted(p.name for p in folder.iterdir()) == [
        "data-00000-of-00001.arrow", "dataset_info.json", "seedbed_selection.json", "state.json"]
    assert read_selection_metadata(folder)["n_exported"] == 9
    info = json.loads((folder / "dataset_info.json").read_text())
    assert info["features"]["text"]["_type"] == "Value" and info["features"]["text"]["dtype"] in ("string", "large_string")
    assert pipeline.ingest(ws, folder, "back").n_new == 9  # our reader of save_to_disk folders
    assert not list(tmp_path.glob(".*tmp"))


def test_export_datasets_folder_loads_with_datasets(selected, tmp_path):
    datasets = pytest.importorskip("datasets")
    ws, chosen = selected
    folder = pipeline.export(ws, "r10", tmp_path / "sel_ds", fmt="datasets").path
    loaded = datasets.load_from_disk(folder)
    assert loaded.num_rows == 9 and loaded["doc_id"] == chosen[1:]


def test_export_refuses_the_workspace_and_existing_targets(selected, tmp_path):
    ws, _ = selected
    before = Path(ws.path).read_bytes()
    for target in (ws.path, Path(ws.path).parent):
        with pytest.raises(UserError, match="is the workspace"):
            pipeline.export(ws, "r10", target, fmt="parquet")
    assert Path(ws.path).read_bytes() == before
    existing = tmp_path / "old.jsonl"
    existing.write_text("precious\n")
    with pytest.raises(UserError, match="old.jsonl: exists; pass --force to replace it"):
        pipeline.export(ws, "r10", existing)
    assert existing.read_text() == "precious\n"
    assert pipeline.export(ws, "r10", existing, force=True).n_rows == 9
    folder = tmp_path / "somefolder"
    folder.mkdir()
    with pytest.raises(UserError, match="somefolder: is a folder"):
        pipeline.export(ws, "r10", folder, fmt="parquet", force=True)
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="somefolder: is a folder"):
        pipeline.export(ws, "r10", folder, fmt="datasets", force=True)  # not a saved dataset: never replaced
    assert (folder / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_export_failure_leaves_no_temporary_file(selected, tmp_path, monkeypatch):
    ws, _ = selected
    monkeypatch.setattr("engine.export.pq.write_table", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    out = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        pipeline.export(ws, "r10", out / "x.parquet")
    monkeypatch.setattr("engine.export._write_dataset", lambda folder, *a: (folder.mkdir(), (folder / "half").write_text(
        "x"), (_ for _ in ()).throw(OSError("disk full"))))
    with pytest.raises(OSError, match="disk full"):
        pipeline.export(ws, "r10", out / "ds", fmt="datasets")
    assert list(out.iterdir()) == []


def test_cli_export_exit_codes(selected, tmp_path, capsys):
    from engine.cli import main

    ws, _ = selected
    out = tmp_path / "cli.jsonl"
    assert main(["--db", ws.path, "export", "--selection", "r10", "--out", str(out)]) == 0
    assert main(["--db", ws.path, "export", "--selection", "r10", "--out", str(out)]) == 2
    assert main(["--db", ws.path, "export", "--selection", "r10", "--out", ws.path, "--format", "parquet"]) == 2
    assert main(["--db", ws.path, "export", "--selection", "r10", "--out", str(out), "--force"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "exists; pass --force" in err[0] and "is the workspace" in err[1]
