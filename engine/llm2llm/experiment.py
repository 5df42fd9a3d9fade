"""LLM2LLM experiments: the paper's arms over seed sizes x seeds, each cell an ordinary resumable
run, with mean ± std per iteration and the lift over `plain` (Lee et al. 2024, Tables 1-5).

Arms (`ARMS`): `plain` fine-tunes on the seeds only; `llm2llm` augments the seeds the student got
wrong; `random-seeds` is the control that asks the teacher for as many examples for seeds drawn
at random (right or wrong); `one-shot`, `augment-all` and `continue-training` are the paper's
other ablations. Every arm of a (seed size, seed) cell trains the same iteration-0 student, so
it is trained once and shared (`share_iteration`), with its noise replicates (`noise_seeds`: the
same seeds retrained with other training seeds, the floor every verdict compares against) and
the teacher readiness check. An experiment resumes after a kill: done runs
are skipped, the run in progress resumes at its stage. With `workers` > 1 the cells run in child
processes, each in its own shard workspace merged back at the end (DuckDB has one writer per file).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from engine.errors import UserError
from engine.llm2llm.config import LLM2LLMConfig
from engine.llm2llm.loop import create_llm2llm, resume_llm2llm
from engine.progress import ProgressFn
from engine.storage import Workspace
from engine.storage import llm2llm as db
from engine.storage import llm2llm_controls as controls
from engine.storage import llm2llm_experiments as xdb

ARMS = {"plain": dict(iterations=0), "llm2llm": dict(select="wrong"), "random-seeds": dict(select="random"),
        "one-shot": dict(schedule="one_shot"), "augment-all": dict(augment_scope="all"),
        "continue-training": dict(retrain_from_base=False)}
SHARED_STAGES = ("train", "eval_train", "eval_test")


@dataclasses.dataclass
class ExperimentSpec:
    """What an experiment runs: arms x seed sizes x seeds around one base run config."""
    seed_sizes: tuple[float, ...]
    seeds: tuple[int, ...]
    arms: tuple[str, ...]
    base: LLM2LLMConfig

    def validate(self) -> None:
        unknown = [a for a in self.arms if a not in ARMS]
        if unknown or not self.arms:
            raise UserError(f"unknown arm(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(ARMS)}")
        if not self.seed_sizes or not self.seeds:
            raise UserError("an experiment needs at least one seed size and one seed")
        self.base.validate()

    def cells(self) -> list[tuple[float, int]]:
        return [(size, seed) for size in self.seed_sizes for seed in self.seeds]

    def run_config(self, arm: str, size: float, seed: int) -> LLM2LLMConfig:
        config = copy.deepcopy(self.base)
        config.seed_size, config.seed = size, seed
        return dataclasses.replace(config, **ARMS[arm])

    def to_dict(self) -> dict:
        return dict(seed_sizes=list(self.seed_sizes), seeds=list(self.seeds), arms=list(self.arms),
                    base=dataclasses.asdict(self.base))

    @classmethod
    def from_dict(cls, data: dict) -> "ExperimentSpec":
        return cls(tuple(data["seed_sizes"]), tuple(data["seeds"]), tuple(data["arms"]),
                   LLM2LLMConfig.from_dict(data["base"]))


def run_name(experiment: str, arm: str, size: float, seed: int) -> str:
    return f"{experiment}.{arm}.n{size:g}.s{seed}"


def run_experiment(ws: Workspace, name: str, spec: ExperimentSpec | None = None, progress: ProgressFn | None = None,
                   workers: int = 1, cells: list[int] | None = None) -> dict:
    """Create experiment `name` (or resume it: `spec` None, or the same spec) and run its cells
    (all, or the indices in `cells`); returns the experiment row."""
    with ws.connect() as con:
        row = xdb.get_experiment(con, name)
        if row is None:
            if spec is None:
                raise UserError(f"no llm2llm experiment named '{name}'")
            spec.validate()
            xdb.create_experiment(con, name, spec.base.task, spec.to_dict())
        elif spec is not None and json.loads(json.dumps(spec.to_dict())) != row["spec"]:
            raise UserError(f"experiment '{name}' exists with other settings: pick another --name")
        else:
            xdb.set_experiment_status(con, name, "running")
        spec = ExperimentSpec.from_dict(xdb.get_experiment(con, name)["spec"])
    todo = list(range(len(spec.cells()))) if cells is None else cells
    try:
        if workers > 1 and cells is None:
            _run_parallel(ws, name, spec, workers)
        else:
            for k in todo:
                _run_cell(ws, name, spec, *spec.cells()[k], progress)
    except BaseException as exc:
        with ws.connect() as con:
            xdb.set_experiment_status(con, name, "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                                      f"{type(exc).__name__}: {exc}"[:500])
        raise
    with ws.connect() as con:
        if cells is None:
            xdb.set_experiment_status(con, name, "done")
        return xdb.get_experiment(con, name)


def _run_cell(ws: Workspace, name: str, spec: ExperimentSpec, size: float, seed: int,
              progress: ProgressFn | None) -> None:
    """Every arm of one (seed size, seed) cell; the first arm trains iteration 0 and the noise
    replicates, the first augmenting arm checks the teacher, the others share those records."""
    donor = checker = None
    for arm in spec.arms:
        run = run_name(name, arm, size, seed)
        config = spec.run_config(arm, size, seed)
        with ws.connect() as con:
            exists = db.get_run(con, run) is not None
        if not exists:
            create_llm2llm(ws, run, config)
        with ws.connect() as con:
            xdb.add_cell(con, name, arm, size, seed, run)
            if donor and _can_share(config) and all(
                    db.stage_status(con, donor, 0, s) == "done" for s in SHARED_STAGES):
                if db.stage_status(con, run, 0, "eval_test") != "done":
                    xdb.share_iteration(con, donor, run, 0, SHARED_STAGES)
                if config.noise_seeds and db.stage_status(con, donor, 0, "noise") == "done" \
                        and db.stage_status(con, run, 0, "noise") != "done":
                    controls.copy_controls(con, donor, run, "noise")
            if checker and db.stage_status(con, run, 0, "check") != "done":
                controls.copy_controls(con, checker, run, "check")  # same seeds, same teacher
            status = db.get_run(con, run)["status"]
        if status != "done":
            resume_llm2llm(ws, run, progress)
        donor = donor or run
        with ws.connect() as con:
            checker = checker or (run if db.stage_status(con, run, 0, "check") == "done" else None)


def _can_share(config: LLM2LLMConfig) -> bool:
    """Iteration 0 is shared as records only; an arm that reloads its own iteration-0 student (to
    continue training it, or to let it relabel new examples) trains its own."""
    return config.retrain_from_base and config.label_check != "student"


def _run_parallel(ws: Workspace, name: str, spec: ExperimentSpec, workers: int) -> None:
    """Cells round-robin over `workers` child processes (`llm2llm experiment --cells`), each in a
    shard workspace `<db stem>.shard<k>.duckdb` that already holds the experiment; merged back when all end."""
    n_cells = len(spec.cells())
    workers = min(workers, n_cells)
    threads = max(1, (os.cpu_count() or 2) // workers)
    procs = []
    for k in range(workers):
        shard = str(Path(ws.path).with_suffix(f".shard{k}.duckdb"))
        shard_ws = Workspace(shard)
        with shard_ws.connect() as con:
            if xdb.get_experiment(con, name) is None:
                xdb.create_experiment(con, name, spec.base.task, spec.to_dict())
        cells = ",".join(str(c) for c in range(k, n_cells, workers))
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), TQDM_DISABLE="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                            os.environ.get("PYTHONPATH")])))
        cmd = [sys.executable, "-m", "engine", "--db", shard, "llm2llm", "experiment", "--name", name, "--cells", cells]
        with open(Path(shard).with_suffix(".log"), "w") as log:  # a file, not a pipe: a full pipe blocks a worker
            procs.append((shard, subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)))
    failures = []
    try:
        for shard, proc in procs:
            if proc.wait() != 0:
                log = Path(shard).with_suffix(".log")
                last = log.read_text(errors="replace").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
                failures.append(f"{log}: {last[0]}")
    finally:  # also on Ctrl-C / SIGTERM: stop the workers, keep what they finished
        for _, proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for shard, _ in procs:
            with ws.connect() as con:
                xdb.merge_shard(con, shard)
    if failures:
        raise UserError("experiment workers failed: " + "; ".join(failures))
