"""2-D map of the corpus: UMAP of the document embeddings (McInnes et al. 2018,
https://arxiv.org/abs/1802.03426), cosine metric, seeded.

Above `max_points` documents, UMAP is fitted on a seeded sample of `max_points` and every other
document is placed with `transform` (in chunks, with progress), so every document is on the map
at a bounded fitting cost. `import umap` costs seconds (numba compiles), so it happens lazily.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import UserError
from engine.progress import ProgressFn, report

_TRANSFORM_CHUNK = 10_000


@dataclass(frozen=True)
class ProjectConfig:
    """max_points: fit UMAP on a seeded sample of this many documents, place the rest with transform."""

    max_points: int = 20_000
    seed: int = 0

    def key(self) -> str:
        return f"umap:max_points={self.max_points}:seed={self.seed}"


def _tiny(vectors: np.ndarray) -> np.ndarray:
    """Top-2 principal components: UMAP needs a neighbourhood, which 4 points do not have."""
    centred = vectors - vectors.mean(axis=0)
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))


def project_vectors(vectors: np.ndarray, max_points: int = 20_000, seed: int = 0,
                    progress: ProgressFn | None = None) -> tuple[np.ndarray, str]:
    """(xy float64 (n, 2), message saying how it was made) for embeddings (n, dim)."""
    n = len(vectors)
    if max_points < 5:
        raise UserError(f"max_points must be >= 5, got {max_points}")
    if n < 5:
        return _tiny(np.asarray(vectors, np.float64)), f"PCA of {n} documents (too few for UMAP)"
    import umap  # noqa: PLC0415 (slow import, only when projecting)

    # A seeded UMAP runs single-threaded anyway; n_jobs=1 says so instead of warning.
    reducer = umap.UMAP(n_components=2, metric="cosine", n_neighbors=min(15, min(n, max_points) - 1),
                        random_state=seed, n_jobs=1, low_memory=True)
    report(progress, "project", 0, n)
    if n <= max_points:
        xy = reducer.fit_transform(vectors)
        report(progress, "project", n, n)
        return np.asarray(xy, np.float64), f"UMAP of all {n} documents (seed {seed})"
    sample = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    xy = np.empty((n, 2), np.float64)
    xy[sample] = reducer.fit(vectors[sample]).embedding_
    report(progress, "project", max_points, n)
    rest = np.setdiff1d(np.arange(n), sample)
    for start in range(0, len(rest), _TRANSFORM_CHUNK):
        idx = rest[start:start + _TRANSFORM_CHUNK]
        xy[idx] = reducer.transform(vectors[idx])
        report(progress, "project", max_points + start + len(idx), n)
    return xy, (f"UMAP fitted on a seeded sample of {max_points} of {n} documents (seed {seed}); "
                f"the other {n - max_points} placed with UMAP.transform")
