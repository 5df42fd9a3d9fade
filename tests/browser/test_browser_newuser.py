"""The first five minutes of a new user, in a real headless Chromium on a fresh workspace (issue 14):
a bookmarked page as the server's first request shows the app's own sidebar -> load the demo (scored and mapped from the bundle) -> Explore shows scores without running a stage ->
save a selection on corpus A, switch to B, try the same name -> A's selection intact -> upload a
file -> the new corpus is current -> review: reject one, bulk-accept the page -> the reject stands
-> type a note alone -> stored -> undo -> export after switching format offers the right file ->
a tiny LLM2LLM run launched from the Jobs form on the bundled TREC data shows on the LLM2LLM page.

Needs Debian's `chromium` and Playwright for Python; skipped without them. Every wait is on a
specific element (Streamlit on 2 shared cores is slow), never a sleep.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from page_helpers import CHROMIUM, expect_corpus, idle, launch, live, nav, pick_corpus
from playwright.sync_api import expect

from engine import jobs, pipeline
from engine.storage import Workspace
from engine.storage import selections as store

DATA = Path(__file__).parents[1] / "data"
playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(10 * 60),
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium package"),
              pytest.mark.skipif(not (Path(__file__).resolve().parents[2] / "demo" / "demo_mix_signals.npz").exists(),
                                 reason="demo/demo_mix_signals.npz not made yet (python scripts/make_demo_bundle.py)")]


def _selection(ws: Workspace, name: str):
    with ws.connect() as con:
        return store.selection(con, name)


def _upload(tmp_path: Path) -> Path:
    lines = (DATA / "c4_sample.jsonl").read_text().splitlines()[:12]
    path = tmp_path / "my_upload.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def server(tmp_path, streamlit_app):
    """A fresh workspace that holds one other corpus 'b' (no scores yet), as after a CLI ingest."""
    db = tmp_path / "ws.duckdb"
    ws = Workspace(db)
    pipeline.ingest(ws, DATA / "ingest_broken.jsonl", "b")
    return streamlit_app(db), ws


def test_new_user_path(server, tmp_path):
    url, ws = server
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
        page.set_default_timeout(180_000)
        try:
            _judges_by_bookmark(page, url)
            _demo_and_explore(page, url)
            _selections_per_corpus(page, ws)
            _upload_becomes_current(page, tmp_path)
            _review_never_loses_a_decision(page, ws)
            _export_offers_the_right_file(page)
            _llm2llm_from_the_form(page)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
            for job_id in jobs.list_jobs(ws)["id"]:  # the LLM2LLM job would outlive the test
                jobs.cancel_job(ws, job_id, jobs.JobsConfig(cancel_grace_s=1))


def _judges_by_bookmark(page, url: str) -> None:
    """A bookmark as the server's first request: the router's sidebar (Home, ...), not Streamlit's
    pages-folder list ("app", ...), and the Judges page's evidence."""
    page.goto(f"{url}/Judges")
    page.get_by_text("Default judge on this machine (CPU)").wait_for()
    page.wait_for_function("() => document.querySelector('[data-testid=stSidebarNav] a')"
                           "?.innerText.trim().endsWith('Home')", timeout=60_000)
    page.get_by_text("Measured against human labels").wait_for()


def _demo_and_explore(page, url: str) -> None:
    page.goto(url)
    sidebar = page.locator('[data-testid="stSidebarNav"]')
    # not "app": the router's st.navigation names the pages (the link's text is "<icon>\n\nHome")
    # (before the first script run ends, Streamlit lists the files: "app", ...)
    page.wait_for_function("() => document.querySelector('[data-testid=stSidebarNav] a')"
                           "?.innerText.trim().endsWith('Home')", timeout=60_000)
    assert sidebar.locator("a").first.inner_text().split()[-1] == "Home"
    page.get_by_role("button", name="Load the demo corpus").click()
    page.get_by_text("Demo corpus 'demo': 477 documents (477 new)").wait_for()
    idle(page)
    page.get_by_role("button", name="Load the demo corpus").click()  # again: recognised
    page.get_by_text("is already loaded").wait_for()
    nav(page, "Explore and select")
    page.get_by_text("Stages — all done").wait_for()  # scores and map came from the bundle
    page.get_by_text("Colour by").wait_for()
    page.locator(".js-plotly-plot .nsewdrag").first.wait_for()


