"""The selection pipeline's stages: ingest -> embed -> score -> density -> project -> select -> export.

Every stage takes the Workspace first, is idempotent and never recomputes what is stored: it
reads the missing (document, key) pairs in one short transaction, computes them in chunks
(no connection held while models run) and writes each chunk in its own transaction, so a
killed stage resumes where it stopped. Embeddings are cached by (model, document hash), scores
by (`config.key()`, document hash); density (relative to the whole corpus) and the projection
are per corpus.
"""
from __future__ import annotations

import dataclasses
import importlib
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from engine.errors import UserError
from engine.export import ExportResult, export_selection
from engine.models import DEFAULT_EMBEDDER, pick_device
from engine.progress import ProgressFn, report
from engine.select import SelectionResult, choose, needed_columns
from engine.storage import Workspace
from engine.storage import corpus as store

SIGNALS = {"askllm": ("engine.askllm", "AskLLMConfig"), "perplexity": ("engine.perplexity", "PerplexityConfig")}


@dataclass
class StageResult:
    """What a stage did: documents computed now vs found stored, wall time, a one-line summary."""

    stage: str
    n_computed: int = 0
    n_cached: int = 0
    seconds: float = 0.0
    message: str = ""


def run_cached(ws: Workspace, label: str, missing: pd.DataFrame, n_total: int,
               batch_fn: Callable[[list[str]], Any], write_fn: Callable[[Any, list[str], Any], None],
               chunk_size: int, progress: ProgressFn | None = None) -> int:
    """Compute `batch_fn(texts)` for the `missing` rows (doc_id, text) in chunks of `chunk_size`
    documents, shortest first (similar lengths pad little), and store each chunk with
    `write_fn(con, doc_ids, output)` in its own transaction. Reports progress over `n_total`
    documents (the stored ones count as done). Returns how many documents were computed."""
    order = np.argsort(missing["text"].str.len().to_numpy(), kind="stable")
    ids, texts = missing["doc_id"].to_numpy()[order], missing["text"].to_numpy()[order]
    n_cached = n_total - len(ids)
    report(progress, label, n_cached, n_total)
    for start in range(0, len(ids), chunk_size):
        chunk_ids, chunk_texts = list(ids[start:start + chunk_size]), list(texts[start:start + chunk_size])
        output = batch_fn(chunk_texts)
        with ws.connect() as con:
            write_fn(con, chunk_ids, output)
        report(progress, label, n_cached + start + len(chunk_ids), n_total)
    return len(ids)


def chunk_for(chunk_size: int | None, device: str | None, cpu: int, gpu: int) -> int:
    """Documents per stored chunk: `chunk_size` when given; else small on a CPU (progress and
    resume stay fine-grained) and large on a GPU, where a chunk of only a batch or two leaves it
    idle between chunks (bench/ray_results_gpu.md measures both)."""
    return chunk_size or (gpu if pick_device(device).startswith("cuda") else cpu)


def require_corpus(con, corpus: str) -> int:
    """The corpus's document count; a UserError naming the known corpora when it does not exist."""
    if not store.corpus_exists(con, corpus):
        names = ", ".join(store.list_corpora(con)["name"]) or "none yet"
        raise UserError(f"no corpus named '{corpus}' (known: {names}); "
                        f"ingest one with `python -m engine ingest PATH --corpus {corpus}`")
    return store.count_documents(con, corpus)


def refuse_existing_selection(con, name: str | None, replace: bool) -> None:
    """A saved selection is the user's: replaced only when asked."""
    old = store.selection(con, name) if name and not replace else None
    if old is not None:
        raise UserError(f"a selection named '{name}' exists (corpus '{old['corpus']}', {old['n_selected']} "
                        "documents); pass --replace to overwrite it or choose another --name")


def embedding_key(model: str) -> str:
    """The `embeddings.model` value for a model reference (alias, HF id, or folder fingerprint)."""
    from engine.models import model_fingerprint

    return model_fingerprint(model)


def ingest(ws: Workspace, path, corpus: str, text_column: str = "text", encoding: str = "utf-8",
           on_decode_error: str = "report", progress: ProgressFn | None = None):
    """Read a JSONL/CSV/Parquet/text file into `corpus` (see `engine.ingest.ingest`)."""
    from engine.ingest import ingest as ingest_file

    return ingest_file(ws, path, corpus, text_column=text_column, encoding=encoding,
                       on_decode_error=on_decode_error, progress=progress)


