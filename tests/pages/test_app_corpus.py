"""Corpus page (AppTest): empty state, browsing with parameterised search and filters, skipped rows.
(File upload itself is driven in tests/browser/test_browser_e2e.py: AppTest has no file uploader.)"""
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine import pipeline

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parents[1] / "data"


def _page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "1_Corpus.py"), default_timeout=120)


def test_empty_workspace_states_upload_limit_and_next_step(workspace):
    at = _page().run()
    assert not at.exception
    assert "200 MB" in at.caption[0].value  # the limit from .streamlit/config.toml
    assert "No corpus yet" in at.info[0].value


def test_search_filters_and_skipped_rows(workspace):
    pipeline.ingest(workspace, DATA / "ingest_broken.jsonl", "broken")
    at = _page().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) >= 2 and "source" in table.columns
    skipped = at.dataframe[1].value
    assert len(skipped) >= 1 and set(skipped["source"]) == {"ingest_broken.jsonl"}
    assert skipped["line"].min() >= 1
    at.text_input(key="corpus_query").input("first GOOD").run()  # case-insensitive, a parameter
    assert at.dataframe[0].value["text"].tolist() == ["The first good document."]
    at.text_input(key="corpus_query").input("'; DROP TABLE documents; --").run()
    assert len(at.dataframe[0].value) == 0 and not at.exception
    at.text_input(key="corpus_query").input("").run()
    at.number_input(key="corpus_min_chars").set_value(1000).run()
    assert len(at.dataframe[0].value) == 0
