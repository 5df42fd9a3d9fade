"""Ray backend vs in-process backend on the same machine, same corpus, same stages.

    .venv/bin/python bench/bench_ray.py                       # CPU: 2,000 C4 docs, 1 actor
    python bench/bench_ray.py --docs 20000 --stages ingest embed askllm density \\
        --random-weights qwen2-1.5b --actors 1 2 --tag gpu    # GPU machine: scaling 1 -> 2 GPUs

Each backend gets a fresh workspace and runs the stages cold (model loads included in every
column, for both backends). The baseline is the in-process backend measured in the same run;
each `--actors N` is a Ray run with N model replicas (one GPU each where there are GPUs).
`--random-weights SPEC` builds the judge (a shape from bench/gpu_askllm.py) and the
all-MiniLM-L6-v2 embedder with random weights from `.benchcarry/` (see `bench_gpu.prepare_carry`),
for machines without the weights; throughput depends on shapes, not values. Documents are the
C4 validation texts, tiled to `--docs` with a copy number appended (ingest drops exact
duplicates). Ray's scores are checked against in-process ones (max |diff|).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import pipeline  # noqa: E402
from engine import ray_backend as rb  # noqa: E402
from engine.storage import Workspace  # noqa: E402
from engine.storage import corpus as store  # noqa: E402

C4 = ROOT.parent / "shared" / "data" / "c4" / "c4_validation_2k.parquet"
CARRY = ROOT / ".benchcarry"
STAGES = ("ingest", "embed", "askllm", "density")


def tiled_corpus(dest: Path, n: int) -> Path:
    import pandas as pd

    texts = pd.read_parquet(C4 if C4.exists() else CARRY / C4.name)["text"].dropna().tolist()
    tiled = [t if i < len(texts) else f"{t}\n[copy {i // len(texts)}]" for i, t in
             enumerate((texts * (n // len(texts) + 1))[:n])]
    pd.DataFrame({"text": tiled}).to_parquet(dest)
    return dest


def random_models(spec: str, work: Path) -> tuple[str, str]:
    """(judge folder, embedder folder) with random weights on this machine's device."""
    import shutil

    import torch
    from transformers import BertConfig, BertModel

    from bench.gpu_askllm import build_judge, load_tokenizer
    from engine.models import pick_device

    judge = work / spec
    build_judge(spec, load_tokenizer(str(CARRY / "smollm2-tokenizer")), judge, pick_device())
    embedder = work / "minilm"
    shutil.copytree(CARRY / "minilm-skeleton", embedder)
    torch.manual_seed(0)
    BertModel(BertConfig.from_pretrained(embedder)).save_pretrained(embedder)
    return str(judge), str(embedder)


def run_stages(stages, backend: str, ws: Workspace, src: Path, judge_config, embedder: str, options=None,
               chunk_size: int | None = None) -> dict[str, float]:
    """Seconds per stage, cold: the in-process model caches are emptied first."""
    from engine import models

    models._LM_MEMO.clear()
    models._EMBEDDER_MEMO.clear()
    ray_kw = {"options": options} if backend == "ray" else {}
    mod = rb if backend == "ray" else pipeline
    calls = {"ingest": lambda: mod.ingest(ws, src, "c", **ray_kw),
             "embed": lambda: mod.embed(ws, "c", model=embedder, **ray_kw),
             "askllm": lambda: mod.score(ws, "c", "askllm", judge_config, **ray_kw,
                                         **({"chunk_size": chunk_size} if backend == "local" else {})),
             "density": lambda: mod.density(ws, "c", embed_model=embedder, **ray_kw)}
    seconds = {}
    for stage in stages:
        t0 = time.perf_counter()
        calls[stage]()
        seconds[stage] = time.perf_counter() - t0
        print(f"  {backend} {stage}: {seconds[stage]:.1f} s", flush=True)
    return seconds


