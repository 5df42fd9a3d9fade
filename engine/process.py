""""Process this corpus": the default chain of stages as one action (one job), with a plan that
says beforehand what will run, what is skipped and why, which models are converted first (once
per machine) and how long it should take at the rates measured on this machine (`engine.rates`).

`plan` reads only; `run` executes the plan's steps in order in this process, each stage
computing only what is missing. A stage that cannot run (clusters below `clusters.MIN_DOCS`
documents, no embeddings after a failed embed) is skipped with its reason and the rest still
run; a stage that fails is reported and the rest still run. `python -m engine process --corpus X`
is the CLI (and the job the dashboard queues).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from engine import rates, stages
from engine.clusters import MIN_DOCS as MIN_CLUSTER_DOCS
from engine.errors import UserError
from engine.progress import ProgressFn, format_seconds, report
from engine.stages import StageResult
from engine.storage import Workspace

DEFAULT_CHAIN = ("embed", "askllm", "density", "clusters", "project")
STEP_NAMES = {"embed": "embedding", "askllm": "scoring", "project": "map"}  # what the progress line says
VECTOR_STAGES = {"density", "clusters", "project"}  # they read every document's embedding


@dataclass
class Step:
    """One stage of a plan: documents to compute, the skip reason (None = it runs), the model
    converted before it (None = none), and the estimated seconds (None = not measured here)."""

    stage: str
    n_todo: int
    skip: str | None = None
    convert: str | None = None
    seconds: float | None = None
    convert_seconds: float | None = None


def _model_of(name: str) -> str | None:
    stage = stages.stage(name)
    if stage.kind == stages.VECTORS or stage.reads != "text":
        return None  # the embedder ships ready to load; corpus-relative stages load no model
    return getattr(stage.make_config(), "model", None)


def _todo(con, corpus: str, name: str, status: dict, signal_store) -> int:
    """Documents the stage would compute now (vector stages recompute the whole corpus)."""
    stage, n = stages.stage(name), status["n_docs"]
    if name == "embed":
        return n - int(status["embedded"].get(stages.embedding_key(), 0))
    if stage.reads == "text":
        key = stage.key(stage.make_config(), corpus, "")
        return len(signal_store.missing_rows(con, corpus, stage.output.table, key))
    if name == "project":
        return 0 if status["projected"] == n else n
    kind = {"clusters": "cluster"}.get(name, name)
    return 0 if kind in status["signals"] and status["signals"][kind]["n_scored"] >= n else n


def _active(name: str, status: dict) -> bool:
    """Whether the corpus uses the stage's stored output: per-document scores cached for the same
    texts in another corpus still need the (instant) run that marks them as this corpus's signal."""
    stage = stages.stage(name)
    if stage.kind != stages.SIGNAL or stage.reads != "text":
        return True
    return name in status["signals"]


def plan(ws: Workspace, corpus: str, names: tuple[str, ...] = DEFAULT_CHAIN) -> list[Step]:
    """What `run` would do now, step by step, with time estimates from this machine's rates."""
    from engine.models import needs_conversion  # noqa: PLC0415 (light: no torch import)

    from engine import pipeline  # noqa: PLC0415 (this module is imported by the CLI: keep it light)
    from engine.storage import signals as signal_store  # noqa: PLC0415

    for name in names:
        stages.stage(name)  # an unknown name is a UserError naming the choices
    with ws.connect() as con:
        status = pipeline.corpus_status(con, corpus)
        todo = {name: _todo(con, corpus, name, status, signal_store) for name in names}
    steps = []
    for name in names:
        step = Step(name, todo[name])
        if name == "clusters" and status["n_docs"] < MIN_CLUSTER_DOCS:
            step.skip = f"clusters need at least {MIN_CLUSTER_DOCS} documents, the corpus has {status['n_docs']}"
        elif step.n_todo == 0 and _active(name, status):
            step.skip = "already stored"
        else:
            model = _model_of(name)
            if model and needs_conversion(model):
                step.convert = model
                step.convert_seconds = rates.seconds_for(ws, f"convert:{model}", 1)
            step.seconds = rates.seconds_for(ws, name, step.n_todo) if step.n_todo else 0.0
        steps.append(step)
    return steps


