"""The stage registry: every corpus stage and signal of Seedbed, described once.

A `Stage` says what it is called (name, label, help, which end of its value is good), what it
computes (kind, config class, batch function, what it reads and needs) and how its output is
stored (`Output`). The executors run these descriptions - `engine.pipeline` in this process,
`engine.ray_backend` on a Ray cluster - and the CLI, `select`, `explore`, `ui` and the pages read
names, labels, defaults and help from here.

Adding a signal = one module + one line in `STAGES`:
  engine/mysignal.py: a frozen dataclass `MyConfig` with `key()` (model fingerprint + every
  result-changing non-default setting) and `score_batch(texts, config) -> values | (values, truncated)`
  (import torch inside functions: `engine.batching`); then
  `Stage("mysignal", SIGNAL, mysignal.MyConfig, mysignal.score_batch, SCORES, "My signal", "what it measures")`.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from engine import askllm, clusters, density, distill, embed, ensemble, judges, perplexity, project, review
from engine import gopher, language, line_rules, near_dups
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
    runner: Callable | None = None  # reads="stage": runner(ws, corpus, config, progress, embed_model) -> StageResult
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


def _density_batch(vectors: np.ndarray, config) -> np.ndarray:
    from engine.models import pick_device  # noqa: PLC0415 (imports torch only when a device is probed)

    return density.density_scores(vectors, config, device=pick_device())


def _density_fit(vectors: np.ndarray, config) -> bytes:
    from engine.models import pick_device  # noqa: PLC0415

    return density.LSHDensitySketch(config, vectors.shape[1], device=pick_device()).add(vectors).to_bytes()


def _density_merge(parts: list[bytes]) -> bytes:
    merged = density.LSHDensitySketch.from_bytes(parts[0])
    for part in parts[1:]:
        merged.merge(density.LSHDensitySketch.from_bytes(part))  # RACE counts add
    return merged.to_bytes()


def _density_apply(state: bytes, vectors: np.ndarray, config) -> np.ndarray:  # noqa: ARG001
    from engine.models import pick_device  # noqa: PLC0415

    return density.shard_apply(state, vectors, device=pick_device())


@dataclass(frozen=True)
class Quiet:
    """A signal module's `score_batch` without its own tqdm bar (the executors report progress);
    a class, not a closure, so Ray ships it to its actors by pickling."""

    fn: Callable

    def __call__(self, texts, config):
        return self.fn(texts, config, show_progress=False)


STAGES: tuple[Stage, ...] = (
    Stage("embed", VECTORS, embed.EmbedConfig, embed.embed_batch, EMBEDDINGS, "Embeddings",
          "sentence embeddings: the space of density, clusters and the map", good="", select="",
          hint="run `python -m engine embed --corpus {corpus}` first", chunk=(256, 16384)),
    Stage("askllm", SIGNAL, askllm.AskLLMConfig, Quiet(askllm.score_batch), SCORES, "Ask-LLM quality",
          "the judge LM's P(yes) that the document is worth training on (Sachdeva et al. 2024)",
          defaults=judges.askllm_defaults),  # the best installed judge on a GPU (engine/judges.py)
    Stage("perplexity", SIGNAL, perplexity.PerplexityConfig, Quiet(perplexity.score_batch), SCORES,
          "Fluency (-log perplexity)", "a small LM's mean log-likelihood per token; higher = more fluent"),
    Stage("density", SIGNAL, density.DensityConfig, _density_batch, SCORES, "Density",
          "kernel density among the corpus's embeddings; low = rare, kept by inverse-propensity sampling",
          good="low", reads="vectors", needs=("embed",), select="ips",
          hint="run `python -m engine density --corpus {corpus}` first",
          shards=ShardPlan(_density_fit, _density_merge, _density_apply,
                           density.shard_prepare, density.shard_calibrate)),
    Stage("clusters", CLUSTERS, clusters.ClusterConfig, None, SCORES, "Topic clusters",
          "k-means topics over the embeddings, named by c-TF-IDF keywords; the map and the per-cluster audit",
          good="", reads="vectors", needs=("embed",), select="",
          hint="run `python -m engine clusters --corpus {corpus}` first"),
    Stage("project", MAP, project.ProjectConfig, None, PROJECTIONS, "Map (UMAP)",
          "2-D UMAP map of the corpus for the dashboard", good="", reads="vectors", needs=("embed",), select="",
          hint="run `python -m engine project --corpus {corpus}` first"),
    Stage("curator", SIGNAL, review.CuratorConfig, None, SCORES, "Curator",
          "a classifier of the curator's accept/reject decisions: P(accept)", reads="none", needs=("embed",),
          hint="accept and reject documents on the Review page, then train the curator signal there"),
    Stage("distilled", SIGNAL, distill.DistillConfig, None, SCORES, "Distilled judge",
          "a head on the embeddings trained on the judge's scores of a sample: the judge at embedding speed",
          reads="stage", needs=("embed",), runner=distill.run_distilled),
    Stage("gopher_quality", SIGNAL, gopher.GopherQualityConfig, gopher.quality_batch, DETAILS, "Gopher quality rules",
          "share of the Gopher quality rules passed (1 = all; Rae et al. 2021)", select="", chunk=(512, 4096)),
    Stage("gopher_repetition", SIGNAL, gopher.GopherRepetitionConfig, gopher.repetition_batch, DETAILS,
          "Gopher repetition rules", "share of the Gopher repetition rules passed (1 = all; Rae et al. 2021)",
          select="", chunk=(512, 4096)),
    Stage("c4_rules", SIGNAL, line_rules.C4Config, line_rules.c4_batch, DETAILS, "C4 rules",
          "share of the C4 page rules passed (1 = all; Raffel et al. 2020)", select="", chunk=(512, 4096)),
    Stage("fineweb_rules", SIGNAL, line_rules.FineWebConfig, line_rules.fineweb_batch, DETAILS, "FineWeb rules",
          "share of the FineWeb line rules passed (1 = all; Penedo et al. 2024)", select="", chunk=(512, 4096)),
    Stage("language", SIGNAL, language.LanguageConfig, language.language_batch, DETAILS, "Language (confidence)",
          "py3langid's confidence in the document's language (the code is stored beside it)", good="", select="",
          chunk=(512, 4096)),
    Stage("near_dups", SIGNAL, near_dups.NearDupConfig, None, SCORES, "Near-duplicate kept",
          "1 = kept (unique, or its near-duplicate cluster's representative), 0 = a near-duplicate of a kept document "
          "(MinHash LSH over word shingles)", select="", reads="stage",
          runner=lambda *a: StageResult(*near_dups.run_near_dups(*a))),
    Stage("quality", SIGNAL, ensemble.EnsembleConfig, None, SCORES, "Quality (combined)",
          "mean percentile rank of the active quality signals; a logistic stack on curator decisions when "
          "there are enough", reads="stage", runner=ensemble.run_quality),
)


def registry_constants(module: str, **makers: Callable[[], tuple]) -> Callable[[str], tuple]:
    """A module-level `__getattr__` that reads each named constant from the registry on every
    access, so a list of stage names in another module is never stale after `register`."""
    def __getattr__(name: str) -> tuple:
        if name in makers:
            return makers[name]()
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    return __getattr__


def stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise UserError(f"unknown stage '{name}': choose one of {', '.join(s.name for s in STAGES)}")


def register(new: Stage) -> None:
    """Add (or replace) a stage at run time: for tests and plug-ins; built-ins are listed above."""
    global STAGES
    STAGES = tuple(s for s in STAGES if s.name != new.name) + (new,)


def signals(select: str | None = None) -> list[Stage]:
    """Every signal (a per-document value stored in `scores`), or those that `select` uses so."""
    return [s for s in STAGES if s.kind == SIGNAL and (select is None or s.select == select)]


def computed_signals() -> list[Stage]:
    """Signals an executor computes from the documents (`score` / `pipeline --signals`)."""
    return [s for s in signals() if s.reads == "text" or s.runner is not None]


def embedding_key(model: str | None = None) -> str:
    """The `embeddings.model` value for a model reference (None: the default embedder)."""
    return stage("embed").make_config(model=model).key()


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
