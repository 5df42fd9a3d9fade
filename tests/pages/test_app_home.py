"""Home page (AppTest, real workspace via $SEEDBED_DB): empty state and the demo corpus button."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def _home() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


def test_empty_workspace_says_what_to_do(workspace):
    at = _home().run()
    assert not at.exception
    assert "workspace is empty" in at.info[0].value and "python -m engine pipeline" in at.info[0].value


@pytest.mark.skipif(not (ROOT / "demo" / "demo_mix_signals.npz").exists(),
                    reason="demo/demo_mix_signals.npz not made yet (python scripts/make_demo_bundle.py)")
def test_load_demo_corpus_is_scored_and_mapped_then_recognised(workspace):
    at = _home().run()
    at.button(key="home_load_demo").click().run()
    assert not at.exception and not at.error
    assert "demo" in at.success[0].value and "477 documents (477 new)" in at.success[0].value
    table = at.dataframe[0].value
    row = table.set_index("corpus").loc["demo"]
    assert row["documents"] == 477 and row["embedded"] == 477 and row["map"] and row["askllm"] and row["density"]
    assert not any("stages still to run" in c.value for c in at.caption)
    assert any("No background job yet" in c.value for c in at.caption)
    # pressing it again recognises the loaded demo: no duplicates, nothing to score
    at.button(key="home_load_demo").click().run()
    assert not at.exception and not at.success
    assert "already loaded" in at.info[0].value and "duplicate" not in at.info[0].value
    # a second session opening the same workspace sees the corpus too
    again = _home().run()
    assert "demo" in set(again.dataframe[0].value["corpus"])
