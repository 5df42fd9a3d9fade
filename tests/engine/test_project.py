"""The map step: exact cosine neighbours (vs scikit-learn's brute force), progress that moves with
a rate through the neighbour and layout phases, seeded maps, and the stored settings."""
from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from engine.project import NEIGHBOURS, exact_knn, project_vectors


def _clustered(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 32))
    return (centres[np.arange(n) % 4] + rng.normal(0, 0.3, (n, 32))).astype(np.float32)


def test_exact_knn_matches_brute_force_cosine():
    vectors = _clustered(300)
    indices, dists = exact_knn(vectors, 10)
    ref_d, ref_i = NearestNeighbors(n_neighbors=10, metric="cosine", algorithm="brute").fit(vectors).kneighbors(vectors)
    assert np.array_equal(indices[:, 0], np.arange(300))  # itself first, as UMAP expects
    assert np.allclose(dists, ref_d, atol=1e-5)
    assert np.mean([len(set(a) & set(b)) for a, b in zip(indices, ref_i)]) > 9.9  # same sets (ties aside)


def test_map_progress_moves_through_both_phases_and_is_seeded():
    vectors, log = _clustered(600), []
    xy, message = project_vectors(vectors, seed=1, progress=lambda stage, done, total: log.append((stage, done, total)))
    stages = [s for s, _, _ in log]
    assert stages[0] == "project: neighbours" and stages[-1] == "project: layout" and "exact neighbours" in message
    layout = [d for s, d, _ in log if s == "project: layout"]
    assert layout == sorted(layout) and layout[-1] == 600 and len(set(layout)) >= 2
    assert xy.shape == (600, 2) and np.isfinite(xy).all()
    assert np.array_equal(xy, project_vectors(vectors, seed=1)[0])
    assert NEIGHBOURS == "exact"
