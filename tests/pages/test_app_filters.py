"""Explore's rule/language/near-duplicate filters (AppTest, real workspace, real rule stages)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine import filters, pipeline
from engine.storage import corpus as store
from engine.storage import selections as selection_store

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parents[1] / "data"
JUNK = ["cookies cookies we use cookies " * 20 + "accept all cookies", "a" * 300]


@pytest.mark.slow  # about 20-30 s on the shared 2 cores (six stages + the page)
def test_dropping_rule_failures_on_explore_keeps_junk_out_and_saves_the_filter(workspace, tmp_path):
    path = tmp_path / "c.jsonl"
    rows = [json.loads(line)["text"] for line in (DATA / "c4_sample.jsonl").read_text().splitlines()][:30]
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in rows + JUNK))
    pipeline.ingest(workspace, path, "c4")
    for name in filters.CHEAP_STAGES:
        pipeline.run_stage(workspace, "c4", name)
    with workspace.connect() as con:
        junk_ids = list(store.documents(con, "c4").set_index("text").loc[[t.strip() for t in JUNK], "doc_id"])
    junk = set(junk_ids)
    at = AppTest.from_file(str(ROOT / "pages" / "2_Explore_and_select.py"), default_timeout=120)
    at.session_state["corpus"] = "c4"
    at.run()
    assert not at.exception, at.exception
    at.selectbox(key=next(w.key for w in at.selectbox if w.key.startswith("explore_strategy"))).set_value("random")
    at.number_input(key="explore_seed").set_value(0)
    at.radio(key="explore_budget_mode").set_value("count").run()
    at.number_input(key="explore_budget_count").set_value(32).run()
    assert junk <= set(at.session_state["current_selection"]["ids"])  # everything, junk included
    box = at.checkbox(key="filters_all_c4")
    assert box.label.startswith("Drop documents that fail any rule (")
    box.check().run()
    chosen = set(at.session_state["current_selection"]["ids"])
    assert not at.exception and chosen and not chosen & junk
    assert any("filtered out before selection" in c.value for c in at.caption)
    next(w for w in at.text_input if w.key.startswith("explore_save_name")).input("clean")
    at.button[-1].click().run()
    with workspace.connect() as con:
        saved = selection_store.selection(con, "clean")
    assert saved["params"]["filters"]["drop_rules"] == ["all"] and not set(saved["doc_ids"]) & junk
    assert set(saved["doc_ids"]) == chosen
    box.uncheck().run()  # one rule only: its label says what it drops; only its failures go
    rules = at.multiselect(key="filters_rules_c4")
    top2 = next(o for o in rules.options if o.startswith("gopher_top_2gram: fails "))
    rules.set_value([top2.split(":")[0]]).run()
    chosen = set(at.session_state["current_selection"]["ids"])
    assert not at.exception and junk_ids[0] not in chosen and junk_ids[1] in chosen  # "aaaa" has no 2-gram
    rules.set_value([]).run()
    at.multiselect(key="filters_lang_c4").set_value(["en"]).run()
    assert not at.exception and 0 < len(at.session_state["current_selection"]["ids"]) <= 32
