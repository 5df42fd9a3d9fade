"""End to end on CPU: real SmolLM2 teacher, a 2-layer SmolLM2 student (the labelled double of
`llm2llm_tiny`: the loop is under test, not what the student learns), real DuckDB, two iterations on 8 TREC
seeds, interrupted after iteration 0's augmentation, curated, then resumed; and a kill -9 of the
CLI in a subprocess followed by `llm2llm resume`."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from engine.llm2llm.loop import LLM2LLMConfig, resume_llm2llm, start_llm2llm
from engine.llm2llm.records import export_run
from engine.llm2llm.student import StudentSettings
from engine.llm2llm.teacher import TeacherSettings
from engine.storage import Workspace
from engine.storage import llm2llm as db

from conftest import DATA
from llm2llm_tiny import tiny_student

TRAIN, TEST = str(DATA / "llm2llm_trec_train.label"), str(DATA / "llm2llm_trec_test.label")
TINY_ARGS = ["--task", "trec", "--train", TRAIN, "--test", TEST, "--seed-size", "8", "--test-size", "8",
             "--iterations", "1", "--epochs", "1", "--max-new-tokens", "4", "--teacher-max-new-tokens", "24",
             "--max-attempts", "2", "--teacher", "smollm2-135m-instruct", "--label-check", "off", "--no-topic-check"]
STUDENT = tiny_student()


def tiny_config() -> LLM2LLMConfig:
    # The loop and its resume are under test here; the filter rules have their own tests.
    return LLM2LLMConfig(task="trec", train_path=TRAIN, test_path=TEST, seed_size=8, test_size=8, iterations=1,
                         max_attempts=2, label_check="off", topic_check=False,
                         student=StudentSettings(model=STUDENT, epochs=1, max_new_tokens=4),
                         teacher=TeacherSettings(model="smollm2-135m-instruct", max_new_tokens=24))


class Stop(Exception):
    """Raised from the progress callback to interrupt a run at a chosen point."""


def check_invariants(ws: Workspace, run: str) -> dict:
    """What every finished one-round run must hold; returns the records for further checks."""
    with ws.connect() as con:
        seeds = {i for i, _, _ in db.run_examples(con, run, "seed")}
        tests = {i for i, _, _ in db.run_examples(con, run, "test")}
        syn = db.synthetic_frame(con, run)
        summary = db.iteration_summary(con, run)
        sets = {it: {i for i, _, _ in db.train_set(con, run, it)} for it in (0, 1)}
        preds = {(it, s): db.predictions(con, run, it, s) for it in (0, 1) for s in ("train", "test")}
        stages = db.stage_times(con, run)
        assert db.get_run(con, run)["status"] == "done"
    assert len(seeds) == 8 and len(tests) == 8
    assert list(summary["iteration"]) == [0, 1] and summary["test_acc"].notna().all()
    assert list(zip(stages["iteration"], stages["stage"])) == [  # "check": the teacher's readiness, first
        (0, "check"), (0, "train"), (0, "eval_train"), (0, "eval_test"), (0, "augment"), (1, "train"), (1, "eval_train"),
        (1, "eval_test")]
    # Lineage: synthetic rows point to seeds, and no synthetic example is ever a parent.
    assert set(syn["parent_id"]) <= seeds and not set(syn["parent_id"]) & set(syn["example_id"])
    assert (syn["iteration"] == 0).all() and syn["example_id"].is_unique
    assert (syn["accepted"] == syn["reason"].isna()).all() and syn["teacher"].eq("smollm2-135m-instruct").all()
    wrong_seeds = {i for i, _, ok in preds[(0, "train")] if not ok and i in seeds}
    assert set(syn["parent_id"]) == wrong_seeds  # every wrong seed was augmented, nothing else
    for it in (0, 1):  # every train and test row predicted exactly once per iteration
        assert sorted(i for i, _, _ in preds[(it, "train")]) == sorted(sets[it])
        assert sorted(i for i, _, _ in preds[(it, "test")]) == sorted(tests)
    assert sets[0] == seeds
    kept = set(syn.loc[syn["accepted"] & ~syn["curator_rejected"], "example_id"])
    assert sets[1] == seeds | kept and summary["train_size"].tolist() == [8, 8 + len(kept)]
    return {"syn": syn, "summary": summary, "preds": preds, "seeds": seeds}


@pytest.mark.slow
def test_two_iterations_interrupted_curated_and_resumed(workspace, tmp_path):
    def stop_after_augment(label, done, total):
        if label.endswith("augment") and done == total:
            raise Stop  # iteration 0's candidates are committed, its `augment` marker is not

    with pytest.raises(Stop):
        start_llm2llm(workspace, "e2e", tiny_config(), stop_after_augment)
    with workspace.connect() as con:
        assert db.get_run(con, "e2e")["status"] == "failed"
        assert db.stage_status(con, "e2e", 0, "augment") == "running"
        accepted = db.synthetic_frame(con, "e2e").query("accepted")
        assert len(accepted) >= 1, "the seeded teacher is expected to produce at least one usable question"
        rejected_id = accepted["example_id"].iloc[0]
        assert db.set_curator_rejected(con, "e2e", rejected_id) == 1
    before = len(accepted)

    resume_llm2llm(workspace, "e2e")
    rec = check_invariants(workspace, "e2e")
    syn = rec["syn"]
    assert syn["accepted"].sum() == before  # resuming did not ask the teacher again for done parents
    assert rejected_id in set(syn["example_id"]) and syn.set_index("example_id").loc[rejected_id, "curator_rejected"]
    with workspace.connect() as con:
        tree = db.family_tree(con, "e2e", syn["parent_id"].iloc[0])
        wrong = db.wrong_answers(con, "e2e", 0, "train")
        grid = db.correctness_grid(con, "e2e")
        confusion = db.confusion_matrix(con, "e2e", 1, "test")
    assert tree["depth"].tolist()[0] == 0 and (tree["depth"].iloc[1:] == 1).all() and len(tree) >= 2
    assert set(wrong.query("kind == 'seed'")["example_id"]) == set(syn["parent_id"])
    assert grid.shape == (8, 2) and confusion.values.sum() == 8
    out = tmp_path / "final.jsonl"
    assert export_run(workspace, "e2e", out) == rec["summary"]["train_size"].iloc[1]
    assert not (tmp_path / "ws.llm2llm" / "e2e").exists()  # checkpoints removed when the run ends


def _cli(db_path, *args):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    return [sys.executable, "-m", "engine", "--db", str(db_path), "llm2llm", *args], env


@pytest.mark.slow
def test_kill_9_during_iteration_0_then_cli_resume(tmp_path):
    path = tmp_path / "ws.duckdb"
    cmd, env = _cli(path, "run", "--name", "k9", *TINY_ARGS, "--student", STUDENT)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ws = Workspace(path)
    deadline = time.monotonic() + 1200
    while True:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        with ws.connect() as con:
            if db.get_run(con, "k9") and db.stage_status(con, "k9", 0, "train") == "done":
                break
        assert time.monotonic() < deadline, "iteration 0 never finished training"
        time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)  # mid-evaluation: the student checkpoint is on disk
    proc.wait()
    with ws.connect() as con:
        assert db.get_run(con, "k9")["status"] == "running"  # kill -9 leaves no chance to record it
    cmd, env = _cli(path, "resume", "k9")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "run k9: done" in done.stdout
    check_invariants(ws, "k9")
