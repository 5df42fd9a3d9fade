"""Export page (AppTest): empty state, then a saved selection exported minus rejected documents."""
import io
import json
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from engine import pipeline, review

ROOT = Path(__file__).resolve().parents[2]


def _page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "4_Export.py"), default_timeout=120)


def test_no_selection_says_how_to_make_one(app_workspace):
    at = _page().run()
    assert not at.exception and "No saved selection" in at.info[0].value


def test_export_drops_rejected_and_carries_scores(app_workspace):
    chosen = pipeline.select(app_workspace, "c4", "combined", budget=10, name="pick").doc_ids
    review.record(app_workspace, "c4", chosen[:1], "reject", "ana")
    review.record(app_workspace, "c4", chosen[1:2], "accept", "ana", note="great")
    at = _page().run()
    for fmt in ("jsonl", "parquet"):
        at.radio(key="export_format").set_value(fmt).run()
        at.button(key="export_prepare").click().run()
        assert not at.exception and "9 documents ready" in at.success[0].value
        data = at.session_state["export_ready"].data
        rows = pd.read_json(io.BytesIO(data), lines=True) if fmt == "jsonl" else pd.read_parquet(io.BytesIO(data))
        assert chosen[0] not in set(rows["doc_id"]) and len(rows) == 9
        assert {"askllm", "density", "decision", "note", "text"} <= set(rows.columns)
        assert rows.set_index("doc_id").loc[chosen[1], "note"] == "great"
    params = json.loads(at.session_state["export_ready"].params)
    assert params["strategy"] == "combined" and params["n_exported"] == 9
