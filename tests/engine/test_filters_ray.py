"""The rule and language stages on Ray store the same values and details as in-process."""
from __future__ import annotations

import json

import pytest

from engine import filters, pipeline
from engine import ray_backend as rb
from engine.storage import Workspace


@pytest.mark.ray
@pytest.mark.slow  # starts a local Ray (about a minute on the shared 2 cores)
def test_rule_stages_on_ray_store_what_in_process_stores(tmp_path):
    path = tmp_path / "r.jsonl"
    texts = ["cookies cookies we use cookies " * 20, "a" * 300, "Das ist ein kurzer deutscher Satz.",
             *(f"Line {i} of an ordinary paragraph about rivers and boats.\nIt ends here." for i in range(12))]
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    local, remote = Workspace(tmp_path / "local.duckdb"), Workspace(tmp_path / "ray.duckdb")
    ray = rb.init_ray(rb.RayOptions())
    try:
        for ws, executor in ((local, None), (remote, rb.RayExecutor())):
            pipeline.ingest(ws, path, "r")
            for name in (*filters.RULE_SIGNALS, filters.LANGUAGE):
                (executor.run_stage if executor else pipeline.run_stage)(ws, "r", name)
    finally:
        ray.shutdown()
    rows = []
    for ws in (local, remote):
        with ws.connect() as con:
            rows.append((con.execute("SELECT * FROM scores ORDER BY signal_key, doc_id").fetchall(),
                         con.execute("SELECT signal_key, doc_id, label, reason, failed, detail::TEXT FROM signal_details "
                                     "ORDER BY signal_key, doc_id").fetchall()))
    assert rows[0] == rows[1] and len(rows[0][1]) == 5 * len(texts)
