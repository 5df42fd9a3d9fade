"""Density: kernel-density scores of embeddings, the coverage side of data selection.

Sachdeva et al. 2024, "How to Train Data-Efficient LLMs" (https://arxiv.org/abs/2402.09668),
score each document by the kernel sum of its embedding over the corpus and sample with
inverse propensity, so rare regions are kept and redundant ones thinned. The kernel sums come
from a RACE sketch: Coleman & Shrivastava, "A One-Pass Distributed and Private Sketch for Kernel
Sums with Applications to Machine Learning at Scale" (CCS 2021) and "Sub-linear RACE Sketches
for Approximate Kernel Density Estimation on Streaming Data" (WWW 2020,
https://arxiv.org/abs/1912.02283). Each of `n_hashes` rows holds `n_buckets` counters; a vector
bumps one counter per row, chosen by `hashes_per_row` concatenated p-stable (Euclidean) LSH
functions (Datar et al. 2004). Two vectors share a counter with probability k(d) = p(d/w)^K, a
kernel of their distance d, so counter / n averaged over rows estimates (1/n) sum_i k(q, x_i).

The same code runs on NumPy (device "cpu") or torch (any other device: "cuda", or
torch.device("cpu") for torch's CPU kernels); hash functions depend only on (config, dim) and
counts are integers, so sketches built anywhere with one seed merge by addition.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
from tqdm.auto import tqdm

from engine.errors import UserError

# Hash values are shifted by _ORIGIN so they are >= 0 (a cast truncates = floors) and < 2^11
# for inputs of norm up to ~1000 bucket widths; with multipliers < 2^16 and K <= 16 a row's key
# sum stays below 2^31, so all integer work is exact int32 on NumPy and torch alike.
_ORIGIN, _MULT_BOUND, _MAX_K = 1024, 1 << 16, 16
VERSION = "density-v2"  # keys of older code were plain "density": their values are never read as current


class DensityError(UserError, ValueError):
    """Bad density configuration or input; a ValueError too for callers outside the CLI."""


@dataclass(frozen=True)
class DensityConfig:
    """Sketch parameters; defaults measured on L2-normalised 384-d MiniLM sentence embeddings.

    bandwidth: Gaussian kernel width h in embedding space, or None (the default) to choose it
        from the data: `bandwidth_scale` x the median distance from a point to its
        `neighbours`-th nearest neighbour in a seeded sample of `sample` points
        (`data_bandwidth`). A fixed width fits one corpus only: unit vectors are 0 to 2
        apart, and how far neighbours sit depends on the embedder and the texts. The LSH
        bucket width is derived from h so the sketch kernel equals exp(-d^2 / 2h^2) at d = 3h.
    n_hashes: independent rows R; the estimate's variance falls as 1/R.
    hashes_per_row: K concatenated hashes per row; larger K = sharper, more Gaussian-like kernel.
    n_buckets: counters per row B (memory R x B x 4 bytes); hash keys are folded modulo B.
    seed: fixes the hash functions and the bandwidth sample; equal (config, dim) -> mergeable.
    """

    bandwidth: float | None = None
    bandwidth_scale: float = 0.5
    neighbours: int = 10
    sample: int = 2000
    n_hashes: int = 512
    hashes_per_row: int = 4
    n_buckets: int = 1 << 14
    seed: int = 0

    def __post_init__(self) -> None:
        if self.bandwidth is not None and not self.bandwidth > 0:
            raise DensityError(f"density bandwidth must be > 0, got {self.bandwidth}")
        if not self.bandwidth_scale > 0:
            raise DensityError(f"density bandwidth_scale must be > 0, got {self.bandwidth_scale}")
        for name in ("n_hashes", "hashes_per_row", "n_buckets", "neighbours", "sample"):
            if int(getattr(self, name)) < 1:
                raise DensityError(f"density {name} must be >= 1, got {getattr(self, name)}")
        if self.hashes_per_row > _MAX_K or self.n_hashes * self.n_buckets >= 2**31:
            raise DensityError(f"density hashes_per_row must be <= {_MAX_K} and n_hashes x "
                               f"n_buckets < 2^31, got {self.hashes_per_row}, "
                               f"{self.n_hashes} x {self.n_buckets}")

    def key(self) -> str:
        """Storage key: `VERSION` and the non-default parameters, e.g. "density-v2" or
        "density-v2-bandwidth=0.5-seed=3": another setting never overwrites earlier scores."""
        parts = [f"{f.name}={getattr(self, f.name)}" for f in fields(self)
                 if getattr(self, f.name) != f.default]
        return "-".join([VERSION, *parts])

    def resolved(self, vectors) -> "DensityConfig":
        """This config with `bandwidth` set: unchanged when fixed, else `data_bandwidth`."""
        return self if self.bandwidth is not None else replace(self, bandwidth=float(
            data_bandwidth(vectors, self.neighbours, self.sample, self.seed) * self.bandwidth_scale))

    def bucket_width(self) -> float:
        """p-stable bucket width w with p(3h / w)^K = exp(-4.5), the Gaussian value at d = 3h."""
        if self.bandwidth is None:
            raise DensityError("density bandwidth is not chosen yet: call config.resolved(vectors)")
        from scipy import optimize  # noqa: PLC0415 (scipy costs seconds; the CLI imports this module)

        target = np.exp(-4.5 / self.hashes_per_row)  # per-hash collision probability wanted
        c = optimize.brentq(lambda c: _collision_probability(c) - target, 1e-6, 1e6)
        return 3.0 * self.bandwidth / c


def sample_positions(n: int, sample: int = 2000, seed: int = 0) -> np.ndarray:
    """Sorted row positions of the seeded reference sample (all rows when n <= sample): the
    points that choose the bandwidth and the median. A function of (n, sample, seed) only, so
    an executor holding the corpus in shards picks the very same rows."""
    return np.sort(np.random.default_rng(seed).choice(n, min(n, sample), replace=False))


def data_bandwidth(vectors, neighbours: int = 10, sample: int = 2000, seed: int = 0) -> float:
    """Median distance from a point to its `neighbours`-th nearest neighbour, among a seeded
    sample of `sample` vectors (all of them when fewer). The sample has a fixed size, so the
    width does not shrink as the corpus grows: one scale for 2k and 2M documents alike."""
    if vectors.shape[0] < 2:
        raise DensityError(f"density needs at least 2 vectors to choose a bandwidth, got {vectors.shape[0]}")
    x = _float32(np, vectors[sample_positions(vectors.shape[0], sample, seed)], "cpu")
    sq = (x * x).sum(axis=1)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2 * (x @ x.T), 0, None)
    np.fill_diagonal(d2, np.inf)  # a point is not its own neighbour
    k = min(neighbours, len(x) - 1)
    h = float(np.sqrt(np.median(np.partition(d2, k - 1, axis=1)[:, k - 1])))
    if not h > 0:
        raise DensityError("density cannot choose a bandwidth: the sampled vectors are identical")
    return h


def _collision_probability(c: float) -> float:
    """Probability that one p-stable hash of width w collides at distance d, with c = d / w."""
    from scipy import stats  # noqa: PLC0415

    return (1 - 2 * stats.norm.cdf(-1 / c)
            - 2 * c / np.sqrt(2 * np.pi) * (1 - np.exp(-1 / (2 * c * c))))


class LSHDensitySketch:
    """RACE sketch: `add` vectors in one streaming pass, then `query` kernel-density estimates.

    Memory is n_hashes x n_buckets counters whatever the corpus size; time is linear in it.
    Vectors may be NumPy arrays or torch tensors; they are moved to `device` in batches.
    """

    def __init__(self, config: DensityConfig, dim: int, device: str = "cpu",
                 batch_size: int = 32_768) -> None:
        self.config, self.dim, self.device, self.batch_size = config, int(dim), device, batch_size
        r, k = config.n_hashes, config.hashes_per_row
        # Hash parameters from NumPy only, so CPU and GPU workers draw identical functions.
        rng = np.random.default_rng([config.seed, self.dim])
        width = config.bucket_width()
        proj = rng.standard_normal((self.dim, r * k), dtype=np.float32) / width
        shift = (rng.uniform(0, 1, r * k) + _ORIGIN).astype(np.float32)  # b / w, b ~ U[0, w)
        mult = rng.integers(1, _MULT_BOUND, (r, k), dtype=np.int32)  # folds K values into a key
        offsets = np.arange(r, dtype=np.int32) * config.n_buckets  # row r's slice of the counts
        self.xp = np if device == "cpu" else _torch()
        self._proj, self._shift, self._mult, self._offsets = (
            self._asarray(a) for a in (proj, shift, mult, offsets))
        self.counts = self._asarray(np.zeros((r, config.n_buckets), dtype=np.int32))
        self.n = 0
        self.reference = 1.0  # divisor of relative densities, set by `shard_calibrate`

    def _asarray(self, a):
        return _to(self.xp, a, self.device)

    def _batches(self, vectors):
        """Yield float32 batches (m, dim) on the backend; one clear error for a wrong shape."""
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise DensityError(f"density expects vectors of shape (n, {self.dim}), "
                               f"got {tuple(vectors.shape)}")
        for start in range(0, vectors.shape[0], self.batch_size):
            yield _float32(self.xp, vectors[start:start + self.batch_size], self.device)

    def _flat_buckets(self, x):
        """Flat counter index of each (vector, row): (m, dim) -> (m, R) integers."""
        r, k = self.config.n_hashes, self.config.hashes_per_row
        proj = x @ self._proj
        proj += self._shift  # (m, R*K) p-stable hash values floor(a.x / w + b / w) + _ORIGIN
        if self.xp is np:  # einsum: one pass, no (m, R, K) temporary
            h = proj.astype(np.int32).reshape(-1, r, k)
            key = np.einsum("mrk,rk->mr", h, self._mult)
        else:
            key = (proj.int().reshape(-1, r, k) * self._mult).sum(axis=2, dtype=self.xp.int32)
        flat = self.xp.remainder(key, self.config.n_buckets) + self._offsets
        return flat if self.xp is np else flat.long()  # torch indexes with int64

    def add(self, vectors) -> "LSHDensitySketch":
        """Count `vectors` (n, dim) into the sketch; call repeatedly to stream a corpus."""
        size = self.counts.shape[0] * self.counts.shape[1]
        for x in self._batches(vectors):
            hits = self.xp.bincount(self._flat_buckets(x).reshape(-1), minlength=size)
            self.counts += hits.reshape(self.counts.shape).astype(np.int32) if self.xp is np \
                else hits.reshape(self.counts.shape).int()
            self.n += x.shape[0]
        return self

    def query(self, vectors, members: bool = False) -> np.ndarray:
        """Estimated (1/n) sum_i k(q, x_i) for each query, float64 (m,) in [0, 1].

        `members=True` says the queries were added to the sketch: each then leaves itself out
        (a vector shares its own counter in every row, so exactly n_hashes counts are its own)
        and the mean runs over the other n - 1. Without that, the k(0) = 1 self term adds 1/n
        to every score: a floor that flattens small corpora and changes with corpus size."""
        if self.n == 0 or (members and self.n < 2):
            raise DensityError(f"density sketch holds {self.n} vectors: add "
                               f"{'at least 2' if members else 'vectors'} before querying")
        flat_counts = self.counts.reshape(-1)
        out = [flat_counts[self._flat_buckets(x)].sum(axis=1, dtype=self.xp.int64)
               for x in self._batches(vectors)]
        if not out:
            return np.zeros(0)
        total = np.concatenate([o if self.xp is np else o.cpu().numpy() for o in out])
        own, n = (self.config.n_hashes, self.n - 1) if members else (0, self.n)
        return (total - own).astype(np.float64) / (self.config.n_hashes * n)

    def merge(self, other: "LSHDensitySketch") -> "LSHDensitySketch":
        """Add another sketch's counts in place: equals one sketch built on both corpora."""
        if other.config != self.config or other.dim != self.dim:
            raise DensityError(f"cannot merge density sketches with different settings: "
                               f"{self.config.key()} dim {self.dim} vs {other.config.key()} "
                               f"dim {other.dim}")
        self.counts += self._asarray(other.counts)
        self.n += other.n
        return self

    def state_dict(self) -> dict:
        """Everything needed to rebuild this sketch elsewhere (hashes come from config + dim)."""
        counts = self.counts if self.xp is np else self.counts.cpu().numpy()
        return {"config": asdict(self.config), "dim": self.dim, "n": self.n, "counts": counts,
                "reference": self.reference}

    @classmethod
    def from_state_dict(cls, state: dict, device: str = "cpu") -> "LSHDensitySketch":
        sketch = cls(DensityConfig(**state["config"]), state["dim"], device=device)
        sketch.counts = sketch._asarray(np.asarray(state["counts"], dtype=np.int32).copy())
        sketch.n = int(state["n"])
        sketch.reference = float(state.get("reference", 1.0))
        return sketch

    def to_bytes(self) -> bytes:
        """Compressed .npz bytes, for shipping a partial sketch between processes."""
        state, buf = self.state_dict(), io.BytesIO()
        meta = json.dumps({k: state[k] for k in ("config", "dim", "n", "reference")})
        np.savez_compressed(buf, counts=state["counts"], meta=np.array(meta))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, device: str = "cpu") -> "LSHDensitySketch":
        with np.load(io.BytesIO(data)) as z:
            state = json.loads(str(z["meta"]))
            state["counts"] = z["counts"]
        return cls.from_state_dict(state, device=device)


