"""AppTest of the Runs page on real run records (one held by a real process) in a real workspace."""
from __future__ import annotations

import subprocess
from pathlib import Path

import psutil
import pytest
from streamlit.testing.v1 import AppTest

from engine import jobs
from engine.jobs import launcher
from engine.storage import jobs as db

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "5_Jobs.py")


def _record(ws, run_id, argv, status, **fields) -> None:
    log = launcher.jobs_dir(ws) / run_id / "log.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"=== start: {' '.join(argv)}\nscore:  50%|#####\rscore: 100%|##########\n")
    with ws.connect() as con:
        db.insert_job(con, run_id, launcher.kind_of(argv), argv, launcher.params_of(argv),
                      launcher.needs_device(argv), str(log))
        if status != "queued":
            db.update_job(con, run_id, status=status, started_at=db.utcnow(), **fields)


@pytest.fixture
def seeded(workspace):
    """done, failed and queued runs, and a 'running' one held by a real process in its own session."""
    holder = subprocess.Popen(["sleep", "300"], start_new_session=True)
    _record(workspace, "r1-done", ["score", "--corpus", "q"], "done", stage="askllm", done=40, total=40,
            ended_at=db.utcnow(), exit_code=0, device="cpu")
    _record(workspace, "r2-failed", ["embed", "--corpus", "q"], "failed", error="process died (pid 1 gone)",
            ended_at=db.utcnow())
    _record(workspace, "r3-running", ["score", "--corpus", "q", "--signal", "perplexity"], "running",
            pid=holder.pid, pid_started=psutil.Process(holder.pid).create_time(), host=None,
            stage="perplexity", done=10, total=40, rate=2.0, eta_s=15.0, device="cpu")
    _record(workspace, "r4-queued", ["project", "--corpus", "q"], "queued")
    yield workspace
    holder.kill()
    holder.wait()


def _page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def _pick(at: AppTest, run_id: str) -> None:
    """Choose a run in the picker, whose options are labels starting with the run id."""
    picker = at.selectbox(key="runs_pick")
    picker.set_value(next(o for o in picker.options if o.startswith(run_id))).run()


def test_runs_page_lists_runs_with_progress_and_log(seeded):
    at = _page()
    table = at.dataframe[0].value
    assert set(table["id"]) == {"r1-done", "r2-failed", "r3-running", "r4-queued"}
    status = dict(zip(table["id"], table["status"]))
    assert status["r4-queued"] == "queued"  # the device slot is held by r3
    assert table.set_index("id").at["r3-running", "progress"] == "perplexity: 10/40 · 2.00/s · ETA 0m15s"
    _pick(at, "r1-done")
    assert at.selectbox(key="runs_pick").value.startswith("r1-done · score · done in ")
    assert "score: 100%|##########" in at.code[0].value and "50%" not in at.code[0].value
    fields = dict(at.dataframe[1].value.to_numpy().tolist())
    assert fields["Status"] == "done" and "Duration" in fields and "Ray cluster" not in fields
    assert at.button(key="runs_cancel").disabled and at.button(key="runs_resume").disabled


def test_runs_page_cancel_and_resume_buttons(seeded):
    at = _page()
    _pick(at, "r3-running")
    pid = jobs.get_job(seeded, "r3-running")["pid"]
    at.button(key="runs_cancel").click().run()
    assert not at.exception, at.exception
    assert jobs.get_job(seeded, "r3-running")["status"] == "cancelled"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    # The freed device slot went to the queued run: a real process starts for it (corpus 'q' does not
    # exist, so on a quiet machine that process may already have ended with its one-line error).
    started = jobs.get_job(seeded, "r4-queued")
    assert started["status"] in ("running", "failed") and started["pid"] and started["started_at"] is not None, started
    if started["status"] == "running":
        jobs.cancel_job(seeded, "r4-queued")
    _pick(at, "r2-failed")
    at.button(key="runs_resume").click().run()
    rec = jobs.get_job(seeded, "r2-failed")
    # Re-queued once; with the device slot free it may already have started and ended again.
    assert rec["attempts"] == 1 and rec["status"] in ("queued", "running", "failed"), rec
    if rec["status"] != "failed":
        jobs.cancel_job(seeded, "r2-failed")


def test_runs_page_launches_scoring_stages_on_ray(seeded, tmp_path):
    """The Ray choice adds the backend flags to the stages that run on Ray, not to the map;
    the runs queue behind r3 (which holds the device slot), so nothing heavy starts here."""
    from engine import pipeline

    docs = tmp_path / "q.jsonl"
    docs.write_text('{"text": "first document"}\n{"text": "second document"}\n')
    pipeline.ingest(seeded, docs, "q")
    at = _page()
    assert not [w for w in at.text_input if w.key == "runs_score_ray_address"]  # in-process: no Ray fields
    at.radio(key="runs_score_backend").set_value("Ray").run()  # the Ray fields show only now
    at.multiselect(key="runs_score_stages").set_value(["askllm", "project"])
    at.text_input(key="runs_score_ray_address").input("auto")
    at.number_input(key="runs_score_ray_actors").set_value(2)
    at.button(key="runs_submit_score").click().run()
    assert not at.exception, at.exception
    started = jobs.list_jobs(seeded)
    started = started[~started["id"].str.startswith("r")].sort_values("created_at")
    records = [jobs.get_job(seeded, run_id) for run_id in started["id"]]
    assert [r["argv"] for r in records] == [
        ["score", "--corpus", "q", "--signal", "askllm", "--backend", "ray", "--address", "auto", "--ray-actors", "2"],
        ["project", "--corpus", "q"]]
    assert {r["status"] for r in records} == {"queued"}
    for run_id in started["id"]:
        jobs.cancel_job(seeded, run_id)
