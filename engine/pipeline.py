"""The in-process executor of the stage registry (`engine.stages`), and the selection pipeline
ingest -> stages -> select -> export.

Every stage takes the Workspace first, is idempotent and never recomputes what is stored: it
reads the missing (document, key) pairs in one short transaction, computes them in chunks
(no connection held while models run) and writes each chunk in its own transaction, the stage
marker with the last one, so a killed stage resumes where it stopped. Embeddings are cached by
(model, document hash), text signals by (`config.key()`, document hash); stages that read the
whole corpus's vectors (density, the map) are per corpus. `engine.ray_backend` runs the same
stage descriptions on a Ray cluster.
"""
from __future__ import annotations

from engine import stage_runners, stages
from engine.clusters import MIN_DOCS as MIN_CLUSTER_DOCS
from engine.errors import UserError
from engine.executor import (  # noqa: F401 (also this module's API)
    Executor, chunk_for, corpus_vectors, first_step, run_cached)
from engine.export import ExportResult, export_selection
from engine.models import DEFAULT_EMBEDDER
from engine.filters import CHEAP_STAGES, FilterSpec, keep_mask, with_filter_columns
from engine.progress import ProgressFn, report
from engine.select import SelectionResult, budget_count, choose, needed_columns
from engine.stages import StageResult, embedding_key, require_corpus  # noqa: F401 (this module's API)
from engine.storage import Workspace
from engine.storage import corpus as store
from engine.storage import selections as selection_store
from engine.storage import signals as signal_store
from engine.user_text import check_name


def signal_config(signal: str, **overrides):
    """The default config of a computed signal with `overrides` (None = default)."""
    names = [s.name for s in stages.computed_signals()]
    if signal not in names:
        raise UserError(f"unknown signal '{signal}': choose one of {', '.join(names)}")
    return stages.stage(signal).make_config(**overrides)


def run_stage(ws: Workspace, corpus: str, name: str, config=None, progress: ProgressFn | None = None,
              chunk_size: int | None = None, embed_model: str = DEFAULT_EMBEDDER) -> StageResult:
    """Run registry stage `name` on `corpus` in this process (config None = its defaults)."""
    stage = stages.stage(name)
    config = stage.make_config() if config is None else config
    if stage.kind == stages.MAP:
        return project(ws, corpus, config.max_points, config.seed, embed_model, progress)
    if stage.kind == stages.CLUSTERS:  # ids + labels need the texts too: the runner stores both
        return stage_runners.run_clusters(ws, corpus, config, embed_model, progress)
    if stage.reads == "text":
        return _run_text(ws, corpus, stage, config, progress, chunk_size)
    if stage.reads == "vectors":
        return _run_vectors(ws, corpus, stage, config, embedding_key(embed_model), progress)
    if stage.runner is not None:  # signals with their own recipe (distilled, quality): engine.stage_runners
        return stage_runners.resolve(stage.runner)(ws, corpus, config, progress, embed_model)
    raise UserError(f"'{name}' is not computed by the pipeline: {stage.how_to_get(corpus)}")


def _run_text(ws, corpus, stage: stages.Stage, config, progress, chunk_size) -> StageResult:
    """Per-document stages: compute the documents with nothing stored under the key, in chunks."""
    elapsed, key, params = stages.timer(), stage.key(config, corpus, ""), stage.params(config, "")

    def write(con, ids, output):
        stage.output.put(con, key, ids, output)
        stage.mark(con, corpus, key, params)

    with ws.connect() as con:
        n_total = require_corpus(con, corpus)
        missing = signal_store.missing_rows(con, corpus, stage.output.table, key)
        if missing.empty:
            stage.mark(con, corpus, key, params)
    device = getattr(config, "device", None)
    if len(missing) and stage.kind != stages.VECTORS and getattr(config, "model", None):
        from engine.models import resolve_model  # noqa: PLC0415

        resolve_model(config.model)  # a first use converts it (minutes) before the stage's bar is drawn
    chunk = chunk_for(chunk_size, device, *stage.chunk)
    n = run_cached(ws, stage.name, missing, n_total, lambda texts: stage.batch(texts, config), write, chunk,
                   progress, first_step(device, chunk, 16 if stage.kind == stages.VECTORS else 4))
    verb = "embedded" if stage.kind == stages.VECTORS else "scored"
    return StageResult(stage.name, n, n_total - n, elapsed(),
                       f"{verb} {n} documents {'with' if verb == 'embedded' else 'as'} {key} "
                       f"({n_total - n} already stored)")


