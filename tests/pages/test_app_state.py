"""Dashboard state that must not mislead or lose work (AppTest, real workspace): a selection name
never follows you to another corpus nor replaces a saved selection unasked; the export offers only
the file of the current choice; the Home page's table explains its scores."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine import pipeline
from engine.storage import selections as store

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parents[1] / "data"


def _page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / name), default_timeout=300)


def _widget(widgets, prefix: str):
    return next(w for w in widgets if w.key and w.key.startswith(prefix))


def test_selection_name_is_per_corpus_and_never_replaces_without_consent(app_workspace):
    pipeline.ingest(app_workspace, DATA / "ingest_broken.jsonl", "b")
    at = _page("2_Explore_and_select.py").run()
    at.selectbox(key="explore_corpus").set_value("c4").run()
    _widget(at.text_input, "explore_save_name").input("mine")
    at.button[-1].click().run()
    assert "Saved 'mine' (12 documents)" in at.success[0].value
    with app_workspace.connect() as con:
        saved_a = store.selection(con, "mine")["doc_ids"]
    at.selectbox(key="explore_corpus").set_value("b").run()
    name = _widget(at.text_input, "explore_save_name")
    assert name.value == "b-random"  # the name typed for corpus c4 did not follow
    name.input("mine")
    at.button[-1].click().run()
    assert not at.success and "already exists (corpus 'c4', 12 documents)" in at.warning[0].value
    with app_workspace.connect() as con:
        assert store.selection(con, "mine")["doc_ids"] == saved_a and store.selection(con, "mine")["corpus"] == "c4"
    _widget(at.checkbox, "explore_replace").check()
    at.button[-1].click().run()
    assert "Saved 'mine'" in at.success[0].value  # replaced only after ticking
    with app_workspace.connect() as con:
        assert store.selection(con, "mine")["corpus"] == "b"


def test_export_never_offers_the_previous_file_after_a_switch(app_workspace):
    pipeline.select(app_workspace, "c4", "combined", budget=10, name="pick")
    pipeline.select(app_workspace, "c4", "random", budget=5, name="other")
    at = _page("4_Export.py").run()
    at.selectbox(key="export_selection").set_value("pick").run()
    at.radio(key="export_format").set_value("jsonl").run()
    at.button(key="export_prepare").click().run()
    assert at.get("download_button")[0].proto.label == "Download pick.jsonl"
    at.radio(key="export_format").set_value("parquet").run()
    assert not at.get("download_button") and "press **Prepare the export** for 'pick' as parquet" in at.info[0].value
    at.button(key="export_prepare").click().run()
    assert at.get("download_button")[0].proto.label == "Download pick.parquet"
    at.selectbox(key="export_selection").set_value("other").run()
    assert not at.get("download_button")


def test_home_table_explains_every_score(app_workspace):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception
    table = at.dataframe[0]
    config = table.proto.columns  # st.column_config travels as JSON in the element
    assert "Higher is better" in config and "ROC-AUC" in config and "rows skipped" in config
