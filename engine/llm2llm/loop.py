"""The LLM2LLM loop (Lee et al. 2024, arXiv:2403.15042) as resumable stages in DuckDB.

Iteration i runs `train` -> `eval_train` -> `eval_test` -> `augment`; the last iteration has no
`augment`; iteration 0 starts with the teacher readiness `check` and ends with the `noise`
replicates when configured. Every iteration trains with the same training seed, so an iteration
that added nothing reproduces the previous student (bit-exact on CPU). Every stage records `running` before it starts and `done` in the same transaction as
its last outputs; `resume_llm2llm` skips done stages and redoes the one in progress idempotently
(train sets are replaced, predictions and synthetic rows are upserted by primary key, and parents
already augmented in this iteration are skipped). Trained students are checkpointed in the run
folder, so a resumed evaluation reloads the student instead of retraining it; only the latest
checkpoint is kept unless `keep_checkpoints`.
"""
from __future__ import annotations

import copy
import dataclasses
import random
import re
import shutil
import time
from pathlib import Path

from engine.errors import UserError
from engine.llm2llm import student as st
from engine.llm2llm.augment import augment_parents, check_teacher_output
from engine.llm2llm.config import LLM2LLMConfig
from engine.llm2llm.replicates import generation_accuracy, train_noise_replicates
from engine.llm2llm.tasks import Example, Task, check_sizes, load_task, sample_rows
from engine.llm2llm.teacher import teacher_default
from engine.progress import ProgressFn
from engine.storage import Workspace
from engine.storage import llm2llm as db
from engine.storage import llm2llm_controls as controls

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_EVAL_CHUNK = 64  # predictions per transaction: a killed evaluation loses at most one chunk


def select_seed_failures(train_predictions: list[tuple[str, str, bool]], seed_ids: set[str],
                         scope: str = "seeds") -> list[tuple[str, str]]:
    """The central LLM2LLM rule: only ORIGINAL SEED examples the student got wrong are augmented
    (synthetic examples are never re-augmented, so errors in teacher data do not compound).
    `scope="all"` is the paper's ablation that augments every wrong training example.
    Returns (example_id, the student's wrong output) in id order."""
    return [(i, out) for i, out, ok in sorted(train_predictions)
            if not ok and (scope == "all" or i in seed_ids)]


def select_random_seeds(train_predictions: list[tuple[str, str, bool]], seed_ids: set[str], count: int,
                        rng_seed: int) -> list[tuple[str, str | None]]:
    """The control arm's rule: `count` seeds drawn uniformly (seeded), right or wrong, so the
    teacher writes as many examples as LLM2LLM would but not where the student fails. Returns
    (seed id, the student's wrong output, or None when it was right) in id order."""
    seeds = {i: (out, ok) for i, out, ok in train_predictions if i in seed_ids}
    chosen = random.Random(rng_seed).sample(sorted(seeds), min(count, len(seeds)))
    return [(i, None if seeds[i][1] else seeds[i][0]) for i in sorted(chosen)]


def last_iteration(config: LLM2LLMConfig) -> int:
    """Index of the final student: `iterations`, or 1 for one-shot (one augmentation round)."""
    return min(1, config.iterations) if config.schedule == "one_shot" else config.iterations


def run_dir(ws: Workspace, name: str, config: LLM2LLMConfig) -> Path:
    """Checkpoints live in `config.run_dir`, else `<workspace stem>.llm2llm/<run>` beside the file."""
    root = Path(config.run_dir) if config.run_dir else Path(ws.path).with_suffix(".llm2llm")
    return root / name


def start_llm2llm(ws: Workspace, name: str, config: LLM2LLMConfig, progress: ProgressFn | None = None,
                  readiness: dict | None = None) -> dict:
    """Create run `name` (seeds and test rows sampled with `config.seed`) and drive it to the end.
    Returns the run's row. A name already used is an error: use `resume_llm2llm`."""
    create_llm2llm(ws, name, config, readiness)
    return resume_llm2llm(ws, name, progress)


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise UserError(f"run name {name!r}: use letters, digits, '_', '.', '-' (max 100)")