def _torch():
    import torch  # noqa: PLC0415 (only for non-CPU devices; NumPy alone runs the CPU path)
    return torch


def _to(xp, a, device):
    """`a` (NumPy array or torch tensor) on backend `xp` (numpy or torch) at `device`."""
    if xp is np:
        return a.cpu().numpy() if hasattr(a, "cpu") else np.asarray(a)
    return xp.as_tensor(a, device=device)


def _float32(xp, a, device):
    a = _to(xp, a, device)
    return a.astype(np.float32, copy=False) if xp is np else a.float()


def density_scores(vectors, config: DensityConfig | None = None, device: str = "cpu",
                   batch_size: int = 32_768, relative: bool = True) -> np.ndarray:
    """Each vector's density among `vectors` (n, dim), itself left out, (n,).

    `relative=True` (the stored signal) divides by the median of the reference sample
    (`sample_positions`, `reference_median`), which estimates the corpus median:
    1 = typical, 0.1 = ten times rarer than typical, whatever the corpus size. `relative=False`
    gives the sketch's mean kernel value, the scale of `exact_kde`. A config without a
    bandwidth gets one from the data (`DensityConfig.resolved`)."""
    if len(vectors) < 2:
        raise DensityError(f"density needs at least 2 vectors, got {len(vectors)}")
    config = (config or DensityConfig()).resolved(vectors)
    sketch = LSHDensitySketch(config, vectors.shape[-1], device=device, batch_size=batch_size)
    starts = range(0, vectors.shape[0], batch_size)
    show = vectors.shape[0] > 4 * batch_size  # a bar only when it takes more than seconds
    for start in tqdm(starts, desc="density sketch", disable=not show):
        sketch.add(vectors[start:start + batch_size])
    raw = np.concatenate([sketch.query(vectors[s:s + batch_size], members=True)
                          for s in tqdm(starts, desc="density query", disable=not show)])
    if not relative:
        return raw
    return raw / reference_median(raw[sample_positions(len(raw), config.sample, config.seed)])


