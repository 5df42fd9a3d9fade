"""Explore and select page (AppTest): live slider/budget, strategy comparison, saving, and
running missing stages from the page (real MiniLM embedder)."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine import pipeline
from engine.storage import selections as selection_store

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parents[1] / "data"


def _page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "2_Explore_and_select.py"), default_timeout=300)


def _widget(widgets, prefix: str):
    """The widget whose key starts with `prefix` (the page's keys name their options)."""
    return next(w for w in widgets if w.key and w.key.startswith(prefix))


def _selected(at: AppTest) -> list[str]:
    return at.session_state["current_selection"]["ids"]


def test_weight_and_budget_update_the_selection(app_workspace):
    at = _page().run()
    assert not at.exception and not at.error
    assert _widget(at.selectbox, "explore_strategy").value == "combined"
    assert at.metric[0].value == "12 / 60"  # default budget 0.2 of 60
    quality_only = set(at.slider(key="explore_weight").set_value(1.0).run().session_state["current_selection"]["ids"])
    coverage_only = set(at.slider(key="explore_weight").set_value(0.0).run().session_state["current_selection"]["ids"])
    frame = pipeline.select(app_workspace, "c4", "askllm", budget=0.2).doc_ids
    assert quality_only == set(frame) and coverage_only != quality_only  # w=1 is Ask-LLM top-k
    at.radio(key="explore_budget_mode").set_value("count").run()
    at.number_input(key="explore_budget_count").set_value(30).run()
    assert len(_selected(at)) == 30 and at.metric[0].value == "30 / 60"
    compare = at.dataframe[0].value
    assert {"random", "askllm", "density", "combined"} <= set(compare.index)
    assert compare.loc["askllm", "n"] == 30


def test_save_selection_is_stored(app_workspace):
    at = _page().run()
    _widget(at.text_input, "explore_save_name").input("mine")
    at.button[-1].click().run()  # the form's submit button
    assert not at.exception and "Saved 'mine' (12 documents)" in at.success[0].value
    with app_workspace.connect() as con:
        saved = selection_store.selection(con, "mine")
    assert saved["strategy"] == "combined" and saved["doc_ids"] == _selected(at)


def test_no_stages_yet_shows_next_steps_and_runs_them(workspace):
    pipeline.ingest(workspace, DATA / "ingest_broken.jsonl", "small")
    at = _page().run()
    assert not at.exception
    assert "No map yet" in at.info[0].value
    # a corpus below 20 documents never lists clusters as missing: they are skipped there (engine.process)
    assert _widget(at.multiselect, "explore_stages").value == ["embed", "askllm", "density", "project"]
    _widget(at.multiselect, "explore_stages").set_value(["embed", "density"]).run()
    at.button(key="explore_run").click().run()
    assert not at.exception and not at.error
    status = pipeline.stage_status(workspace, "small")
    assert status["embedded"]["all-minilm-l6-v2"] == status["n_docs"] and "density" in status["signals"]
    assert _widget(at.multiselect, "explore_stages").value == ["askllm", "project"]
    assert _widget(at.selectbox, "explore_strategy").value == "density"  # the new strategy is offered


def test_coverage_temperature_changes_the_sample_and_is_saved(app_workspace):
    at = _page().run()
    _widget(at.selectbox, "explore_strategy").set_value("density").run()
    assert "lower = more rare documents" in at.slider(key="explore_temperature").label
    sharp = set(at.slider(key="explore_temperature").set_value(0.1).run().session_state["current_selection"]["ids"])
    plain = at.slider(key="explore_temperature").set_value(1.0).run().session_state["current_selection"]
    assert sharp != set(plain["ids"]) and plain["params"]["temperature"] == 1.0
    assert plain["params"]["propensity"] == "density"  # no clusters in this workspace: said in the message
    assert any("no topic cluster" in c.value for c in at.caption)
    _widget(at.text_input, "explore_save_name").input("plain")
    at.button[-1].click().run()
    with app_workspace.connect() as con:
        saved = selection_store.selection(con, "plain")
    assert saved["params"]["temperature"] == 1.0 and saved["doc_ids"] == plain["ids"]