def check_new_name(ws: Workspace, name: str) -> None:
    """A valid run name not used yet (checked before the teacher readiness check loads a model)."""
    check_name(name)
    with ws.connect() as con:
        if db.get_run(con, name) is not None:
            raise UserError(f"llm2llm run '{name}' exists: resume it with `llm2llm resume {name}`")


def create_llm2llm(ws: Workspace, name: str, config: LLM2LLMConfig, readiness: dict | None = None) -> None:
    """Record run `name`: its resolved config, seeds and test rows (nothing is trained yet), and
    `readiness` when the caller already checked the teacher (its `check` stage is then done)."""
    check_new_name(ws, name)
    config = copy.deepcopy(config)  # defaults are resolved below; the caller's object stays as given
    config.validate()
    task, train_rows, test_rows = load_task(config.task, config.train_path, config.test_path, config.labels)
    check_sizes(train_rows, test_rows, config.seed_size, config.train_path, config.test_path)
    seeds = sample_rows(train_rows, config.seed_size, config.seed)
    tests = sample_rows(test_rows, config.test_size, config.seed + 1)
    # Resolve per-task defaults so the saved config states what actually ran.
    short = task.kind == "classification"
    if config.teacher.model == "auto":
        config.teacher.model = teacher_default()
    config.teacher.max_new_tokens = config.teacher.max_new_tokens or (48 if short else 320)
    config.student.max_new_tokens = config.student.max_new_tokens or (8 if short else 256)
    saved = dataclasses.asdict(config) | {"task_def": dataclasses.asdict(task)}
    with ws.connect() as con:
        if db.get_run(con, name) is not None:
            raise UserError(f"llm2llm run '{name}' exists: resume it with `llm2llm resume {name}`")
        db.create_run(con, name, config.task, saved, config.seed,
                      [(r.id, r.input, r.output) for r in seeds], [(r.id, r.input, r.output) for r in tests])
        if readiness is not None:
            controls.save_readiness(con, name, readiness)
            db.mark_stage(con, name, 0, "check", "done", 0.0)


def resume_llm2llm(ws: Workspace, name: str, progress: ProgressFn | None = None) -> dict:
    """Continue run `name` from the stage in progress (a finished run returns at once)."""
    with ws.connect() as con:
        run = db.get_run(con, name)
        if run is None:
            raise UserError(f"no llm2llm run named '{name}'")
        db.set_run_status(con, name, "running")
    driver = _Driver(ws, name, run["config"], progress)
    try:
        driver.run_all()
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        with ws.connect() as con:
            db.set_run_status(con, name, status, f"{type(exc).__name__}: {exc}"[:500])
        raise
    with ws.connect() as con:
        db.set_run_status(con, name, "done")
        return db.get_run(con, name)


