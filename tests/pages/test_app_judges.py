"""Judges page (AppTest) on a real workspace: the bundled evidence with CIs, machine and date, the
default judge on this machine and why, the picker, and this corpus's agreement with its curator."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine import review

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "7_Judges.py")


def test_judges_page_shows_evidence_default_and_corpus_agreement(app_workspace):
    with app_workspace.connect() as con:
        ids = con.execute("SELECT doc_id FROM documents WHERE corpus = 'c4' ORDER BY doc_id").df()["doc_id"].tolist()
    review.record(app_workspace, "c4", ids[0:30:2], "accept", "tester")
    review.record(app_workspace, "c4", ids[1:30:2], "reject", "tester")
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "Default judge on this machine (CPU)" in text and "gemma/paper-inline" in text  # tests run on a CPU
    assert "NVIDIA H200, 2026-11-29 11:02 UTC" in text and "stratified bootstrap" in text
    frames = [d.value for d in at.dataframe]
    where = {name: next(i for i, f in enumerate(frames) if column in f.columns) for name, column in
             (("agree", "accepts"), ("honest", "headline AUC"), ("evidence", "documents (all)"))}
    assert where["agree"] < where["honest"] < where["evidence"]  # the curator's own figures come first
    evidence = frames[where["evidence"]].set_index("judge")
    assert evidence.loc["qwen1.5b/content chat", "documents (all)"] == "0.800 [0.71, 0.89] n=78"
    assert bool(evidence.loc["gemma/paper-inline", "default here"])
    honest = frames[where["honest"]].set_index("judge")  # the lower figure is the headline
    assert honest.loc["qwen1.5b/content chat", "headline AUC"] == 0.67
    assert honest.loc["gemma/paper-inline", "headline AUC"] == 0.417  # its held-out dev pages
    assert at.selectbox(key="judges_option").value == "gemma/paper-inline"
    agree = frames[where["agree"]].set_index("signal")
    row = agree.loc["Ask-LLM quality (0-1)"]  # the plain label of askllm
    assert (row["n"], row["accepts"], row["rejects"]) == (30, 15, 15) and row["ci_lo"] <= row["auc"] <= row["ci_hi"]


def test_picking_a_judge_queues_a_scoring_job_with_its_measured_settings(app_workspace):
    """A running device job (a real process standing in) holds the queue, so the new job waits."""
    import subprocess

    import psutil

    from engine import jobs
    from engine.jobs import launcher
    from engine.storage import jobs as db

    holder = subprocess.Popen(["sleep", "120"], start_new_session=True)
    busy = ["score", "--corpus", "c4"]
    try:
        with app_workspace.connect() as con:
            db.insert_job(con, "holder", launcher.kind_of(busy), busy, launcher.params_of(busy), True, "x.log")
            db.update_job(con, "holder", status="running", started_at=db.utcnow(), pid=holder.pid,
                          pid_started=psutil.Process(holder.pid).create_time(), host=None)
        at = AppTest.from_file(PAGE, default_timeout=120).run()
        at.selectbox(key="judges_option").set_value("gemma/paper-inline")
        at.button[0].click().run()
        assert not at.exception and any("Started job" in s.value for s in at.success)
        started = jobs.list_jobs(app_workspace)
        new = started[started["id"] != "holder"]["id"].tolist()
        assert len(new) == 1
        assert jobs.get_job(app_workspace, new[0])["argv"] == ["score", "--corpus", "c4", "--signal", "askllm", "--model",
                                                              "gemma3-270m", "--set", "template=paper-inline",
                                                              "--set", "use_chat_template=True"]
        jobs.cancel_job(app_workspace, new[0])
    finally:
        holder.kill()
        holder.wait()


def test_learning_curve_and_active_quality_once_the_model_is_fitted(app_workspace):
    from engine import quality_model
    from engine.review_cli import good_ends

    from engine.storage import corpus as store

    with app_workspace.connect() as con:
        ids = store.documents(con, "c4")["doc_id"].tolist()  # the fixture's order: even positions one cluster
    for n in (6, 12, 20):
        review.record(app_workspace, "c4", ids[0:n:2], "accept", "tester")
        review.record(app_workspace, "c4", ids[1:n:2], "reject", "tester")
        quality_model.refit(app_workspace, "c4", good_ends())
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "Active `quality`" in text and "20 decisions" in text
    assert len(at.get("plotly_chart")) == 1
    at.number_input(key="judges_target").set_value(0.99).run()
    assert not at.exception