def embed(ws: Workspace, corpus: str, model: str = DEFAULT_EMBEDDER, batch_size: int = 64,
          progress: ProgressFn | None = None, chunk_size: int | None = None) -> StageResult:
    """Embed every document of `corpus` that has no stored vector for `model`."""
    from engine.embed import embed_texts

    t0, key = time.perf_counter(), embedding_key(model)
    with ws.connect() as con:
        n_total = require_corpus(con, corpus)
        missing = store.missing_embeddings(con, corpus, key)
    n = run_cached(ws, "embed", missing, n_total, lambda texts: embed_texts(texts, model, batch_size),
                   lambda con, ids, vecs: store.put_embeddings(con, key, ids, vecs),
                   chunk_for(chunk_size, None, 256, 16384), progress)
    return StageResult("embed", n, n_total - n, time.perf_counter() - t0,
                       f"embedded {n} documents with {key} ({n_total - n} already stored)")


def signal_config(signal: str, **overrides):
    """The default config of `signal` ("askllm" | "perplexity") with `overrides` (None = default)."""
    if signal not in SIGNALS:
        raise UserError(f"unknown signal '{signal}': choose one of {', '.join(SIGNALS)}")
    module, cls = SIGNALS[signal]
    config_cls = getattr(importlib.import_module(module), cls)
    names = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(k for k, v in overrides.items() if v is not None and k not in names)
    if unknown:
        raise UserError(f"signal '{signal}' has no setting {', '.join(unknown)}")
    return config_cls(**{k: v for k, v in overrides.items() if v is not None})


def score(ws: Workspace, corpus: str, signal: str = "askllm", config=None,
          progress: ProgressFn | None = None, chunk_size: int | None = None) -> StageResult:
    """Score every document of `corpus` that has no stored value under `config.key()` and mark the
    key as the corpus's active `signal`. Partial results are visible (and resumable) at once."""
    config = signal_config(signal) if config is None or signal not in SIGNALS else config
    batch_fn = importlib.import_module(SIGNALS[signal][0]).score_batch
    t0, key, params = time.perf_counter(), config.key(), dataclasses.asdict(config)

    def write(con, ids, output):
        values, truncated = output
        store.put_scores(con, key, ids, values, truncated)
        store.set_signal(con, corpus, signal, key, params)

    with ws.connect() as con:
        n_total = require_corpus(con, corpus)
        missing = store.missing_scores(con, corpus, key)
        if missing.empty:
            store.set_signal(con, corpus, signal, key, params)
    n = run_cached(ws, signal, missing, n_total, lambda texts: batch_fn(texts, config, show_progress=False), write,
                   chunk_for(chunk_size, getattr(config, "device", None), 64, 2048), progress)
    return StageResult(signal, n, n_total - n, time.perf_counter() - t0,
                       f"scored {n} documents as {key} ({n_total - n} already stored)")


def density_signal(config, corpus: str, embed_model: str) -> tuple[str, dict, str]:
    """(signal key, params, embedding key) of a density run: the key names the corpus and the
    embedding model, since density is relative to that corpus in that space."""
    ekey = embedding_key(embed_model)
    return f"{config.key()}:{corpus}:{ekey}", {**dataclasses.asdict(config), "embed_model": ekey}, ekey


def density(ws: Workspace, corpus: str, config=None, embed_model: str = DEFAULT_EMBEDDER,
            progress: ProgressFn | None = None) -> StageResult:
    """Kernel density of every document among the corpus's embeddings (`engine.density`).

    Density is relative to the whole corpus, so when any document lacks a value (new documents
    were ingested) all are recomputed; the key names the corpus and the embedding model."""
    from engine.density import DensityConfig, density_scores

    config, t0 = config or DensityConfig(), time.perf_counter()
    key, params, ekey = density_signal(config, corpus, embed_model)
    with ws.connect() as con:
        n_total = require_corpus(con, corpus)
        n_missing = len(store.missing_scores(con, corpus, key))
        ids, vectors = store.embeddings(con, corpus, ekey) if n_missing else ([], None)
        if not n_missing:
            store.set_signal(con, corpus, "density", key, params)
    if not n_missing:
        return StageResult("density", 0, n_total, time.perf_counter() - t0, f"density {key} already stored")
    if len(ids) < n_total:
        raise UserError(f"{n_total - len(ids)} documents of '{corpus}' have no {ekey} embedding: "
                        f"run `python -m engine embed --corpus {corpus}` first")
    report(progress, "density", 0, n_total)
    values = density_scores(vectors, config, device=pick_device())
    with ws.connect() as con:
        store.put_scores(con, key, list(ids), values)
        store.set_signal(con, corpus, "density", key, params)
    report(progress, "density", n_total, n_total)
    return StageResult("density", n_total, 0, time.perf_counter() - t0,
                       f"density of {n_total} documents as {key}")


