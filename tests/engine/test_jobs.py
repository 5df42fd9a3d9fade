"""Background jobs (`engine.jobs`): records, queue, dead-process detection, cancel, and kill -9 +
resume (real processes, real DuckDB file, real default judge)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine import jobs
from engine.jobs import launcher
from engine.jobs.progress import JobProgress
from engine.storage import jobs as db

ROOT = Path(__file__).resolve().parents[2]


def _cli(ws, *args, timeout=600) -> subprocess.CompletedProcess:
    """`python -m engine --db WS ARGS` in a real process, as a user would type it."""
    return subprocess.run([sys.executable, "-m", "engine", "--db", ws.path, *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout)


def _insert(ws, run_id: str, argv: list[str]) -> None:
    with ws.connect() as con:
        db.insert_job(con, run_id, launcher.kind_of(argv), argv, launcher.params_of(argv),
                      launcher.needs_device(argv), "")


# --- pure helpers --------------------------------------------------------------------------------

def test_command_parsing_kinds_and_resume_form():
    argv = ["llm2llm", "run", "--task", "trec", "--lora", "--seed-size=50", "--name", "t1"]
    assert launcher.kind_of(argv) == "llm2llm run"
    assert launcher.params_of(argv) == {"task": "trec", "lora": True, "seed-size": "50", "name": "t1"}
    assert launcher.resume_argv(argv) == ["llm2llm", "resume", "t1"]
    assert launcher.resume_argv(["score", "--corpus", "c"]) == ["score", "--corpus", "c"]
    assert launcher.needs_device(["score", "--corpus", "c"]) and launcher.needs_device(argv)
    assert not launcher.needs_device(["select", "--corpus", "c"])
    assert not launcher.needs_device(["llm2llm", "status", "t1"])
    assert launcher.params_of(["pipeline", "data.jsonl", "--corpus", "c"]) == {"args": ["data.jsonl"], "corpus": "c"}


def test_log_tail_keeps_the_last_state_of_each_progress_bar(tmp_path):
    log = tmp_path / "log.txt"
    log.write_text("start\nscore:  10%|#\rscore:  50%|####\rscore: 100%|########\r\nerror: boom\n")
    assert jobs.log_tail({"log_path": str(log)}).splitlines() == ["start", "score: 100%|########", "error: boom"]


# --- queue and records ---------------------------------------------------------------------------

def test_queue_starts_device_runs_one_at_a_time_and_light_runs_at_once(workspace):
    for i, argv in enumerate([["score", "--corpus", "a"], ["embed", "--corpus", "b"], ["select", "--corpus", "a"]]):
        _insert(workspace, f"r{i}", argv)
    with workspace.connect() as con:
        first = [r["id"] for r in db.claim_queued(con, max_device_runs=1)]
        again = [r["id"] for r in db.claim_queued(con, max_device_runs=1)]
    assert first == ["r0", "r2"] and again == []  # r1 waits for the device
    with workspace.connect() as con:
        db.set_status_if(con, "r0", "done", ["running"])
        assert [r["id"] for r in db.claim_queued(con, max_device_runs=1)] == ["r1"]
        assert not db.set_status_if(con, "r0", "cancelled", ["queued", "running"])  # compare-and-set
        assert db.get_job(con, "r0")["status"] == "done"


def test_progress_is_throttled_and_carries_rate_and_eta(workspace):
    _insert(workspace, "p", ["score", "--corpus", "a"])
    seen = []
    progress = JobProgress(workspace, "p", inner=lambda *a: seen.append(a), interval_s=0.2)
    progress("askllm", 0, 100)
    for done in range(1, 50):  # a burst: throttled to the first write only
        progress("askllm", done, 100)
    with workspace.connect() as con:
        assert db.get_job(con, "p")["done"] == 0
    time.sleep(0.3)
    progress("askllm", 60, 100)
    with workspace.connect() as con:
        rec = db.get_job(con, "p")
    assert len(seen) == 51 and (rec["stage"], rec["done"], rec["total"]) == ("askllm", 60, 100)
    assert rec["rate"] > 0 and rec["eta_s"] == pytest.approx(40 / rec["rate"])


def test_a_killed_or_reused_pid_is_detected_as_died(workspace):
    sleeper = subprocess.Popen(["sleep", "60"])
    for run_id, started in (("gone", None), ("reused", 12345.0)):
        _insert(workspace, run_id, ["score", "--corpus", "a"])
        with workspace.connect() as con:
            db.claim_queued(con, max_device_runs=5)
            db.update_job(con, run_id, pid=sleeper.pid, host=None,
                          pid_started=launcher._start_time(sleeper.pid) if started is None else started)
    assert launcher.refresh(workspace) == ["reused"]  # same pid, other start time: not our process
    sleeper.kill()
    sleeper.wait()
    assert launcher.refresh(workspace) == ["gone"]
    with workspace.connect() as con:
        assert {db.get_job(con, r)["status"] for r in ("gone", "reused")} == {"failed"}
        assert "process died" in db.get_job(con, "gone")["error"]


# --- real runs through the CLI ---------------------------------------------------------------------

QUALITY40 = Path(__file__).parents[1] / "data" / "runs_quality40.jsonl"  # 40 short real web lines


def _ingest(ws) -> None:
    from engine import pipeline

    pipeline.ingest(ws, QUALITY40, "q")


def _wait_for(predicate, timeout_s: float = 300, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _kill_9(ws, run_id: str) -> None:
    """SIGKILL the run's process and wait until it is gone (the signal is delivered asynchronously)."""
    rec = jobs.get_job(ws, run_id)
    os.kill(rec["pid"], signal.SIGKILL)
    _wait_for(lambda: not launcher.is_alive(rec), 30, "the killed process to disappear")


