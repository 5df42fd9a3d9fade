"""Run the corpus stages on a Ray cluster (Ray Data): the same batch functions on many GPUs.

An executor, not a stage: ingest, embed, Ask-LLM/perplexity scoring and density call the very
functions the in-process pipeline calls (`engine.ingest.ingest`, `engine.embed.embed_texts`,
`score_batch`, `LSHDensitySketch`); only where they run changes.

Work is cut into Parquet shards under a job folder named after the stage's cache key. A Ray
Data `map_batches` over shard names feeds an actor pool (one model per actor, one actor per GPU
by default); each actor writes a shard's output atomically (temporary file, then rename). So a
worker killed mid-shard is retried by Ray, and a driver restarted on the same folder skips the
shards already written. Outputs are attached to the workspace through DuckDB (`INSERT OR
IGNORE` from `read_parquet`), keyed exactly like the in-process results, so both backends give
the same stored rows. Density is two passes: partial sketches per shard, summed by the driver
(RACE counts add), then a query pass with the merged sketch.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.progress import ProgressFn, report
from engine.storage import Workspace
from engine.storage import corpus as store


@dataclasses.dataclass
class RayOptions:
    """Where and how wide: `address` None starts (or joins) a local Ray on this machine."""

    address: str | None = None
    shard_size: int = 2048  # documents per shard: the unit of retry and of restart
    actors: int | None = None  # model replicas; default one per GPU, else 1
    gpus_per_actor: float | None = None  # default 1 when the cluster has GPUs, else 0
    work_dir: str | None = None  # default: `ray-jobs/` beside the workspace file


def init_ray(options: RayOptions):
    """Connect to `options.address`, or start a loopback-only local Ray when it is None."""
    import ray

    if not ray.is_initialized():
        local = {"include_dashboard": False, "num_cpus": os.cpu_count(),
                 "_node_ip_address": "127.0.0.1"} if options.address is None else {}
        ray.init(address=options.address, log_to_driver=False, logging_level="WARNING", **local)
        ray.data.DataContext.get_current().enable_progress_bars = False  # ours report through `progress`
    return ray


def _pool(ray, options: RayOptions) -> tuple[int, float, float]:
    """(actors, GPUs per actor, CPUs per actor). Ray limits a worker's torch/OpenMP threads to
    the CPUs it reserves (1 by default), so CPU-only actors reserve an equal share of the
    cluster's CPUs, at most one node's worth; GPU actors keep 1 (the GPU does the work)."""
    resources = ray.cluster_resources()
    gpus = resources.get("GPU", 0)
    per_actor = options.gpus_per_actor if options.gpus_per_actor is not None else (1.0 if gpus else 0.0)
    actors = options.actors or (max(1, int(gpus // per_actor)) if per_actor else 1)
    largest_node = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]), default=1)
    cpus = 1.0 if per_actor else max(1.0, min(largest_node, resources.get("CPU", 1) // actors))
    return actors, per_actor, cpus


def _write_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)  # a reader (or a restarted driver) sees the whole shard or none


class ShardWorker:
    """Ray actor: turns input shards into written output shards with one stage's function.

    `make_compute()` runs once per actor (the model loads once and stays); the function it
    returns maps an input table to an output table."""

    def __init__(self, in_dir: str, out_dir: str, make_compute: Callable[[], Callable[[pa.Table], pa.Table]]):
        self.in_dir, self.out_dir = Path(in_dir), Path(out_dir)
        self.compute = make_compute()

    def __call__(self, batch: dict) -> dict:
        for name in batch["shard"]:
            if not (self.out_dir / name).exists():
                _write_atomic(self.compute(pq.read_table(self.in_dir / name)), self.out_dir / name)
        return {"shard": batch["shard"]}


def _run_shards(ray, job: Path, pass_name: str, make_compute, options: RayOptions,
                progress: ProgressFn | None) -> list[Path]:
    """Compute every input shard of `job` with no output in `job/<pass_name>` yet; all outputs."""
    in_dir, out_dir = job / "in", job / pass_name
    out_dir.mkdir(exist_ok=True)
    names = sorted(p.name for p in in_dir.glob("*.parquet"))
    pending = [n for n in names if not (out_dir / n).exists()]
    done = len(names) - len(pending)
    report(progress, pass_name, done, len(names))
    if pending:
        actors, gpus, cpus = _pool(ray, options)
        results = ray.data.from_items([{"shard": n} for n in pending]).map_batches(
            ShardWorker, batch_size=1, num_gpus=gpus, num_cpus=cpus,
            fn_constructor_kwargs={"in_dir": str(in_dir), "out_dir": str(out_dir), "make_compute": make_compute},
            # One shard in flight per actor: shards are long, and a queue per actor would leave
            # one GPU idle at the end while another works through its queue.
            compute=ray.data.ActorPoolStrategy(size=min(actors, len(pending)), max_tasks_in_flight_per_actor=1))
        # Ray Data's defaults replace a dead actor and retry its shard (max_restarts=-1).
        for _ in results.iter_rows():
            done += 1
            report(progress, pass_name, done, len(names))
    return [out_dir / n for n in names]


def _job_dir(ws: Workspace, options: RayOptions, kind: str, key: str) -> Path:
    root = Path(options.work_dir) if options.work_dir else Path(ws.path).parent / "ray-jobs"
    return root / f"{kind}-{hashlib.sha1(key.encode()).hexdigest()[:16]}"


def _stage_inputs(job: Path, batches: Callable[[], Iterable], shard_size: int) -> int:
    """Write the job's input shards once, `shard_size` rows each, from the tables or record
    batches `batches()` yields (streamed: the driver holds one shard at a time). `_READY` marks a
    complete set, so a driver killed while writing them starts the set over. Returns the rows."""
    in_dir = job / "in"
    if not (in_dir / "_READY").exists():
        shutil.rmtree(job, ignore_errors=True)
        in_dir.mkdir(parents=True)
        shards, buffer = 0, None
        for batch in batches():
            table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
            buffer = table if buffer is None else pa.concat_tables([buffer, table])
            while buffer.num_rows >= shard_size:
                pq.write_table(buffer.slice(0, shard_size), in_dir / f"{shards:06d}.parquet")
                shards, buffer = shards + 1, buffer.slice(shard_size)
        if buffer is not None and buffer.num_rows:
            pq.write_table(buffer, in_dir / f"{shards:06d}.parquet")
        (in_dir / "_READY").touch()
    return sum(pq.read_metadata(p).num_rows for p in in_dir.glob("*.parquet"))


# --- per-stage compute functions (built inside the actor) --------------------------------------

def _embed_fn(model: str, batch_size: int):
    from engine.embed import embed_texts

    def compute(table: pa.Table) -> pa.Table:
        vectors = embed_texts(table.column("text").to_pylist(), model, batch_size)
        flat = pa.array(np.ascontiguousarray(vectors, np.float32).ravel())
        return pa.table({"doc_id": table.column("doc_id"),
                         "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])})
    return compute


def _score_fn(signal: str, config):
    import importlib

    from engine.pipeline import SIGNALS

    score_batch = importlib.import_module(SIGNALS[signal][0]).score_batch

    def compute(table: pa.Table) -> pa.Table:
        values, truncated = score_batch(table.column("text").to_pylist(), config, show_progress=False)
        return pa.table({"doc_id": table.column("doc_id"), "value": np.asarray(values, np.float64),
                         "truncated": np.asarray(truncated, bool)})
    return compute


def _vectors(table: pa.Table) -> np.ndarray:
    flat = table.column("vector").combine_chunks()
    return np.asarray(flat.flatten(), np.float32).reshape(table.num_rows, -1)


def _sketch_fn(config, dim: int):
    from engine.density import LSHDensitySketch
    from engine.models import pick_device

    def compute(table: pa.Table) -> pa.Table:
        sketch = LSHDensitySketch(config, dim, device=pick_device()).add(_vectors(table))
        return pa.table({"sketch": pa.array([sketch.to_bytes()], pa.binary())})
    return compute


def _query_fn(sketch_bytes: bytes, median: float):
    from engine.density import LSHDensitySketch
    from engine.models import pick_device

    sketch = LSHDensitySketch.from_bytes(sketch_bytes, device=pick_device())

    def compute(table: pa.Table) -> pa.Table:  # relative to the corpus median, as in-process
        values = sketch.query(_vectors(table), members=True) / median
        return pa.table({"doc_id": table.column("doc_id"), "value": values,
                         "truncated": np.zeros(table.num_rows, bool)})
    return compute


# --- drivers: one per stage, each ends by attaching its shards to the workspace ----------------

def _text_stage(ws: Workspace, corpus: str, label: str, table: str, key: str, make_compute, attach,
                options: RayOptions, progress: ProgressFn | None):
    """Shared by embed and score: shard the corpus's documents with nothing under `key` in
    `table` (shortest first, so each shard's batches pad little), compute them on the actor
    pool, attach the outputs with `attach(con, files)`."""
    from engine.pipeline import StageResult, require_corpus

    t0, job = time.perf_counter(), _job_dir(ws, options, label, f"{corpus}:{key}")
    with ws.connect() as con:
        n_total = require_corpus(con, corpus)
        n_missing = _stage_inputs(job, lambda: store.missing_reader(con, corpus, table, key, options.shard_size),
                                  options.shard_size)
    files = _run_shards(init_ray(options), job, label, make_compute, options, progress) if n_missing else []
    with ws.connect() as con:
        attach(con, files)
    shutil.rmtree(job, ignore_errors=True)  # attached: the job folder's work is in the workspace
    return StageResult(label, n_missing, n_total - n_missing, time.perf_counter() - t0,
                       f"{label}: {n_missing} documents computed on Ray as {key}")


def embed(ws: Workspace, corpus: str, model: str | None = None, batch_size: int = 64,
          options: RayOptions | None = None, progress: ProgressFn | None = None):
    """`engine.pipeline.embed` on Ray: same cache key, same stored rows."""
    from engine.models import DEFAULT_EMBEDDER
    from engine.pipeline import embedding_key

    model = model or DEFAULT_EMBEDDER
    key = embedding_key(model)
    return _text_stage(ws, corpus, "embed", "embeddings", key, partial(_embed_fn, model, batch_size),
                       lambda con, files: store.attach_embedding_shards(con, key, files),
                       options or RayOptions(), progress)


def score(ws: Workspace, corpus: str, signal: str = "askllm", config=None,
          options: RayOptions | None = None, progress: ProgressFn | None = None):
    """`engine.pipeline.score` on Ray: the same `config.key()`, the same stored rows."""
    from engine.pipeline import signal_config

    config = config if config is not None else signal_config(signal)
    key = config.key()

    def attach(con, files):
        store.attach_score_shards(con, key, files)
        store.set_signal(con, corpus, signal, key, dataclasses.asdict(config))
    return _text_stage(ws, corpus, signal, "scores", key, partial(_score_fn, signal, config), attach,
                       options or RayOptions(), progress)


def density(ws: Workspace, corpus: str, config=None, embed_model: str | None = None,
            options: RayOptions | None = None, progress: ProgressFn | None = None):
    """`engine.pipeline.density` on Ray: partial sketches per shard, summed, then queried."""
    from engine.density import DensityConfig, LSHDensitySketch, reference_median
    from engine.models import DEFAULT_EMBEDDER
    from engine.pipeline import StageResult, density_signal, require_corpus

    options, config = options or RayOptions(), config or DensityConfig()
    key, params, ekey = density_signal(config, corpus, embed_model or DEFAULT_EMBEDDER)
    t0, job = time.perf_counter(), _job_dir(ws, options, "density", key)
    with ws.connect() as con:
        n_total = require_corpus(con, corpus)
        n_embedded = store.embedded_counts(con, corpus).get(ekey, 0)
        if n_embedded < n_total:
            from engine.errors import UserError

            raise UserError(f"{n_total - n_embedded} documents of '{corpus}' have no {ekey} embedding: "
                            f"run `python -m engine embed --corpus {corpus}` first")
        _stage_inputs(job, lambda: store.embeddings_reader(con, corpus, ekey, options.shard_size), options.shard_size)
    sample = _reference_sample(job, n_total, config)
    config, dim = config.resolved(sample), sample.shape[1]  # one bandwidth for every shard
    ray = init_ray(options)
    parts = _run_shards(ray, job, "sketch", partial(_sketch_fn, config, dim), options, progress)
    merged = LSHDensitySketch(config, dim)
    for part in parts:
        merged.merge(LSHDensitySketch.from_bytes(pq.read_table(part).column("sketch")[0].as_py()))
    median = reference_median(merged.query(sample, members=True))
    files = _run_shards(ray, job, "density", partial(_query_fn, merged.to_bytes(), median), options, progress)
    with ws.connect() as con:
        store.attach_score_shards(con, key, files)
        store.set_signal(con, corpus, "density", key, params)
    shutil.rmtree(job, ignore_errors=True)
    return StageResult("density", n_total, 0, time.perf_counter() - t0, f"density of {n_total} documents on Ray as {key}")


def _reference_sample(job: Path, n: int, config) -> np.ndarray:
    """The rows of `engine.density.sample_positions` gathered from the input shards (doc_id order,
    as the in-process stage reads them), so both executors choose one bandwidth and median."""
    from engine.density import sample_positions

    wanted, parts, start = sample_positions(n, config.sample, config.seed), [], 0
    for path in sorted((job / "in").glob("*.parquet")):
        table = pq.read_table(path)
        rows = wanted[(wanted >= start) & (wanted < start + table.num_rows)] - start
        if len(rows):
            parts.append(_vectors(table.take(pa.array(rows))))
        start += table.num_rows
    return np.concatenate(parts)


def _ingest_fn(corpus: str, kwargs: dict):
    import tempfile

    from engine.errors import UserError
    from engine.ingest import ingest as ingest_path

    def compute(table: pa.Table) -> pa.Table:
        """Ingest this shard's files (a folder keeps its relative paths) into a private workspace
        with the in-process code; return its documents, then its issues as rows with `problem`
        set, and the shard's duplicate count in the schema metadata."""
        with tempfile.TemporaryDirectory() as tmp:
            root, sources = Path(tmp) / "files", table.column("source").to_pylist()
            for path, rel in zip(table.column("path").to_pylist(), sources):
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).symlink_to(path)
            shard = Workspace(Path(tmp) / "shard.duckdb")
            try:
                ingest_path(shard, root if table.column("folder")[0].as_py() else root / sources[0], corpus, **kwargs)
                problem = None
            except UserError as exc:  # a whole-file problem: reported; the other shards still land
                problem = (sources[0], 0, str(exc))
            with shard.connect() as con:
                docs = store.documents_with_source(con, corpus)
                issues = store.ingest_issues(con, corpus)
                duplicates = store.list_corpora(con)["n_duplicates"].sum()
        if problem:
            issues.loc[len(issues)] = problem
        frame = pd.concat([docs.assign(problem=None), issues], ignore_index=True)
        out = pa.Table.from_pandas(frame, schema=_INGEST_SCHEMA, preserve_index=False)
        return out.replace_schema_metadata({"duplicates": str(int(duplicates))})
    return compute


