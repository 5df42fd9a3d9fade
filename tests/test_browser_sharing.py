"""Sharing the dashboard, on real `streamlit run app.py` servers: the default binds to loopback
only; bound to this machine's network address it asks a real headless Chromium for a login on
every page, or, with no login configured, shows one line and shuts itself down; and no user
text (documents, CSV headers, notes, seed texts, error messages) makes the browser fetch a
remote image: a local HTTP server counts the requests that reach it.

Needs Debian's `chromium` (/usr/bin/chromium) and Playwright for Python for the browser tests.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from engine import auth

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
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
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = tmp_path / f"streamlit-{self.port}.log"
        env = {**os.environ, "SEEDBED_DB": str(tmp_path / "ws.duckdb"), "PYTHONPATH": str(ROOT), **(env or {})}
        env.pop("SEEDBED_REQUIRE_LOGIN", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port",
                                      str(self.port), *flags], cwd=ROOT, env=env, stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT)
        self.url = f"http://{host}:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex((host, self.port)) == 0:
                    return
            assert self.proc.poll() is None, self.log.read_text()
            time.sleep(0.5)  # polling for the port to open
        raise TimeoutError(self.log.read_text()[-2000:])

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
        chromium = p.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
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


def _idle(page, timeout: int = 120_000) -> None:
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"
        " === 'notRunning'", timeout=timeout)


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
    server = Server(tmp_path, ["--server.address", host, "--secrets.files", str(secrets)], host=host)
    servers.append(server)

    page = browser.new_page()
    page.set_default_timeout(120_000)
    for path in ("", "/Corpus", "/Review", "/Runs"):  # every page, reached directly, asks first
        page.goto(server.url + path)
        page.get_by_label("Password", exact=True).wait_for()
        _idle(page)
        assert "private-corpus" not in page.content() and "secret plan" not in page.content()
    page.get_by_label("Name", exact=True).fill("ann")
    page.get_by_label("Password", exact=True).fill("not it")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Wrong name or password.").wait_for()
    page.get_by_label("Name", exact=True).fill("ann")
    page.get_by_label("Password", exact=True).fill("open sesame")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Signed in as ann").wait_for()
    page.get_by_role("heading", name="Runs").wait_for()
    page.locator('[data-testid="stSidebarNav"] a', has_text="Corpus").first.click()
    page.get_by_text("Browse 'private-corpus'").wait_for()  # the same session stays signed in
    assert page.get_by_label("Password", exact=True).count() == 0


@pytest.mark.browser
@no_chromium
def test_shared_server_without_a_login_refuses_in_one_line_and_stops(tmp_path, servers, browser):
    host = network_address() or pytest.skip("no network address besides loopback")
    server = Server(tmp_path, ["--server.address", host, "--secrets.files", str(tmp_path / "none.toml")], host=host)
    servers.append(server)
    page = browser.new_page()
    page.goto(server.url)
    page.get_by_text(f"refusing to serve the dashboard on {host} without a login").wait_for(timeout=120_000)
    assert server.proc.wait(timeout=60) == 0  # the server shut itself down
    errors = [line for line in server.log.read_text().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "add users to [seedbed.users]" in errors[0]

