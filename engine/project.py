"""2-D map of the corpus: UMAP of the document embeddings (McInnes et al. 2018,
https://arxiv.org/abs/1802.03426), cosine metric, seeded.

Up to `max_points` documents, the neighbour graph is EXACT cosine k-NN computed here in chunks
(NumPy matrix products, with progress), handed to UMAP as `precomputed_knn`: never approximate,
and it skips NN-descent's numba compilation, so the first map in a process (every CLI job's) takes
20.6 s instead of 75.5 s on 5,000 documents on 2 busy cores; once compiled, NN-descent is about
1 s faster (bench/results/map_knn_results.md). The layout epochs report progress too (UMAP's epoch loop is
observed through the `tqdm` it calls, per thread), so the map step shows a rate and an ETA.
Above `max_points`, UMAP (with NN-descent, needed by `transform`) is fitted on a seeded sample
and every other document is placed with `transform` in chunks, so every document is on the map
at a bounded fitting cost. `import umap` costs seconds (numba compiles), so it happens lazily.
"""
from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np

from engine.errors import UserError
from engine.progress import ProgressFn, adaptive_steps, report

_TRANSFORM_CHUNK = 10_000
NEIGHBOURS = "exact"  # how the fit's neighbour graph is made: part of the map's stored settings
N_NEIGHBOURS = 15
_epochs = threading.local()  # the calling thread's epoch callback (see _observe_epochs)


@dataclass(frozen=True)
class ProjectConfig:
    """max_points: fit UMAP on a seeded sample of this many documents, place the rest with transform."""

    max_points: int = 20_000
    seed: int = 0

    def key(self) -> str:
        return f"umap:max_points={self.max_points}:seed={self.seed}"


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """Top-2 principal components: UMAP needs a neighbourhood, which 4 points do not have."""
    centred = vectors - vectors.mean(axis=0)
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))


def exact_knn(vectors: np.ndarray, k: int, progress: ProgressFn | None = None,
              label: str = "project: neighbours") -> tuple[np.ndarray, np.ndarray]:
    """(indices int32 (n, k), cosine distances float32 (n, k)), nearest first (a document is its
    own nearest neighbour, as UMAP expects), by chunked matrix products with progress."""
    x = np.asarray(vectors, np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    n = len(x)
    indices, dists = np.empty((n, k), np.int32), np.empty((n, k), np.float32)
    report(progress, label, 0, n)
    for start, stop in adaptive_steps(n, 256, 4096):
        sim = x[start:stop] @ x.T
        sim[np.arange(stop - start), np.arange(start, stop)] = 2.0  # itself first, even among duplicates
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        near = np.take_along_axis(sim, part, 1)
        order = np.argsort(-near, axis=1, kind="stable")
        indices[start:stop] = np.take_along_axis(part, order, 1)
        dists[start:stop] = np.clip(1.0 - np.take_along_axis(near, order, 1), 0.0, 2.0)
        report(progress, label, stop, n)
    return indices, dists


def _epoch_tqdm(iterable, **kwargs):
    """Stands in for umap.layouts' `tqdm`: reports the epochs to the calling thread's callback."""
    callback = getattr(_epochs, "callback", None)
    if callback is None:
        return _epoch_tqdm.original(iterable, **kwargs)
    return _reporting(iterable, callback)


def _reporting(iterable, callback):
    total, last = len(iterable), 0.0
    for i, item in enumerate(iterable):
        yield item
        if time.monotonic() - last > 1.0 or i + 1 == total:  # about once a second
            callback(i + 1, total)
            last = time.monotonic()


def _observe_epochs(progress: ProgressFn | None, label: str, n: int) -> None:
    """Report UMAP's layout epochs as `label` n * epoch / epochs of n, in this thread only."""
    import umap.layouts  # noqa: PLC0415

    if umap.layouts.tqdm is not _epoch_tqdm:
        _epoch_tqdm.original, umap.layouts.tqdm = umap.layouts.tqdm, _epoch_tqdm
    _epochs.callback = None if progress is None else (lambda e, total: report(progress, label, n * e // total, n))


def project_vectors(vectors: np.ndarray, max_points: int = 20_000, seed: int = 0,
                    progress: ProgressFn | None = None) -> tuple[np.ndarray, str]:
    """(xy float64 (n, 2), message saying how it was made) for embeddings (n, dim)."""
    n = len(vectors)
    if max_points < 5:
        raise UserError(f"max_points must be >= 5, got {max_points}")
    if n < 5:
        return pca_2d(np.asarray(vectors, np.float64)), f"PCA of {n} documents (too few for UMAP)"
    import umap  # noqa: PLC0415 (slow import, only when projecting)

    k = min(N_NEIGHBOURS, min(n, max_points) - 1)
    # A seeded UMAP runs single-threaded anyway; n_jobs=1 says so instead of warning.
    settings = dict(n_components=2, metric="cosine", n_neighbors=k, random_state=seed, n_jobs=1, low_memory=True)
    try:
        if n <= max_points:
            knn = exact_knn(vectors, k, progress)
            _observe_epochs(progress, "project: layout", n)
            report(progress, "project: layout", 0, n)  # the graph and the first epoch compile first
            with warnings.catch_warnings():  # "transform will be unavailable": this path never transforms
                warnings.filterwarnings("ignore", message="precomputed_knn")
                xy = umap.UMAP(**settings, precomputed_knn=(*knn, None)).fit_transform(vectors)
            report(progress, "project: layout", n, n)
            return np.asarray(xy, np.float64), f"UMAP of all {n} documents (exact neighbours, seed {seed})"
        _observe_epochs(progress, "project: layout of the sample", max_points)
        report(progress, "project: layout of the sample", 0, max_points)
        sample = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
        reducer = umap.UMAP(**settings).fit(vectors[sample])
        report(progress, "project: layout of the sample", max_points, max_points)
    finally:
        _epochs.callback = None
    xy = np.empty((n, 2), np.float64)
    xy[sample] = reducer.embedding_
    report(progress, "project", max_points, n)
    rest = np.setdiff1d(np.arange(n), sample)
    for start in range(0, len(rest), _TRANSFORM_CHUNK):
        idx = rest[start:start + _TRANSFORM_CHUNK]
        xy[idx] = reducer.transform(vectors[idx])
        report(progress, "project", max_points + start + len(idx), n)
    return xy, (f"UMAP fitted on a seeded sample of {max_points} of {n} documents (seed {seed}); "
                f"the other {n - max_points} placed with UMAP.transform")
