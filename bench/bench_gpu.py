"""GPU throughput of Ask-LLM scoring, embedding and density, side by side with baselines (issue 6).

One command measures everything and writes `results.json` + the GPU section of `RESULTS.md`:

    python bench/bench_gpu.py --out bench/ --budget-s 3600   # on the GPU machine: everything, ~20 min
    python bench/bench_gpu.py --smoke --out /tmp/b           # toy sizes, any CPU: exercises every path
    python bench/bench_gpu.py --render bench/results/results.json --out bench/   # re-render only

Within a 10-minute device call, `--budget-s` stops starting sections in time, and `--merge` +
`--models NAME:path,path` + `--sections` measure the rest in a later call (RESULTS.md lists the
calls that produced the recorded figures).

Ask-LLM judges have random weights and the released checkpoints' shapes (see bench/gpu_askllm.py);
documents are ../shared/data/c4 validation texts tiled to --docs. MFU = 2 x parameters x prompt
tokens/s over the bf16 matmul rate measured at the start of the same run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # the engine's bars would bury the summary
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.gpu_render import render, write_outputs  # noqa: E402
from bench.gpu_sections import PATHS, bench_embedding, bench_judge, timed  # noqa: E402

CARRY = ROOT / ".benchcarry"  # carried to the GPU machine (see bench/results/RESULTS.md)
# Sections run in priority order (targets first); each is skipped if too little time is left.
MIN_LEFT_S = {"smollm2-135m": 60, "qwen2-1.5b": 200, "flan-t5-large": 150, "qwen2-0.5b": 120}
FULL = dict(models=["smollm2-135m", "qwen2-1.5b", "flan-t5-large", "qwen2-0.5b"], docs=20_000,
            plain_docs=4_000, naive_docs=150, warm_docs=128, batch_tokens=32768, matmul_n=8192,
            density_sizes=[1_000_000, 10_000_000], density_queries=4_000,
            sklearn_sizes=[1_000, 2_000, 5_000, 10_000, 20_000])
SMOKE = dict(models=["tiny-llama", "tiny-t5"], docs=48, plain_docs=24, naive_docs=4, matmul_n=256,
             warm_docs=16, batch_tokens=2048, density_sizes=[2_000, 4_000], density_queries=200,
             sklearn_sizes=[200, 400])


@dataclass
class Run:
    """Shared state of one benchmark run: arguments, device, documents, results so far."""

    args: argparse.Namespace
    device: str
    docs: list[str]
    work: Path
    results: dict = field(default_factory=dict)
    tokenizer: object = None
    cache: dict = field(default_factory=dict)
    seconds_per_doc: list = field(default_factory=list)  # this judge's paths so far (time guard)
    start: float = field(default_factory=time.perf_counter)

    def left(self) -> float:
        return self.args.budget_s - (time.perf_counter() - self.start)

    def log(self, msg: str) -> None:
        print(f"[{time.perf_counter() - self.start:6.1f}s] {msg}", flush=True)


def matmul_tflops(device: str, n: int, reps: int = 20) -> float:
    """Median bf16 n x n x n matmul rate (TFLOP/s), random inputs rotated over 3 sets, events."""
    dtype = torch.bfloat16
    sets = [(torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype))
            for _ in range(3)]
    for a, b in sets:  # warm-up: cuBLAS handle, heuristics, clocks
        a @ b
    times = []
    for i in range(reps):
        a, b = sets[i % 3]
        if device.startswith("cuda"):
            t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            t0.record(); a @ b; t1.record(); t1.synchronize()
            times.append(t0.elapsed_time(t1) / 1e3)
        else:
            times.append(timed(lambda: a @ b, device)[1])
    return 2 * n ** 3 / float(np.median(times)) / 1e12


def load_docs(path: Path, n: int) -> list[str]:
    """The parquet's `text` column, tiled (in order) to `n` documents."""
    import pyarrow.parquet as pq

    texts = [t for t in pq.read_table(path, columns=["text"]).column("text").to_pylist() if t]
    return (texts * (n // len(texts) + 1))[:n]


def section(run: Run, key: tuple[str, ...], fn, *args, min_left: float = 30.0) -> None:
    """Run one section; record its result, a skip for lack of time, or its error; save at once."""
    target = run.results
    for part in key[:-1]:
        target = target.setdefault(part, {})
    if run.left() < min_left:
        target.setdefault(key[-1], {"skipped": f"{run.left():.0f} s left of the time budget"})
    else:
        try:
            target[key[-1]] = fn(run, *args)
        except Exception as e:  # one broken section must not lose the others' numbers
            traceback.print_exc()
            target[key[-1]] = {**target.get(key[-1], {}), "error": f"{type(e).__name__}: {e}"[:500]}
    gc.collect()
    if run.device.startswith("cuda"):
        torch.cuda.empty_cache()
    write_outputs(run.results, Path(run.args.out))
    run.log(f"{'.'.join(key)} done")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "bench" / "results"), help="folder for results.json + RESULTS.md")
    p.add_argument("--smoke", action="store_true", help="toy sizes on any device (CI)")
    p.add_argument("--merge", help="start from this results.json; re-measured entries replace its own")
    p.add_argument("--prepare-carry", action="store_true", help=f"fill {CARRY.name}/ (run here, not there)")
    p.add_argument("--render", help="only rewrite --out's RESULTS.md section (+ results.json) from this file")
    p.add_argument("--sections", nargs="+", default=["askllm", "embedding", "density", "density_cpu_large"])
    p.add_argument("--device", default=None)
    p.add_argument("--tokenizer", default=str(CARRY / "smollm2-tokenizer"))
    p.add_argument("--embedder-skeleton", default=str(CARRY / "minilm-skeleton"))
    p.add_argument("--docs-parquet", default=str(CARRY / "c4_validation_2k.parquet"))
    p.add_argument("--models", nargs="+", help=f"NAME or NAME:path,path (paths from {PATHS})")
    p.add_argument("--models-first", type=int, default=2, help="judges measured before embedding")
    p.add_argument("--docs", type=int)
    p.add_argument("--plain-docs", type=int)
    p.add_argument("--naive-docs", type=int)
    p.add_argument("--warm-docs", type=int, help="documents of each batched path's warm-up")
    p.add_argument("--batch-tokens", type=int, help="the engine's token budget per batch on CUDA")
    p.add_argument("--matmul-n", type=int)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--density-sizes", type=int, nargs="+")
    p.add_argument("--density-queries", type=int)
    p.add_argument("--sklearn-sizes", type=int, nargs="+")
    p.add_argument("--sklearn-max-s", type=float, default=30.0)
    p.add_argument("--cpu-density-max-s", type=float, default=150.0)
    p.add_argument("--budget-s", type=float, default=560.0, help="stop starting sections after this")
    args = p.parse_args(argv)
    for k, v in (SMOKE if args.smoke else FULL).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    return args


