"""MinHash LSH over word shingles (Broder 1997, "On the resemblance and containment of
documents"; banding as in Leskovec et al., "Mining of Massive Datasets", ch. 3).

Signatures come from datasketch (pinned): a NumPy multiply-shift version written here was no
faster on this machine (bench/results/filters_speed.json has the comparison), so the library does it.
The LSH step is vectorised instead of datasketch's `MinHashLSH` (a Python dict per band, an
object per document): per band, rows are grouped with `np.unique`, each candidate is verified
against its bucket's first member by the share of equal signature values, and clusters are the
connected components. The band/row split minimises false positives + false negatives around the
threshold, as `MinHashLSH` does (weighted towards recall: `bands_rows`).

Contract: `signatures(texts, num_perm, shingle, seed)` -> (n, num_perm) uint32 (a text with no
words gets all-max values and is never a candidate); `clusters(sig, threshold)` -> per document
the index of its cluster's first member (itself when alone). Same input + seed -> same output.
"""
from __future__ import annotations

import re

import numpy as np

_EMPTY = np.uint32(0xFFFFFFFF)
_WORD = re.compile(r"\w+")


MAX_CHARS = 200_000  # a document is compared on its first 200k characters: a 50 MB line stays cheap


def shingles(text: str, shingle: int) -> list[bytes]:
    """The lower-cased word `shingle`-grams of the text's first `MAX_CHARS` characters, as bytes
    (the whole text when shorter; none without words)."""
    words = _WORD.findall(text[:MAX_CHARS].lower()) if isinstance(text, str) else []
    k = min(shingle, len(words))
    return [" ".join(words[i:i + k]).encode() for i in range(len(words) - k + 1)] if words else []


def signatures(texts, num_perm: int = 128, shingle: int = 5, seed: int = 1, batch: int = 1000) -> np.ndarray:
    """(n, num_perm) uint32 MinHash signatures of `texts` (any iterable of strings), computed by
    datasketch in batches so only a batch of its MinHash objects is alive at a time."""
    from datasketch import MinHash  # noqa: PLC0415

    texts, out = list(texts), np.full((len(texts), num_perm), _EMPTY, np.uint32)
    for start in range(0, len(texts), batch):
        parts = [shingles(t, shingle) for t in texts[start:start + batch]]
        for i, h in enumerate(MinHash.bulk(parts, num_perm=num_perm, seed=seed)):
            out[start + i] = h.hashvalues  # no shingles: datasketch's max hash, 2**32 - 1 = _EMPTY
    return out


def bands_rows(threshold: float, num_perm: int, fn_weight: float = 0.9) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimising the weighted area of false positives
    below the threshold and false negatives above it. False negatives weigh more (0.9 vs 0.1):
    a false candidate only costs one verification against the signatures, a missed pair is lost."""
    s = np.linspace(0, 1, 201)
    best, best_err = (1, num_perm), np.inf
    for bands in range(1, num_perm + 1):
        rows = num_perm // bands
        p = 1 - (1 - s ** rows) ** bands  # P(candidate | Jaccard s)
        err = np.trapezoid(np.where(s < threshold, (1 - fn_weight) * p, fn_weight * (1 - p)), s)
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