def max_diffs(a: Workspace, b: Workspace, stages) -> dict[str, float]:
    """Max |b - a| per stored signal over every document (NaN if b lacks some documents)."""
    with a.connect() as ca, b.connect() as cb:
        x, y = store.corpus_frame(ca, "c").set_index("doc_id"), store.corpus_frame(cb, "c").set_index("doc_id")
    return {s: float((x[s] - y[s].reindex(x.index)).abs().max(skipna=False))
            for s in ("askllm", "density") if s in stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=["ingest", "embed", "density"])
    parser.add_argument("--actors", type=int, nargs="+", default=[1], help="Ray model replicas per Ray run")
    parser.add_argument("--shard-size", type=int, default=256)
    parser.add_argument("--judge", default=None, help="Ask-LLM judge (default: the engine's)")
    parser.add_argument("--embedder", default=None, help="embedding model (default: the engine's)")
    parser.add_argument("--random-weights", metavar="SPEC", help="build a random-weight judge of this shape "
                        "and MiniLM from .benchcarry (GPU machines have no weights)")
    parser.add_argument("--small-chunks", action="store_true",
                        help="also time in-process Ask-LLM with the old fixed 64-document chunks")
    parser.add_argument("--tag", default="", help="results file suffix: ray_results[_TAG].{json,md}")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    import ray

    from engine.askllm import AskLLMConfig
    from engine.models import DEFAULT_EMBEDDER, DEFAULT_JUDGE

    tmp = Path(tempfile.mkdtemp())
    src = tiled_corpus(tmp / "c4.parquet", args.docs)
    judge, embedder = random_models(args.random_weights, tmp) if args.random_weights else (
        args.judge or DEFAULT_JUDGE, args.embedder or DEFAULT_EMBEDDER)
    config = AskLLMConfig(model=judge)
    stages = [s for s in STAGES if s in args.stages]
    print(f"in-process, {args.docs} docs", flush=True)
    local = Workspace(tmp / "local.duckdb")
    runs = [{"backend": "in-process", "seconds": run_stages(stages, "local", local, src, config, embedder)}]

    t0 = time.perf_counter()
    options = rb.RayOptions(shard_size=args.shard_size, work_dir=str(tmp / "jobs"))
    rb.init_ray(options)
    ray_start = time.perf_counter() - t0
    report = lambda: save(args, runs, stages, judge, embedder, ray_start)  # noqa: E731
    for n in args.actors:
        print(f"Ray, {n} actor(s)", flush=True)
        options.actors = n
        ws = Workspace(tmp / f"ray{n}.duckdb")
        _, gpus, cpus = rb._pool(ray, options)
        entry = {"backend": f"ray x{n}", "actors": n, "gpus_per_actor": gpus, "cpus_per_actor": cpus,
                 "seconds": run_stages(stages, "ray", ws, src, config, embedder, options)}
        entry["max_abs_diff_vs_in_process"] = max_diffs(local, ws, stages)
        runs.append(entry)
        report()
    ray.shutdown()
    if args.small_chunks and "askllm" in stages:
        print("in-process Ask-LLM with 64-document chunks", flush=True)
        ws = Workspace(tmp / "small.duckdb")
        run_stages(["ingest"], "local", ws, src, config, embedder)
        runs.append({"backend": "in-process, 64-doc chunks", "askllm_only": True,
                     "seconds": run_stages(["askllm"], "local", ws, src, config, embedder, chunk_size=64)})
        report()


def save(args, runs: list[dict], stages: list[str], judge: str, embedder: str, ray_start: float) -> None:
    """Write the results so far (called after every backend, so a cut-off run keeps its numbers)."""
    import ray
    import torch

    base = runs[0]["seconds"]
    shown = [{**r, "seconds": {s: round(t, 2) for s, t in r["seconds"].items()},
              "docs_per_s": {s: round(args.docs / t, 1) for s, t in r["seconds"].items()},
              "vs_in_process": {s: round(base[s] / t, 2) for s, t in r["seconds"].items()}} for r in runs]
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                   + (f"{torch.cuda.device_count()}x {gpu}" if gpu else "CPU only"),
        "command": "python bench/bench_ray.py " + " ".join(sys.argv[1:]), "ray_version": ray.__version__,
        "docs": args.docs, "shard_size": args.shard_size, "ray_start_s": round(ray_start, 2),
        "judge": f"{args.random_weights} shape, random weights" if args.random_weights else judge,
        "embedder": "all-MiniLM-L6-v2 shape, random weights" if args.random_weights else embedder,
        "baseline": "in-process backend, same run, same machine", "runs": shown,
    }
    suffix = f"_{args.tag}" if args.tag else ""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"ray_results{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"ray_results{suffix}.md").write_text(render(result, stages))


def render(result: dict, stages: list[str]) -> str:
    lines = [f"# Ray backend vs in-process ({result['date']}, {result['machine']})", "",
             f"`{result['command']}` — Ray {result['ray_version']}, local cluster; {result['docs']} documents, "
             f"{result['shard_size']} per shard; judge: {result['judge']}; embedder: {result['embedder']}. "
             f"Every stage runs cold (model loads inside the times, for both backends); starting Ray took "
             f"{result['ray_start_s']} s (not in the stage times). Baseline: {result['baseline']}.", "",
             "| backend | " + " | ".join(f"{s} s (docs/s, × in-process)" for s in stages) + " |",
             "|---|" + "---|" * len(stages)]
    for r in result["runs"]:
        cells = [f"{r['seconds'][s]} ({r['docs_per_s'][s]}, {r['vs_in_process'][s]}×)" if s in r["seconds"]
                 else "–" for s in stages]
        lines.append(f"| {r['backend']} | " + " | ".join(cells) + " |")
    diffs = [f"{r['backend']}: " + ", ".join(f"{s} {v:.2g}" for s, v in r["max_abs_diff_vs_in_process"].items())
             for r in result["runs"] if r.get("max_abs_diff_vs_in_process")]
    if diffs:
        lines += ["", "Max |Ray − in-process| per signal over all documents: " + "; ".join(diffs) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