def _run_vectors(ws, corpus, stage: stages.Stage, config, embed_key: str, progress) -> StageResult:
    """Stages relative to the whole corpus (density): when any document lacks a value (new
    documents were ingested) every value is recomputed."""
    elapsed, key, params = stages.timer(), stage.key(config, corpus, embed_key), stage.params(config, embed_key)
    with ws.connect() as con:
        n_total = require_corpus(con, corpus)
        n_missing = len(signal_store.missing_rows(con, corpus, stage.output.table, key))
        if not n_missing:
            stage.mark(con, corpus, key, params)
            return StageResult(stage.name, 0, n_total, elapsed(), f"{stage.name} {key} already stored")
        ids, vectors = corpus_vectors(con, corpus, embed_key)
    report(progress, stage.name, 0, n_total)
    values = stage.batch(vectors, config)
    with ws.connect() as con:
        stage.output.put(con, key, list(ids), values)
        stage.mark(con, corpus, key, params)
    report(progress, stage.name, n_total, n_total)
    return StageResult(stage.name, n_total, 0, elapsed(), f"{stage.name} of {n_total} documents as {key}")


def ingest(ws: Workspace, path, corpus: str, text_column: str = "text", encoding: str = "utf-8",
           on_decode_error: str = "report", progress: ProgressFn | None = None):
    """Read a JSONL/CSV/Parquet/text file into `corpus` (see `engine.ingest.ingest`); the report."""
    from engine.ingest import ingest as ingest_file  # noqa: PLC0415

    return ingest_file(ws, path, corpus, text_column=text_column, encoding=encoding,
                       on_decode_error=on_decode_error, progress=progress)


def embed(ws: Workspace, corpus: str, model: str = DEFAULT_EMBEDDER, batch_size: int = 64,
          progress: ProgressFn | None = None, chunk_size: int | None = None) -> StageResult:
    """Embed every document of `corpus` that has no stored vector for `model`."""
    config = stages.stage("embed").make_config(model=model, batch_size=batch_size)
    return run_stage(ws, corpus, "embed", config, progress, chunk_size)


def score(ws: Workspace, corpus: str, signal: str = "askllm", config=None,
          progress: ProgressFn | None = None, chunk_size: int | None = None) -> StageResult:
    """Score every document of `corpus` that has no stored value under `config.key()` and mark the
    key as the corpus's active `signal`. Partial results are visible (and resumable) at once."""
    config = signal_config(signal) if config is None else config
    return run_stage(ws, corpus, signal, config, progress, chunk_size)


def density(ws: Workspace, corpus: str, config=None, embed_model: str = DEFAULT_EMBEDDER,
            progress: ProgressFn | None = None) -> StageResult:
    """Kernel density of every document among the corpus's embeddings (`engine.density`)."""
    return run_stage(ws, corpus, "density", config, progress, embed_model=embed_model)


def project(ws: Workspace, corpus: str, max_points: int = 20_000, seed: int = 0,
            embed_model: str = DEFAULT_EMBEDDER, progress: ProgressFn | None = None) -> StageResult:
    """UMAP 2-D map of the corpus's embeddings into `projections` (see `engine.project`); kept
    when every document is projected with the same settings."""
    from engine.project import NEIGHBOURS, project_vectors  # noqa: PLC0415

    elapsed, ekey = stages.timer(), embedding_key(embed_model)
    params = {"max_points": int(max_points), "seed": int(seed), "embed_model": ekey, "neighbours": NEIGHBOURS}
    with ws.connect() as con:
        n_total = require_corpus(con, corpus)
        if signal_store.count_projected(con, corpus) == n_total and signal_store.projection_params(con, corpus) == params:
            return StageResult("project", 0, n_total, elapsed(), "projection already stored")
        ids, vectors = corpus_vectors(con, corpus, ekey)
    xy, message = project_vectors(vectors, max_points=max_points, seed=seed, progress=progress)
    with ws.connect() as con:
        signal_store.put_projection(con, corpus, list(ids), xy)
        signal_store.set_projection_params(con, corpus, params)
    return StageResult("project", n_total, 0, elapsed(), message)


