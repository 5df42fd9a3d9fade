"""In a real headless Chromium: the Explore page writes the cluster labels on the map and shows
the per-cluster audit of the current selection (engine.clusters, engine.coverage).

Needs Debian's `chromium` and Playwright for Python; skipped without them. Every wait is on a
specific element, never a sleep.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from page_helpers import CHROMIUM, launch

from engine.clusters import ClusterConfig, stored_labels
from engine.stage_runners import run_clusters

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(15 * 60),
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium package")]


def test_map_labels_and_audit_table_in_the_browser(app_workspace, streamlit_app):
    run_clusters(app_workspace, "c4", ClusterConfig(n_clusters=3))
    with app_workspace.connect() as con:
        labels = stored_labels(con, "c4")
    url = streamlit_app(app_workspace.path)
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1400})
        page.set_default_timeout(180_000)
        try:
            page.goto(f"{url}/Explore_and_select")
            page.get_by_text("Topics in this selection").wait_for()
            for label in labels.values():  # plotly draws text-mode points as SVG <text>
                page.locator(".js-plotly-plot .textpoint text", has_text=label).first.wait_for()
            page.get_by_text("Topics this filter dropped").wait_for()
            tables = page.locator('[data-testid="stDataFrame"]')
            tables.nth(tables.count() - 1).wait_for()
            assert tables.count() >= 2  # strategy comparison + the audit (+ dropped topics when any)
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()
