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

DATA = Path(__file__).parent / "data"


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
    with pytest.raises(UserError, match=r"data\.csv.*\.jsonl or \.parquet"):
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
