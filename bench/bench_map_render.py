"""Benchmark: the map at 100k points - our Plotly WebGL scatter (ui.map_figure) vs Apple's Embedding
Atlas Streamlit component (issue 13, point 2). Measured in headless Chromium on this CPU (software
WebGL: SwiftShader), each in its own Streamlit server, alternating, with repeats.

    .venv/bin/python bench/bench_map_render.py [--n 100000] [--repeats 3] [--atlas-path DIR]

Embedding Atlas is NOT a Seedbed dependency: pass the folder of a `pip install --no-deps --target DIR
embedding-atlas` (its Streamlit component needs only streamlit, pandas, pyarrow, narwhals, which we
have). Time to first render = from navigation until the map's element exists and two screenshots of
it 0.5 s apart are equal and over 2% of its pixels are drawn (the scatter has stopped drawing). Memory: peak RSS of the
Chromium process tree and of the Streamlit server after the render; any request the page makes to
a host other than the local server is recorded (this machine has no internet). Writes
bench/map_render_results.{json,md}. Selection round trip is not measured here.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
PLOTLY_APP = """
import sys; sys.path.insert(0, {root!r})
import numpy as np, pandas as pd, streamlit as st
import ui
df = pd.read_parquet({data!r})
hover = (df["text"] + "<br>density: " + df["density"].round(3).astype(str)).tolist()
st.plotly_chart(ui.map_figure(df, df["density"], True, hover), key="map", on_select="rerun",
                selection_mode=("box", "lasso"))
"""
ATLAS_APP = """
import sys; sys.path.insert(0, {atlas!r})
import pandas as pd, streamlit as st
from embedding_atlas.streamlit import embedding_atlas
df = pd.read_parquet({data!r})
embedding_atlas(df, x="x", y="y", text="text", labels="disabled", key="map")
"""


def points(n: int, seed: int = 0) -> pd.DataFrame:
    """n 2-D points in 64 Gaussian blobs (a UMAP-like map), a short text and a score each."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, (64, 2))
    blob = rng.integers(0, 64, n)
    xy = centres[blob] + rng.normal(0, 0.6, (n, 2))
    return pd.DataFrame({"doc_id": [f"d{i:07d}" for i in range(n)], "x": xy[:, 0], "y": xy[:, 1],
                         "text": [f"document {i} of topic {b}" for i, b in enumerate(blob)],
                         "density": rng.lognormal(0, 0.3, n)})


def serve(app: Path, env: dict) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.3)  # polling for the port to open
    proc.kill()
    raise TimeoutError(f"streamlit did not start {app}")


def tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0


def drawn_share(png: bytes) -> float:
    """Share of the screenshot's pixels that are not (near) white: > 0 once points are drawn."""
    import io

    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return float((grey < 235).mean())


