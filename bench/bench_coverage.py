"""Benchmark: does a selection keep rare topics? Random, quality top-k, density and combined on a
skewed mixture (bench/coverage_mixture.py: 85% C4, five rare sources of 3% each).

    .venv/bin/python bench/bench_coverage.py [--seeds 5] [--scale-n 100000]

One run (baselines in the same run): ingest + embed the mixture through the engine (cached in
bench/.cache/coverage), the density stage (data-chosen bandwidth) and the clusters stage, then for
budgets 5/10/20% and each seed: rare-source retention (share of the rare sources' documents kept,
and its ratio to random's in the same seed), per-source retention, cluster coverage, cluster
entropy and rare-cluster retention. Samplers: the defaults (cluster-aware propensity,
T = select.TEMPERATURE), the previous default (the sketch's density alone, T = 1), the first one
(fixed bandwidth 0.35, self term included), and variants (`variants`: temperature sweep, a
mass-scale bandwidth, both fixes together). Also: the sketch's
Spearman against the exact KDE, k-means vs HDBSCAN-on-UMAP as the clustering, and clustering +
labels time at --scale-n documents. The quality signal is a STAND-IN (see `quality_proxy`).
Writes bench/results/coverage_results.json and bench/coverage_results.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from coverage_mixture import RARE_SOURCES, build_mixture  # noqa: E402

from engine import clusters as cl  # noqa: E402
from engine.stage_runners import run_clusters  # noqa: E402
from engine import pipeline, stages  # noqa: E402
from engine.coverage import cluster_metrics  # noqa: E402
from engine.density import (DensityConfig, LSHDensitySketch, density_scores, exact_kde,  # noqa: E402
                            rank_correlation)
from engine.select import choose, ips_keys  # noqa: E402
from engine.storage import Workspace  # noqa: E402
from engine.storage import corpus as store  # noqa: E402
from engine.storage import signals as signal_store  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "coverage"
BUDGETS = (0.05, 0.1, 0.2)
TEMPERATURES = (1.0, 0.5, 0.25, 0.1)


def quality_proxy(text: str) -> float:
    """STAND-IN for Ask-LLM (no judge runs in this benchmark: Gemma 270M over 2,350 documents
    does not fit ~10 minutes on 2 shared cores). Gopher-style text-quality rules (Rae et al.
    2021), averaged to [0, 1]: share of words with a letter, share of lines ending in
    punctuation, word count up to 50, mean word length in 3-10."""
    words, lines = text.split(), [line for line in text.splitlines() if line.strip()]
    if not words:
        return 0.0
    alpha = np.mean([any(c.isalpha() for c in w) for w in words])
    ends = np.mean([line.rstrip()[-1] in ".!?\"'" for line in lines]) if lines else 0.0
    mean_len = np.mean([len(w) for w in words])
    return float(np.mean([alpha, ends, min(1.0, len(words) / 50), 3 <= mean_len <= 10]))


def prepare(ws: Workspace) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """The mixture in a workspace (ingest, embed, density, clusters: cached by the engine);
    returns (frame with source + stand-in quality, vectors in frame order, stage timings)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / "mixture.jsonl"
    if not path.exists():
        build_mixture().to_json(path, orient="records", lines=True, force_ascii=False)
    timings = {}
    for name, fn in (("ingest", lambda: pipeline.ingest(ws, path, "mix")),
                     ("embed", lambda: pipeline.embed(ws, "mix")),
                     ("density", lambda: pipeline.density(ws, "mix")),
                     ("clusters", lambda: run_clusters(ws, "mix"))):
        t0 = time.perf_counter()
        result = fn()
        timings[name] = {"seconds": round(time.perf_counter() - t0, 2), "message": getattr(result, "message", "")}
        print(name, timings[name], flush=True)
    with ws.connect() as con:
        frame = store.corpus_frame(con, "mix", snippet_chars=0)
        docs = store.documents(con, "mix").set_index("doc_id")
        ids, vectors = signal_store.embeddings(con, "mix", stages.embedding_key())
    assert list(ids) == frame["doc_id"].tolist()
    labels = cl.keyword_labels(docs.loc[ids, "text"].tolist(), frame["cluster"].astype(int).to_numpy())
    frame["source"] = frame["doc_id"].map(docs["meta"].map(lambda m: json.loads(m)["source"]))
    frame["askllm"] = frame["doc_id"].map(docs["text"].map(quality_proxy))  # the stand-in
    return frame, vectors, {"timings": timings, "labels": labels}


