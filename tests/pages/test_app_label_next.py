"""Review page, "label next" (AppTest): one queued document at a time, accept / reject / skip,
each decision written at once and the quality model refitted; user text shown as plain text."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine import quality_model
from engine.storage import selections as selection_store

ROOT = Path(__file__).resolve().parents[2]


def _decisions(ws) -> dict:
    with ws.connect() as con:
        rev = selection_store.reviews(con, "c4")
    return dict(zip(rev["doc_id"], rev["decision"]))


def test_label_next_serves_decides_skips_and_refits(app_workspace):
    at = AppTest.from_file(str(ROOT / "pages" / "3_Review.py"), default_timeout=120).run()
    at.toggle(key="review_label_next").set_value(True).run()
    assert not at.exception
    assert any("no decisions" in c.value for c in at.caption)  # no model yet: a clear line
    at.text_input(key="review_reviewer_input").input("ana").run()
    served = []
    for i in range(6):
        served.append(at.text[0].value)
        at.button(key="review_next_accept" if i % 2 == 0 else "review_next_reject").click().run()
        assert not at.exception
    decided = _decisions(app_workspace)
    assert sorted(decided.values()) == ["accept"] * 3 + ["reject"] * 3 and len(set(served)) == 6
    assert any("CV AUC" in c.value and "active quality" in c.value for c in at.caption)
    assert quality_model.latest(app_workspace, "c4")["n_decisions"] == 6
    before = at.text[0].value
    at.button(key="review_next_skip").click().run()
    assert at.text[0].value != before and len(_decisions(app_workspace)) == 6  # skipped: nothing written
    assert any(t.value.startswith("Why this one") for t in at.text)
