"""User text never becomes Markdown that acts: a job whose progress label names a file called
`![x](http://127.0.0.1:PORT/beacon)` makes a real Chromium fetch nothing on the Jobs page, and bare
URLs in documents are no links in Review's neighbour captions (a local HTTP server counts every
request that reaches it)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from page_helpers import CHROMIUM, Tracker, launch, start_dashboard

from engine.user_text import WORD_JOINER, escape_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_bare_links_are_broken_and_nothing_else_changes():
    assert escape_markdown("see http://a.example/x") == f"see http{WORD_JOINER}\\://a.example/x"
    assert escape_markdown("WWW.a.example") == f"WWW{WORD_JOINER}.a.example"
    assert escape_markdown("swww.x and httpx") == "swww.x and httpx"
    assert escape_markdown("![x](https://h/b)") == f"\\!\\[x\\](https{WORD_JOINER}\\://h/b)"


def _workspace(ws, tracker: Tracker, tmp_path: Path) -> None:
    from engine import pipeline, review
    from engine.jobs import launcher
    from engine.models import DEFAULT_EMBEDDER, model_fingerprint
    from engine.storage import corpus as store
    from engine.storage import jobs as runs_db
    from engine.storage import signals as signal_store

    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps({"text": f"Document {i} about gardens, see {tracker.base}/bare{i} "
                                                f"and www.bare-link-{i}.example for more"}) + "\n" for i in range(6)))
    pipeline.ingest(ws, data, "c4")
    with ws.connect() as con:
        ids = store.documents(con, "c4")["doc_id"].tolist()
        signal_store.put_embeddings(con, model_fingerprint(DEFAULT_EMBEDDER), ids,
                                    np.random.default_rng(0).normal(0, 1, (len(ids), 8)))
    review.save_map_selection(ws, "c4", ids)
    argv = ["ingest", f"![x]({tracker.base}/beacon).jsonl", "--corpus", "c4"]
    log = launcher.jobs_dir(ws) / "r-beacon" / "log.txt"
    log.parent.mkdir(parents=True)
    log.write_text("")
    with ws.connect() as con:
        runs_db.insert_job(con, "r-beacon", launcher.kind_of(argv), argv, launcher.params_of(argv), False, str(log))
        runs_db.update_job(con, "r-beacon", status="failed", stage=f"reading ![x]({tracker.base}/beacon).jsonl",
                           done=1, total=2, ended_at=runs_db.utcnow())


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium package")
def test_a_file_name_in_a_progress_label_fetches_nothing(tmp_path, workspace):
    playwright_api = pytest.importorskip("playwright.sync_api")
    tracker = Tracker()
    _workspace(workspace, tracker, tmp_path)
    proc, port, _ = start_dashboard(tmp_path, db=workspace.path)
    try:
        with playwright_api.sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(120_000)
            page.set_content(f'<img src="{tracker.base}/control.png">')  # the probe works
            page.wait_for_load_state("networkidle")
            assert tracker.seen == ["/control.png"]
            tracker.seen.clear()
            page.goto(f"http://127.0.0.1:{port}/Jobs")
            page.locator('[data-testid="stProgress"]', has_text="beacon").first.wait_for()  # the label, as text
            page.wait_for_timeout(1500)  # let any image request arrive
            assert tracker.seen == [], tracker.seen
            page.goto(f"http://127.0.0.1:{port}/Review")
            page.get_by_text("Nearest neighbours").first.wait_for()
            page.wait_for_timeout(1500)
            links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            assert not [h for h in links if "bare" in h], links
            assert tracker.seen == [], tracker.seen
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        tracker.server.shutdown()
