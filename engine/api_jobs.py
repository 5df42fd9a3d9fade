"""The pages' facade for background work: the commands a page queues as jobs (stages, the `process`
chain, LLM2LLM experiments, proxy-model checks), what is queued or running per corpus, the time
estimates shown before a start and the stored results a page reads back. `engine.api` re-exports
every name, so pages keep calling `api.X`."""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine import stages
from engine.storage import Workspace


# --- background jobs ---------------------------------------------------------------------------

def stage_command(name: str, corpus: str, ray_address: str | None = None, ray_actors: int = 0) -> list[str]:
    """The `python -m engine` command of a registry stage, for a background job or a CLI hint; with
    `ray_address` ("" = a local Ray on this machine) on Ray where the stage can run there."""
    from engine.ray_backend import RayExecutor  # noqa: PLC0415 (light: ray is imported on use)

    stage = stages.stage(name)
    scored = stage in stages.computed_signals()  # per-document signals and those with a runner: `score --signal`
    argv = ["score", "--corpus", corpus, "--signal", name] if scored else [name, "--corpus", corpus]
    if ray_address is not None and RayExecutor.supports(stage):
        argv += ["--backend", "ray", *(["--address", ray_address] if ray_address else []),
                 *(["--ray-actors", str(ray_actors)] if ray_actors else [])]
    return argv


def process_command(corpus: str, names: list[str] | None = None) -> list[str]:
    """`process --corpus C [--stages a,b]`: the chain (default: every default stage) as ONE job."""
    return ["process", "--corpus", corpus, *(["--stages", ",".join(names)] if names else [])]


@dataclass
class ProcessPlan:
    lines: list[str]  # one per step: skipped (why), model conversion, documents and estimate
    seconds: float  # sum of the measured estimates
    complete: bool  # every running step has a measured estimate
    stages: list[str]  # the steps that will run

    def estimate(self) -> str:
        from engine.progress import format_seconds  # noqa: PLC0415

        if not self.stages:
            return "nothing to run: every stage is stored or skipped"
        if self.complete:
            return f"about {format_seconds(self.seconds)} at the rates measured on this machine"
        known = f"{format_seconds(self.seconds)} for the measured steps; " if self.seconds else ""
        return known + "a step never run on this machine has no estimate yet (see the Jobs page's rate and ETA)"


def process_plan(ws: Workspace, corpus: str, names: list[str] | None = None) -> ProcessPlan:
    """What `process` would do now (`engine.process.plan`), in plain lines, with its estimate."""
    from engine import process  # noqa: PLC0415

    steps = process.plan(ws, corpus, tuple(names or process.DEFAULT_CHAIN))
    seconds, complete = process.total_seconds(steps)
    return ProcessPlan(process.describe(steps), seconds, complete, [s.stage for s in steps if not s.skip])


def stages_of_job(argv: list[str]) -> list[str]:
    """The registry stages a stage or process job computes, from its command."""
    from engine import process  # noqa: PLC0415
    from engine.jobs.launcher import params_of  # noqa: PLC0415

    params = params_of(argv)
    if argv[0] == "process":
        return str(params.get("stages") or ",".join(process.DEFAULT_CHAIN)).split(",")
    if argv[0] == "score":
        return [str(params.get("signal", "askllm"))]
    return [argv[0]] if argv[0] in {s.name for s in stages.STAGES} else []


def active_jobs(ws: Workspace, corpus: str) -> pd.DataFrame:
    """Queued and running jobs that compute stages of `corpus` (id, status, stage, done, total,
    stages): a page shows them instead of offering the same work again."""
    from engine import jobs  # noqa: PLC0415

    frame = jobs.list_jobs(ws, 500)
    frame = frame[frame["status"].isin(["queued", "running"])].copy()
    argvs = [json.loads(a) if isinstance(a, str) else list(a) for a in frame["argv"]]
    params = [json.loads(p) if isinstance(p, str) else dict(p or {}) for p in frame["params"]]
    frame["stages"] = [stages_of_job(a) for a in argvs]
    keep = [p.get("corpus") == corpus and bool(st) for p, st in zip(params, frame["stages"])]
    return frame.loc[pd.Series(keep, index=frame.index, dtype=bool), ["id", "kind", "status", "stage", "done", "total", "rate", "eta_s", "stages"]]


