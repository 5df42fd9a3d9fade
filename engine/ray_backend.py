"""The Ray executor of the stage registry (`engine.stages`): the same stage descriptions as the
in-process `engine.pipeline`, on a Ray cluster (Ray Data) - ingest, every per-document stage
(embeddings, Ask-LLM, perplexity, any new text signal) and every corpus-relative stage with a
`ShardPlan` (density) call the very functions the in-process executor calls; only where they
run changes.

Work is cut into Parquet shards under a job folder named after the stage's cache key. A Ray
Data `map_batches` over shard names feeds an actor pool (one model per actor, one actor per GPU
by default); each actor writes a shard's output atomically (temporary file, then rename). So a
worker killed mid-shard is retried by Ray, and a driver restarted on the same folder skips the
shards already written. Outputs are attached to the workspace through DuckDB (`INSERT OR
IGNORE` from `read_parquet`), keyed exactly like the in-process results, so both backends give
the same stored rows. A corpus-relative stage is two passes: partial states per shard (density:
RACE sketches), merged by the driver (counts add), then an apply pass with the merged state.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sys
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine import stages
from engine.density import sample_positions
from engine.errors import UserError
from engine.executor import require_embedded
from engine.pipeline import LOCAL
from engine.progress import ProgressFn, report
from engine.storage import Workspace
from engine.storage import corpus as store
from engine.storage import signals as signal_store


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


# --- compute functions (built inside the actor from the stage's description) --------------------

def _text_fn(batch, to_table, config):
    """Per-document stages: the stage's batch function over a shard's texts."""
    def compute(table: pa.Table) -> pa.Table:
        return to_table(table.column("doc_id"), batch(table.column("text").to_pylist(), config))
    return compute


def _vectors(table: pa.Table) -> np.ndarray:
    flat = table.column("vector").combine_chunks()
    return np.asarray(flat.flatten(), np.float32).reshape(table.num_rows, -1)


def _fit_fn(fit, config):
    """Corpus-relative stages, pass 1: a partial state (e.g. a density sketch) per shard."""
    def compute(table: pa.Table) -> pa.Table:
        return pa.table({"state": pa.array([fit(_vectors(table), config)], pa.binary())})
    return compute


def _apply_fn(apply, to_table, state: bytes, config):
    """Corpus-relative stages, pass 2: the merged state applied to each shard's vectors."""
    def compute(table: pa.Table) -> pa.Table:
        return to_table(table.column("doc_id"), apply(state, _vectors(table), config))
    return compute


# --- the executor: the same stage descriptions as `engine.pipeline`, launched as shards ---------

