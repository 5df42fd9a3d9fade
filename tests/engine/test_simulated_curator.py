"""A simulated curator (answers from human labels) teaches the quality model through the queue:
web-page lines of the quality set's dev split (TurkuNLP labels: 1 = main content), ingested by the
real engine into a real workspace, with their stored MiniLM embeddings and the GPU judge's scores
from bench/results/judges_scores.npz (real model outputs; no model is loaded here)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import active_learning, pipeline, quality_model, review
from engine.agreement import auc
from engine.models import DEFAULT_EMBEDDER, model_fingerprint
from engine.review_cli import good_ends
from engine.storage import corpus as store
from engine.storage import signals as sstore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lines_corpus(workspace, tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    from quality_auc import load_units

    units, z = load_units(), np.load(ROOT / "bench" / "results" / "judges_scores.npz")
    rows = np.flatnonzero((units["kind"] == "line") & (units["split"] == "dev") & (units["words"] >= 4))[:300]
    src = tmp_path / "lines.jsonl"
    src.write_text("".join(json.dumps({"text": units["text"][i]}) + "\n" for i in rows))
    pipeline.ingest(workspace, src, "lines")
    with workspace.connect() as con:
        docs = store.documents(con, "lines")
    row_of = {units["text"][i].strip(): i for i in rows}
    got = [row_of[t.strip()] for t in docs["text"]]
    ids = docs["doc_id"].tolist()
    with workspace.connect() as con:
        sstore.put_embeddings(con, model_fingerprint(DEFAULT_EMBEDDER), ids, z["emb"][got].astype(np.float32))
        sstore.put_scores(con, "askllm:npz-qwen1.5b-content", ids, z["judge/qwen1.5b/content chat"][got])
        sstore.set_signal(con, "lines", "askllm", "askllm:npz-qwen1.5b-content", {"source": "bench/results/judges_scores.npz"})
    return workspace, dict(zip(ids, units["label"][got]))


def test_simulated_curator_improves_the_model(lines_corpus):
    ws, truth = lines_corpus
    curve, held_out = [], []
    for _ in range(6):  # 6 batches of 10 decisions from the queue
        batch = active_learning.next_batch(ws, "lines", 10, good_ends())
        for d in batch["documents"]:
            review.decide(ws, "lines", [d["doc_id"]], "accept" if truth[d["doc_id"]] else "reject", "sim")
        fit = quality_model.refit(ws, "lines", good_ends())
        curve.append(fit.cv_auc)
        with ws.connect() as con:
            decided = set(store.corpus_frame(con, "lines").dropna(subset=["decision"])["doc_id"])
        unseen = [i for i, d in enumerate(fit.doc_ids) if d not in decided]
        held_out.append(auc(np.array([truth[fit.doc_ids[i]] for i in unseen]), fit.proba[unseen]))
        assert fit.seconds < 1.0 or len(curve) == 1  # well under a second (the first pays one-time imports)
    assert quality_model.fits(ws, "lines")["n_decisions"].tolist() == [10, 20, 30, 40, 50, 60]
    print("held-out AUC per batch", np.round(held_out, 3), "CV AUC", np.round(curve, 3))
    assert np.mean(held_out[-2:]) > held_out[0] + 0.03 and held_out[-1] > 0.7  # on lines it never saw
    fits = quality_model.fits(ws, "lines")
    width = (fits["ci_hi"] - fits["ci_lo"]).to_numpy()
    assert np.mean(curve[-2:]) > 0.8 and width[-1] < 0.2  # the reported CV AUC: high, and fairly sure of it