def experiment_estimate(ws: Workspace, arms: list[str], n_sizes: int, n_seeds: int, iterations: int) -> str:
    """How long an LLM2LLM experiment should take here: its student trainings (plain: 1 per cell,
    the other arms iterations + 1) times the seconds per training that finished `llm2llm run`
    jobs of this workspace took (duration / trainings); says so when none has run here yet."""
    from engine import jobs  # noqa: PLC0415
    from engine.llm2llm.config import LLM2LLMConfig  # noqa: PLC0415
    from engine.progress import format_seconds  # noqa: PLC0415

    cells = n_sizes * n_seeds
    trainings = cells * sum(1 if arm == "plain" else iterations + 1 for arm in arms)
    done = jobs.list_jobs(ws, 500)
    done = done[(done["kind"] == "llm2llm run") & (done["status"] == "done")]
    per = []
    for rec in done.itertuples():
        params = json.loads(rec.params) if isinstance(rec.params, str) else dict(rec.params or {})
        its = int(params.get("iterations", LLM2LLMConfig().iterations))
        per.append((rec.ended_at - rec.started_at).total_seconds() / (its + 1))
    what = f"{len(arms) * cells} runs, {trainings} student trainings"
    if not per:
        return f"{what}; no LLM2LLM run has finished in this workspace yet, so there is no measured time per training"
    return (f"{what}: about {format_seconds(trainings * float(np.median(per)))} at "
            f"{format_seconds(float(np.median(per)))} per training (median of {len(per)} finished run(s) here)")


def llm2llm_export(ws: Workspace, run: str, fmt: str) -> tuple[str, bytes, int]:
    """(file name, bytes, rows) of an LLM2LLM run's final training data: seeds plus the accepted
    synthetic examples (`engine.llm2llm.records.export_run`)."""
    from engine.llm2llm.records import export_run  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{run.replace('/', '_')}-train.{fmt}"
        n = export_run(ws, run, out)
        return out.name, out.read_bytes(), n


# --- proxy-model checks (engine.proxy_check): queued as `python -m engine proxy` jobs ----------

PROXY_CPU_NOTE = ("On a CPU the proxy is tiny (~0.4M parameters, 200k tokens): only large differences between "
                  "selections are visible; a GPU trains 17M-150M parameter proxies on millions of tokens.")


def proxy_command(corpus: str, selection: str, target: str, seeds: int = 3, size: str | None = None,
                  tokens: int | None = None, whole_corpus: bool = False) -> list[str]:
    """`proxy` against a random selection of the same token count (and optionally the whole corpus)."""
    argv = ["proxy", "--corpus", corpus, "--selections", selection, "--target", target, "--seeds", str(seeds),
            "--random-baseline"]
    argv += (["--size", size] if size else []) + (["--tokens", str(tokens)] if tokens else [])
    return argv + (["--whole-corpus"] if whole_corpus else [])


def proxy_checks(ws: Workspace, corpus: str, selection: str | None = None) -> pd.DataFrame:
    """Stored proxy checks of a corpus (or naming `selection`), newest first; `report` is the CLI's JSON."""
    from engine.storage import proxy as proxy_store  # noqa: PLC0415

    with ws.connect() as con:
        return proxy_store.checks(con, corpus, selection)


def proxy_curves(report: dict) -> pd.DataFrame:
    """Long table for the curve plot: selection, tokens, mean, lo, hi (95% band over seeds)."""
    return pd.DataFrame([{"selection": e["name"], **p} for e in report["entries"] for p in e["curve"]])


def proxy_choice_table(report: dict) -> pd.DataFrame | None:
    """For a multiple-choice target: per selection the mean probability on the right choice, its 95%
    interval over seeds and the top choice's accuracy; None for a text target."""
    rows = [{"selection": e["name"], "P(right choice)": e["p_correct_mean"],
             "95% interval": "" if not e["p_correct_ci95"] else f"[{e['p_correct_ci95'][0]:.4f}, {e['p_correct_ci95'][1]:.4f}]",
             "accuracy": e["acc_mean"], "items": e["choice_items"]}
            for e in report["entries"] if "p_correct_mean" in e]
    return pd.DataFrame(rows) if rows else None
