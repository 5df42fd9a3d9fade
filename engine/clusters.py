"""Topic clusters of a corpus: k-means over the document embeddings, named by c-TF-IDF keywords.

Clusters make coverage visible: the map is coloured and labelled by them and every selection is
audited per cluster (`engine.coverage`). k-means runs on the stored (L2-normalised) sentence
embeddings, so on unit vectors it groups by cosine similarity, with k from the corpus size
(`clusters_for`). Why k-means and not HDBSCAN on the 2-D UMAP map, measured on the skewed
benchmark mixture (bench/results/coverage_results.md): HDBSCAN found 2 clusters (one island and the
rest) - it matches the source label better (NMI 0.32 vs 0.13) but leaves no topics to audit -
and it needs the UMAP map first (the project stage), while k-means gives ~sqrt(n)/2 topics from
the stored embeddings in seconds, with every document in a cluster.

Each cluster's label is its top terms by class-based TF-IDF (Grootendorst 2022, BERTopic,
https://arxiv.org/abs/2203.05794): term counts summed per cluster, weighted by
log(1 + A / f_t), A = mean word count per cluster, f_t = the term's count over all clusters.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields

import numpy as np

from engine.errors import UserError
from engine.storage import signals as signal_store

COLUMN = "cluster"  # the signal kind, so corpus_frame and exports carry a `cluster` column
MIN_DOCS = 20  # below this, clusters of a handful of documents say nothing about topics
_LABEL_CHARS = 1000  # each document's first characters feed its cluster's keywords
_WEB_WORDS = {"apos", "quot", "amp", "nbsp", "http", "https", "www", "com", "html"}  # markup, not topics
_LABEL_DOCS = 20_000  # labels read a seeded sample of this many documents: ~300 per cluster at k = 64


@dataclass(frozen=True)
class ClusterConfig:
    """n_clusters: k, or None to choose it from the corpus size (`clusters_for`).
    n_keywords: terms per label. seed: fixes k-means' initialisation."""

    n_clusters: int | None = None
    n_keywords: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_clusters is not None and self.n_clusters < 2:
            raise UserError(f"clusters: n_clusters must be >= 2, got {self.n_clusters}")
        if self.n_keywords < 1:
            raise UserError(f"clusters: n_keywords must be >= 1, got {self.n_keywords}")

    def key(self) -> str:
        """Storage key from the non-default parameters, e.g. "clusters" or "clusters-n_clusters=8"."""
        default = ClusterConfig()
        parts = [f"{f.name}={getattr(self, f.name)}" for f in fields(self)
                 if getattr(self, f.name) != getattr(default, f.name)]
        return "-".join(["clusters", *parts])

    def params(self) -> dict:
        return dataclasses.asdict(self)


def clusters_for(n_docs: int) -> int:
    """k from corpus size: sqrt(n) / 2, between 2 and 64 (labels stay readable on a map;
    ~25 clusters of ~100 documents at 2.5k, 64 of ~1.5k at 100k)."""
    return int(np.clip(round(np.sqrt(n_docs) / 2), 2, 64))


def check_enough(n_docs: int) -> None:
    if n_docs < MIN_DOCS:
        raise UserError(f"clusters need at least {MIN_DOCS} documents, the corpus has {n_docs}")


def assign_clusters(vectors: np.ndarray, config: ClusterConfig = ClusterConfig()) -> np.ndarray:
    """Cluster id per vector (n,), ids ordered by cluster size (0 = largest)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n = len(vectors)
    check_enough(n)
    k = min(config.n_clusters or clusters_for(n), n)
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if n > 20_000:  # full Lloyd passes cost n*k*dim each; mini-batches reach a like partition
        model = MiniBatchKMeans(k, random_state=config.seed, batch_size=4096, n_init=1)
    else:
        model = KMeans(k, random_state=config.seed, n_init=3)
    raw = model.fit_predict(x)
    by_size = np.argsort(-np.bincount(raw, minlength=k), kind="stable")
    rank = np.empty(k, np.int64)
    rank[by_size] = np.arange(k)
    return rank[raw]


def keyword_labels(texts, labels: np.ndarray, n_keywords: int = 3) -> dict[int, str]:
    """Cluster id -> "term · term · term" by c-TF-IDF over the texts of each cluster."""
    from scipy import sparse  # noqa: PLC0415 (scipy and sklearn cost seconds: imported when used)
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    labels = np.asarray(labels, dtype=np.int64)
    ids = np.unique(labels)
    if len(labels) > _LABEL_DOCS:  # term frequencies of a large cluster settle long before 100k
        rows = np.sort(np.random.default_rng(0).choice(len(labels), _LABEL_DOCS, replace=False))
        texts, labels = [texts[i] for i in rows], labels[rows]
    vectorizer = CountVectorizer(stop_words=sorted(ENGLISH_STOP_WORDS | _WEB_WORDS), max_features=50_000,
                                 token_pattern=r"(?u)\b[^\W\d_]{3,}\b", dtype=np.float32)
    try:
        counts = vectorizer.fit_transform(str(t)[:_LABEL_CHARS] for t in texts)
    except ValueError:  # no word of 3+ letters anywhere (numbers, symbols)
        return {int(c): f"cluster {c}" for c in ids}
    member = sparse.csr_matrix((np.ones(len(labels), np.float32), (labels, np.arange(len(labels)))),
                               shape=(int(ids.max()) + 1, len(labels)))  # ids a sample missed: empty rows
    per_cluster = np.asarray((member @ counts).todense())  # (clusters, terms)
    words = per_cluster.sum(axis=1, keepdims=True)
    tf = per_cluster / np.maximum(words, 1)
    idf = np.log1p(words[ids].mean() / np.maximum(per_cluster.sum(axis=0), 1))
    weight = tf * idf
    vocab = vectorizer.get_feature_names_out()
    out = {}
    for c in ids:
        top = [i for i in np.argsort(-weight[c], kind="stable")[:n_keywords] if weight[c, i] > 0]
        out[int(c)] = " · ".join(vocab[top]) if top else f"cluster {c}"
    return out


def cluster_corpus(vectors: np.ndarray, texts, config: ClusterConfig = ClusterConfig()
                   ) -> tuple[np.ndarray, dict[int, str]]:
    """(cluster id per document, label per cluster) for aligned `vectors` and `texts`."""
    if len(texts) != len(vectors):
        raise UserError(f"clusters: {len(vectors)} vectors but {len(texts)} texts")
    labels = assign_clusters(vectors, config)
    return labels, keyword_labels(texts, labels, config.n_keywords)


# --- the stored stage: cluster ids in `scores`, labels in the signal's params (run by
# `engine.stage_runners.run_clusters`) ------------------------------------------------------

def cluster_key(config: ClusterConfig, corpus: str, embed_key: str) -> str:
    """Clusters are relative to one corpus in one embedding space: the key names both."""
    return f"{config.key()}:{corpus}:{embed_key}"


def stored_params(con, corpus: str, key: str | None = None) -> dict | None:
    """Params of the corpus's clusters stored under `key` (None: the active ones), or None."""
    table = signal_store.signals(con, corpus)  # newest first
    rows = table[(table["kind"] == COLUMN) & ((table["signal_key"] == key) if key else True)]
    return None if rows.empty else json.loads(rows["params"].iloc[0])


def stored_labels(con, corpus: str) -> dict[int, str]:
    """Cluster id -> label of the corpus's active clusters ({} when it has none)."""
    params = stored_params(con, corpus) or {}
    return {int(c): label for c, label in params.get("labels", {}).items()}
