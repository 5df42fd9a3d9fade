"""AppTest of the Jobs page's forms on a real workspace: no free-form command, paths confined to
the data roots (a symlink out of the uploads folder included), names and teacher URLs checked,
no API key variable can be named; refused forms start nothing."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import psutil
import pytest
from streamlit.testing.v1 import AppTest

from engine import forms, jobs
from engine.data_roots import uploads_dir
from engine.errors import UserError
from engine.jobs import launcher
from engine.storage import jobs as db

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "5_Jobs.py")


@pytest.fixture
def busy(workspace, monkeypatch):
    """A 'running' run held by a real process, so every run a form starts stays queued."""
    monkeypatch.delenv("SEEDBED_DATA_ROOTS", raising=False)
    monkeypatch.delenv("SEEDBED_TEACHER_ENDPOINTS", raising=False)
    holder = subprocess.Popen(["sleep", "300"], start_new_session=True)
    log = launcher.jobs_dir(workspace) / "hold" / "log.txt"
    log.parent.mkdir(parents=True)
    log.write_text("")
    argv = ["score", "--corpus", "q"]
    with workspace.connect() as con:
        db.insert_job(con, "hold", launcher.kind_of(argv), argv, launcher.params_of(argv), True, str(log))
        db.update_job(con, "hold", status="running", started_at=db.utcnow(), pid=holder.pid,
                      pid_started=psutil.Process(holder.pid).create_time(), host=None)
    yield workspace
    holder.kill()
    holder.wait()


def _page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def _error(at: AppTest) -> str:
    """The page's error as the reader sees it (the Markdown source escapes user text)."""
    return re.sub(r"\\(.)", r"\1", at.error[0].value)


def _started(ws) -> list[dict]:
    ids = [i for i in jobs.list_jobs(ws)["id"] if i != "hold"]
    return [jobs.get_job(ws, i) for i in ids]


def _pipeline(at: AppTest, path: str, name: str = "mine") -> AppTest:
    at.text_input(key="runs_pipe_path").input(path)
    at.text_input(key="runs_pipe_corpus").input(name)
    at.button(key="runs_submit_pipeline").click().run()
    assert not at.exception, at.exception
    return at


def test_runs_page_has_no_free_form_command(busy):
    at = _page()
    assert [t.label for t in at.tabs] == ["Scoring stages", "Pipeline", "LLM2LLM", "LLM2LLM experiment"]
    keys = {w.key for w in (*at.text_input, *at.button)}
    assert not {k for k in keys if k and "raw" in k}


def test_pipeline_form_reads_only_inside_the_data_roots(busy, tmp_path):
    uploads = uploads_dir(busy.path)
    uploads.mkdir()
    good = uploads / "docs.jsonl"
    good.write_text('{"text": "a document"}\n')
    secret = tmp_path / "private" / "secret.jsonl"
    secret.parent.mkdir()
    secret.write_text('{"text": "server secret"}\n')
    (uploads / "link.jsonl").symlink_to(secret)
    (uploads / "dir").symlink_to(secret.parent, target_is_directory=True)

    at = _page()
    for path in (str(secret), "/etc/passwd", str(uploads / "link.jsonl"), str(uploads / "dir"),
                 str(uploads / "dir" / "secret.jsonl"), "../private/secret.jsonl", str(tmp_path)):
        _pipeline(at, path)
        assert "outside the dashboard's data roots" in _error(at), path
    _pipeline(at, str(good), "bad\nname")
    assert "corpus name" in _error(at)
    assert _started(busy) == []

    _pipeline(at, "docs.jsonl", "mine")  # relative to the uploads folder
    [rec] = _started(busy)
    assert rec["argv"] == ["pipeline", str(good.resolve()), "--corpus", "mine"] and rec["status"] == "queued"
    jobs.cancel_job(busy, rec["id"])


