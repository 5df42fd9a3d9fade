"""Make tests/data/workspace_v1.duckdb.gz: a workspace written by Seedbed before the storage split
(commit dd12f82), for tests/test_storage.py::test_a_workspace_made_before_the_split_opens_unchanged.

Run with the OLD code on the path:
    git archive dd12f82 engine | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python tests/data/make_workspace_v1.py tests/data/workspace_v1.duckdb
    gzip -9 tests/data/workspace_v1.duckdb
Model stages are stood in for by seeded values written through storage (the point is the stored
layout, not the models); selections, reviews, the curator signal and a job record are real."""
import sys
from pathlib import Path

import numpy as np

from engine import pipeline, review
from engine.storage import Workspace
from engine.storage import corpus as store
from engine.storage import runs as runs_db

DATA = Path(__file__).parent
ws = Workspace(sys.argv[1])
pipeline.ingest(ws, DATA / "c4_sample.jsonl", "c4")
with ws.connect() as con:
    ids = store.documents(con, "c4")["doc_id"].tolist()
rng = np.random.default_rng(0)
n = len(ids)
side = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
vectors = side[:, None] * np.ones((n, 8)) / np.sqrt(8) + rng.normal(0, 0.2, (n, 8))
with ws.connect() as con:
    store.put_embeddings(con, "all-minilm-l6-v2", ids, vectors)
    for kind, values in (("askllm", rng.random(n)), ("perplexity", -rng.lognormal(1, 0.3, n)),
                         ("density", rng.lognormal(0, 1, n))):
        store.put_scores(con, f"{kind}:v1", ids, values, rng.random(n) < 0.1)
        store.set_signal(con, "c4", kind, f"{kind}:v1", {"fixture": True})
    store.put_projection(con, "c4", ids, vectors[:, :2] * 5)
    store.set_projection_params(con, "c4", {"max_points": 20000, "seed": 0, "embed_model": "all-minilm-l6-v2"})
review.record(ws, "c4", [d for d, s in zip(ids, side) if s > 0][:22], "accept", "ana", "good")
review.record(ws, "c4", [d for d, s in zip(ids, side) if s < 0][:22], "reject", "ben")
review.train_curator(ws, "c4", review.CuratorConfig(embed_model="all-minilm-l6-v2"))
for strategy, quality in (("random", "askllm"), ("askllm", "askllm"), ("perplexity", "askllm"), ("density", "askllm"),
                          ("combined", "askllm"), ("combined", "curator"), ("curator", "askllm")):
    pipeline.select(ws, "c4", strategy, 0.5, 0.25, 7, name=f"v1-{strategy}-{quality}", quality=quality)
review.save_map_selection(ws, "c4", ids[:5])
with ws.connect() as con:
    runs_db.insert_run(con, "20260101-000000-abcd", "score", ["score", "--corpus", "c4"], {"corpus": "c4"}, True, "")
    runs_db.update_run(con, "20260101-000000-abcd", status="done", exit_code=0)
print("wrote", sys.argv[1])