class RayExecutor:
    """The Ray executor (`engine.executor.Executor`): per-document stages and corpus-relative
    stages with a `ShardPlan` run on Ray; any other stage (the map, clusters, the runner stages)
    is handed to the in-process executor with a one-line note on stderr."""

    def __init__(self, options: RayOptions | None = None):
        self.options = options or RayOptions()

    @staticmethod
    def supports(stage: stages.Stage) -> bool:
        return stage.reads == "text" or (stage.reads == "vectors" and stage.shards is not None)

    def run_stage(self, ws: Workspace, corpus: str, name: str, config=None, progress: ProgressFn | None = None,
                  embed_model: str | None = None) -> stages.StageResult:
        stage = stages.stage(name)
        if not self.supports(stage):  # the map, clusters, distilled, quality: one line, then in this process
            print(f"{name}: Ray runs per-document and sharded stages only; running it here", file=sys.stderr)
            return LOCAL.run_stage(ws, corpus, name, config, progress, embed_model)
        config = stage.make_config() if config is None else config
        return self._text(ws, corpus, stage, config, progress) if stage.reads == "text" else self._sharded(
            ws, corpus, stage, config, stages.embedding_key(embed_model), progress)

    def ingest(self, ws: Workspace, path, corpus: str, progress: ProgressFn | None = None, **kwargs):
        return ingest(ws, path, corpus, self.options, progress, **kwargs)

    def _text(self, ws, corpus, stage: stages.Stage, config, progress) -> stages.StageResult:
        """Shard the corpus's documents with nothing under the key (shortest first, so each
        shard's batches pad little), compute them on the actor pool, attach the outputs and
        mark the stage in one transaction."""
        options, elapsed = self.options, stages.timer()
        key, params = stage.key(config, corpus, ""), stage.params(config, "")
        job = _job_dir(ws, options, stage.name, f"{corpus}:{key}")
        with ws.connect() as con:
            n_total = stages.require_corpus(con, corpus)
            n_missing = _stage_inputs(job, lambda: signal_store.missing_reader(con, corpus, stage.output.table, key,
                                                                        options.shard_size), options.shard_size)
        make = partial(_text_fn, stage.batch, stage.output.to_table, config)
        files = _run_shards(init_ray(options), job, stage.name, make, options, progress) if n_missing else []
        with ws.connect() as con:
            stage.output.attach(con, key, files)
            stage.mark(con, corpus, key, params)
        shutil.rmtree(job, ignore_errors=True)  # attached: the job folder's work is in the workspace
        return stages.StageResult(stage.name, n_missing, n_total - n_missing, elapsed(),
                                  f"{stage.name}: {n_missing} documents computed on Ray as {key}")

    def _sharded(self, ws, corpus, stage: stages.Stage, config, ekey: str, progress) -> stages.StageResult:
        """Two passes over the corpus's vectors: partial states per shard, merged by the driver,
        then the merged state applied per shard."""
        options, elapsed = self.options, stages.timer()
        key, params = stage.key(config, corpus, ekey), stage.params(config, ekey)
        job = _job_dir(ws, options, stage.name, key)
        with ws.connect() as con:
            n_total = stages.require_corpus(con, corpus)
            require_embedded(corpus, ekey, n_total, signal_store.embedded_counts(con, corpus).get(ekey, 0))
            _stage_inputs(job, lambda: signal_store.embeddings_reader(con, corpus, ekey, options.shard_size),
                          options.shard_size)
        ray, plan = init_ray(options), stage.shards
        sample = _reference_sample(job, n_total, config) if plan.prepare or plan.calibrate else None
        config = plan.prepare(config, sample) if plan.prepare else config
        parts = _run_shards(ray, job, "fit", partial(_fit_fn, plan.fit, config), options, progress)
        state = plan.merge([pq.read_table(part).column("state")[0].as_py() for part in parts])
        state = plan.calibrate(state, sample, config) if plan.calibrate else state
        make = partial(_apply_fn, plan.apply, stage.output.to_table, state, config)
        files = _run_shards(ray, job, stage.name, make, options, progress)
        with ws.connect() as con:
            stage.output.attach(con, key, files)
            stage.mark(con, corpus, key, params)
        shutil.rmtree(job, ignore_errors=True)
        return stages.StageResult(stage.name, n_total, 0, elapsed(),
                                  f"{stage.name} of {n_total} documents on Ray as {key}")


def embed(ws: Workspace, corpus: str, model: str | None = None, batch_size: int = 64,
          options: RayOptions | None = None, progress: ProgressFn | None = None):
    """`engine.pipeline.embed` on Ray: same cache key, same stored rows."""
    config = stages.stage("embed").make_config(model=model, batch_size=batch_size)
    return RayExecutor(options).run_stage(ws, corpus, "embed", config, progress)


def score(ws: Workspace, corpus: str, signal: str = "askllm", config=None,
          options: RayOptions | None = None, progress: ProgressFn | None = None):
    """`engine.pipeline.score` on Ray: the same `config.key()`, the same stored rows."""
    return RayExecutor(options).run_stage(ws, corpus, signal, config, progress)


def density(ws: Workspace, corpus: str, config=None, embed_model: str | None = None,
            options: RayOptions | None = None, progress: ProgressFn | None = None):
    """`engine.pipeline.density` on Ray: partial sketches per shard, summed, then queried."""
    return RayExecutor(options).run_stage(ws, corpus, "density", config, progress, embed_model)


def _reference_sample(job: Path, n: int, config) -> np.ndarray:
    """The rows of `density.sample_positions` from the input shards (doc_id order, as in-process)."""
    tables = [pq.read_table(path) for path in sorted((job / "in").glob("*.parquet"))]
    starts = np.cumsum([0] + [t.num_rows for t in tables])
    wanted = sample_positions(n, config.sample, config.seed)
    return np.concatenate([_vectors(t.take(pa.array(wanted[(wanted >= a) & (wanted < b)] - a)))
                           for t, a, b in zip(tables, starts, starts[1:])])


def _ingest_fn(corpus: str, kwargs: dict):
    import tempfile

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
    return stages.StageResult("ingest", n_new, n_dup, time.perf_counter() - t0,
                       f"ingested {n_new} new documents on Ray ({n_dup} duplicates, {len(issues)} rows skipped)")


FILES_PER_SHARD = 64