def test_llm2llm_form_sends_keys_only_to_configured_endpoints(busy, monkeypatch):
    at = _page()
    at.text_input(key="runs_l2l_name").input("t1")
    at.text_input(key="runs_l2l_teacher").input("https://collector.example.net/v1")
    at.text_input(key="runs_l2l_teacher_model").input("m")
    at.button(key="runs_submit_llm2llm").click().run()
    assert "is not configured on this server" in _error(at) and _started(busy) == []

    monkeypatch.setenv("SEEDBED_TEACHER_ENDPOINTS", "https://api.example.org/v1=EXAMPLE_KEY")
    at.text_input(key="runs_l2l_teacher").input("https://api.example.org/v1")
    at.text_input(key="runs_l2l_student").input("/etc")
    at.button(key="runs_submit_llm2llm").click().run()
    assert "outside the dashboard's data roots" in _error(at) and _started(busy) == []
    at.text_input(key="runs_l2l_student").input("")
    at.button(key="runs_submit_llm2llm").click().run()
    assert not at.exception, at.exception
    [rec] = _started(busy)
    assert rec["argv"][:2] == ["llm2llm", "run"] and "--api-key-env" not in rec["argv"]
    assert rec["argv"][rec["argv"].index("--teacher") + 1] == "https://api.example.org/v1"
    jobs.cancel_job(busy, rec["id"])


def test_ray_address_must_be_local_or_listed(busy, monkeypatch, tmp_path):
    from engine.ingest import ingest

    docs = tmp_path / "q.jsonl"
    docs.write_text('{"text": "first document"}\n')
    ingest(busy, docs, "q")
    at = _page()
    at.radio(key="runs_score_backend").set_value("Ray").run()  # the Ray fields show only now
    at.text_input(key="runs_score_ray_address").input("ray://203.0.113.9:10001")
    at.button(key="runs_submit_score").click().run()
    assert "is not allowed here" in _error(at) and _started(busy) == []
    monkeypatch.setenv(forms.RAY_ENV, "ray://head:10001")
    assert forms.ray_address("ray://head:10001") == "ray://head:10001"


def test_forms_build_argv_for_registered_verbs_only(tmp_path):
    for argv in (["export", "sel", "--out", "/tmp/x"], ["ingest", "/etc"], ["corpora"], ["llm2llm", "export", "r"]):
        with pytest.raises(UserError, match="does not start"):
            forms.check_argv(argv)
    assert forms.model_ref("smollm2-135m-instruct", tmp_path / "ws.duckdb") == "smollm2-135m-instruct"
    assert forms.model_ref("HuggingFaceTB/SmolLM2-135M", tmp_path / "ws.duckdb") == "HuggingFaceTB/SmolLM2-135M"
    for bad in ("/root/model", "~/.cache/x", "../../x", "a/b/c", "x.gguf", "http://h/v1"):
        with pytest.raises(UserError):
            forms.model_ref(bad, tmp_path / "ws.duckdb")


def test_llm2llm_form_checks_the_teacher_and_shows_the_recorded_check(busy):
    """'Check the teacher first' queues `llm2llm run --check`; a check recorded under the run's
    name (as that job records it) shows under the form, a warning when the teacher is unreliable."""
    from engine.storage import llm2llm_controls as controls

    at = _page()
    at.text_input(key="runs_l2l_name").input("t2")
    at.button(key="runs_check_llm2llm").click().run()
    assert not at.exception, at.exception
    [rec] = _started(busy)
    assert rec["argv"][:2] == ["llm2llm", "run"] and rec["argv"][-1] == "--check"
    jobs.cancel_job(busy, rec["id"])
    report = {"teacher": "t", "sampled": 16, "labelled_right": 3, "parsed": 12, "level": "warning",
              "passed": {"format": 12, "label_consistency": 4, "on_topic": 4, "near_duplicate": 4},
              "rules_on": ["format", "label_consistency", "on_topic", "near_duplicate"],
              "sentence": "The teacher t labelled 3 of 16 sampled seeds right; it cannot label this task reliably."}
    with busy.connect() as con:
        controls.save_readiness(con, "t2", report)
    at.run()
    assert any("cannot label this task reliably" in w.value for w in at.warning)
    table = next(d.value for d in at.dataframe if "step" in d.value.columns)
    assert table.set_index("step").loc["labelled right by the teacher", "count"] == 3
