"""Screenshots of the labelled map and the per-cluster audit, from the demo corpus, for the README.

    python -m engine --db /tmp/demo.duckdb ingest demo/c4_demo.parquet --corpus c4-demo
    python -m engine --db /tmp/demo.duckdb embed --corpus c4-demo   # then density, clusters, project
    .venv/bin/python docs/cluster_screenshots.py /tmp/demo.duckdb

Starts the dashboard on that workspace, opens Explore and select in Debian's Chromium (Playwright)
and writes docs/clusters_map.png and docs/clusters_audit.png.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]


def serve(db: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1"],
                            cwd=ROOT, env={**os.environ, "SEEDBED_DB": db, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(240):  # polling the port, not the page
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the dashboard did not start")


def main(db: str) -> int:
    proc, url = serve(str(Path(db).resolve()))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            page.set_default_timeout(300_000)
            page.goto(f"{url}/Explore_and_select")
            page.locator(".js-plotly-plot .textpoint text").first.wait_for()
            page.locator(".js-plotly-plot").first.screenshot(path=str(ROOT / "docs" / "clusters_map.png"))
            section = page.get_by_text("Topics in this selection")
            section.scroll_into_view_if_needed()
            page.get_by_text("Topics this filter dropped").wait_for()
            page.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')"
                                   "?.getAttribute('data-test-script-state') === 'notRunning'")
            page.screenshot(path=str(ROOT / "docs" / "clusters_audit.png"), full_page=False)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print("wrote docs/clusters_map.png and docs/clusters_audit.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