def reference_median(values: np.ndarray) -> float:
    """The divisor of relative densities: the median of the reference sample's raw densities
    (the mean of the positive ones when over half are 0; 1 when all are)."""
    values = np.asarray(values, dtype=np.float64)
    positive = values[values > 0]
    return float(np.median(values)) or (float(positive.mean()) if len(positive) else 1.0)


def exact_kde(vectors, bandwidth: float, queries=None, device: str = "cpu",
              chunk: int = 2048, leave_one_out: bool = False) -> np.ndarray:
    """Exact mean Gaussian kernel (1/n) sum_i exp(-|q - x_i|^2 / 2h^2) per query, (m,).

    The reference the sketch approximates; O(n m dim) time, chunked so 20k x 20k fits easily.
    Unnormalised (no (2 pi h^2)^(-dim/2) factor, which under/overflows in 384-d): ranks equal
    a normalised KDE's. `queries` defaults to `vectors`; `leave_one_out` (only then) drops each
    point's own k(0) = 1 term and averages over the other n - 1, as `density_scores` does."""
    if not bandwidth > 0:
        raise DensityError(f"density bandwidth must be > 0, got {bandwidth}")
    xp = np if device == "cpu" else _torch()
    x = _float32(xp, vectors, device)
    q_all = x if queries is None else _float32(xp, queries, device)
    x_sq = (x * x).sum(axis=1)
    chunk = max(1, min(chunk, 2**26 // x.shape[0]))  # (chunk, n) float32 blocks of <= 256 MiB
    out = []
    for start in range(0, q_all.shape[0], chunk):
        q = q_all[start:start + chunk]
        d2 = (q * q).sum(axis=1)[:, None] + x_sq[None, :] - 2 * (q @ x.T)  # (chunk, n)
        k = xp.exp(-xp.clip(d2, 0, None) / (2 * bandwidth ** 2)).sum(axis=1)
        out.append(k if xp is np else k.cpu().numpy())
    total = np.concatenate(out).astype(np.float64)
    if leave_one_out and queries is None:
        return (total - 1.0) / max(1, x.shape[0] - 1)
    return total / x.shape[0]


def rank_correlation(a, b) -> float:
    """Spearman rank correlation of two score vectors (scipy)."""
    from scipy import stats  # noqa: PLC0415
    return float(stats.spearmanr(np.asarray(a), np.asarray(b)).statistic)


# --- the sharded form (Ray): engine.stages' ShardPlan hooks around fit / merge / apply ----------

shard_prepare = DensityConfig.resolved  # (config, sample) -> config: the bandwidth, before the shards


def shard_calibrate(state: bytes, sample, config: DensityConfig) -> bytes:  # noqa: ARG001
    """After the merge: the merged sketch learns the reference median, as `density_scores` does."""
    sketch = LSHDensitySketch.from_bytes(state)
    sketch.reference = reference_median(sketch.query(sample, members=True))
    return sketch.to_bytes()


def shard_apply(state: bytes, vectors, device: str = "cpu") -> np.ndarray:
    """Relative densities of a shard's vectors (members of the corpus) from the merged sketch."""
    sketch = LSHDensitySketch.from_bytes(state, device=device)
    return sketch.query(vectors, members=True) / sketch.reference