class _Driver:
    """Runs the stages of one run in order, skipping those already done."""

    def __init__(self, ws: Workspace, name: str, saved: dict, progress: ProgressFn | None):
        self.ws, self.name, self.progress = ws, name, progress
        self.config = LLM2LLMConfig.from_dict(saved)
        td = saved["task_def"]
        self.task = Task(td["name"], td["kind"], tuple(td["labels"]), td.get("noun", "text"),
                         tuple(td.get("descriptions") or ()))
        self.dir = run_dir(ws, name, self.config)
        self._student: tuple[int, object, object] | None = None  # (iteration, model, tokenizer)

    def run_all(self) -> None:
        for it in range(last_iteration(self.config) + 1):
            stages = ["train", "eval_train", "eval_test"]
            if it == 0 and self.config.readiness_sample and last_iteration(self.config) > 0 \
                    and not self._done(0, "augment"):  # before the first augmentation (older runs skip it)
                stages.insert(0, "check")
            if it == 0 and self.config.noise_seeds:
                stages.append("noise")
            if it < last_iteration(self.config) and (self.config.schedule == "iterative" or it == 0):
                stages.append("augment")
            for stage in stages:
                self._stage(it, stage)
        if not self.config.keep_checkpoints:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _done(self, it: int, stage: str) -> bool:
        with self.ws.connect() as con:
            return db.stage_status(con, self.name, it, stage) == "done"

    def _stage(self, it: int, stage: str) -> None:
        with self.ws.connect() as con:
            if db.stage_status(con, self.name, it, stage) == "done":
                return
            db.mark_stage(con, self.name, it, stage, "running")
        started = time.monotonic()
        finish = getattr(self, f"_{stage}")(it)  # writes outputs; returns the final transaction's work
        with self.ws.connect() as con:
            finish(con)
            db.mark_stage(con, self.name, it, stage, "done", time.monotonic() - started)

    def _label(self, it: int, stage: str) -> str:
        return f"{self.name} it{it} {stage}"

    # --- stages: each returns a function that writes its last outputs in the marker's transaction

    def _train(self, it: int):
        with self.ws.connect() as con:
            seeds = db.run_examples(con, self.name, "seed")
            synthetic = db.eligible_synthetic(con, self.name, it)  # honours curator rejections
        rows = seeds + synthetic
        init = None
        if not self.config.retrain_from_base and it > 0:
            init = str(self._checkpoint(it - 1))
        progress = (lambda _s, d, t: self.progress(self._label(it, "train"), d, t)) if self.progress else None
        # One training seed for every iteration: the difference between iterations is the data's.
        model, tok = st.train_student(self.task, [(x, y) for _, x, y in rows], self.config.student,
                                      self.config.seed_for_training(), init, progress)
        st.save_student(model, tok, self._checkpoint(it))
        # Evaluate the reloaded checkpoint, never the in-memory model: a resumed run then sees
        # exactly the same weights and dtype (bf16 on CUDA) as an uninterrupted one.
        del model
        self._student = None
        if not self.config.keep_checkpoints and it > 0:
            shutil.rmtree(self._checkpoint(it - 1), ignore_errors=True)

        def finish(con):
            db.save_train_set(con, self.name, it, [i for i, _, _ in rows])
            db.upsert_iteration(con, self.name, it, train_size=len(rows), n_synthetic=len(synthetic))
        return finish

    def _checkpoint(self, it: int) -> Path:
        return self.dir / f"student-it{it}"

    def _model(self, it: int):
        if self._student and self._student[0] == it:
            return self._student[1:]
        path = self._checkpoint(it)
        if not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
            raise UserError(f"run '{self.name}': checkpoint of iteration {it} is missing ({path}); "
                            "delete the iteration's 'train' stage marker to retrain")
        self._student = None  # free the previous iteration's student first
        model, tok = st.load_student(self.config.student, str(path))
        self._student = (it, model.eval(), tok)
        return self._student[1:]

    def _evaluate(self, it: int, split: str, rows: list[tuple[str, str, str]]) -> None:
        with self.ws.connect() as con:
            done = {i for i, _, _ in db.predictions(con, self.name, it, split)}
        todo = [r for r in rows if r[0] not in done]  # a resumed stage predicts only what is missing
        if not todo:
            return
        model, tok = self._model(it)
        label = self._label(it, f"eval_{split}")
        for start in range(0, len(todo), _EVAL_CHUNK):
            chunk = todo[start:start + _EVAL_CHUNK]
            progress = self.progress and (lambda _l, d, _t: self.progress(label, start + d, len(todo)))
            outs = st.answer(model, tok, self.task, [x for _, x, _ in chunk], self.config.student, progress)
            with self.ws.connect() as con:
                db.save_predictions(con, self.name, it, split, [(i, out, self.task.is_correct(out, y))
                                                                 for (i, _, y), out in zip(chunk, outs)])

    def _eval_train(self, it: int):
        with self.ws.connect() as con:
            rows = db.train_set(con, self.name, it)
            seed_ids = {i for i, _, _ in db.run_examples(con, self.name, "seed")}
        self._evaluate(it, "train", rows)

        def finish(con):
            preds = db.predictions(con, self.name, it, "train")
            seed_preds = [ok for i, _, ok in preds if i in seed_ids]
            db.upsert_iteration(con, self.name, it, train_acc=_mean([ok for _, _, ok in preds]),
                                seed_acc=_mean(seed_preds))
        return finish

    def _eval_test(self, it: int):
        with self.ws.connect() as con:
            rows = db.run_examples(con, self.name, "test")
        self._evaluate(it, "test", rows)
        gen = self._generation_acc(self._model(it), rows) if self._records_generation() else None

        def finish(con):
            acc = _mean([ok for _, _, ok in db.predictions(con, self.name, it, "test")])
            db.upsert_iteration(con, self.name, it, test_acc=acc, test_acc_gen=gen)
        return finish

    def _records_generation(self) -> bool:
        return self.config.record_generation and st.uses_likelihood(self.task, self.config.student)

    def _generation_acc(self, student, rows) -> float | None:
        return generation_accuracy(student, self.task, rows, self.config.student)

    def _check(self, it: int):
        """Teacher readiness on the run's own seeds, recorded before anything is trained."""
        from engine.llm2llm.readiness import check_readiness

        with self.ws.connect() as con:
            seeds = [Example(*r) for r in db.run_examples(con, self.name, "seed")]
        report = check_readiness(self.config, self.config.readiness_sample, self.task, seeds)
        return lambda con: controls.save_readiness(con, self.name, report)

    def _noise(self, it: int):
        progress = self.progress and (lambda label, d, t: self.progress(self._label(0, label), d, t))
        train_noise_replicates(self.ws, self.name, self.task, self.config, self.dir, progress)
        return lambda con: None

    def _augment(self, it: int):
        with self.ws.connect() as con:
            seeds = db.run_examples(con, self.name, "seed")
            examples = {i: (x, y) for i, x, y in seeds + db.train_set(con, self.name, it)}
            preds = db.predictions(con, self.name, it, "train")
        seed_ids = {i for i, _, _ in seeds}
        wrong = select_seed_failures(preds, seed_ids, self.config.augment_scope)
        parents = wrong if self.config.select == "wrong" else select_random_seeds(
            preds, seed_ids, len(wrong), self.config.seed * 7919 + it)
        per_wrong = self.config.per_wrong * (self.config.iterations if self.config.schedule == "one_shot" else 1)
        judge_acc = augment_parents(self.ws, self.name, it, self.task, parents, examples, self.config, per_wrong,
                                    self._student_relabel(it),
                                    self.progress and (lambda _s, d, t: self.progress(self._label(it, "augment"), d, t)))

        def finish(con):
            counts = db.candidate_counts(con, self.name, it)
            check_teacher_output(counts, it, self.config.teacher.model)
            db.upsert_iteration(con, self.name, it, n_wrong=len(wrong), n_requests=counts["requests"],
                                n_parsed=counts["parsed"], n_accepted=counts["accepted"])
            if judge_acc is not None:
                db.upsert_iteration(con, self.name, it, judge_seed_acc=judge_acc)
        return finish

    def _student_relabel(self, it: int):
        """The label-consistency judge `student`: this iteration's student labels new inputs."""
        if self.config.label_check != "student":
            return None

        def relabel(texts):
            model, tok = self._model(it)
            answers = st.answer(model, tok, self.task, texts, self.config.student)
            return [self.task.canonical_label(a) for a in answers]
        return relabel


def _mean(values) -> float | None:
    values = list(values)
    return sum(map(bool, values)) / len(values) if values else None
