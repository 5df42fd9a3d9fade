"""What the browser tests share: the Chromium they drive, waiting for Streamlit's reruns, the
sidebar (pages, corpus picker), a dashboard server process's port, and a local HTTP server that
records what a page fetches."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"  # Debian's package (scripts/test.sh installs it)
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)


_NOT_RUNNING = ("() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"
                " === 'notRunning'")


def idle(page, timeout: int = 300_000) -> None:
    """Wait until Streamlit has finished the current rerun (the app root's script state), twice with a
    pause between: the rerun a click asks for can start a moment after the click. Where a test
    needs that rerun's result, it still waits for its own sign of it (a text, the URL)."""
    page.wait_for_function(_NOT_RUNNING, timeout=timeout)
    page.wait_for_timeout(300)  # settling: lets a rerun the click asked for begin
    page.wait_for_function(_NOT_RUNNING, timeout=timeout)


def nav(page, label: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text=label).first.click()
    idle(page)


def live(page, label: str):
    """The input labelled exactly `label` that Streamlit drew last: during a rerun (e.g. after a
    corpus switch) a stale copy of a form can linger beside the new one, and a widget's help
    button is labelled "Help for <label>"."""
    return page.get_by_label(label, exact=True).last


def pick_corpus(page, name: str) -> None:
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=name, exact=True).click()
    idle(page)


def expect_corpus(page, name: str) -> None:
    """The sidebar's corpus picker shows `name` (waits for the rerun that draws it)."""
    from playwright.sync_api import expect  # noqa: PLC0415 (test modules skip when playwright is missing)

    picker = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    expect(picker.locator("input")).to_have_value(name, timeout=60_000)  # the combobox shows its value there


ROOT = Path(__file__).resolve().parents[1]


def start_dashboard(tmp_path: Path, flags: list[str] = (), *, db: str | None = None, launcher: bool = False,
                    env: dict | None = None, host: str = "127.0.0.1") -> tuple[subprocess.Popen, int, Path]:
    """A dashboard on a free port (`streamlit run app.py`, or the launcher scripts/dashboard.py), once
    its port accepts connections: (process, port, log). SEEDBED_REQUIRE_LOGIN only where `env` says."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / f"server-{port}.log"
    env = {**{k: v for k, v in os.environ.items() if k != "SEEDBED_REQUIRE_LOGIN"},
           "SEEDBED_DB": db or str(tmp_path / "ws.duckdb"), "PYTHONPATH": str(ROOT), **(env or {})}
    start = [str(ROOT / "scripts" / "dashboard.py")] if launcher else ["-m", "streamlit", "run", "app.py"]
    proc = subprocess.Popen([sys.executable, *start, "--server.port", str(port), *flags], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return proc, port, log
        assert proc.poll() is None, log.read_text()
        time.sleep(0.3)  # polling for the port to open
    proc.terminate()
    raise TimeoutError(log.read_text()[-2000:])


class Tracker:
    """A real local HTTP server that records every path a browser asks it for."""

    def __init__(self):
        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                seen.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def traps(self, where: str) -> str:
        """User text that would make a Markdown or HTML renderer fetch from this server."""
        return (f"![{where}]({self.base}/{where}.png) and <img src=\"{self.base}/{where}-html.png\"> "
                f"and [link]({self.base}/{where}-link)")
