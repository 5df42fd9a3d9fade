"""The stage registry: every corpus stage and signal of Seedbed, described once.

A `Stage` (the vocabulary lives in `engine.stage_base`) says what it is called (name, label, help, which end of its value is good), what it
computes (kind, config class, batch function, what it reads and needs) and how its output is
stored (`Output`). The executors run these descriptions - `engine.pipeline` in this process,
`engine.ray_backend` on a Ray cluster; stages with their own recipe name their runner in
`engine.stage_runners` - and the CLI, `select`, `explore`, `ui` and the pages read
names, labels, defaults and help from here.

Adding a signal = one module + one line in `STAGES`:
  engine/mysignal.py: a frozen dataclass `MyConfig` with `key()` (model fingerprint + every
  result-changing non-default setting) and `score_batch(texts, config) -> values | (values, truncated)`
  (import torch inside functions: `engine.batching`); then
  `Stage("mysignal", SIGNAL, mysignal.MyConfig, mysignal.score_batch, SCORES, "My signal", "what it measures")`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from engine import askllm, clusters, density, distill, embed, ensemble, judges, perplexity, project, review
from engine import gopher, language, line_rules, near_dups
from engine.errors import UserError
from engine.stage_base import (  # noqa: F401 (the vocabulary, re-exported: `stages.Stage` etc.)
    CLUSTERS, DETAILS, EMBEDDINGS, KINDS, MAP, PROJECTIONS, SCORES, SIGNAL, VECTORS, Output, Quiet, ShardPlan, Stage,
    StageResult, require_corpus, timer)


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
          reads="stage", needs=("embed",), runner="run_distilled"),
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
          "there are enough", reads="stage", runner="run_quality"),
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



def member_signals() -> list[str]:
    """The quality signals `quality` combines: every "top" signal but the curator's own
    classifier and `quality` itself."""
    return [s.name for s in signals(select="top") if s.name not in ("curator", "quality")]


def good_ends() -> dict[str, str]:
    """Stage name -> which end of its value is good ("high", "low" or "")."""
    return {s.name: s.good for s in STAGES}