def _selections_per_corpus(page, ws: Workspace) -> None:
    name = live(page, "Save this selection as")
    name.fill("mine")
    page.get_by_role("button", name="Save selection").click()
    page.get_by_text("Saved 'mine'").wait_for()
    idle(page)
    saved_a = _selection(ws, "mine")
    pick_corpus(page, "b")
    expect(live(page, "Save this selection as")).to_have_value("b-random", timeout=60_000)
    live(page, "Save this selection as").fill("mine")
    page.get_by_role("button", name="Save selection").last.click()
    page.get_by_text("A selection named 'mine' already exists").wait_for()
    idle(page)
    assert _selection(ws, "mine")["doc_ids"] == saved_a["doc_ids"] and _selection(ws, "mine")["corpus"] == "demo"


def _upload_becomes_current(page, tmp_path: Path) -> None:
    nav(page, "Corpus")
    page.locator('input[type="file"]').set_input_files(str(_upload(tmp_path)))
    page.get_by_role("button", name="Ingest").click()
    page.get_by_text("12 new").first.wait_for()
    idle(page)
    expect_corpus(page, "my_upload")
    live(page, "Search text").fill("the")  # the next interaction keeps it
    page.keyboard.press("Enter")
    idle(page)
    expect_corpus(page, "my_upload")
    nav(page, "Review")
    expect_corpus(page, "my_upload")


def _review_never_loses_a_decision(page, ws: Workspace) -> None:
    live(page, "Documents to review").click()
    page.get_by_role("option", name="whole corpus").click()
    idle(page)
    reviewer = live(page, "Reviewer")
    reviewer.fill("new curator")
    reviewer.press("Enter")
    idle(page)
    page.get_by_role("button", name="Reject", exact=True).first.click()
    page.get_by_text("Reviewed 1 of 12").wait_for()
    idle(page)
    page.get_by_role("button", name="Accept all 10 on this page").click()
    page.get_by_text("already decided document(s) as they were").wait_for()
    idle(page)
    with ws.connect() as con:
        rev = store.reviews(con, "my_upload")
    assert sorted(rev["decision"].tolist()) == ["accept"] * 9 + ["reject"]  # the reject stands
    note = page.get_by_placeholder("note (saved when you press Enter or leave the field)").nth(1)
    note.fill("only a menu")
    note.press("Enter")
    page.get_by_text("Note saved").wait_for()
    idle(page)
    with ws.connect() as con:
        assert "only a menu" in set(store.reviews(con, "my_upload")["note"].dropna())
    page.get_by_role("button", name="Undo my last action").click()
    page.get_by_text("Undid your last note").wait_for()
    idle(page)
    with ws.connect() as con:
        assert "only a menu" not in set(store.reviews(con, "my_upload")["note"].dropna())
    page.reload()  # the reviewer name survives a reload
    idle(page)
    assert live(page, "Reviewer").input_value() == "new curator"


def _export_offers_the_right_file(page) -> None:
    nav(page, "Export")
    pick_corpus(page, "demo")
    live(page, "Selection").click()
    page.get_by_role("option", name="mine").click()
    idle(page)
    page.get_by_text("jsonl", exact=True).click()
    idle(page)
    page.get_by_role("button", name="Prepare the export").click()
    page.get_by_role("button", name="Download mine.jsonl").wait_for()
    page.get_by_text("parquet", exact=True).click()
    page.get_by_text("press Prepare the export for 'mine' as parquet").wait_for()
    idle(page)  # the rerun ends before its stale elements (the old download button) are removed
    assert page.get_by_role("button", name="Download mine.jsonl").count() == 0
    page.get_by_role("button", name="Prepare the export").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download mine.parquet").click()
    assert download.value.suggested_filename == "mine.parquet"


def _llm2llm_from_the_form(page) -> None:
    nav(page, "Jobs")
    page.get_by_text("Start a job").click()
    page.get_by_role("tab", name="LLM2LLM", exact=True).click()
    form = page.locator('[data-testid="stForm"]').filter(has_text="Seed examples")
    for label, value in (("Seed examples", "10"), ("Iterations", "1"), ("Test examples (0 = the whole test set)", "20"),
                         ("Run name", "newuser-trec"),
                         ("Teacher (optional: model or a configured endpoint URL)", "smollm2-135m-instruct")):
        field = form.get_by_label(label)
        field.fill(value)
        field.press("Tab")
    form.get_by_role("button", name="Start").click()
    page.get_by_text("started job").first.wait_for()
    idle(page)
    nav(page, "LLM2LLM")
    # the run as recorded in the workspace by the job's process (the page redraws when it appears)
    page.get_by_text(re.compile(r"newuser-trec · task trec · seed")).wait_for()