def ips_rows(density: np.ndarray, budget: float, seed: int, temperature: float) -> np.ndarray:
    """Rows chosen by inverse propensity with a temperature (the noise stream of `choose`)."""
    k = max(1, int(round(budget * len(density))))
    noise = np.random.default_rng([seed, 2]).gumbel(size=len(density))
    return np.argsort(-ips_keys(density, noise, temperature), kind="stable")[:k]


def metrics(frame: pd.DataFrame, rows: np.ndarray) -> dict:
    mask = np.zeros(len(frame), bool)
    mask[rows] = True
    source = frame["source"].to_numpy()
    rare = source != "c4"
    out = {"rare_retention": float(mask[rare].mean()), **cluster_metrics(frame["cluster"], mask)}
    out.update({f"kept_{s}": float(mask[source == s].mean()) for s in RARE_SOURCES})
    return out


SKETCH_ONLY = "density, sketch only (paper; previous default), T=1"
MAIN = ["random", "askllm", "density", SKETCH_ONLY, "combined", "combined (previous: sketch only, T=1)",
        "density (first: h=0.35, T=1)"]


def variants(frame: pd.DataFrame, mass: np.ndarray) -> dict:
    """Coverage samplers compared: name -> (frame, temperature, propensity) for `choose`.
    'mass-scale h': the sketch with its bandwidth at the distance to the sqrt(n)-th neighbour
    (the region's mass, not local tightness)."""
    massed = frame.assign(density=mass)
    out = {f"density, sketch only, T={t}": (frame, t, "density") for t in TEMPERATURES[1:]}
    out |= {f"density, clusters, T={t}": (frame, t, "clusters") for t in (1.0, 0.25)}  # 0.5 = the default
    out |= {f"density, mass-scale h, T={t}": (massed, t, "density") for t in TEMPERATURES[:3]}
    out |= {f"density, mass-scale h + clusters, T={t}": (massed, t, "clusters") for t in TEMPERATURES[:2]}
    return out


def strategy_rows(frame: pd.DataFrame, before: np.ndarray, mass: np.ndarray, budget: float, seed: int) -> dict:
    """Rows chosen by each strategy through `choose`: random, askllm, density and combined at their
    defaults (clusters propensity, T = select.TEMPERATURE), the previous defaults, and the variants."""
    chosen = {s: choose(frame, s, 0.5, budget, seed, "askllm").rows
              for s in ("random", "askllm", "density", "combined")}
    chosen[SKETCH_ONLY] = choose(frame, "density", 0.5, budget, seed, temperature=1.0, propensity="density").rows
    chosen[MAIN[5]] = choose(frame, "combined", 0.5, budget, seed, temperature=1.0, propensity="density").rows
    chosen[MAIN[6]] = ips_rows(before, budget, seed, 1.0)
    for name, (f, t, how) in variants(frame, mass).items():
        chosen[name] = choose(f, "density", 0.5, budget, seed, temperature=t, propensity=how).rows
    return chosen


def run_strategies(frame: pd.DataFrame, before: np.ndarray, mass: np.ndarray, seeds: int) -> pd.DataFrame:
    rows = []
    for budget in BUDGETS:
        for seed in range(seeds):
            chosen = strategy_rows(frame, before, mass, budget, seed)
            random_rate = metrics(frame, chosen["random"])["rare_retention"]
            for name, picked in chosen.items():
                m = metrics(frame, picked)
                rows.append({"budget": budget, "seed": seed, "strategy": name, **m,
                             "rare_ratio_vs_random": m["rare_retention"] / random_rate})
    return pd.DataFrame(rows)


