"""How fast does the Explore page answer a slider or budget move on 100,000 documents?

Measures what the page recomputes on every move, from a frame already in memory (the page holds
`corpus_frame` in `st.cache_data`): `select.choose` (combined strategy), the selection mask and
the score histograms (`engine.explore`), and separately the strategy comparison panel and the
map's colour/hover arrays. Baseline, in the same run: what a page without the cache would do on
each move - read `corpus_frame` back from the DuckDB workspace, then a pandas `sort_values`
top-k of the same combined key. Synthetic documents (seeded), a real DuckDB file in a temp dir.
Writes bench/results/dashboard_results.json and bench/dashboard_results.md.

    PYTHONPATH=. .venv/bin/python bench/bench_dashboard.py [--n 100000] [--moves 11]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from engine import explore, select
from engine.storage import Workspace
from engine.storage import corpus as store
from engine.storage import signals as signal_store

HERE = Path(__file__).parent


def synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "doc_id": [f"{i:032x}" for i in rng.permutation(n * 4)[:n]], "text": [f"document {i} " * 20 for i in range(n)],
        "askllm": rng.beta(2, 2, n), "perplexity": rng.normal(-3, 0.5, n), "density": rng.lognormal(0, 1, n),
        "x": rng.normal(0, 3, n), "y": rng.normal(0, 3, n)}).sort_values("doc_id", ignore_index=True)


def fill_workspace(ws: Workspace, corpus: str, data: pd.DataFrame) -> None:
    docs = data[["doc_id", "text"]].assign(n_chars=data["text"].str.len(), meta="{}", source="synthetic", line=0)
    with ws.connect() as con:
        store.upsert_corpus(con, corpus, "text", "synthetic")
        store.insert_documents(con, corpus, docs)
        for kind in ("askllm", "perplexity", "density"):
            signal_store.put_scores(con, f"{kind}:bench", data["doc_id"], data[kind].to_numpy())
            signal_store.set_signal(con, corpus, kind, f"{kind}:bench", {})
        signal_store.put_projection(con, corpus, data["doc_id"], data[["x", "y"]].to_numpy())


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def summary(seconds: list[float]) -> dict:
    ms = sorted(s * 1000 for s in seconds)
    return {"median_ms": round(statistics.median(ms), 1), "p95_ms": round(ms[math.ceil(0.95 * len(ms)) - 1], 1),
            "max_ms": round(ms[-1], 1), "n": len(ms)}


def page_rerun_times(ws: Workspace, weights) -> list[float]:
    """Server-side time of the real Explore page rerunning after each slider move (Streamlit
    AppTest: the script, its cached reads, the figures' serialisation; not the browser's drawing)."""
    from streamlit.testing.v1 import AppTest  # noqa: PLC0415

    os.environ["SEEDBED_DB"] = ws.path
    at = AppTest.from_file(str(HERE.parent / "pages" / "2_Explore_and_select.py"), default_timeout=300).run()
    assert not at.exception, at.exception
    out = []
    for w in weights:
        t = time.perf_counter()
        at.slider(key="explore_weight").set_value(float(w)).run()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--moves", type=int, default=11, help="slider positions (weights 0..1); each timed")
    args = ap.parse_args()
    data = synthetic(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "bench.duckdb")
        fill_workspace(ws, "bench", data)
        with ws.connect() as con:
            frame = store.corpus_frame(con, "bench")
        weights = np.linspace(0, 1, args.moves)
        budgets = [0.05, 0.2, 0.5, 5000]

        def move(weight, budget):
            ids = select.choose(frame, "combined", weight, budget, 0, "askllm").doc_ids
            mask = explore.selected_mask(frame, ids)
            explore.histograms(frame, mask)

        def baseline(weight, budget):
            with ws.connect() as con:  # no cache: the whole frame comes back from DuckDB each time
                f = store.corpus_frame(con, "bench")
            k = select.budget_count(budget, len(f))
            rng = np.random.default_rng([0, 2])
            key = weight * f["askllm"].rank(pct=True) + (1 - weight) * (
                -np.log(f["density"]) + rng.gumbel(size=len(f))).rank(pct=True)
            chosen = f.assign(key=key).sort_values("key", ascending=False).head(k)
            mask = f["doc_id"].isin(chosen["doc_id"]).to_numpy()
            explore.histograms(f, mask)

        move(0.5, 0.2)  # warm-up (first-call allocations)
        page_runs = page_rerun_times(ws, weights)
        runs = {
            "slider move (choose + mask + histograms)": [t for w in weights for t in timed(lambda: move(w, 0.2), 3)],
            "budget change (choose + mask + histograms)": [t for b in budgets for t in timed(lambda: move(0.5, b), 3)],
            "compare_strategies panel": timed(lambda: select.compare_strategies(frame, 0.2, 0, 0.5, "askllm"), 5),
            "map colour + hover arrays": timed(lambda: (explore.colour_values(frame, np.ones(len(frame), bool), "askllm"),
                                                        explore.hover_text(frame)), 3),
            "baseline: DuckDB re-read + pandas sort_values top-k": [t for w in weights[::2]
                                                                     for t in timed(lambda: baseline(w, 0.2), 1)],
            "whole Explore page rerun after a slider move (AppTest, server side)": page_runs,
        }
    load = os.getloadavg()[0]
    results = {"n_docs": args.n, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
               "load_average_1min": round(load, 1), "timings": {k: summary(v) for k, v in runs.items()}}
    (HERE / "results" / "dashboard_results.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [f"# Dashboard response on {args.n:,} synthetic documents", "",
             f"Measured by `bench/bench_dashboard.py` on {results['machine']} (1-minute load average "
             f"{results['load_average_1min']} while it ran). The page keeps the corpus frame in `st.cache_data`; "
             "the baseline re-reads it from DuckDB and ranks with pandas `sort_values` on every move. "
             "The page rerun is the real Explore page under Streamlit's AppTest (map: a 10,000-point sample; "
             "strategy comparison off, its default above 20,000 documents).", "",
             "| what | median ms | p95 ms | max ms | runs |", "|---|---|---|---|---|"]
    lines += [f"| {k} | {v['median_ms']} | {v['p95_ms']} | {v['max_ms']} | {v['n']} |"
              for k, v in results["timings"].items()]
    (HERE / "results" / "dashboard_results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