def test_runs_start_prints_the_id_last_and_a_light_run_finishes(workspace, capsys):
    from engine.cli import main

    _ingest(workspace)
    assert main(["--db", workspace.path, "runs", "start", "no-such-verb"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error:")
    out = _cli(workspace, "runs", "start", "corpora")  # a real shell command that returns at once
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip().splitlines()[-1]
    rec = jobs.wait_job(workspace, run_id, timeout_s=120)
    assert (rec["status"], rec["exit_code"], rec["kind"], rec["needs_device"]) == ("done", 0, "corpora", False)
    assert "q " in jobs.log_tail(rec) and rec["ended_at"] >= rec["started_at"]
    assert main(["--db", workspace.path, "runs", "show", run_id]) == 0
    shown = capsys.readouterr().out
    assert '"status": "done"' in shown and "=== job" in shown


def test_device_queue_and_cancel_with_real_processes(workspace):
    _ingest(workspace)
    config = jobs.JobsConfig(max_device_runs=1)  # the default grace: a cancel takes seconds, not ten
    first = jobs.start_job(workspace, ["score", "--corpus", "q"], config)
    second = jobs.start_job(workspace, ["score", "--corpus", "q", "--signal", "perplexity"], config)
    assert jobs.get_job(workspace, second)["status"] == "queued"  # the device is busy
    rec = _wait_for(lambda: (r := jobs.get_job(workspace, first))["device"] and r, 120, "the first run to start")
    pid = rec["pid"]
    t0 = time.monotonic()
    cancelled = jobs.cancel_job(workspace, first, config)
    assert time.monotonic() - t0 < 10.0  # the old grace alone was 10 s; the call also reads and writes records
    assert cancelled["status"] == "cancelled" and not launcher.is_alive(rec)
    tail = jobs.log_tail(cancelled)  # the log says what the status says
    assert f"job {first} ended: cancelled by user" in tail and "ended: failed" not in tail
    assert jobs.get_job(workspace, second)["status"] == "running"  # the freed slot went to the queue
    jobs.cancel_job(workspace, second, config)
    assert jobs.get_job(workspace, second)["status"] == "cancelled"
    with pytest.raises(Exception, match="cancelled"):
        jobs.cancel_job(workspace, first, config)
    assert not os.path.exists(f"/proc/{pid}") or launcher._start_time(pid) != rec["pid_started"]


def _askllm(ws):
    from engine.storage import corpus as store
    from engine.storage import signals as signal_store

    with ws.connect() as con:
        return store.corpus_frame(con, "q")[["doc_id", "askllm"]]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_kill_9_a_scoring_run_then_resume_equals_an_uninterrupted_run(tmp_path):
    from engine.storage import Workspace
    from engine.storage import corpus as store
    from engine.storage import signals as signal_store

    ref, ws = Workspace(tmp_path / "ref" / "ws.duckdb"), Workspace(tmp_path / "run" / "ws.duckdb")
    command = ["score", "--corpus", "q", "--chunk-size", "10"]  # real default judge, 4 stored batches
    for w in (ref, ws):
        _ingest(w)
    ref_id = jobs.start_job(ref, command)  # the uninterrupted reference, at the same time (own workspace)
    run_id = _cli(ws, "runs", "start", *command).stdout.strip().splitlines()[-1]

    def stored() -> int:
        with ws.connect() as con:
            key = signal_store.active_signal_key(con, "q", "askllm")
            return 40 - len(signal_store.missing_rows(con, "q", "scores", key)) if key else 0

    n_before = _wait_for(stored, 600, "the first stored batch")
    _kill_9(ws, run_id)
    assert n_before < 40
    assert launcher.refresh(ws) == [run_id]
    assert "process died" in jobs.get_job(ws, run_id)["error"]

    resumed = _cli(ws, "runs", "resume", run_id, "--wait", timeout=900)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    rec = jobs.get_job(ws, run_id)
    assert rec["status"] == "done" and rec["attempts"] == 1
    assert "already stored" in jobs.log_tail(rec)  # the rerun skipped the stored batches
    assert jobs.wait_job(ref, ref_id, timeout_s=900)["status"] == "done"
    got, want = _askllm(ws), _askllm(ref)
    assert got["doc_id"].is_unique and len(got) == 40 and got["askllm"].notna().all()
    assert list(got["doc_id"]) == list(want["doc_id"])
    np.testing.assert_allclose(got["askllm"], want["askllm"], atol=1e-5)


TREC24 = str(Path(__file__).parents[1] / "data" / "runs_trec24.label")  # 24 TREC_10 rows, ASCII


def _llm2llm_records(ws, name: str) -> dict:
    from engine.storage import llm2llm as l2l

    with ws.connect() as con:
        summary = l2l.iteration_summary(con, name)
        preds = {(it, split): l2l.predictions(con, name, it, split) for it in summary["iteration"]
                 for split in ("train", "test")}
        syn = l2l.synthetic_frame(con, name)
        run = l2l.get_run(con, name)
    return {"status": run["status"], "acc": summary[["iteration", "train_acc", "seed_acc", "test_acc"]],
            "preds": preds, "syn": syn[["example_id", "parent_id", "iteration", "input", "output", "accepted",
                                        "reason"]]}


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_kill_9_an_llm2llm_run_then_resume_equals_an_uninterrupted_run(tmp_path):
    """A tiny real run (the 2-layer SmolLM2 student double of `llm2llm_tiny`, the real SmolLM2
    teacher, 6 TREC seeds, one augmentation round); the uninterrupted reference runs at the same
    time in another workspace (own queue)."""
    from llm2llm_tiny import tiny_student

    from engine.storage import Workspace
    from engine.storage import llm2llm as l2l

    command = ["llm2llm", "run", "--task", "trec", "--train", TREC24, "--test", TREC24, "--seed-size", "6",
               "--test-size", "4", "--iterations", "1", "--epochs", "1", "--max-attempts", "1",
               "--teacher-max-new-tokens", "40", "--teacher", "smollm2-135m-instruct", "--name", "tiny",
               "--student", tiny_student()]
    ref, ws = Workspace(tmp_path / "ref" / "ws.duckdb"), Workspace(tmp_path / "run" / "ws.duckdb")
    ref_id, run_id = jobs.start_job(ref, command), jobs.start_job(ws, command)

    def evaluated() -> bool:
        with ws.connect() as con:
            return l2l.get_run(con, "tiny") is not None and l2l.stage_status(con, "tiny", 0, "eval_train") == "done"

    _wait_for(evaluated, 1500, "iteration 0's train evaluation")
    _kill_9(ws, run_id)  # mid-run: iteration 0's student checkpoint is on disk
    assert launcher.refresh(ws) == [run_id]
    rec = jobs.resume_job(ws, run_id)
    assert rec["argv"] == ["llm2llm", "resume", "tiny"]
    rec = jobs.wait_job(ws, run_id, timeout_s=2400)
    assert rec["status"] == "done", jobs.log_tail(rec)
    assert jobs.wait_job(ref, ref_id, timeout_s=600)["status"] == "done"

    got, want = _llm2llm_records(ws, "tiny"), _llm2llm_records(ref, "tiny")
    assert got["status"] == want["status"] == "done"
    assert got["acc"].equals(want["acc"]) and list(got["acc"]["iteration"]) == [0, 1]
    assert got["preds"] == want["preds"]  # same outputs, nothing missing, no duplicates
    assert got["syn"]["example_id"].is_unique
    assert got["syn"].reset_index(drop=True).equals(want["syn"].reset_index(drop=True))
