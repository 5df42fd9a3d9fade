"""engine.density: the RACE sketch against the exact Gaussian KDE it approximates."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.density import (DensityConfig, LSHDensitySketch, data_bandwidth, density_scores,
                            exact_kde, rank_correlation, sample_positions)


def clustered(n: int = 2000, dim: int = 384, seed: int = 0) -> np.ndarray:
    """Unit vectors from 20 clusters of Zipf-like sizes and mixed widths plus 5% scattered
    points: same-cluster neighbours sit 0.6-1.2 apart, as MiniLM sentence embeddings do."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((20, dim))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    weights = 1 / np.arange(1, 21)
    labels = rng.choice(20, n, p=weights / weights.sum())
    widths = rng.uniform(0.5, 1.0, 20)[labels, None]
    x = centers[labels] + widths * rng.standard_normal((n, dim)) / np.sqrt(dim)
    scattered = rng.random(n) < 0.05
    x[scattered] = rng.standard_normal((scattered.sum(), dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return clustered()


def sketch_vs_exact(vectors, config: DensityConfig) -> float:
    """Spearman of the sketch against the exact leave-one-out KDE at the data-chosen bandwidth."""
    config = config.resolved(vectors)
    sketch = density_scores(vectors, config, relative=False)
    return rank_correlation(sketch, exact_kde(vectors, config.bandwidth, leave_one_out=True))


def test_sketch_ranks_like_exact_kde_on_clustered_data(data):
    rho = sketch_vs_exact(data, DensityConfig())
    assert rho > 0.93, rho  # measured 0.965-0.979 over seeds 0-2 with the defaults


def test_sketch_ranks_like_exact_kde_on_sentence_embeddings():
    from engine.models import load_embedder

    path = Path(__file__).resolve().parents[3] / "shared" / "data" / "sst2" / "stsa.binary.train"
    if not path.exists():
        pytest.skip(f"{path} not found (CI clones shared/ beside the repo)")
    lines = path.read_text().splitlines()[:300]
    texts = [line.split(" ", 1)[1] for line in lines]
    vectors = load_embedder(device="cpu").encode(texts, normalize_embeddings=True)
    rho = sketch_vs_exact(vectors, DensityConfig())
    assert rho > 0.9, rho  # measured 0.936-0.951 over seeds 0-4 with the defaults


def test_merge_equals_one_build_and_survives_bytes(data):
    config = DensityConfig(n_hashes=32, bandwidth=0.5)
    whole = LSHDensitySketch(config, data.shape[1]).add(data)
    left = LSHDensitySketch(config, data.shape[1]).add(data[:700])
    right = LSHDensitySketch(config, data.shape[1]).add(data[700:])
    shipped = LSHDensitySketch.from_bytes(right.to_bytes())  # as a worker would send it
    merged = left.merge(shipped)
    assert merged.n == whole.n == len(data)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    np.testing.assert_array_equal(merged.query(data), whole.query(data))


def test_merge_refuses_other_settings(data):
    a = LSHDensitySketch(DensityConfig(n_hashes=8, bandwidth=0.5), data.shape[1])
    b = LSHDensitySketch(DensityConfig(n_hashes=8, bandwidth=0.5, seed=1), data.shape[1])
    with pytest.raises(ValueError, match="different settings"):
        a.merge(b)


def test_seed_fixes_the_scores(data):
    first = density_scores(data, DensityConfig(n_hashes=16, seed=3))
    again = density_scores(data, DensityConfig(n_hashes=16, seed=3))
    other = density_scores(data, DensityConfig(n_hashes=16, seed=4))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_dense_cluster_scores_above_isolated_outlier():
    rng = np.random.default_rng(1)
    center = rng.standard_normal(384)
    cluster = center + 0.7 * rng.standard_normal((300, 384)) / np.sqrt(384)
    vectors = np.vstack([cluster, rng.standard_normal((1, 384))])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = density_scores(vectors)  # relative to the median: the cluster sits near 1
    assert scores[:-1].min() > 5 * scores[-1]
    assert np.median(scores) == pytest.approx(1.0) and scores.min() >= 0


def test_torch_path_matches_numpy(data):
    torch = pytest.importorskip("torch")
    config = DensityConfig(n_hashes=32)
    ours = density_scores(data, config, relative=False)
    theirs = density_scores(torch.from_numpy(data), config, device=torch.device("cpu"), relative=False)
    # float32 rounding may move a projection across a bucket edge in rare rows
    assert np.abs(ours - theirs).max() < 0.02 and rank_correlation(ours, theirs) > 0.99


def test_bad_config_and_input_say_what_is_wrong(data):
    with pytest.raises(ValueError, match="bandwidth must be > 0"):
        DensityConfig(bandwidth=0)
    with pytest.raises(ValueError, match="n_buckets must be >= 1"):
        DensityConfig(n_buckets=0)
    with pytest.raises(ValueError, match="bandwidth_scale must be > 0"):
        DensityConfig(bandwidth_scale=0)
    with pytest.raises(ValueError, match=r"shape \(n, 384\)"):
        LSHDensitySketch(DensityConfig(bandwidth=0.5), 384).add(data[:, :10])
    with pytest.raises(ValueError, match="holds 0 vectors"):
        LSHDensitySketch(DensityConfig(bandwidth=0.5), 384).query(data)
    with pytest.raises(ValueError, match="not chosen yet"):
        LSHDensitySketch(DensityConfig(), 384)
    with pytest.raises(ValueError, match="at least 2 vectors"):
        density_scores(data[:1])


def test_key_names_only_non_default_parameters():
    assert DensityConfig().key() == "density-v2"  # never "density", the key of the older algorithms
    assert DensityConfig(bandwidth=0.5, seed=2).key() == "density-v2-bandwidth=0.5-seed=2"


def test_bandwidth_follows_the_data_not_the_corpus_size():
    big = clustered(n=8000, seed=2)
    h = data_bandwidth(big)
    assert data_bandwidth(big[:4000]) == pytest.approx(h, rel=0.05)  # a fixed-size sample
    assert data_bandwidth(2 * big) == pytest.approx(2 * h, rel=1e-4)  # twice as spread out
    resolved = DensityConfig(bandwidth_scale=0.5).resolved(big)
    assert resolved.bandwidth == pytest.approx(0.5 * h)
    assert DensityConfig(bandwidth=0.3).resolved(big).bandwidth == 0.3


def test_relative_density_keeps_its_scale_as_the_corpus_grows():
    """The same 1,000 documents inside a corpus of 2,000 and of 8,000 from one distribution get
    about the same relative density."""
    big = clustered(n=8000, seed=3)
    small_scores = density_scores(big[:2000])[:1000]
    big_scores = density_scores(big)[:1000]
    ratio = np.median(big_scores / np.maximum(small_scores, 1e-12))
    assert ratio == pytest.approx(1.0, abs=0.15), ratio
    assert rank_correlation(small_scores, big_scores) > 0.8


def test_ray_executor_gathers_the_same_reference_sample(data, tmp_path):
    """Ray builds its sketch from shards: it must choose the bandwidth and the median from the
    very rows the in-process stage uses, or the two stores would differ."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine import ray_backend

    (tmp_path / "in").mkdir()
    for i, start in enumerate(range(0, len(data), 300)):  # 7 shards in doc_id order
        part = data[start:start + 300]
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(part.ravel()), part.shape[1])
        pq.write_table(pa.table({"doc_id": [f"d{start + j:05d}" for j in range(len(part))], "vector": vectors}),
                       tmp_path / "in" / f"{i:06d}.parquet")
    config = DensityConfig(sample=500, seed=4)
    sample = ray_backend._reference_sample(tmp_path, len(data), config)
    np.testing.assert_array_equal(sample, data[sample_positions(len(data), 500, 4)])
    assert config.resolved(sample).bandwidth == config.resolved(data).bandwidth


def test_density_stored_by_older_code_is_due_again():
    """Older code stored plain "density" keys (other algorithms): the Explore page lists the stage
    as still to run instead of showing those values as current."""
    from engine.api import missing_stages

    def status(key):
        return {"n_docs": 5, "embedded": {"all-minilm-l6-v2": 5}, "projected": 5,
                "signals": {"askllm": {"key": "askllm:x", "n_scored": 5}, "cluster": {"key": "clusters:c", "n_scored": 5},
                            "density": {"key": key, "n_scored": 5}}}
    assert missing_stages(status("density:c:all-minilm-l6-v2")) == ["density"]
    assert missing_stages(status(f"{DensityConfig().key()}:c:all-minilm-l6-v2")) == []
