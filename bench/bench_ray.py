"""Ray backend vs in-process backend on the same machine, same corpus, same stages.

    .venv/bin/python bench/bench_ray.py [--docs 2000] [--actors N] [--out bench/]

Embeds the C4 documents and computes their density with each backend into its own fresh
workspace and reports documents/s and the Ray/in-process ratio (the baseline is the in-process
backend measured in the same run). On one machine Ray adds start-up and scheduling cost and
can only win by running several model replicas; on a cluster it adds machines.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import pipeline  # noqa: E402
from engine import ray_backend as rb  # noqa: E402
from engine.storage import Workspace  # noqa: E402

C4 = ROOT.parent / "shared" / "data" / "c4" / "c4_validation_2k.parquet"


def timed(fn, *args, **kwargs) -> float:
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--actors", type=int, default=None, help="Ray model replicas (default: one per GPU, else 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench")
    args = parser.parse_args()

    import pandas as pd

    tmp = Path(tempfile.mkdtemp())
    src = tmp / "c4.parquet"
    pd.read_parquet(C4).head(args.docs).to_parquet(src)
    local, remote = Workspace(tmp / "local.duckdb"), Workspace(tmp / "ray.duckdb")
    options = rb.RayOptions(actors=args.actors, shard_size=256, work_dir=str(tmp / "jobs"))
    from engine.models import load_embedder
    load_embedder()  # the in-process backend keeps its model between stages: load it outside the timing
    t0 = time.perf_counter()
    rb.init_ray(options)
    ray_start = time.perf_counter() - t0

    rows = []
    for stage, local_call, ray_call in (
        ("ingest", lambda: pipeline.ingest(local, src, "c"), lambda: rb.ingest(remote, src, "c", options=options)),
        ("embed", lambda: pipeline.embed(local, "c"), lambda: rb.embed(remote, "c", options=options)),
        ("density", lambda: pipeline.density(local, "c"), lambda: rb.density(remote, "c", options=options)),
    ):
        t_local, t_ray = timed(local_call), timed(ray_call)
        rows.append({"stage": stage, "docs": args.docs, "in_process_s": round(t_local, 2), "ray_s": round(t_ray, 2),
                     "in_process_docs_per_s": round(args.docs / t_local, 1),
                     "ray_docs_per_s": round(args.docs / t_ray, 1), "ray_vs_in_process": round(t_local / t_ray, 2)})
        print(rows[-1], flush=True)

    import ray
    result = {
        "date": datetime.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores, CPU only",
        "command": "python bench/bench_ray.py " + " ".join(sys.argv[1:]), "ray_version": ray.__version__,
        "ray_start_s": round(ray_start, 2), "actors": rb._pool(ray, options)[0], "baseline": "in-process backend, same run",
        "stages": rows,
    }
    (args.out / "ray_results.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Ray backend vs in-process ({result['date']}, {result['machine']})", "",
             f"`{result['command']}` — Ray {result['ray_version']}, local cluster, {result['actors']} model actor(s); "
             f"starting Ray took {result['ray_start_s']} s (not in the stage times).", "",
             "| stage | docs | in-process s | Ray s | in-process docs/s | Ray docs/s | Ray / in-process |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['stage']} | {r['docs']} | {r['in_process_s']} | {r['ray_s']} | {r['in_process_docs_per_s']} | "
              f"{r['ray_docs_per_s']} | {r['ray_vs_in_process']}x |" for r in rows]
    (args.out / "ray_results.md").write_text("\n".join(lines) + "\n")
    ray.shutdown()


if __name__ == "__main__":
    main()
