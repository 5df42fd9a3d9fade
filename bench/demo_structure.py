"""What each strategy keeps of each source of the demo corpus (demo/README.md), at the Explore
page's default budget (0.2) and weight (0.5), seeds 0-4: mean and spread (min-max) over the seeds.

    python bench/demo_structure.py   # writes bench/results/demo_structure.md
"""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from engine import api, demo_bundle, select  # noqa: E402
from engine.storage import Workspace  # noqa: E402
from engine.storage import corpus as store  # noqa: E402


def _markdown(table: pd.DataFrame) -> str:
    rows = [list(map(str, table.columns)), ["---"] * len(table.columns)] + table.astype(str).values.tolist()
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(os.path.join(tmp, "w.duckdb"))
        t0 = time.perf_counter()
        demo_bundle.load_demo(ws)
        load_s = time.perf_counter() - t0
        with ws.connect() as con:
            frame = store.corpus_frame(con, demo_bundle.DEMO_CORPUS, snippet_chars=0)
        labels = api.cluster_labels(ws, demo_bundle.DEMO_CORPUS)
        tables = []
        for seed in range(5):
            chosen = select.choose_all(frame, 0.2, seed, 0.5, "askllm")
            tables.append(api.kept_by_source(ws, demo_bundle.DEMO_CORPUS, frame,
                                             {s: list(r.doc_ids) for s, r in chosen.items()}).set_index("group"))
    stacked = pd.concat(tables, keys=range(5))
    cols = [c for c in tables[0].columns if c != "n_docs"]
    cell = {c: [f"{stacked.xs(g, level=1)[c].mean():.2f} ({stacked.xs(g, level=1)[c].min():.2f}-"
                f"{stacked.xs(g, level=1)[c].max():.2f})" for g in tables[0].index] for c in cols}
    table = pd.DataFrame({"source": tables[0].index, "documents": tables[0]["n_docs"].astype(int), **cell})
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    text = (f"# Demo corpus: share of each source kept per strategy\n\n"
            f"`python bench/demo_structure.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
            f"`uptime`: {uptime}. Budget 0.2, weight 0.5, quality askllm, seeds 0-4: mean (min-max over the "
            f"seeds; top-k is deterministic). Demo loaded from the bundle in {load_s:.1f} s.\n\n"
            + _markdown(table) + "\n\nClusters (k-means, keyword labels): "
            + "; ".join(f"{k}: {v}" for k, v in labels.items()) + "\n")
    out = ROOT / "bench" / "results" / "demo_structure.md"
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