def density_check(vectors: np.ndarray, frame: pd.DataFrame) -> dict:
    """Spearman of the sketch vs the exact leave-one-out KDE at the chosen bandwidth; spread of
    densities and per-source medians before and after."""
    config = DensityConfig().resolved(vectors)
    sketch = density_scores(vectors, config, relative=False)
    exact = exact_kde(vectors, config.bandwidth, leave_one_out=True)
    old = LSHDensitySketch(DensityConfig(bandwidth=0.35), vectors.shape[1]).add(vectors).query(vectors)
    mass_config = DensityConfig(neighbours=int(round(np.sqrt(len(vectors)))), bandwidth_scale=1.0)
    mass = density_scores(vectors, mass_config)
    after = frame["density"].to_numpy()
    spread = lambda v: float(np.percentile(v, 95) / max(np.percentile(v, 5), 1e-300))  # noqa: E731
    by_source = lambda v: pd.Series(v / np.median(v)).groupby(frame["source"].to_numpy()).median().round(3).to_dict()  # noqa: E731
    return {"bandwidth": config.bandwidth, "spearman_sketch_vs_exact": rank_correlation(sketch, exact),
            "p95_over_p5_before": spread(old), "p95_over_p5_after": spread(after),
            "p95_over_p5_exact": spread(exact), "range_before": [float(old.min()), float(old.max())],
            "range_after": [float(after.min()), float(after.max())],
            "median_by_source_before": by_source(old), "median_by_source_after": by_source(after),
            "median_by_source_exact": by_source(exact), "mass_bandwidth": mass_config.resolved(vectors).bandwidth,
            "mass_neighbours": mass_config.neighbours, "median_by_source_mass": by_source(mass)}, old, mass


def reference_estimators(vectors: np.ndarray, frame: pd.DataFrame, seeds: int) -> dict:
    """Is the shortfall the sketch's or the space's? Exact estimators (no sketch) sampled by
    inverse propensity at 10%: rare-source retention / random's, mean and sd over seeds."""
    h = DensityConfig().resolved(vectors).bandwidth
    d2 = np.clip(2 - 2 * vectors @ vectors.T, 0, None)  # unit vectors
    np.fill_diagonal(d2, np.inf)
    kth = np.sqrt(np.partition(d2, 199, axis=1)[:, 199])
    estimators = {"exact Gaussian KDE, h/2": exact_kde(vectors, h / 2, leave_one_out=True),
                  "exact Gaussian KDE, h": exact_kde(vectors, h, leave_one_out=True),
                  "200-NN distance^-40 (balloon)": kth ** -40.0}
    rare, out = frame["source"].to_numpy() != "c4", {}
    for name, dens in estimators.items():
        ratios = []
        for seed in range(seeds):
            picked, base = ips_rows(dens / np.median(dens), 0.1, seed, 1.0), choose(frame, "random", 0.5, 0.1, seed).rows
            ratios.append(np.isin(np.flatnonzero(rare), picked).mean() / np.isin(np.flatnonzero(rare), base).mean())
        out[name] = {"ratio_mean": float(np.mean(ratios)), "ratio_sd": float(np.std(ratios, ddof=1))}
    return out


