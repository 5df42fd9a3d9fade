"""The stage vocabulary: what a stage is (`Stage`, `Output`, `ShardPlan`), what running one
returns (`StageResult`) and the helpers every runner shares (`require_corpus`, `timer`).

The bottom of the engine's stage layers: it imports storage and errors, never an algorithm or an
executor. Above it: the registry (`engine.stages`, which lists the built-in stages), the
executors (`engine.pipeline` in this process, `engine.ray_backend` on Ray, both over
`engine.executor`) and the runners of stages with their own recipe (`engine.stage_runners`).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from engine.errors import UserError
from engine.storage import corpus as store
from engine.storage import details as detail_store
from engine.storage import signals as signal_store

VECTORS, SIGNAL, MAP, CLUSTERS = "vectors", "signal", "map", "clusters"
KINDS = (VECTORS, SIGNAL, MAP, CLUSTERS)


@dataclass
class StageResult:
    """What any stage did: documents computed now vs found stored, wall time, a one-line summary;
    `detail` holds the stage's own record where it has one (ingest report, selection)."""

    stage: str
    n_computed: int = 0
    n_cached: int = 0
    seconds: float = 0.0
    message: str = ""
    detail: Any = None

    def summary(self) -> str:
        return f"{self.stage}: {self.message} [{self.seconds:.1f} s]"


# --- how outputs are stored ---------------------------------------------------------------------

def _score_columns(output) -> tuple[np.ndarray, np.ndarray]:
    """(values float64, truncated bool) from a signal batch function's `values` or `(values, truncated)`."""
    values, truncated = output if isinstance(output, tuple) else (output, None)
    values = np.asarray(values, np.float64)
    return values, np.zeros(len(values), bool) if truncated is None else np.asarray(truncated, bool)


def _score_table(doc_ids: pa.Array, output) -> pa.Table:
    values, truncated = _score_columns(output)
    return pa.table({"doc_id": doc_ids, "value": values, "truncated": truncated})


def _vector_table(doc_ids: pa.Array, vectors) -> pa.Table:
    vectors = np.ascontiguousarray(vectors, np.float32)
    return pa.table({"doc_id": doc_ids,
                     "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1])})


@dataclass(frozen=True)
class Output:
    """Where a stage's output lives: `table` (also the cache the executors check for missing
    documents), `put(con, key, doc_ids, output)` for one in-process chunk, `attach(con, key, files)`
    for Ray's Parquet shards, `to_table(doc_ids, output)` to write such a shard."""

    table: str
    put: Callable
    attach: Callable
    to_table: Callable


SCORES = Output("scores", lambda con, key, ids, out: signal_store.put_scores(con, key, ids, *_score_columns(out)),
                signal_store.attach_score_shards, _score_table)
DETAILS = Output("scores", detail_store.put_details, detail_store.attach_detail_shards, detail_store.details_table)
EMBEDDINGS = Output("embeddings", signal_store.put_embeddings, signal_store.attach_embedding_shards, _vector_table)
PROJECTIONS = Output("projections", None, None, None)  # replaced whole per corpus: see pipeline.project


@dataclass(frozen=True)
class ShardPlan:
    """How a stage that reads the whole corpus's vectors runs in shards (Ray): `fit(vectors,
    config) -> bytes` per shard, `merge(list of bytes) -> bytes`, `apply(state, vectors, config)
    -> values` per shard. Must give the same values as the stage's `batch` on the whole.
    Optional: `prepare(config, sample) -> config` before the shards and `calibrate(state, sample,
    config) -> state` after the merge, over the reference rows of `density.sample_positions`
    (density: its data-chosen bandwidth and median)."""

    fit: Callable
    merge: Callable
    apply: Callable
    prepare: Callable | None = None
    calibrate: Callable | None = None


@dataclass(frozen=True)
class Stage:
    """One stage. `reads`: "text" (documents in chunks, cached per document), "vectors" (the
    corpus's embeddings at once: relative to the corpus, so its key names corpus and embedder)
    or "none" (computed elsewhere, e.g. the curator from reviews). `select`: how `select` uses a
    signal - "top" (top-k quality), "ips" (inverse-propensity coverage) or "" (not a strategy)."""

    name: str
    kind: str
    config: type
    batch: Callable | None
    output: Output
    label: str
    help: str
    good: str = "high"  # which end of the value is better: "high", "low" or "" (neither)
    reads: str = "text"
    needs: tuple[str, ...] = ()
    select: str = "top"
    hint: str = ""  # how a user computes it, for error messages ({corpus} is filled in)
    chunk: tuple[int, int] = (64, 2048)  # documents per stored chunk on CPU / on a GPU
    shards: ShardPlan | None = None
    # reads="stage": runner(ws, corpus, config, progress, embed_model) -> StageResult, or the name of
    # such a function in `engine.stage_runners` (resolved by the executor, so the registry imports no runner)
    runner: Callable | str | None = None
    defaults: Callable[[dict], dict] | None = None  # settings -> machine-dependent defaults (askllm: the judge)

    def make_config(self, **overrides):
        """The default config with `overrides` (None = keep the default); a UserError names
        settings the config does not have."""
        names = {f.name for f in dataclasses.fields(self.config)}
        unknown = sorted(k for k, v in overrides.items() if v is not None and k not in names)
        if unknown:
            raise UserError(f"{self.kind} '{self.name}' has no setting {', '.join(unknown)}")
        given = {k: v for k, v in overrides.items() if v is not None}
        return self.config(**{**(self.defaults(given) if self.defaults else {}), **given})

    def key(self, config, corpus: str, embed_key: str) -> str:
        """Storage key: `config.key()`, plus corpus and embedder for stages relative to the corpus."""
        return f"{config.key()}:{corpus}:{embed_key}" if self.reads == "vectors" else config.key()

    def params(self, config, embed_key: str) -> dict:
        params = dataclasses.asdict(config)
        return {**params, "embed_model": embed_key} if self.reads == "vectors" else params

    def mark(self, con, corpus: str, key: str, params: dict) -> None:
        """Record `key` as the corpus's active output of this stage (signals and clusters); called
        in the same transaction as the last outputs, so a marker never points at missing rows."""
        if self.kind in (SIGNAL, CLUSTERS):
            signal_store.set_signal(con, corpus, self.name, key, params)

    def how_to_get(self, corpus: str | None) -> str:
        return (self.hint or f"run `python -m engine score --corpus {{corpus}} --signal {self.name}` first").format(
            corpus=corpus or "NAME")


@dataclass(frozen=True)
class Quiet:
    """A signal module's `score_batch` without its own tqdm bar (the executors report progress);
    a class, not a closure, so Ray ships it to its actors by pickling."""

    fn: Callable

    def __call__(self, texts, config):
        return self.fn(texts, config, show_progress=False)


def require_corpus(con, corpus: str) -> int:
    """The corpus's document count; a UserError naming the known corpora when it does not exist."""
    if not store.corpus_exists(con, corpus):
        names = ", ".join(store.list_corpora(con)["name"]) or "none yet"
        raise UserError(f"no corpus named '{corpus}' (known: {names}); "
                        f"ingest one with `python -m engine ingest PATH --corpus {corpus}`")
    return store.count_documents(con, corpus)


def timer() -> Callable[[], float]:
    t0 = time.perf_counter()
    return lambda: time.perf_counter() - t0