def project(ws: Workspace, corpus: str, max_points: int = 20_000, seed: int = 0,
            embed_model: str = DEFAULT_EMBEDDER, progress: ProgressFn | None = None) -> StageResult:
    """UMAP 2-D map of the corpus's embeddings into `projections` (see `engine.project`); kept
    when every document is projected with the same settings."""
    from engine.project import project_vectors

    t0, ekey = time.perf_counter(), embedding_key(embed_model)
    params = {"max_points": int(max_points), "seed": int(seed), "embed_model": ekey}
    with ws.connect() as con:
        n_total = require_corpus(con, corpus)
        if store.count_projected(con, corpus) == n_total and store.projection_params(con, corpus) == params:
            return StageResult("project", 0, n_total, time.perf_counter() - t0, "projection already stored")
        ids, vectors = store.embeddings(con, corpus, ekey)
    if len(ids) < n_total:
        raise UserError(f"{n_total - len(ids)} documents of '{corpus}' have no {ekey} embedding: "
                        f"run `python -m engine embed --corpus {corpus}` first")
    xy, message = project_vectors(vectors, max_points=max_points, seed=seed, progress=progress)
    with ws.connect() as con:
        store.put_projection(con, corpus, list(ids), xy)
        store.set_projection_params(con, corpus, params)
    return StageResult("project", n_total, 0, time.perf_counter() - t0, message)


def select(ws: Workspace, corpus: str, strategy: str, weight: float = 0.5, budget: float | int = 0.2,
           seed: int = 0, name: str | None = None, quality: str = "askllm", replace: bool = False) -> SelectionResult:
    """Choose documents with `engine.select.choose`; saved under `name` when given (an existing
    selection of that name only with `replace`), with the parameters and the signal keys it read."""
    t0 = time.perf_counter()
    with ws.connect() as con:
        require_corpus(con, corpus)
        refuse_existing_selection(con, name, replace)
        frame = store.corpus_frame(con, corpus, snippet_chars=0)
        active = store.signals(con, corpus).drop_duplicates("kind").set_index("kind")["signal_key"]
    result = choose(frame, strategy, weight, budget, seed, quality, corpus=corpus)
    used = needed_columns(strategy, float(weight), quality)
    result.params["signals"] = {k: active[k] for k in used if k in active.index}
    if name:
        with ws.connect() as con:
            store.save_selection(con, name, corpus, strategy, result.params, list(result.doc_ids))
        result.message += f"; saved as '{name}'"
    result.name, result.seconds = name, time.perf_counter() - t0
    return result


def export(ws: Workspace, selection_name: str, out_path, fmt: str | None = None,
           force: bool = False) -> ExportResult:
    """Write a saved selection to JSONL, Parquet or a datasets folder (see `engine.export.export_selection`)."""
    return export_selection(ws, selection_name, out_path, fmt, force=force)


def stage_status(ws: Workspace, corpus: str) -> dict:
    """For the home page: n_docs, embedded (model -> count), signals (kind -> {key, n_scored}),
    projected count, selections (names, newest first)."""
    with ws.connect() as con:
        n_docs = require_corpus(con, corpus)
        scored = store.scored_counts(con, corpus)
        active = store.signals(con, corpus).drop_duplicates("kind")
        return {"n_docs": n_docs, "embedded": store.embedded_counts(con, corpus),
                "signals": {r.kind: {"key": r.signal_key, "n_scored": scored.get(r.signal_key, 0)}
                            for r in active.itertuples()},
                "projected": store.count_projected(con, corpus),
                "selections": list(store.list_selections(con, corpus)["name"])}


def run_pipeline(ws: Workspace, path, corpus: str, text_column: str = "text",
                 signals: tuple[str, ...] = ("askllm",), strategy: str = "combined", weight: float = 0.5,
                 budget: float | int = 0.2, seed: int = 0, selection_name: str | None = None,
                 progress: ProgressFn | None = None, replace: bool = False) -> list:
    """Every stage in order on one file: ingest, embed, score each of `signals`, density, project,
    select (saved as `selection_name`, default "<corpus>-<strategy>"). Returns each stage's result."""
    name = selection_name or f"{corpus}-{strategy}"
    with ws.connect() as con:  # before hours of stages, not after
        refuse_existing_selection(con, name, replace)
    results: list = [ingest(ws, path, corpus, text_column=text_column, progress=progress),
                     embed(ws, corpus, progress=progress)]
    results += [score(ws, corpus, signal, progress=progress) for signal in signals]
    results.append(density(ws, corpus, progress=progress))
    results.append(project(ws, corpus, seed=seed, progress=progress))
    quality = next((s for s in signals if s in ("askllm", "perplexity")), "askllm")
    results.append(select(ws, corpus, strategy, weight, budget, seed, name=name, quality=quality, replace=replace))
    return results