def clustering_check(ws: Workspace, frame: pd.DataFrame, vectors: np.ndarray) -> dict:
    """k-means on embeddings vs HDBSCAN on the 2-D UMAP map: agreement with the source (NMI),
    documents left unassigned, seconds."""
    from sklearn.cluster import HDBSCAN
    from sklearn.metrics import normalized_mutual_info_score as nmi

    t0 = time.perf_counter()
    pipeline.project(ws, "mix")
    umap_s = time.perf_counter() - t0
    with ws.connect() as con:
        xy = store.corpus_frame(con, "mix", snippet_chars=0)[["x", "y"]].to_numpy()
    out, source = {}, frame["source"].to_numpy()
    t0 = time.perf_counter()
    kmeans = cl.assign_clusters(vectors)
    out["kmeans"] = {"seconds": time.perf_counter() - t0, "n_clusters": int(kmeans.max() + 1),
                     "noise_share": 0.0, "nmi_vs_source": nmi(source, kmeans)}
    t0 = time.perf_counter()
    hdb = HDBSCAN(min_cluster_size=max(10, len(xy) // 200)).fit_predict(xy)
    out["hdbscan_umap"] = {"seconds": time.perf_counter() - t0 + umap_s, "umap_seconds": umap_s,
                           "n_clusters": int(hdb.max() + 1), "noise_share": float((hdb < 0).mean()),
                           "nmi_vs_source": nmi(source, hdb)}
    return out


def scale_check(texts: list[str], n: int, seed: int = 0) -> dict:
    """Clusters + labels at n documents: synthetic unit vectors in 200 topics (the density
    benchmark's mixture) and the mixture's texts repeated to n, so c-TF-IDF reads real words."""
    from bench_density import Mixture

    vectors = np.concatenate([Mixture(seed, "cpu").chunk(i, 10_000) for i in range(int(np.ceil(n / 10_000)))])[:n]
    docs = [texts[i % len(texts)] for i in range(n)]
    t0 = time.perf_counter()
    ids = cl.assign_clusters(vectors)
    t_kmeans = time.perf_counter() - t0
    labels = cl.keyword_labels(docs, ids)
    return {"n": n, "k": int(ids.max() + 1), "kmeans_seconds": t_kmeans,
            "labels_seconds": time.perf_counter() - t0 - t_kmeans, "total_seconds": time.perf_counter() - t0,
            "example_labels": list(labels.values())[:5]}


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    cols = ["rare_retention", "rare_ratio_vs_random", "cluster_coverage", "cluster_entropy",
            "rare_cluster_retention", *[f"kept_{s}" for s in RARE_SOURCES]]
    g = runs.groupby(["budget", "strategy"], sort=False)[cols]
    return g.mean().join(g.std(ddof=1).add_suffix("_sd")).reset_index()


def _cell(row, col: str, pct: bool = False) -> str:
    f = 100 if pct else 1
    return f"{f * row[col]:.{1 if pct else 2}f} ± {f * row[col + '_sd']:.{1 if pct else 2}f}"


def write_report(result: dict, summary: pd.DataFrame, out: Path) -> None:
    m, d, c = result["machine"], result["density"], result["clustering"]
    lines = [f"# Coverage benchmark ({m['date']}, {m['machine']})", "",
             "`bench/bench_coverage.py`; corpus `bench/coverage_mixture.py`: " + result["corpus"], "",
             "**Quality signal is a stand-in, not Ask-LLM**: " + result["quality_note"], "",
             f"{result['seeds']} seeds per budget; mean ± sd over seeds. Rare = the five 3% sources. "
             "ratio = rare retention / random's in the same seed (target: density >= 1.5 at 10%).", ""]
    main = MAIN
    for budget in BUDGETS:
        lines += [f"## Budget {budget:.0%}", "",
                  "| strategy | rare kept % | ratio vs random | cluster coverage | cluster entropy | rare-cluster kept % |",
                  "|---|---|---|---|---|---|"]
        part = summary[summary["budget"] == budget].set_index("strategy")
        for s in main + [s for s in part.index if s not in main]:
            r = part.loc[s]
            lines.append(f"| {s} | {_cell(r, 'rare_retention', True)} | {_cell(r, 'rare_ratio_vs_random')} | "
                         f"{_cell(r, 'cluster_coverage')} | {_cell(r, 'cluster_entropy')} | "
                         f"{_cell(r, 'rare_cluster_retention', True)} |")
        lines.append("")
    part = summary[summary["budget"] == 0.1].set_index("strategy")
    lines += ["## Per rare source at 10% (share kept, mean over seeds)", "",
              "| strategy | " + " | ".join(RARE_SOURCES) + " |", "|---" * (len(RARE_SOURCES) + 1) + "|"]
    lines += [f"| {s} | " + " | ".join(f"{100 * part.loc[s, f'kept_{x}']:.1f}" for x in RARE_SOURCES) + " |"
              for s in main]
    lines += ["", "## Density before / after", "",
              f"- before: fixed bandwidth 0.35, each point's own k(0)=1 term included; raw range "
              f"{d['range_before'][0]:.5f}-{d['range_before'][1]:.5f}, p95/p5 {d['p95_over_p5_before']:.2f}",
              f"- after: bandwidth from the data {d['bandwidth']:.3f} (0.5 x median 10-NN distance of a 2,000 sample), "
              f"self term left out, relative to the median: range {d['range_after'][0]:.2f}-{d['range_after'][1]:.2f}, "
              f"p95/p5 {d['p95_over_p5_after']:.2f} (exact KDE at that bandwidth: {d['p95_over_p5_exact']:.2f})",
              f"- mass-scale variant: bandwidth {d['mass_bandwidth']:.3f} (1.0 x median distance to the "
              f"{d['mass_neighbours']}-th neighbour = sqrt(n)); median relative density by source: {d['median_by_source_mass']}",
              f"- Spearman sketch vs exact leave-one-out Gaussian KDE over all {result['n_docs']} documents: "
              f"{d['spearman_sketch_vs_exact']:.3f}",
              f"- median relative density by source, after (sketch): {d['median_by_source_after']}",
              f"- the same, exact KDE: {d['median_by_source_exact']}",
              "- exact estimators (no sketch) at 10%, T=1, rare ratio vs random: " + "; ".join(
                  f"{k} {v['ratio_mean']:.2f} ± {v['ratio_sd']:.2f}" for k, v in d["reference_estimators_10pct"].items()), "",
              "## Clustering: k-means on embeddings vs HDBSCAN on the UMAP map", "",
              "| method | clusters | unassigned (noise) | NMI with source | seconds | of which the UMAP map |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {k} | {v['n_clusters']} | {100 * v['noise_share']:.1f}% | {v['nmi_vs_source']:.3f} | "
              f"{v['seconds']:.1f} | {v.get('umap_seconds', 0):.1f} |" for k, v in c.items()]
    lines += ["", "(The map is the stored `project` stage: when it is already stored its time is a read.)"]
    s = result.get("scale")
    if s:
        lines += ["", f"Clusters + labels at {s['n']:,} documents (synthetic 384-d vectors, mixture texts "
                  f"repeated): k={s['k']}, k-means {s['kmeans_seconds']:.1f} s, c-TF-IDF labels "
                  f"{s['labels_seconds']:.1f} s, total {s['total_seconds']:.1f} s (one run)."]
    lines += ["", "Cluster labels of the mixture: " + "; ".join(f"{k}: {v}" for k, v in list(result["labels"].items())[:12]),
              "", f"Stage seconds: {json.dumps({k: v['seconds'] for k, v in result['timings'].items()})}; "
              f"load average before/after {m['load_before']} / {m['load_after']} (2 shared cores).", "",
              result["findings"], ""]
    out.write_text("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--scale-n", type=int, default=100_000, help="0 skips the scale check")
    parser.add_argument("--findings", default="", help="a paragraph appended to the report")
    parser.add_argument("--report-only", action="store_true",
                        help="re-render the .md from the stored .json (with --findings), measuring nothing")
    args = parser.parse_args(argv)
    if args.report_only:
        result = json.loads((ROOT / "bench" / "results" / "coverage_results.json").read_text())
        result["findings"] = args.findings or result["findings"]
        (ROOT / "bench" / "results" / "coverage_results.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
        write_report(result, pd.DataFrame(result["summary"]), ROOT / "bench" / "results" / "coverage_results.md")
        return 0
    load_before = [round(x, 1) for x in os.getloadavg()]
    ws = Workspace(CACHE / "ws.duckdb")
    frame, vectors, extra = prepare(ws)
    density, before, mass = density_check(vectors, frame)
    runs = run_strategies(frame, before, mass, args.seeds)
    summary = summarise(runs)
    clustering = clustering_check(ws, frame, vectors)
    density["reference_estimators_10pct"] = reference_estimators(vectors, frame, args.seeds)
    scale = scale_check(_texts(ws), args.scale_n) if args.scale_n else None
    result = {"machine": {"date": datetime.datetime.now().isoformat(timespec="seconds"),
                          "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU",
                          "load_before": load_before, "load_after": [round(x, 1) for x in os.getloadavg()]},
              "corpus": f"{len(frame)} documents: " + ", ".join(f"{k} {v}" for k, v in frame['source'].value_counts().items()),
              "n_docs": len(frame), "seeds": args.seeds,
              "quality_note": quality_proxy.__doc__.replace("\n", " ").replace("    ", " "),
              "density": density, "clustering": clustering, "scale": scale, "labels": extra["labels"],
              "timings": extra["timings"], "findings": args.findings,
              "summary": summary.to_dict(orient="records"), "runs": runs.to_dict(orient="records")}
    out = ROOT / "bench" / "results"
    (out / "coverage_results.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    write_report(result, summary, out / "coverage_results.md")
    print((out / "coverage_results.md").read_text())
    return 0


def _texts(ws: Workspace) -> list[str]:
    with ws.connect() as con:
        return store.documents(con, "mix")["text"].tolist()


if __name__ == "__main__":
    sys.exit(main())
