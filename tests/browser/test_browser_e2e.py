"""End to end in a real headless Chromium: load the demo corpus, upload a small file with one
broken row, run the stages with the real models, move the weight slider, box-select on the map,
accept and reject, export and check the downloaded file. Saves the map page to <tmp_path>/map.png (with
SEEDBED_REFRESH_DOCS=1 also to docs/map.png, the README's picture).

Needs Debian's `chromium` (/usr/bin/chromium) and Playwright for Python; skipped without them.
Streamlit in a browser on 2 cores is slow: every wait is on a specific element, never a sleep.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from page_helpers import CHROMIUM, idle, launch, nav

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parents[1] / "data"
N_UPLOAD = 30  # small, so the real judge (Gemma 270M on CPU) finishes in about a minute
STAGE_TIMEOUT_MS = 15 * 60_000

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(40 * 60),
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium package")]


@pytest.fixture
def server(tmp_path, streamlit_app):
    """The app on a fresh workspace; yields the base URL."""
    return streamlit_app(tmp_path / "ws.duckdb")


def _upload_file(tmp_path: Path) -> Path:
    """N_UPLOAD real C4 documents as JSONL with one broken row at line 5."""
    lines = (DATA / "c4_sample.jsonl").read_text().splitlines()[:N_UPLOAD]
    lines.insert(4, '{"text": "this row is not valid JSON')
    path = tmp_path / "e2e_upload.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_dashboard_end_to_end(server, tmp_path):
    sync_playwright = playwright_api.sync_playwright
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
        page.set_default_timeout(120_000)
        try:
            n_picked = _run_flow(page, server, tmp_path)
            _second_session_sees_decisions(browser, server, n_picked)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            shutil.copy(tmp_path / "failure.png", ROOT / "docs" / "e2e_failure.png") if (ROOT / "docs").exists() else None
            raise
        finally:
            browser.close()


def _run_flow(page, server: str, tmp_path: Path) -> None:
    # 1. home: load the demo corpus
    page.goto(server)
    page.get_by_role("button", name="Load the demo corpus").click()
    page.get_by_text("Demo corpus 'demo': 477 documents (477 new)").wait_for()

    # 2. corpus: upload a file with one broken row; the good rows land, the bad one is named
    nav(page, "Corpus")
    page.locator('input[type="file"]').set_input_files(str(_upload_file(tmp_path)))
    page.get_by_role("button", name="Ingest").click()
    warning = page.locator('[data-testid="stAlertContentWarning"]')
    warning.wait_for()
    assert "e2e_upload.jsonl" in warning.inner_text() and "line 5" in warning.inner_text()
    page.get_by_text(f"{N_UPLOAD} new").first.wait_for()

    # 3. explore: run the missing stages (real embedder, judge, density, UMAP) on the upload
    nav(page, "Explore and select")
    page.get_by_role("button", name="Run stages").click()
    page.get_by_text("Colour by").wait_for(timeout=STAGE_TIMEOUT_MS)  # shown once the map exists
    page.locator(".js-plotly-plot .nsewdrag").first.wait_for()
    idle(page, STAGE_TIMEOUT_MS)

    # 4. move the quality weight slider (keyboard on the slider thumb: 0.50 -> 0.75)
    slider = page.get_by_role("slider", name="Quality weight").first
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.locator('[data-testid="stSliderThumbValue"]', has_text="0.75").first.wait_for()
    idle(page)
    page.get_by_role("button", name="Save selection").click()
    page.get_by_text("Saved 'e2e_upload-combined'").wait_for()
    idle(page)

    # 5. box-select on the map (Plotly's box mode, then a mouse drag across the plot area)
    plot = page.locator(".js-plotly-plot").first
    plot.hover()
    plot.locator('.modebar-btn[data-title="Box Select"]').click()
    box = plot.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.1)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.6, steps=12)
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.9, steps=12)
    page.mouse.up()
    picked_msg = page.get_by_text("documents picked on the map: they are waiting")
    picked_msg.wait_for()
    n_picked = int(picked_msg.inner_text().split()[0])
    assert 2 <= n_picked <= N_UPLOAD
    idle(page)
    page.screenshot(path=str(tmp_path / "map.png"))
    if os.environ.get("SEEDBED_REFRESH_DOCS") == "1":  # a test never rewrites tracked files unasked
        shutil.copy(tmp_path / "map.png", ROOT / "docs" / "map.png")

    # 6. review: accept one, reject one; both written at once
    page.get_by_role("link", name="Review the picked documents").click()
    page.get_by_text(f"Reviewed 0 of {n_picked}").wait_for()
    reviewer = page.get_by_label("Reviewer").last  # a stale copy of the input can linger during the rerun
    reviewer.fill("e2e curator")
    reviewer.press("Enter")
    idle(page)
    page.get_by_role("button", name="Accept", exact=True).first.click()
    page.get_by_text(f"Reviewed 1 of {n_picked}").wait_for()
    idle(page)
    page.get_by_role("button", name="Reject", exact=True).nth(1).click()
    page.get_by_text(f"Reviewed 2 of {n_picked} (1 accepted, 1 rejected").wait_for()
    idle(page)

    # 7. export the map selection: the rejected document is gone, the accepted one marked
    nav(page, "Export")
    page.get_by_text("Selection", exact=True).wait_for()
    page.get_by_role("button", name="Prepare the export").click()
    page.get_by_text(f"{n_picked - 1} documents ready").wait_for()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download e2e_upload_map.jsonl").click()
    rows = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert len(rows) == n_picked - 1
    decisions = [r["decision"] for r in rows]
    assert decisions.count("accept") == 1 and "reject" not in decisions
    assert all(r["text"] and r["askllm"] is not None and r["density"] is not None for r in rows)
    return n_picked


def _second_session_sees_decisions(browser, server: str, n_picked: int) -> None:
    """Another browser session on the same workspace (a reload, or a second curator) sees the
    picked documents and both decisions, read back from DuckDB."""
    other = browser.new_context().new_page()
    other.set_default_timeout(120_000)
    other.goto(f"{server}/Review")
    other.get_by_text(f"Reviewed 2 of {n_picked} (1 accepted, 1 rejected").wait_for()
    other.context.close()
