"""Sharing the dashboard, on real `streamlit run app.py` servers: the default binds to loopback
only; bound to this machine's network address it asks a real headless Chromium for a login on
every page, or, with no login configured, shows one line and shuts itself down; and no user
text (documents, CSV headers, notes, seed texts, error messages) makes the browser fetch a
remote image: a local HTTP server counts the requests that reach it.

Needs Debian's `chromium` (/usr/bin/chromium) and Playwright for Python for the browser tests.
"""
from __future__ import annotations

import socket
import time
from pathlib import Path

import psutil
import pytest
from page_helpers import CHROMIUM, Tracker, idle, launch, start_dashboard

from engine import auth

ROOT = Path(__file__).resolve().parents[2]
no_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium package")


def network_address() -> str | None:
    """An IPv4 address of this machine other than loopback (what a colleague would connect to)."""
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return a.address
    return None


class Server:
    """`streamlit run app.py` with the repo's .streamlit/config.toml and only the given flags."""

    def __init__(self, tmp_path: Path, flags: list[str], host: str = "127.0.0.1", env: dict | None = None):
        self.proc, self.port, self.log = start_dashboard(tmp_path, flags, env=env, host=host)
        self.url = f"http://{host}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture
def servers():
    made: list[Server] = []
    yield made
    for server in made:
        server.stop()


@pytest.fixture
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


