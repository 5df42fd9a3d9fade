"""Own-corpus flow on the pages (AppTest): the budget switch keeps the number of documents, a
prepared export is rebuilt after a later decision, queued work is shown instead of offered
again, the Jobs view opens on the running job, and choices come back from the URL."""
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from engine import job_summary, jobs, pipeline, review, select

ROOT = Path(__file__).resolve().parents[2]


def _page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / name), default_timeout=300)


def test_switch_budget_keeps_the_number_of_documents():
    assert select.switch_budget("count", 0.10, None, 400) == 40
    assert select.switch_budget("fraction", 0.10, 40, 400) == 0.10
    assert select.switch_budget("count", 1.0, None, 7) == 7 and select.switch_budget("fraction", 0.2, 1, 1000) == 0.01


def test_budget_switch_on_the_page(app_workspace):
    at = _page("2_Explore_and_select.py").run()
    at.slider(key="explore_budget_frac").set_value(0.10).run()
    at.radio(key="explore_budget_mode").set_value("count").run()
    assert not at.exception and at.number_input(key="explore_budget_count").value == 6  # 0.10 of 60
    assert at.metric[0].value == "6 / 60"
    at.number_input(key="explore_budget_count").set_value(30).run()
    at.radio(key="explore_budget_mode").set_value("fraction").run()
    assert at.slider(key="explore_budget_frac").value == 0.5


def test_a_decision_after_the_export_was_prepared_rebuilds_it(app_workspace):
    chosen = pipeline.select(app_workspace, "c4", "combined", budget=10, name="pick").doc_ids
    at = _page("4_Export.py").run()
    at.button(key="export_prepare").click().run()
    assert at.session_state["export_ready"].n == 10 and not at.warning
    review.record(app_workspace, "c4", chosen[:1], "reject", "ana")  # e.g. in another tab
    at.run()
    assert not at.exception and at.session_state["export_ready"].n == 9
    assert "rebuilt" in at.warning[0].value
    assert chosen[0] not in at.session_state["export_ready"].data.decode()


def test_queued_work_is_shown_not_offered_again(app_workspace, monkeypatch):
    monkeypatch.setenv("SEEDBED_MAX_DEVICE_RUNS", "0")  # the queue holds it: nothing runs in this test
    at = _page("1_Corpus.py").run()
    assert not at.exception and any(b.key == "corpus_process" for b in at.button)
    assert any("Process this corpus" in m.value for m in at.markdown)
    at.button(key="corpus_process").click().run()
    assert not at.exception and not any(b.key == "corpus_process" for b in at.button)
    assert any("is queued" in i.value and "clusters" in i.value for i in at.info)
    explore = _page("2_Explore_and_select.py").run()
    offered = next(m for m in explore.multiselect if m.key.startswith("explore_stages"))
    assert not set(offered.options) & {"clusters", "project"}  # the queued job covers them
    queued = jobs.list_jobs(app_workspace)
    assert len(queued) == 1 and queued["kind"].iloc[0] == "process"


def test_jobs_view_opens_on_the_running_job():
    frame = pd.DataFrame({"id": ["q2", "q1", "r1", "d1"], "status": ["queued", "queued", "running", "done"]})
    assert job_summary.default_job(frame) == "r1"
    assert job_summary.default_job(frame[frame["status"] != "running"]) == "q1"
    assert job_summary.default_job(frame[frame["status"] == "done"]) == "d1"


def test_reviewer_source_and_page_come_back_from_the_url(app_workspace):
    pipeline.select(app_workspace, "c4", "combined", budget=30, name="mine")
    at = _page("3_Review.py")
    at.query_params.update({"reviewer": "ana", "review_source": "saved selection 'mine'", "review_page": "2",
                            "corpus": "c4"})
    at.run()
    assert not at.exception
    assert at.text_input(key="review_reviewer_input").value == "ana"
    assert at.selectbox(key="review_source").value == "saved selection 'mine'"
    assert at.number_input(key="review_page").value == 2
    at.number_input(key="review_page").set_value(3).run()
    assert at.query_params["review_page"] in ("3", ["3"])


def test_experiment_form_queues_one_job_with_its_estimate(workspace, monkeypatch):
    monkeypatch.setenv("SEEDBED_MAX_DEVICE_RUNS", "0")  # the queue holds it: nothing trains in this test
    at = _page("5_Jobs.py").run()
    assert not at.exception
    at.text_input(key="runs_exp_seeds").input("0,1,2").run()
    estimate = next(c.value for c in at.caption if c.value.startswith("Estimate:"))
    assert "6 runs, 12 student trainings" in estimate  # 3 cells x (plain 1 + llm2llm 2 iterations + 1) and "no LLM2LLM run has finished" in estimate
    at.text_input(key="runs_exp_sizes").input("27,x").run()
    assert "whole numbers separated by commas" in at.error[0].value
    at.text_input(key="runs_exp_sizes").input("12").run()
    at.text_input(key="runs_exp_name").input("trec-check").run()
    at.button(key="runs_submit_experiment").click().run()
    queued = jobs.list_jobs(workspace)
    assert len(queued) == 1 and queued["kind"].iloc[0] == "llm2llm experiment"
    argv = jobs.get_job(workspace, queued["id"].iloc[0])["argv"]
    assert argv[:4] == ["llm2llm", "experiment", "--name", "trec-check"]
    assert argv[argv.index("--arms") + 1] == "plain,llm2llm" and argv[argv.index("--seeds") + 1] == "0,1,2"


def test_export_page_offers_an_llm2llm_runs_training_data(workspace):
    from tests.pages.test_app_llm2llm import RUN, store_finished_run

    store_finished_run(workspace)
    at = _page("4_Export.py").run()
    assert not at.exception
    at.selectbox(key="export_l2l_run").set_value(RUN).run()
    at.button(key="export_l2l_prepare").click().run()
    assert not at.exception
    name, data, n = at.session_state["export_l2l_ready"][2]
    rows = pd.read_json(__import__("io").BytesIO(data), lines=True)
    assert len(rows) == n == 16 + 5 + 3  # the 16 seeds and the accepted synthetic examples (5 + 3)
