"""Review page (AppTest): map-picked documents, per-document and bulk decisions written at once,
filters, progress, and training the curator signal from the decisions."""
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from engine import review
from engine.storage import corpus as store
from engine.storage import selections as selection_store

ROOT = Path(__file__).resolve().parents[2]


def _page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "3_Review.py"), default_timeout=120)


def _decisions(ws) -> dict:
    with ws.connect() as con:
        rev = selection_store.reviews(con, "c4")
    return dict(zip(rev["doc_id"], rev["decision"]))


def test_map_pick_is_reviewed_and_decisions_survive_reload(app_workspace):
    with app_workspace.connect() as con:
        ids = store.documents(con, "c4")["doc_id"].tolist()[:7]
    review.save_map_selection(app_workspace, "c4", ids)  # what a lasso on the map stores
    at = _page().run()
    assert not at.exception
    assert at.selectbox(key="review_source").value == "documents picked on the map"
    at.button(key=f"review_accept_{ids[0]}").click().run()
    assert "reviewer" in at.error[0].value and _decisions(app_workspace) == {}  # no name, no write
    at.text_input(key="review_reviewer_input").input("ana").run()
    at.text_input(key=f"review_note_{ids[1]}").input("spam").run()
    at.button(key=f"review_accept_{ids[0]}").click().run()
    at.button(key=f"review_reject_{ids[1]}").click().run()
    assert _decisions(app_workspace) == {ids[0]: "accept", ids[1]: "reject"}
    with app_workspace.connect() as con:
        assert selection_store.reviews(con, "c4").set_index("doc_id").loc[ids[1], "note"] == "spam"
    fresh = _page().run()  # a reload: a new session reads the decisions back
    assert "Reviewed 2 of 7 (1 accepted, 1 rejected, 5 remaining)" in fresh.get("progress")[0].proto.text
    fresh.selectbox(key="review_status").set_value("unreviewed").run()
    fresh.text_input(key="review_reviewer_input").input("bo").run()
    fresh.button(key="review_bulk_reject").click().run()
    assert list(_decisions(app_workspace).values()).count("reject") == 6
    assert "Nothing to review" in fresh.info[0].value


def test_score_filter_limits_the_queue(app_workspace):
    at = _page().run()
    at.selectbox(key="review_source").set_value("whole corpus").run()
    at.selectbox(key="review_score").set_value("askllm").run()
    with app_workspace.connect() as con:
        frame = store.corpus_frame(con, "c4")
    at.slider(key="review_range_askllm").set_value((0.5, frame["askllm"].max())).run()
    n = int((frame["askllm"] >= 0.5).sum())
    assert 0 < n < 60
    assert f"{n} documents match" in at.number_input(key="review_page").label


def test_curator_signal_trains_from_decisions(app_workspace):
    with app_workspace.connect() as con:
        ids = store.documents(con, "c4")["doc_id"].tolist()
    at = _page().run()
    assert at.button(key="review_train").disabled  # no decisions yet
    # the fixture's even-position documents form one embedding cluster: accept those
    review.record(app_workspace, "c4", ids[0::2][:22], "accept", "ana")
    review.record(app_workspace, "c4", ids[1::2][:22], "reject", "ana")
    st.cache_data.clear()  # written outside the app: pages see it after ui.TTL_S, or at once after a clear
    at = _page().run()
    at.button(key="review_train").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "ROC-AUC" in at.success[0].value
    assert float(at.run().metric[0].value) > 0.9  # the next run shows the stored signal's AUC
    with app_workspace.connect() as con:
        assert store.corpus_frame(con, "c4")["curator"].notna().all()