def test_default_server_binds_to_loopback_only(tmp_path, servers):
    server = Server(tmp_path, ["--server.headless", "true"])  # no address: .streamlit/config.toml decides
    servers.append(server)
    listening = [c.laddr for c in psutil.Process(server.proc.pid).net_connections("inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and {a.ip for a in listening} == {"127.0.0.1"}, listening
    other = network_address()
    if other:
        with socket.socket() as s:
            assert s.connect_ex((other, server.port)) != 0  # nobody else can connect
    time.sleep(1.5)  # let the banner reach the log (the port opens just before it is printed)
    log = server.log.read_text()
    assert f"URL: http://127.0.0.1:{server.port}" in log
    assert "Network URL" not in log and "External URL" not in log and "Did not auto detect" not in log


@pytest.mark.browser
@no_chromium
def test_shared_server_asks_for_a_login(tmp_path, servers, browser, workspace):
    host = network_address() or pytest.skip("no network address besides loopback")
    from engine.ingest import ingest

    data = tmp_path / "docs.jsonl"
    data.write_text('{"text": "a private document about the secret plan"}\n')
    ingest(workspace, data, "private-corpus")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[seedbed.users]\n"ann" = "{auth.hash_password("open sesame")}"\n')
    server = Server(tmp_path, ["--server.address", host, "--server.allowedHosts", host, "--secrets.files",
                                str(secrets)], host=host)
    servers.append(server)

    page = browser.new_page()
    page.set_default_timeout(120_000)
    for path in ("", "/Corpus", "/Review", "/Jobs"):  # every page, reached directly, asks first
        page.goto(server.url + path)
        page.get_by_label("Password", exact=True).wait_for()
        idle(page)
        assert "private-corpus" not in page.content() and "secret plan" not in page.content()
    page.get_by_label("Name", exact=True).fill("ann")
    page.get_by_label("Password", exact=True).fill("not it")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Wrong name or password.").wait_for()
    page.get_by_label("Name", exact=True).fill("ann")
    page.get_by_label("Password", exact=True).fill("open sesame")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Signed in as ann").wait_for()
    page.get_by_role("heading", name="Jobs").wait_for()
    page.locator('[data-testid="stSidebarNav"] a', has_text="Corpus").first.click()
    page.get_by_text("Browse 'private-corpus'").wait_for()  # the same session stays signed in
    assert page.get_by_label("Password", exact=True).count() == 0


@pytest.mark.browser
@no_chromium
def test_shared_server_without_a_login_refuses_in_one_line_and_stops(tmp_path, servers, browser):
    host = network_address() or pytest.skip("no network address besides loopback")
    server = Server(tmp_path, ["--server.address", host, "--server.allowedHosts", host, "--secrets.files",
                                str(tmp_path / "none.toml")], host=host)
    servers.append(server)
    page = browser.new_page()
    page.goto(server.url)
    page.get_by_text(f"refusing to serve the dashboard on {host} without a login").wait_for(timeout=120_000)
    assert server.proc.wait(timeout=60) == 0  # the server shut itself down
    errors = [line for line in server.log.read_text().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "add users to [seedbed.users]" in errors[0]



# --- user text never fetches a remote image ----------------------------------------------------

def _trap_workspace(ws, tracker: Tracker, tmp_path: Path) -> list[str]:
    """The committed C4 sample plus documents, a note, a selection name, a failed run's error and
    an LLM2LLM seed that carry traps; signals and map as in the `app_workspace` fixture."""
    import numpy as np

    from engine import pipeline, review
    from engine.jobs import launcher
    from engine.models import DEFAULT_EMBEDDER, model_fingerprint
    from engine.storage import corpus as store
    from engine.storage import jobs as runs_db
    from engine.storage import llm2llm as l2l
    from engine.storage import selections as selection_store
    from engine.storage import signals as signal_store

    lines = (Path(__file__).parents[1] / "data" / "c4_sample.jsonl").read_text().splitlines()[:20]
    import json

    lines += [json.dumps({"text": f"Document {i}: {tracker.traps(f'doc{i}')}"}) for i in range(2)]
    data = tmp_path / "trap.jsonl"
    data.write_text("\n".join(lines) + "\n")
    pipeline.ingest(ws, data, "c4")
    with ws.connect() as con:
        docs = store.documents(con, "c4")
    ids = docs["doc_id"].tolist()
    traps = docs.loc[docs["text"].str.contains(tracker.base), "doc_id"].tolist()
    rng = np.random.default_rng(0)
    vectors = rng.normal(0, 1, (len(ids), 8))
    with ws.connect() as con:
        signal_store.put_embeddings(con, model_fingerprint(DEFAULT_EMBEDDER), ids, vectors)
        for kind in ("askllm", "density"):
            signal_store.put_scores(con, f"{kind}:fixture", ids, rng.random(len(ids)))
            signal_store.set_signal(con, "c4", kind, f"{kind}:fixture", {"fixture": True})
        signal_store.put_projection(con, "c4", ids, vectors[:, :2])
        selection_store.save_selection(con, tracker.traps("selection"), "c4", "random",
                                       {"note": tracker.traps("params")}, ids)
    review.save_map_selection(ws, "c4", traps + [i for i in ids if i not in traps][:2])
    review.record(ws, "c4", traps[:1], "accept", tracker.traps("reviewer"), tracker.traps("note"))

    argv = ["score", "--corpus", "c4"]
    log = launcher.jobs_dir(ws) / "r-failed" / "log.txt"
    log.parent.mkdir(parents=True)
    log.write_text(tracker.traps("log"))
    with ws.connect() as con:
        runs_db.insert_job(con, "r-failed", launcher.kind_of(argv), argv, launcher.params_of(argv), False, str(log))
        runs_db.update_job(con, "r-failed", status="failed", error=tracker.traps("error"), ended_at=runs_db.utcnow())
        seeds = [("train-00", tracker.traps("seed"), "NUM"), ("train-01", "How many legs does a spider have ?", "NUM")]
        config = {"labels": ["LOC", "NUM"], "teacher": {"model": "smollm2-135m-instruct"},
                  "student": {"model": "smollm2-135m-instruct"}}
        l2l.create_run(con, "trap-run", "trec", config, 0, seeds, [("test-00", "Where ?", "LOC")])
        l2l.save_train_set(con, "trap-run", 0, ["train-00", "train-01"])
        l2l.save_predictions(con, "trap-run", 0, "train", [("train-00", "LOC", False), ("train-01", "NUM", True)])
        l2l.save_predictions(con, "trap-run", 0, "test", [("test-00", "LOC", True)])
        l2l.save_synthetic(con, "trap-run", [{
            "example_id": "syn-0-train-00-0", "parent_id": "train-00", "iteration": 0, "attempt": 0, "teacher": "t",
            "raw_output": tracker.traps("raw"), "input": tracker.traps("synthetic"), "output": "NUM",
            "accepted": True, "reason": None}])
        l2l.upsert_iteration(con, "trap-run", 0, train_size=2, n_synthetic=0, train_acc=0.5, seed_acc=0.5,
                             test_acc=1.0, n_wrong=1, n_requests=1, n_accepted=1)
        l2l.set_run_status(con, "trap-run", "done")
    return traps


@pytest.mark.browser
@no_chromium
def test_user_text_never_makes_the_browser_fetch(tmp_path, servers, browser, workspace):
    tracker = Tracker()
    _trap_workspace(workspace, tracker, tmp_path)
    server = Server(tmp_path, ["--server.headless", "true"])
    servers.append(server)
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.set_default_timeout(120_000)

    # the probe works: a real <img> in this browser does reach the tracker
    page.set_content(f'<img src="{tracker.base}/control.png">')
    page.wait_for_load_state("networkidle")
    assert tracker.seen == ["/control.png"]
    tracker.seen.clear()

    def visit(path: str, ready: str) -> None:
        page.goto(server.url + path)
        page.get_by_text(ready).first.wait_for()
        idle(page)

    visit("", "Corpora")
    visit("/Review", "Reviewed 1 of 4")
    assert page.get_by_text(f"![doc0]({tracker.base}/doc0.png)").count() >= 1  # shown as the characters
    page.get_by_label("Documents to review").click()
    page.get_by_role("option").last.wait_for()
    page.keyboard.press("Escape")
    visit("/Explore_and_select", "Colour by")
    visit("/Export", "Prepare the export")
    page.get_by_label("Selection", exact=True).click()
    page.get_by_role("option", name=tracker.traps("selection")).click()
    idle(page)
    page.get_by_role("button", name="Prepare the export").click()
    page.get_by_text("documents ready").wait_for()
    idle(page)
    visit("/Jobs", "Start a job")
    page.locator('[data-testid="stAlertContentError"]',  # the scheme carries a word joiner (no bare link)
                 has_text=f"{tracker.base.removeprefix('http://')}/error.png").first.wait_for()
    visit("/LLM2LLM", "Accuracy per iteration")
    page.get_by_role("tab", name="Families").click()
    seed = page.locator('[data-testid="stMarkdownContainer"]', has_text="Seed train-00").first
    seed.wait_for()
    idle(page)
    page.wait_for_timeout(1000)  # let any image request arrive
    assert tracker.seen == [], tracker.seen
    shown = seed.inner_text().replace("\u2060", "")  # a word joiner after "http" keeps it from being a bare link
    assert f"![seed]({tracker.base}/seed.png)" in shown  # the seed shown as its characters

    # the Corpus page: an uploaded CSV whose header is a trap, previewed, chosen and ingested
    upload = tmp_path / "header.csv"
    upload.write_text(f'"{tracker.traps("header").replace(chr(34), 2 * chr(34))}",n\n"a first row of text about things",1\n'
                      '"a second row of text about other things",2\n')
    visit("/Corpus", "Add documents")
    page.locator('input[type="file"]').set_input_files(str(upload))
    page.get_by_role("button", name="Ingest").wait_for()
    idle(page)
    page.get_by_label("Corpus name").fill(f"bad {tracker.traps('name')}")
    page.get_by_label("Corpus name").press("Enter")
    idle(page)
    page.get_by_role("button", name="Ingest").click()
    page.get_by_text(f"corpus name 'bad ![name](http\u2060://127.0.0.1").first.wait_for()  # refused, quoted as text
    page.get_by_label("Corpus name").fill("header")
    page.get_by_label("Corpus name").press("Enter")
    idle(page)
    page.get_by_role("button", name="Ingest").click()
    page.get_by_text("Browse 'header'").wait_for()
    idle(page)
    page.wait_for_timeout(1000)  # let any late image request arrive before the count
    assert tracker.seen == [], tracker.seen
    tracker.server.shutdown()
