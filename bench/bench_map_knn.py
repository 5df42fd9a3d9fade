"""Benchmark: the map step (UMAP 2-D) with Seedbed's exact chunked k-NN vs UMAP's own NN-descent.

    .venv/bin/python bench/bench_map_knn.py [--sizes 400,5000] [--repeats 3]

Both paths run in ONE process on the same vectors with the same UMAP settings (cosine, 15
neighbours, seed 0, n_jobs=1): `engine.project.project_vectors` (exact neighbours by chunked
matrix products, handed to UMAP as `precomputed_knn`) and plain `umap.UMAP(...).fit_transform`
(the previous code). `cold_s`: the first call in a FRESH process (numba compiles: what a
user's first map pays), one subprocess per method and size, `import umap` excluded; then
`--repeats` warm calls in this process (after one untimed call of each). Map
quality: scikit-learn's trustworthiness (k=15) of each 2-D map against the input vectors.
Vectors: the demo corpus's 400 real MiniLM embeddings (demo/c4_demo_signals.npz) and, above that,
seeded synthetic clustered 384-d unit vectors (bench/bench_density.py's Mixture).
Writes bench/map_knn_results.json and bench/map_knn_results.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def vectors_of(n: int) -> tuple[np.ndarray, str]:
    if n == 400:
        return np.load(ROOT / "demo" / "c4_demo_signals.npz")["embed_vectors"].astype(np.float32), "demo MiniLM"
    from bench_density import Mixture  # noqa: PLC0415

    return Mixture(0, "cpu").chunk(0, n).astype(np.float32), "synthetic mixture"


def plain_umap(v: np.ndarray) -> np.ndarray:
    import umap  # noqa: PLC0415

    return umap.UMAP(n_components=2, metric="cosine", n_neighbors=15, random_state=0, n_jobs=1,
                     low_memory=True).fit_transform(v)


def exact_path(v: np.ndarray) -> np.ndarray:
    from engine.project import project_vectors  # noqa: PLC0415

    return project_vectors(v, seed=0)[0]


def timed(fn, v) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    xy = fn(v)
    return time.perf_counter() - t0, xy


METHODS = {"exact k-NN (engine.project)": exact_path, "UMAP NN-descent (before)": plain_umap}


def cold(name: str, n: int) -> float:
    """Seconds of the first call of `name` on n vectors in a fresh Python process."""
    code = (f"import sys; sys.argv = ['x']; sys.path.insert(0, {str(ROOT / 'bench')!r}); import bench_map_knn as b; "
            f"v, _ = b.vectors_of({n}); __import__('umap'); print(b.timed(b.METHODS[{name!r}], v)[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="400,5000")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from sklearn.manifold import trustworthiness  # noqa: PLC0415

    load0, started, rows = os.getloadavg(), time.time(), []
    for n in map(int, args.sizes.split(",")):
        v, source = vectors_of(n)
        for name, fn in METHODS.items():
            first = cold(name, n)
            fn(v)  # untimed: this process compiles once
            runs = [timed(fn, v) for _ in range(args.repeats)]
            warm = [t for t, _ in runs]
            rows.append({"n": n, "vectors": source, "method": name, "cold_s": round(first, 2),
                         "warm_s": [round(w, 2) for w in warm], "warm_median_s": round(float(np.median(warm)), 2),
                         "trustworthiness": round(float(trustworthiness(v, runs[-1][1], n_neighbors=15,
                                                                        metric="cosine")), 4),
                         "load_after": os.getloadavg()})
            print(rows[-1], flush=True)
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
               "umap": __import__("importlib.metadata").metadata.version("umap-learn"), "load_average_at_start": load0,
               "load_average_at_end": os.getloadavg()}
    out = {"date_utc": datetime.datetime.fromtimestamp(started, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
           "command": " ".join(["python bench/bench_map_knn.py", *sys.argv[1:]]), "machine": machine, "rows": rows}
    (ROOT / "bench" / "map_knn_results.json").write_text(json.dumps(out, indent=1) + "\n")
    lines = [f"# The map step: exact k-NN vs UMAP's NN-descent ({out['date_utc']})", "",
             f"Command: `{out['command']}`  ", f"Machine: {machine} (CPU shared with other engineers' work)", "",
             "| docs | vectors | method | first call in a fresh process (s, incl. numba compile) | warm runs (s) | median | trustworthiness (k=15) |",
             "|---:|---|---|---:|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['n']} | {r['vectors']} | {r['method']} | {r['cold_s']} | "
                     f"{', '.join(map(str, r['warm_s']))} | {r['warm_median_s']} | {r['trustworthiness']} |")
    (ROOT / "bench" / "map_knn_results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