def refuse_existing_selection(con, name: str | None, replace: bool, corpus: str, same) -> None:
    """A saved selection is the user's: replaced only when asked, or when `same(old)` says the new
    one equals it (a re-run of the same command)."""
    old = selection_store.selection(con, name) if name and not replace else None
    if old is not None and not (old["corpus"] == corpus and same(old)):
        raise UserError(f"a selection named '{name}' exists (corpus '{old['corpus']}', {old['n_selected']} "
                        "documents); pass --replace to overwrite it or choose another --name")


def select(ws: Workspace, corpus: str, strategy: str, weight: float = 0.5, budget: float | int = 0.2,
           seed: int = 0, name: str | None = None, quality: str = "askllm", replace: bool = False,
           temperature: float | None = None, propensity: str = "clusters",
           filters: FilterSpec | None = None) -> SelectionResult:
    """Choose documents with `engine.select.choose` (`temperature` None: its default); saved under
    `name` when given (an existing, different selection of that name only with `replace`), with the
    parameters and the signal keys it read. `filters` (`engine.filters`) drop documents before any
    strategy ranks them; a fractional budget stays a fraction of the whole corpus."""
    elapsed = stages.timer()
    name = check_name("selection name", name) if name else None  # before any work, as the dashboard does
    with ws.connect() as con:
        require_corpus(con, corpus)
        frame = store.corpus_frame(con, corpus, snippet_chars=0)
        active = signal_store.signals(con, corpus).drop_duplicates("kind").set_index("kind")["signal_key"]
        if filters is not None and filters.active():
            frame = with_filter_columns(con, corpus, frame)
    coverage = {"propensity": propensity, **({} if temperature is None else {"temperature": temperature})}
    frame, budget, dropped = _apply_filters(frame, filters, budget)
    result = choose(frame, strategy, weight, budget, seed, quality, corpus=corpus, **coverage)
    if dropped is not None:
        result.params.update(filters=filters.params(), n_filtered_out=dropped)
        result.message += f"; {dropped} documents filtered out first"
    used = needed_columns(strategy, float(weight), quality)
    used += ["cluster"] if result.params.get("propensity") == "clusters" else []
    result.params["signals"] = {k: active[k] for k in used if k in active.index}
    if name:
        with ws.connect() as con:
            refuse_existing_selection(con, name, replace, corpus, lambda old: old["doc_ids"] == list(result.doc_ids))
            selection_store.save_selection(con, name, corpus, strategy, result.params, list(result.doc_ids))
        result.message += f"; saved as '{name}'"
    result.name, result.seconds = name, elapsed()
    return result


def _apply_filters(frame: pd.DataFrame, filters: FilterSpec | None, budget):
    """(kept rows, budget as a count of the whole corpus where it was a fraction, how many were
    dropped or None when no filter is on)."""
    if filters is None or not filters.active():
        return frame, budget, None
    keep = keep_mask(frame, filters)
    if isinstance(budget, float) and budget <= 1:
        budget = max(1, min(int(keep.sum()), budget_count(budget, len(frame))))
    return frame[keep].reset_index(drop=True), budget, int((~keep).sum())


def export(ws: Workspace, selection_name: str, out_path, fmt: str | None = None,
           force: bool = False) -> ExportResult:
    """Write a saved selection to JSONL, Parquet or a datasets folder (see `engine.export.export_selection`)."""
    return export_selection(ws, selection_name, out_path, fmt, force=force)


def corpus_status(con, corpus: str) -> dict:
    """What each stage has stored for a corpus, inside the caller's transaction: n_docs, embedded
    (model -> count), signals (kind -> {key, n_scored}), projected count, selections (newest first)."""
    n_docs = require_corpus(con, corpus)
    scored = signal_store.scored_counts(con, corpus)
    active = signal_store.signals(con, corpus).drop_duplicates("kind")
    return {"n_docs": n_docs, "embedded": signal_store.embedded_counts(con, corpus),
            "signals": {r.kind: {"key": r.signal_key, "n_scored": scored.get(r.signal_key, 0)}
                        for r in active.itertuples()},
            "projected": signal_store.count_projected(con, corpus),
            "selections": list(selection_store.list_selections(con, corpus)["name"])}