def prepare_carry(dest: Path = CARRY) -> Path:
    """Fill `dest` with what the GPU machine lacks (~7 MB, git-ignored): the SmolLM2 tokenizer,
    the all-MiniLM-L6-v2 folder without its weights, and the C4 validation parquet."""
    from engine.models import resolve_model

    smol, minilm = Path(resolve_model("smollm2-135m-instruct")), Path(resolve_model("all-minilm-l6-v2"))
    (dest / "smollm2-tokenizer").mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (smol / name).exists():
            shutil.copy2(smol / name, dest / "smollm2-tokenizer" / name)
    shutil.copytree(minilm, dest / "minilm-skeleton", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("model.safetensors", "*.bin", "README.md", ".git*"))
    shutil.copy2(ROOT.parent / "shared" / "data" / "c4" / "c4_validation_2k.parquet", dest)
    return dest


def judge_sections(run: Run, names: list[str]) -> None:
    """`name` measures every path; `name:p1,p2` only those (merged into an earlier entry)."""
    for spec in names:
        name, _, paths = spec.partition(":")
        chosen = tuple(paths.split(",")) if paths else PATHS
        unknown = set(chosen) - set(PATHS)
        if unknown:
            raise SystemExit(f"unknown path(s) {sorted(unknown)} for {name}; choose from {PATHS}")
        section(run, ("askllm", name), bench_judge, name, chosen, min_left=MIN_LEFT_S.get(name, 30))


def run_record(args, device: str, argv: list[str]) -> dict:
    """Date, device, command, versions and the bf16 matmul rate measured now."""
    import sentence_transformers
    import transformers

    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"cpu ({os.cpu_count()} cores)"
    return dict(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), device=name,
                command="python bench/bench_gpu.py " + " ".join(argv),
                versions={"torch": torch.__version__, "transformers": transformers.__version__,
                          "sentence_transformers": sentence_transformers.__version__},
                matmul_bf16_tflops=round(matmul_tflops(device, args.matmul_n), 3), matmul_n=args.matmul_n)


def main(argv=None) -> dict:
    from bench.gpu_askllm import load_tokenizer
    from bench.gpu_density import bench_density, bench_density_cpu_large

    args = parse_args(argv)
    if args.prepare_carry:
        print(f"carry folder ready: {prepare_carry()}")
        return {}
    if args.render:  # no measuring: e.g. after fetching a GPU run's results.json
        results = json.loads(Path(args.render).read_text())
        write_outputs(results, Path(args.out))
        return results
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    shm = Path("/dev/shm")  # model folders in memory: saving + loading a 3 GB judge takes seconds
    roomy = shm.is_dir() and shutil.disk_usage(shm).free > 16e9
    work = Path(tempfile.mkdtemp(prefix="bench_gpu_", dir=shm if roomy else None))
    run = Run(args, device, load_docs(Path(args.docs_parquet), args.docs), work)
    run.tokenizer = load_tokenizer(args.tokenizer)
    if args.merge:
        run.results = json.loads(Path(args.merge).read_text())
    this = run_record(args, device, sys.argv[1:] if argv is None else argv)
    run.results.update(this, smoke=args.smoke, docs=len(run.docs),
                       tokenizer="SmolLM2-135M-Instruct (vocab 49152)")
    run.results.setdefault("runs", []).append(this)
    run.log(f"{this['device']}: bf16 matmul {this['matmul_bf16_tflops']} TFLOP/s")
    first, rest = args.models[:args.models_first], args.models[args.models_first:]
    if "askllm" in args.sections:
        judge_sections(run, first)
    if "embedding" in args.sections:
        section(run, ("embedding",), bench_embedding)
    if "density" in args.sections:
        section(run, ("density",), bench_density, min_left=60)
    if "askllm" in args.sections:
        judge_sections(run, rest)
    if "density_cpu_large" in args.sections:
        section(run, ("density_cpu_large",), bench_density_cpu_large)
    shutil.rmtree(work, ignore_errors=True)
    print(render(run.results), flush=True)
    return run.results


if __name__ == "__main__":
    main()
