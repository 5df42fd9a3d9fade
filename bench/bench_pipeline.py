"""Per-stage throughput of the selection pipeline on the 2,000-document C4 slice, on this machine.

    .venv/bin/python bench/bench_pipeline.py [--subset 100] [--c4 PATH]

Stages run through `engine.pipeline` on a fresh workspace (nothing cached), models loaded
before each timed stage (load time reported apart). Ask-LLM and perplexity score a seeded random
subset of `--subset` documents (the LMs manage a few documents/s on CPU) and the full-corpus time
is extrapolated and labelled so; the naive Ask-LLM baseline scores the same subset one document
at a time in corpus order (no length sorting, no batching). Selection is timed on 100k synthetic
documents. Writes bench/results/pipeline_results.json and bench/pipeline_results.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import pipeline  # noqa: E402
from engine.askllm import AskLLMConfig, score_batch  # noqa: E402
from engine.models import DEFAULT_JUDGE, DEFAULT_PERPLEXITY_LM, load_embedder, load_lm  # noqa: E402
from engine.select import STRATEGIES, choose, compare_strategies  # noqa: E402
from engine.storage import Workspace  # noqa: E402

C4 = ROOT.parent / "shared" / "data" / "c4" / "c4_validation_2k.parquet"


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def row(stage, n_docs, seconds, **extra):
    return {"stage": stage, "n_docs": n_docs, "seconds": round(seconds, 3),
            "docs_per_s": round(n_docs / seconds, 2) if seconds else None, **extra}


def bench_corpus_stages(ws, c4: Path, subset: int) -> list[dict]:
    rows = []
    report, s = timed(lambda: pipeline.ingest(ws, c4, "c4"))
    n = report.n_new
    rows.append(row("ingest", n, s))
    _, load = timed(lambda: load_embedder())
    r, s = timed(lambda: pipeline.embed(ws, "c4"))
    rows.append(row("embed (all-minilm-l6-v2)", r.n_computed, s, model_load_s=round(load, 1)))
    sample = pd.read_parquet(c4).sample(subset, random_state=0)
    sample_path = Path(ws.path).parent / "subset.parquet"
    sample.to_parquet(sample_path)
    pipeline.ingest(ws, sample_path, "c4-sub")
    for signal, model in (("askllm", DEFAULT_JUDGE), ("perplexity", DEFAULT_PERPLEXITY_LM)):
        _, load = timed(lambda: load_lm(model))
        r, s = timed(lambda: pipeline.score(ws, "c4-sub", signal))
        rows.append(row(f"{signal} ({model}), engine: length-sorted batches", r.n_computed, s,
                        model_load_s=round(load, 1), subset=True,
                        extrapolated_full_corpus_s=round(s * n / r.n_computed, 1)))
    texts = sample["text"].tolist()  # corpus order, one at a time: the naive loop
    _, s = timed(lambda: [score_batch([t], AskLLMConfig()) for t in texts])
    rows.append(row(f"askllm ({DEFAULT_JUDGE}), naive: one document at a time", len(texts), s, subset=True,
                    extrapolated_full_corpus_s=round(s * n / len(texts), 1)))
    r, s = timed(lambda: pipeline.density(ws, "c4"))
    rows.append(row("density (RACE sketch)", r.n_computed, s))
    import umap  # noqa: F401, PLC0415 (import and numba compilation timed apart from the fit)
    from engine.project import project_vectors  # noqa: PLC0415

    _, warm = timed(lambda: project_vectors(np.random.default_rng(0).normal(size=(200, 384))))
    r, s = timed(lambda: pipeline.project(ws, "c4"))
    rows.append(row("project (UMAP 2-D)", r.n_computed, s, warmup_compile_s=round(warm, 1)))
    return rows


def bench_select(n: int = 100_000, repeats: int = 5) -> list[dict]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"doc_id": [f"d{i:07d}" for i in range(n)], "askllm": rng.random(n),
                          "perplexity": -rng.gamma(2, 1, n), "density": rng.lognormal(0, 1, n),
                          "curator": rng.random(n), "x": rng.normal(size=n), "y": rng.normal(size=n)})
    rows = []
    for strategy in STRATEGIES:
        times = [timed(lambda: choose(frame, strategy, 0.5, 0.2, seed))[1] for seed in range(repeats)]
        rows.append(row(f"select {strategy} (budget 20%)", n, float(np.median(times)), synthetic=True))
    _, s = timed(lambda: compare_strategies(frame, 0.2, 0, 0.5))
    rows.append(row("compare_strategies (all six)", n, s, synthetic=True))
    return rows


def machine() -> dict:
    import torch

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__, "gpu": torch.cuda.is_available(),
            "load_average_at_start": os.getloadavg()}


def write(results: dict, out_dir: Path) -> None:
    (out_dir / "pipeline_results.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [f"# Pipeline throughput ({results['date']})", "",
             f"Command: `{results['command']}`  ", f"Machine: {results['machine']}  ",
             f"Load average at end: {results['load_average_at_end']} (the CPU was shared with other work)", "",
             "| stage | docs | seconds | docs/s | notes |", "|---|---:|---:|---:|---|"]
    for r in results["rows"]:
        shown = {"stage", "n_docs", "seconds", "docs_per_s"}
        notes = ", ".join(f"{k}={v}" for k, v in r.items() if k not in shown)
        lines.append(f"| {r['stage']} | {r['n_docs']} | {r['seconds']} | {r['docs_per_s']} | {notes} |")
    lines += ["", *results["notes"]]
    (out_dir / "pipeline_results.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=100, help="documents scored by the LMs (seeded sample)")
    parser.add_argument("--c4", type=Path, default=C4)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N documents (a smoke run)")
    args = parser.parse_args()
    info = machine()
    with tempfile.TemporaryDirectory() as tmp:
        c4 = args.c4
        if args.limit:
            c4 = Path(tmp) / "limited.parquet"
            pd.read_parquet(args.c4).head(args.limit).to_parquet(c4)
        rows = bench_corpus_stages(Workspace(Path(tmp) / "bench.duckdb"), c4, args.subset)
    rows += bench_select()
    engine_ask, naive_ask = (next(r for r in rows if r["stage"].startswith(p))
                             for p in ("askllm (gemma3-270m), engine", "askllm (gemma3-270m), naive"))
    speedup = round(naive_ask["seconds"] / engine_ask["seconds"], 2)
    notes = [f"- Ask-LLM engine vs naive on the same {args.subset} documents: {speedup}x faster.",
             f"- Rows marked subset=True scored a seeded random sample of {args.subset} documents; "
             "extrapolated_full_corpus_s = seconds x corpus size / subset (an estimate, not a measurement).",
             "- Model load times are excluded from seconds (models were loaded before each timed stage).",
             "- Select rows: median of 5 seeds on 100,000 synthetic documents (NumPy only)."]
    if max(info["load_average_at_start"][0], os.getloadavg()[0]) > (os.cpu_count() or 1):
        notes.append("- The load average exceeded the core count: other processes shared the CPU, so every "
                     "model stage here is slower than on an idle machine (the engine-vs-naive ratio ran "
                     "under the same kind of load but is indicative only).")
    results = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": " ".join(["python", *sys.argv]),
               "machine": info, "load_average_at_end": os.getloadavg(), "askllm_speedup_vs_naive": speedup,
               "rows": rows, "notes": notes}
    write(results, ROOT / "bench" / "results")
    print((ROOT / "bench" / "results" / "pipeline_results.md").read_text())


if __name__ == "__main__":
    main()
