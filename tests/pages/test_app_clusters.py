"""Explore and select page (AppTest) with topic clusters: labels on the map, colour by cluster,
the per-cluster audit table and chart, a cluster sent to Review, search highlight, and the
one-line errors for a corpus without clusters."""
from pathlib import Path

import json

import pytest
from streamlit.testing.v1 import AppTest

from engine.clusters import ClusterConfig, stored_labels
from engine.stage_runners import run_clusters

ROOT = Path(__file__).resolve().parents[2]


def _page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "2_Explore_and_select.py"), default_timeout=300)


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


@pytest.fixture
def clustered(app_workspace):
    """The 60-document page fixture with its (two-sided) embeddings clustered for real."""
    run_clusters(app_workspace, "c4", ClusterConfig(n_clusters=3))
    with app_workspace.connect() as con:
        return app_workspace, stored_labels(con, "c4")


def test_map_shows_cluster_labels_and_the_audit(clustered):
    ws, labels = clustered
    at = _page().run()
    assert not at.exception and not at.error
    assert next(s for s in at.selectbox if s.key.startswith("explore_colour")).value == "cluster"
    map_spec = _figures(at)[0]
    texts = [t for t in map_spec["data"] if t.get("mode") == "text"]
    assert texts and sorted(texts[0]["text"]) == sorted(labels.values())
    legend = {t.get("name") for t in map_spec["data"]}
    assert {f"{c}: {label}" for c, label in labels.items()} <= legend  # colour by cluster
    audit = next(d.value for d in at.dataframe if "loss" in d.value.columns)
    assert audit["n_docs"].sum() == 60 and audit["kept"].sum() == 12  # default budget 0.2
    assert set(audit["label"]) == set(labels.values())
    assert any(fig["data"][0]["type"] == "bar" for fig in _figures(at)[1:])


def test_cluster_goes_to_review_and_search_highlights(clustered):
    ws, labels = clustered
    at = _page().run()
    at.selectbox(key="explore_cluster_pick").set_value(0).run()
    at.button(key="explore_cluster_review").click().run()
    assert not at.exception and any("waiting on the Review page" in m.value for m in at.success)
    ids = at.session_state["review_ids"]
    frame_ids = at.session_state["current_selection"]["ids"]
    assert len(ids) > 0 and len(frame_ids) == 12
    at.text_input(key="explore_search").input("the").run()
    rings = [t for t in _figures(at)[0]["data"] if str(t.get("name", "")).startswith("contains")]
    assert rings and 0 < len(rings[0]["x"]) <= 60


def test_no_clusters_yet_says_how_to_get_them(app_workspace):
    at = _page().run()
    assert not at.exception
    assert any("clusters --corpus c4" in i.value for i in at.info)
