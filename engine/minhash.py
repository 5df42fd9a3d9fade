"""MinHash LSH over word shingles, vectorised with NumPy (Broder 1997, "On the resemblance and
containment of documents"; banding as in Leskovec et al., "Mining of Massive Datasets", ch. 3).

datasketch (pinned) computes the same kind of signature one document at a time with a SHA-1 per
shingle (about 2,500 documents/s here for 200 shingles each); this module hashes words once per
batch, builds shingle hashes and all permutations as array operations, and verifies LSH
candidates against their bucket's first member, so a million short documents fit in minutes.
bench/near_dups_speed.md measures both. The band/row split minimises false positives + false
negatives around the threshold, as datasketch's `MinHashLSH` does.

Contract: `signatures(texts, num_perm, shingle, seed)` -> (n, num_perm) uint32 (a text with no
words gets all-max values and is never a candidate); `clusters(sig, threshold)` -> per document
the index of its cluster's first member (itself when alone). Same input + seed -> same output.
"""
from __future__ import annotations

import re
import zlib

import numpy as np

_EMPTY = np.uint32(0xFFFFFFFF)
_WORD = re.compile(r"\w+")


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (a odd, b) of the multiply-shift hashes ((a * h + b) mod 2**64) >> 32 (Dietzfelbinger
    et al. 1997): no modulo by a prime, which NumPy does several times slower on uint64."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, np.iinfo(np.uint64).max, num_perm, dtype=np.uint64, endpoint=True) | np.uint64(1)
    return a, rng.integers(0, np.iinfo(np.uint64).max, num_perm, dtype=np.uint64, endpoint=True)


def shingle_hashes(text: str, shingle: int, vocab: dict) -> np.ndarray:
    """32-bit hashes of the text's lower-cased word `shingle`-grams (the whole text when shorter)."""
    words = _WORD.findall(text.lower()) if isinstance(text, str) else []
    if not words:
        return np.zeros(0, np.uint64)
    ids = np.fromiter((vocab.setdefault(w, zlib.crc32(w.encode())) for w in words), np.uint64, len(words))
    k = min(shingle, len(ids))
    h = np.zeros(len(ids) - k + 1, np.uint64)
    for j in range(k):  # polynomial combination of the k word hashes (wrapping uint64 arithmetic)
        h = h * np.uint64(1_000_003) ^ ids[j:len(ids) - k + 1 + j]
    return (h ^ (h >> np.uint64(32))) & np.uint64(0xFFFFFFFF)


def signatures(texts, num_perm: int = 128, shingle: int = 5, seed: int = 1, batch: int = 1000) -> np.ndarray:
    """(n, num_perm) uint32 MinHash signatures of `texts` (any iterable of strings)."""
    a, b = permutations(num_perm, seed)
    vocab, out, texts = {}, [], list(texts)
    for start in range(0, len(texts), batch):
        parts = [shingle_hashes(t, shingle, vocab) for t in texts[start:start + batch]]
        sig = np.full((len(parts), num_perm), _EMPTY, np.uint32)
        sizes = np.array([len(p) for p in parts])
        if sizes.sum():
            flat = np.concatenate(parts)
            values = ((flat[:, None] * a + b) >> np.uint64(32)).astype(np.uint32)
            nonempty = np.flatnonzero(sizes)
            offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])[nonempty]
            sig[nonempty] = np.minimum.reduceat(values, offsets, axis=0)
        out.append(sig)
        if len(vocab) > 2_000_000:  # bounded memory on huge vocabularies; hashes do not depend on it
            vocab.clear()
    return np.concatenate(out) if out else np.zeros((0, num_perm), np.uint32)


def bands_rows(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimising the area of false positives below
    the threshold plus false negatives above it (equal weights)."""
    s = np.linspace(0, 1, 201)
    best, best_err = (1, num_perm), np.inf
    for bands in range(1, num_perm + 1):
        rows = num_perm // bands
        p = 1 - (1 - s ** rows) ** bands  # P(candidate | Jaccard s)
        err = np.trapezoid(np.where(s < threshold, p, 1 - p), s)
        if err < best_err:
            best, best_err = (bands, rows), err
    return best


def clusters(sig: np.ndarray, threshold: float = 0.8) -> np.ndarray:
    """Per document the smallest index in its near-duplicate cluster: documents sharing an LSH
    bucket are linked when their estimated Jaccard similarity (share of equal signature values)
    with the bucket's first member is >= threshold; clusters are the connected components."""
    from scipy.sparse import coo_matrix  # noqa: PLC0415
    from scipy.sparse.csgraph import connected_components  # noqa: PLC0415

    n, num_perm = sig.shape
    if n == 0:
        return np.zeros(0, np.int64)
    bands, rows = bands_rows(threshold, num_perm)
    live = np.flatnonzero(~(sig == _EMPTY).all(1))  # texts without words are never candidates
    src, dst = [], []
    for band in range(bands):
        block = np.ascontiguousarray(sig[live, band * rows:(band + 1) * rows])
        _, first, inverse = np.unique(block.view(np.dtype((np.void, block.itemsize * rows))).ravel(),
                                      return_index=True, return_inverse=True)
        anchor = live[first[inverse]]
        cand = live[anchor != live]
        anchor = anchor[anchor != live]
        if len(cand):
            similar = (sig[cand] == sig[anchor]).mean(1) >= threshold
            src.append(cand[similar])
            dst.append(anchor[similar])
    if not src:
        return np.arange(n)
    src, dst = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    first_of = np.full(labels.max() + 1, n, np.int64)
    np.minimum.at(first_of, labels, np.arange(n))
    return first_of[labels]