_INGEST_SCHEMA = pa.schema([("doc_id", pa.string()), ("text", pa.string()), ("n_chars", pa.int64()),
                            ("meta", pa.string()), ("source", pa.string()), ("line", pa.int64()),
                            ("problem", pa.string())])


def ingest(ws: Workspace, path, corpus: str, options: RayOptions | None = None,
           progress: ProgressFn | None = None, **kwargs):
    """`engine.ingest.ingest` on Ray, parallel over files: one file is one shard; a folder's
    files go `FILES_PER_SHARD` to a shard. Rows, duplicates and issues are counted as in-process."""
    from engine.errors import UserError
    from engine.pipeline import StageResult

    path, options = Path(path).resolve(), options or RayOptions()
    if not path.exists():
        raise UserError(f"{path.name}: file not found")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    sources = [p.relative_to(path).as_posix() for p in files] if path.is_dir() else [path.name]
    stamp = [(s, f.stat().st_size, f.stat().st_mtime_ns) for s, f in zip(sources, files)]
    job = _job_dir(ws, options, "ingest", f"{corpus}:{path}:{stamp}:{sorted(kwargs.items())}")
    inputs = pa.table({"path": [str(f) for f in files], "source": sources, "folder": [path.is_dir()] * len(files)})
    t0 = time.perf_counter()
    _stage_inputs(job, lambda: [inputs], FILES_PER_SHARD if path.is_dir() else 1)
    shards = _run_shards(init_ray(options), job, "ingest", partial(_ingest_fn, corpus, kwargs), options, progress)
    in_shards = sum(int(pq.read_schema(f).metadata[b"duplicates"]) for f in shards)
    with ws.connect() as con:
        store.upsert_corpus(con, corpus, kwargs.get("text_column", "text"), path.name)
        n_rows, n_new, issues = store.attach_document_shards(con, corpus, shards)
        store.record_ingest(con, corpus, n_rows - n_new + in_shards, issues)
    if n_rows == 0:
        raise UserError(f"{path.name}: no usable rows" + (f"; first: {issues[0]}" if issues else ""))
    shutil.rmtree(job, ignore_errors=True)
    n_dup = n_rows - n_new + in_shards
    return StageResult("ingest", n_new, n_dup, time.perf_counter() - t0,
                       f"ingested {n_new} new documents on Ray ({n_dup} duplicates, {len(issues)} rows skipped)")


FILES_PER_SHARD = 64