def stage_status(ws: Workspace, corpus: str) -> dict:
    """`corpus_status` in its own read transaction (the CLI's `status`, the pages' `api.stage_status`)."""
    with ws.connect() as con:
        return corpus_status(con, corpus)


class InProcess:
    """The in-process executor (`engine.executor.Executor`): runs every registry stage here."""

    @staticmethod
    def supports(stage: stages.Stage) -> bool:  # noqa: ARG004 (every stage runs in this process)
        return True

    @staticmethod
    def run_stage(ws: Workspace, corpus: str, name: str, config=None, progress: ProgressFn | None = None,
                  embed_model: str | None = None) -> StageResult:
        return run_stage(ws, corpus, name, config, progress, embed_model=embed_model or DEFAULT_EMBEDDER)

    @staticmethod
    def ingest(ws: Workspace, path, corpus: str, progress: ProgressFn | None = None, **kwargs) -> StageResult:
        """`ingest` as a StageResult (its report in `detail`)."""
        elapsed = stages.timer()
        done = ingest(ws, path, corpus, progress=progress, **kwargs)
        return StageResult("ingest", done.n_new, done.n_duplicates, elapsed(), done.summary(), done)


LOCAL = InProcess()


def run_pipeline(ws: Workspace, path, corpus: str, text_column: str = "text",
                 signals: tuple[str, ...] = ("askllm",), strategy: str = "combined", weight: float = 0.5,
                 budget: float | int = 0.2, seed: int = 0, selection_name: str | None = None,
                 progress: ProgressFn | None = None, executor: Executor | None = None, replace: bool = False,
                 temperature: float | None = None, propensity: str = "clusters", rules: bool = True,
                 filters: FilterSpec | None = None) -> list[StageResult]:
    """Every stage in order on one file: ingest, the cheap signals (`engine.filters.CHEAP_STAGES`:
    heuristic rules, language, near-duplicates; unless `rules` is False), embed, score each of
    `signals`, density, clusters (skipped, with the reason, below `clusters.MIN_DOCS` documents),
    project, select (saved as `selection_name`, default "<corpus>-<strategy>"). `executor` None runs
    here (`LOCAL`); `engine.ray_backend.RayExecutor(options)` runs the stages it can shard on Ray and
    hands the others (the map, clusters, near-duplicates) to this process. Returns one StageResult per stage."""
    for s in signals:
        signal_config(s)  # an unknown name fails before any work
    saved_as = selection_name or f"{corpus}-{strategy}"
    quality = next((s for s in signals if s in [q.name for q in stages.signals("top")]), "askllm")
    wanted = {"strategy": strategy, "weight": weight, "budget": budget, "seed": seed, "quality": quality}
    with ws.connect() as con:  # a name taken by another selection fails before hours of stages, not after
        refuse_existing_selection(con, saved_as, replace, corpus,
                                  lambda old: all(old["params"].get(k) == v for k, v in wanted.items()))
    executor = executor or LOCAL
    results = [executor.ingest(ws, path, corpus, text_column=text_column, progress=progress)]
    for name in (*(CHEAP_STAGES if rules else ()), "embed", *signals, "density", "clusters", "project"):
        if name == "clusters" and _too_few_to_cluster(ws, corpus):
            results.append(StageResult(name, message=f"skipped: clusters need at least {MIN_CLUSTER_DOCS} documents"))
            continue
        results.append(executor.run_stage(ws, corpus, name, progress=progress))
    chosen = select(ws, corpus, strategy, weight, budget, seed, name=saved_as, quality=quality, replace=replace,
                    temperature=temperature, propensity=propensity, filters=filters)
    results.append(StageResult("select", len(chosen.doc_ids), 0, chosen.seconds, chosen.message, chosen))
    return results


def _too_few_to_cluster(ws: Workspace, corpus: str) -> bool:
    with ws.connect() as con:
        return store.count_documents(con, corpus) < MIN_CLUSTER_DOCS