def describe(steps: list[Step]) -> list[str]:
    """One plain line per step, for the page and the CLI, e.g. 'askllm: 60 documents, about 45 s
    (measured on this machine)'."""
    lines = []
    for s in steps:
        if s.skip:
            lines.append(f"{s.stage}: skipped ({s.skip})")
            continue
        if s.convert:
            took = (f"about {format_seconds(s.convert_seconds)} (measured here)" if s.convert_seconds is not None
                    else "1-7 min on 2 CPU cores (not yet measured here)")
            lines.append(f"{s.stage}: first converts the model {s.convert}, once per machine: {took}")
        if not s.n_todo:
            lines.append(f"{s.stage}: nothing to compute (stored for the same texts): marks it as this corpus's")
            continue
        took = (f"about {format_seconds(s.seconds)} at the rate measured on this machine" if s.seconds is not None
                else "not yet measured on this machine: the Jobs page shows the rate and ETA after the first steps")
        lines.append(f"{s.stage}: {s.n_todo} documents, {took}")
    return lines


def total_seconds(steps: list[Step]) -> tuple[float, bool]:
    """(sum of the known estimates, whether every running step has one)."""
    known, complete = 0.0, True
    for s in steps:
        if s.skip:
            continue
        for part, needed in ((s.seconds, True), (s.convert_seconds, bool(s.convert))):
            if needed and part is None:
                complete = False
            elif needed:
                known += part
    return known, complete


def run(ws: Workspace, corpus: str, names: tuple[str, ...] = DEFAULT_CHAIN,
        progress: ProgressFn | None = None) -> list[StageResult]:
    """Run the plan's steps in order; skipped and failed steps are results too (message starts
    with 'skipped:' / 'failed:'), and never stop the steps after them."""
    results = []
    for step in plan(ws, corpus, names):
        if step.skip is None and step.stage in VECTOR_STAGES and not _has_vectors(ws, corpus):
            step.skip = "needs every document's embedding: the embed step did not finish"
        if step.skip:
            results.append(StageResult(step.stage, 0, step.n_todo, 0.0, f"skipped: {step.skip}"))
            continue
        results.append(_run_step(ws, corpus, step, progress))
    return results


def _run_step(ws: Workspace, corpus: str, step: Step, progress: ProgressFn | None) -> StageResult:
    if step.convert:
        _convert(ws, step, progress)
    verb = STEP_NAMES.get(step.stage)
    named = None if progress is None else (
        lambda label, done, total: progress(f"{label}: {verb}" if verb and label == step.stage else label, done, total))
    from engine import pipeline  # noqa: PLC0415

    t0 = time.perf_counter()
    try:
        result = pipeline.run_stage(ws, corpus, step.stage, progress=named)
    except UserError as exc:
        return StageResult(step.stage, 0, 0, time.perf_counter() - t0, f"failed: {exc}")
    if result.n_computed:
        rates.record(ws, step.stage, result.n_computed, result.seconds or time.perf_counter() - t0)
    return result


def _convert(ws: Workspace, step: Step, progress: ProgressFn | None) -> None:
    """The one-time model conversion as its own announced step (minutes on a CPU)."""
    from engine.models import resolve_model  # noqa: PLC0415

    label = f"{step.stage}: converting the model {step.convert} (once per machine)"
    report(progress, label, 0, 1)
    t0 = time.perf_counter()
    resolve_model(step.convert)
    rates.record(ws, f"convert:{step.convert}", 1, time.perf_counter() - t0)
    report(progress, label, 1, 1)


def _has_vectors(ws: Workspace, corpus: str) -> bool:
    from engine import pipeline  # noqa: PLC0415

    with ws.connect() as con:
        status = pipeline.corpus_status(con, corpus)
    return int(status["embedded"].get(stages.embedding_key(), 0)) >= status["n_docs"]


def register(subparsers) -> None:
    """`python -m engine process --corpus NAME [--stages a,b] [--plan]`."""
    p = subparsers.add_parser("process", help="run the default chain of stages on a corpus as one step",
                              description="Embed, score (Ask-LLM), density, clusters and map a corpus; stages that "
                                          "cannot run are skipped with the reason, the rest still run.")
    p.add_argument("--corpus", required=True, help="corpus name")
    p.add_argument("--stages", default=",".join(DEFAULT_CHAIN), help=f"comma-separated (default {','.join(DEFAULT_CHAIN)})")
    p.add_argument("--plan", action="store_true", help="print what would run and the time estimate, run nothing")
    p.set_defaults(func=_process_cli)


def _process_cli(args) -> int:
    ws, names = Workspace(args.db), tuple(s.strip() for s in args.stages.split(",") if s.strip())
    steps = plan(ws, args.corpus, names)
    for line in describe(steps):
        print(f"  {line}")
    if args.plan:
        return 0
    failed = []
    for r in run(ws, args.corpus, names, args.progress):
        print(f"{r.stage}: {r.message}", flush=True)
        failed += [r] if r.message.startswith("failed:") else []
    if failed:
        print(f"error: {len(failed)} stage(s) failed: " + "; ".join(f"{r.stage} {r.message[8:]}" for r in failed))
        return 2
    return 0