def render_once(kind: str, url: str, server: subprocess.Popen, timeout_s: float) -> dict:
    """Seconds from navigation to a stable, non-blank map; peak RSS of browser and server."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"])
        browser_pid = next((c.pid for c in psutil.Process().children(recursive=True)
                            if "chromium" in c.name().lower()), None)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(timeout_s * 1000)
        outside = []  # what the page tried to fetch from anywhere but this server
        page.on("request", lambda r: outside.append(r.url) if r.url.split(":")[0] in ("http", "https", "ws", "wss")
                and not r.url.startswith(url) else None)
        page.on("pageerror", lambda e: outside.append(f"page error: {str(e)[:200]}"))
        peak_browser = peak_server = 0
        t0 = time.perf_counter()
        page.goto(url)
        target = (page.locator(".js-plotly-plot canvas").first if kind == "plotly"
                  else page.frame_locator("iframe").first.locator("canvas").first)
        try:
            target.wait_for(state="visible")
        except Exception:  # noqa: BLE001 (a render that never comes is a result)
            browser.close()
            return {"kind": kind, "seconds": float("nan"), "rendered": False, "external": sorted(set(outside))[:5]}
        box = page.locator(".js-plotly-plot" if kind == "plotly" else "iframe").first
        last, ok = None, False
        while time.perf_counter() - t0 < timeout_s:
            shot = box.screenshot()
            peak_browser = max(peak_browser, tree_rss(browser_pid) if browser_pid else 0)
            peak_server = max(peak_server, tree_rss(server.pid))
            if shot == last and drawn_share(shot) > 0.02:
                ok = True
                break
            last = shot
            time.sleep(0.5)  # polling the canvas until it stops changing
        seconds = time.perf_counter() - t0 - 0.5  # the last, confirming interval is not render time
        errors = page.locator('[data-testid="stException"]').count()
        browser.close()
    return {"kind": kind, "seconds": seconds if ok else float("nan"), "rendered": bool(ok and not errors),
            "browser_rss_mb": peak_browser / 2**20, "server_rss_mb": peak_server / 2**20,
            "external": sorted(set(outside))[:5]}


def run(n: int, repeats: int, atlas_path: str | None, timeout_s: float) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "points.parquet"
        points(n).to_parquet(data)
        apps = {"plotly": PLOTLY_APP.format(root=str(ROOT), data=str(data))}
        if atlas_path:
            apps["embedding-atlas"] = ATLAS_APP.format(atlas=atlas_path, data=str(data))
        for kind, text in apps.items():
            (Path(tmp) / f"{kind}.py").write_text(text)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for repeat in range(repeats):
            for kind in apps:
                server, url = serve(Path(tmp) / f"{kind}.py", env)
                try:
                    row = render_once("plotly" if kind == "plotly" else "atlas", url, server, timeout_s)
                except Exception as exc:  # a render that never finishes is a result, not a crash
                    row = {"kind": kind, "seconds": float("nan"), "rendered": False, "error": str(exc)[:300]}
                finally:
                    server.terminate()
                    server.wait(timeout=30)
                row.update(name=kind, n=n, repeat=repeat)
                print(row, flush=True)
                rows.append(row)
    return rows


def write(rows: list[dict], meta: dict, out: Path) -> None:
    df = pd.DataFrame(rows)
    lines = [f"# Map render: Plotly WebGL vs Embedding Atlas ({meta['date']}, {meta['machine']})", "",
             "`bench/bench_map_render.py`: headless Chromium (software WebGL, SwiftShader), one Streamlit "
             "server per render, the two maps alternating. First render = navigation until the map is "
             "drawn and stable (two equal screenshots 0.5 s apart with >2% of pixels drawn; includes Streamlit start-up "
             "of the page and the data transfer). Peak RSS during the render.", "",
             f"Embedding Atlas: {meta['atlas']}. Load average before/after: {meta['load_before']} / "
             f"{meta['load_after']} (2 shared cores).", "",
             "| map | points | renders ok | first render s (mean ± sd) | browser RSS MB | server RSS MB |",
             "|---|---|---|---|---|---|"]
    for (name, n), g in df.groupby(["name", "n"], sort=False):
        ok = g[g["rendered"]]
        sec = f"{ok['seconds'].mean():.1f} ± {ok['seconds'].std(ddof=1):.1f}" if len(ok) > 1 else (
            f"{ok['seconds'].mean():.1f}" if len(ok) else "-")
        mem = lambda c: f"{ok[c].mean():.0f}" if len(ok) and c in ok else "-"  # noqa: E731
        lines.append(f"| {name} | {n:,} | {len(ok)}/{len(g)} | {sec} | {mem('browser_rss_mb')} | {mem('server_rss_mb')} |")
    for (name, n), g in df.groupby(["name", "n"], sort=False):
        fetched = sorted({u for row in g.get("external", pd.Series([], dtype=object)).dropna() for u in row
                          if not u.startswith("blob:")})
        if fetched:
            lines += ["", f"{name} at {n:,} points tried to load from outside this machine's server: "
                      + "; ".join(f"`{u}`" for u in fetched[:3])]
    lines += ["", meta.get("findings", ""), ""]
    out.write_text("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--atlas-path", default=None, help="folder where embedding-atlas is installed (--target)")
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument("--findings", default="")
    parser.add_argument("--merge", action="store_true", help="keep the runs already in the .json (other sizes)")
    parser.add_argument("--report-only", action="store_true", help="re-render the .md from the .json (with --findings)")
    args = parser.parse_args(argv)
    stored = ROOT / "bench" / "map_render_results.json"
    if args.report_only:
        result = json.loads(stored.read_text())
        result["meta"]["findings"] = args.findings or result["meta"].get("findings", "")
        stored.write_text(json.dumps(result, indent=1, default=float))
        write(result["runs"], result["meta"], ROOT / "bench" / "map_render_results.md")
        return 0
    load_before = [round(x, 1) for x in os.getloadavg()]
    rows = json.loads(stored.read_text())["runs"] if args.merge and stored.exists() else []
    rows += [r for n in args.n for r in run(n, args.repeats, args.atlas_path, args.timeout)]
    atlas = json.loads(stored.read_text())["meta"]["atlas"] if args.merge and stored.exists() else "not installed"
    if args.atlas_path:
        dist = next(Path(args.atlas_path).glob("embedding_atlas-*.dist-info"), None)
        atlas = (dist.name.removesuffix(".dist-info").replace("_", "-") if dist else "?") + \
            " (pip --no-deps --target; not a Seedbed dependency)"
    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU", "atlas": atlas,
            "load_before": load_before, "load_after": [round(x, 1) for x in os.getloadavg()],
            "sizes_this_run": args.n,
            "findings": args.findings}
    out = ROOT / "bench"
    (out / "map_render_results.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=1, default=float))
    write(rows, meta, out / "map_render_results.md")
    print((out / "map_render_results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
