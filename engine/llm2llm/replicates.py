"""The `noise` stage of a run: its seed set trained again with `noise_seeds` other training seeds
(`engine.llm2llm.noise.noise_train_seeds`), each saved, reloaded (the dtype the run's students are
scored in: bf16 on CUDA) and scored on the test set like the run's own students. One replicate is
committed at a time, so a killed stage resumes at the first missing one."""
from __future__ import annotations

import shutil
from pathlib import Path

from engine.llm2llm import student as st
from engine.llm2llm.noise import noise_train_seeds
from engine.llm2llm.tasks import Task
from engine.progress import ProgressFn
from engine.storage import Workspace
from engine.storage import llm2llm as db
from engine.storage import llm2llm_controls as controls


def generation_accuracy(student, task: Task, rows, settings) -> float | None:
    """Test accuracy by free generation (the metric before label likelihood), for comparison."""
    outs = st.generate_answers(*student, task, [x for _, x, _ in rows], settings)
    return _mean(task.is_correct(o, y) for o, (_, _, y) in zip(outs, rows))


def train_noise_replicates(ws: Workspace, run: str, task: Task, config, folder: Path,
                           progress: ProgressFn | None = None) -> None:
    """Train, score and record every missing replicate of run `run` (see the module docstring)."""
    with ws.connect() as con:
        seeds = db.run_examples(con, run, "seed")
        tests = db.run_examples(con, run, "test")
        done = set(controls.replicates(con, run)["replicate"])
    record_gen = config.record_generation and st.uses_likelihood(task, config.student)
    train_seeds = noise_train_seeds(config.seed_for_training(), config.noise_seeds)
    for j, seed in enumerate(train_seeds, 1):
        if j in done:
            continue
        label = f"noise {j}/{len(train_seeds)}"
        model, tok = st.train_student(task, [(x, y) for _, x, y in seeds], config.student, seed, None,
                                      progress and (lambda _s, d, t: progress(label, d, t)))
        path = Path(folder) / f"noise-{j}"
        st.save_student(model, tok, path)
        del model
        student = st.load_student(config.student, str(path))
        outs = st.answer(*student, task, [x for _, x, _ in tests], config.student)
        acc = _mean(task.is_correct(o, y) for o, (_, _, y) in zip(outs, tests))
        gen = generation_accuracy(student, task, tests, config.student) if record_gen else None
        shutil.rmtree(path, ignore_errors=True)
        with ws.connect() as con:
            controls.save_replicate(con, run, j, seed, acc, gen)


def _mean(values) -> float | None:
    values = list(values)
    return sum(map(bool, values)) / len(values) if values else None
