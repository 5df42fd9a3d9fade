"""Density parts of `bench/bench_gpu.py`: the engine's LSH sketch at scale, on GPU and CPU,
against scikit-learn's `KernelDensity` and the exact kernel sum.

Vectors are a seeded mixture of Zipf-sized clusters of unit vectors in 384-d, spread so that
neighbours sit ~0.9 apart and random pairs ~1.4 apart, like MiniLM sentence embeddings (which
the default bandwidth was tuned on); real embeddings would need 10M real documents.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from engine.density import DensityConfig, density_scores, exact_kde, rank_correlation


def mixture(n: int, dim: int = 384, seed: int = 0, device: str = "cpu", n_centres: int = 1000,
            noise: float = 0.8, chunk: int = 1_000_000) -> torch.Tensor:
    """(n, dim) float32 unit vectors on `device`: cluster centre + noise of norm ~`noise`."""
    gen = torch.Generator(device=device).manual_seed(seed)
    centres = torch.nn.functional.normalize(
        torch.randn(n_centres, dim, generator=gen, device=device), dim=1)
    weights = 1.0 / torch.arange(1, n_centres + 1, device=device, dtype=torch.float32) ** 1.1
    out = torch.empty(n, dim, device=device)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        idx = torch.multinomial(weights, m, replacement=True, generator=gen)
        x = centres[idx] + noise * torch.randn(m, dim, generator=gen, device=device) / dim ** 0.5
        out[start:start + m] = torch.nn.functional.normalize(x, dim=1)
    return out


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_sketch(vectors, device: str, config: DensityConfig) -> tuple[np.ndarray, float]:
    """Engine `density_scores` (build the sketch over all vectors, then query each), timed."""
    _sync(device)
    t0 = time.perf_counter()
    scores = density_scores(vectors, config, device=device)
    _sync(device)
    return scores, time.perf_counter() - t0


def exact_sums(x: torch.Tensor, q: torch.Tensor, bandwidth: float, chunk: int) -> np.ndarray:
    """Exact mean Gaussian kernel of each query over all of `x`, on x's device (the reference;
    `engine.density.exact_kde` would copy a GPU tensor through host memory)."""
    x_sq = (x * x).sum(1)
    out = []
    for start in range(0, q.shape[0], chunk):
        qc = q[start:start + chunk]
        d2 = ((qc * qc).sum(1)[:, None] + x_sq[None, :] - 2 * qc @ x.T).clamp_(min=0)
        out.append(torch.exp(d2.div_(-2 * bandwidth ** 2)).sum(1, dtype=torch.float64).cpu().numpy())
    return np.concatenate(out) / x.shape[0]


def sketch_accuracy(vectors: torch.Tensor, scores: np.ndarray, config: DensityConfig,
                    n_queries: int, seed: int = 1) -> dict:
    """Spearman of sketch scores vs the exact kernel sum over ALL vectors, on a query sample."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(vectors.shape[0], size=min(n_queries, vectors.shape[0]), replace=False))
    chunk = max(8, int(2.5e8 // vectors.shape[0]))  # each (chunk, n) temporary near 1 GB
    t0 = time.perf_counter()
    exact = exact_sums(vectors, vectors[torch.as_tensor(idx, device=vectors.device)],
                       config.bandwidth, chunk)
    return {"queries": len(idx), "exact_seconds": round(time.perf_counter() - t0, 3),
            "spearman_vs_exact": rank_correlation(scores[idx], exact)}


def sklearn_comparison(vectors: torch.Tensor, config: DensityConfig, device: str,
                       budget_s: float, sizes: tuple[int, ...]) -> dict:
    """scikit-learn KernelDensity on the largest subsample predicted to finish in `budget_s`
    (quadratic extrapolation from the smallest size), with rank correlations to the exact sum."""
    from sklearn.neighbors import KernelDensity

    def fit_score(x: np.ndarray) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        log_density = KernelDensity(kernel="gaussian", bandwidth=config.bandwidth).fit(x).score_samples(x)
        return log_density, time.perf_counter() - t0

    host = vectors.cpu().numpy()
    _, t_small = fit_score(host[:sizes[0]])
    fits = [n for n in sizes if t_small * (n / sizes[0]) ** 2 <= budget_s] or [sizes[0]]
    n = min(max(fits), host.shape[0])
    sub = host[:n]
    sk_scores, t_sk = fit_score(sub)
    _sync(device)
    t0 = time.perf_counter()
    exact = exact_kde(sub, config.bandwidth, device=device)
    t_exact = time.perf_counter() - t0
    sketch, t_sketch = time_sketch(vectors[:n], device, config)
    return {"n": n, "sklearn_seconds": round(t_sk, 3), "sklearn_small": [sizes[0], round(t_small, 3)],
            "exact_seconds": round(t_exact, 3), "exact_device": device,
            "sketch_seconds": round(t_sketch, 3),
            "sklearn_spearman_vs_exact": rank_correlation(sk_scores, exact),
            "sketch_spearman_vs_exact": rank_correlation(sketch, exact)}


def bench_density(run) -> dict:
    """The density section: GPU and CPU sketch timings, accuracy, scikit-learn comparison."""
    a, dev = run.args, run.device
    # the bandwidth is chosen from the data (the engine's default); one mixture fixes it for all sizes
    config = DensityConfig().resolved(mixture(DensityConfig().sample, a.dim, device=dev))
    out = {"dim": a.dim, "config": config.key(), "bandwidth": round(config.bandwidth, 4),
           "n_hashes": config.n_hashes, "hashes_per_row": config.hashes_per_row,
           "n_buckets": config.n_buckets, "data": "seeded 1000-cluster Zipf mixture of unit vectors",
           "gpu": {}, "cpu": {}, "accuracy": {}}
    if dev.startswith("cuda"):
        for n in a.density_sizes:
            x = mixture(n, a.dim, device=dev)
            scores, secs = time_sketch(x, dev, config)
            out["gpu"][str(n)] = {"seconds": round(secs, 3), "vectors_per_s": round(n / secs)}
            out["accuracy"][str(n)] = sketch_accuracy(x, scores, config, a.density_queries)
            run.log(f"density gpu n={n}: {secs:.2f} s, {out['accuracy'][str(n)]}")
            del x
            torch.cuda.empty_cache()
    n = a.density_sizes[0]  # CPU: NumPy path; the larger sizes run last (bench_density_cpu_large)
    x = mixture(n, a.dim, device=dev).cpu().numpy()
    scores, secs = time_sketch(x, "cpu", config)
    out["cpu"][str(n)] = {"seconds": round(secs, 3), "vectors_per_s": round(n / secs)}
    if not out["accuracy"]:  # no GPU: accuracy from the CPU sketch
        out["accuracy"][str(n)] = sketch_accuracy(torch.from_numpy(x), scores, config, a.density_queries)
    run.log(f"density cpu n={n}: {secs:.2f} s")
    del x
    sub = mixture(max(a.sklearn_sizes), a.dim, seed=2, device=dev)
    out["sklearn"] = sklearn_comparison(sub, config, dev, a.sklearn_max_s, tuple(a.sklearn_sizes))
    run.log(f"density sklearn: {out['sklearn']}")
    return out


def bench_density_cpu_large(run) -> dict:
    """The CPU sketch at the larger sizes, each only if the smallest size's time, scaled
    linearly, fits the time left; otherwise the skip and its reason are recorded."""
    a, out = run.args, {}
    base = run.results.get("density", {}).get("cpu", {}).get(str(a.density_sizes[0]), {})
    for n in a.density_sizes[1:]:
        predicted = base.get("seconds", float("inf")) * n / a.density_sizes[0]
        if predicted > min(a.cpu_density_max_s, run.left() - 30):
            out[str(n)] = {"skipped": f"predicted {predicted:.0f} s (linear from "
                                      f"{a.density_sizes[0]}) exceeds the time left"}
            continue
        x = mixture(n, a.dim, device=run.device).cpu().numpy()
        _, secs = time_sketch(x, "cpu", DensityConfig())  # includes choosing the bandwidth
        out[str(n)] = {"seconds": round(secs, 3), "vectors_per_s": round(n / secs)}
        run.log(f"density cpu n={n}: {secs:.2f} s")
        del x
    return out
