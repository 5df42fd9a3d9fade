"""Real headless Chromium: the LLM2LLM page shows a finished run's charts (accuracy per iteration,
seeds x iterations grid, confusion matrix) and the Jobs page lists a job. Skipped without Debian's
chromium and Playwright. Every wait is on a specific element, never a sleep."""
from __future__ import annotations

from pathlib import Path

import pytest
from page_helpers import CHROMIUM, launch

from tests.pages.test_app_llm2llm import (
    store_finished_run,  # the same stored run the AppTests use
)

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(15 * 60),
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium package")]


@pytest.fixture
def server(workspace, streamlit_app):
    """The app over a workspace holding a finished LLM2LLM run; yields the base URL."""
    store_finished_run(workspace)
    return streamlit_app(workspace.path)


def test_llm2llm_page_shows_a_finished_runs_charts(server, tmp_path):
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{server}/LLM2LLM", timeout=120_000)
        charts = page.locator('[data-testid="stPlotlyChart"]')
        charts.first.wait_for(timeout=180_000)
        page.locator(".js-plotly-plot .scatterlayer .trace").first.wait_for(timeout=60_000)  # lines drawn
        assert page.get_by_text("2 of 16 seeds were wrong in every evaluated iteration").count() == 1
        for tab in ("Seeds × iterations", "Confusion matrix"):
            page.get_by_role("tab", name=tab).click()
            page.locator('[role="tabpanel"]:visible [data-testid="stPlotlyChart"] .heatmaplayer').first.wait_for(
                timeout=60_000)
        assert charts.count() >= 3
        page.screenshot(path=str(tmp_path / "llm2llm.png"), full_page=True)
        page.get_by_role("tab", name="Wrong seeds").click()
        page.get_by_text("2 seeds wrong").first.wait_for(timeout=30_000)
        browser.close()


def test_runs_page_updates_a_run_live(server, workspace):
    """A run started after the page opened shows up, and turns 'done', without a reload."""
    from engine import jobs

    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{server}/Jobs", timeout=120_000)
        page.get_by_text("No jobs yet").wait_for(timeout=180_000)
        run_id = jobs.start_job(workspace, ["corpora"])
        page.get_by_text(f"{run_id} · corpora · done").wait_for(timeout=240_000)  # the live fragment's selectbox
        assert jobs.get_job(workspace, run_id)["status"] == "done"
        browser.close()
