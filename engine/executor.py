"""The executor side of the stage layers: one small protocol every executor follows, and the
chunked, cached execution helpers the in-process executor and the stage runners share.

An executor (`engine.pipeline.LOCAL` in this process, `engine.ray_backend.RayExecutor` on Ray)
says which registry stages it runs (`supports`), runs one (`run_stage`) and ingests a file
(`ingest`); `engine.pipeline.run_pipeline` drives either through this protocol alone. Imports
the stage vocabulary (`engine.stage_base`) and storage; never the registry or an algorithm.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np
import pandas as pd

from engine.errors import UserError
from engine.progress import ProgressFn, adaptive_steps, report
from engine.stage_base import Stage, StageResult, require_corpus
from engine.storage import Workspace
from engine.storage import signals as signal_store


class Executor(Protocol):
    """What `run_pipeline` needs of an executor. `run_stage` of a stage it does not support
    hands it to the in-process executor and says so in the result's message."""

    def supports(self, stage: Stage) -> bool: ...

    def run_stage(self, ws: Workspace, corpus: str, name: str, config=None, progress: ProgressFn | None = None,
                  embed_model: str | None = None) -> StageResult: ...

    def ingest(self, ws: Workspace, path, corpus: str, progress: ProgressFn | None = None,
               **kwargs) -> StageResult: ...


def run_cached(ws: Workspace, label: str, missing: pd.DataFrame, n_total: int,
               batch_fn: Callable[[list[str]], Any], write_fn: Callable[[Any, list[str], Any], None],
               chunk_size: int, progress: ProgressFn | None = None, first_step: int | None = None) -> int:
    """Compute `batch_fn(texts)` for the `missing` rows (doc_id, text), shortest first (similar
    lengths pad little), and store each step with `write_fn(con, doc_ids, output)` in its own
    transaction. Steps start at `first_step` documents and then hold what the measured rate does
    in a few seconds (at most `chunk_size`): progress moves and a stop loses little on a busy CPU,
    while a GPU gets full chunks. Reports progress over `n_total` documents (the stored ones count
    as done). Returns how many documents were computed."""
    order = np.argsort(missing["text"].str.len().to_numpy(), kind="stable")
    ids, texts = missing["doc_id"].to_numpy()[order], missing["text"].to_numpy()[order]
    n_cached = n_total - len(ids)
    report(progress, label, n_cached, n_total)
    for start, stop in adaptive_steps(len(ids), first_step or chunk_size, chunk_size):
        output = batch_fn(list(texts[start:stop]))
        with ws.connect() as con:
            write_fn(con, list(ids[start:stop]), output)
        report(progress, label, n_cached + stop, n_total)
    return len(ids)


def chunk_for(chunk_size: int | None, device: str | None, cpu: int, gpu: int) -> int:
    """Documents per stored chunk: `chunk_size` when given; else small on a CPU (progress and
    resume stay fine-grained) and large on a GPU, where a chunk of only a batch or two leaves it
    idle between chunks (bench/results/ray_results_gpu.md measures both)."""
    from engine.models import pick_device  # noqa: PLC0415 (probing the device imports torch)

    return chunk_size or (gpu if pick_device(device).startswith("cuda") else cpu)


def first_step(device: str | None, chunk: int, cpu_first: int = 4) -> int:
    """Documents in a stage's first step: a few on a CPU (the first update comes within seconds,
    before the rate is known), a whole chunk on a GPU."""
    from engine.models import pick_device  # noqa: PLC0415

    return chunk if pick_device(device).startswith("cuda") else min(chunk, cpu_first)


def corpus_vectors(con, corpus: str, embed_key: str) -> tuple[np.ndarray, np.ndarray]:
    """(doc_ids, vectors) of every document of the corpus; a UserError when some lack a vector."""
    n_total = require_corpus(con, corpus)
    ids, vectors = signal_store.embeddings(con, corpus, embed_key)
    require_embedded(corpus, embed_key, n_total, len(ids))
    return ids, vectors


def require_embedded(corpus: str, embed_key: str, n_total: int, n_embedded: int) -> None:
    """A UserError naming how many documents of the corpus have no `embed_key` embedding."""
    if n_embedded < n_total:
        raise UserError(f"{n_total - n_embedded} documents of '{corpus}' have no {embed_key} embedding: "
                        f"run `python -m engine embed --corpus {corpus}` first")
