"""AppTest of the LLM2LLM page on a finished run stored through `engine.storage.llm2llm` (real TREC
questions, three iterations, synthetic families with accepted and rejected candidates)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.llm2llm import view
from engine.storage import llm2llm as store

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "6_LLM2LLM.py")
TREC = Path(__file__).parents[1] / "data" / "runs_trec24.label"  # 24 rows of TREC_10 (ASCII)
LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
RUN = "trec-demo"
WRONG = {0: ["train-00", "train-01", "train-02", "train-03", "train-04"], 1: ["train-00", "train-03", "train-04"],
         2: ["train-00", "train-03"]}  # seeds the student gets wrong after each iteration


def _other(label: str) -> str:
    return LABELS[(LABELS.index(label) + 1) % len(LABELS)]


def store_finished_run(ws) -> None:
    """What the LLM2LLM loop stores for a 3-iteration run: seeds, tests, train sets, predictions,
    iteration summaries, stage timings and the teacher's candidates (one kept, one rejected each)."""
    rows = [line.split(" ", 1) for line in TREC.read_text().splitlines()]
    rows = [(r[0].split(":")[0], r[1].strip()) for r in rows]
    seeds = [(f"train-{i:02d}", q, y) for i, (y, q) in enumerate(rows[:16])]
    tests = [(f"test-{i:02d}", q, y) for i, (y, q) in enumerate(rows[16:])]
    gold = {i: y for i, _, y in seeds + tests}
    with ws.connect() as con:
        store.create_run(con, RUN, "trec", {"labels": LABELS, "iterations": 2, "seed_size": 16}, 0, seeds, tests)
        synthetic: list[tuple[str, str, str]] = []
        for it in range(3):
            store.save_train_set(con, RUN, it, [s[0] for s in seeds] + [s[0] for s in synthetic])
            train = [(i, _other(gold[i]) if i in WRONG[it] else gold[i], i not in WRONG[it]) for i, _, _ in seeds]
            train += [(i, y, True) for i, _, y in synthetic]
            test = [(i, _other(y) if int(i[-2:]) < 4 - it else y, int(i[-2:]) >= 4 - it) for i, _, y in tests]
            store.save_predictions(con, RUN, it, "train", train)
            store.save_predictions(con, RUN, it, "test", test)
            new = []
            if it < 2:
                for parent in WRONG[it]:
                    question = dict((s[0], s[1]) for s in seeds)[parent]
                    new += [{"example_id": f"syn-{it}-{parent}-{a}", "parent_id": parent, "iteration": it,
                             "attempt": a, "teacher": "gemma3-270m", "raw_output": f"QUESTION: {question} (v{a})",
                             "input": f"In other words, {question.lower()} (variant {it}.{a})" if a == 0 else question,
                             "output": gold[parent], "accepted": a == 0,
                             "reason": None if a == 0 else "near-duplicate: rouge-l 1.00"} for a in (0, 1)]
                store.save_synthetic(con, RUN, new)
                synthetic += [(r["example_id"], r["input"], r["output"]) for r in new if r["accepted"]]
            store.upsert_iteration(con, RUN, it, train_size=len(train), n_synthetic=len(train) - 16,
                                   train_acc=sum(t[2] for t in train) / len(train),
                                   seed_acc=1 - len(WRONG[it]) / 16, test_acc=sum(t[2] for t in test) / len(test),
                                   n_wrong=len(WRONG[it]), n_requests=len(new), n_accepted=len(new) // 2)
            for stage in ("train", "eval_train", "eval_test", "augment"):
                store.mark_stage(con, RUN, it, stage, "done", seconds=1.5)
        store.set_run_status(con, RUN, "done")


@pytest.fixture
def finished(workspace):
    store_finished_run(workspace)
    return workspace


def _frame(at: AppTest, column: str):
    """The first table on the page with `column` (AppTest does not expose dataframe keys)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def test_view_helpers_on_the_stored_run(finished):
    with finished.connect() as con:
        summary = store.iteration_summary(con, RUN)
        grid = store.correctness_grid(con, RUN)
    long = view.accuracy_long(summary)
    assert set(long["split"]) == set(view.ACCURACY_COLUMNS.values()) and len(long) == 9
    streak = view.persistent_failures(grid)
    assert streak.loc[["train-00", "train-03"]].tolist() == [3, 3] and streak["train-04"] == 0
    assert streak["train-01"] == 0 and list(streak.index[:2]) == ["train-00", "train-03"]
    frame = view.map_inputs(finished, RUN)
    assert len(frame) == 16 + 16 and set(frame["kind"]) == {"seed", "accepted", "rejected"}
    assert frame.set_index("example_id").at["train-03", "correct_2"] == False  # noqa: E712


def test_llm2llm_page_shows_accuracy_wrong_seeds_grid_confusion(finished):
    at = _page()
    assert at.selectbox(key="l2l_run").value == RUN
    assert len(at.get("plotly_chart")) == 4  # accuracy, grid, confusion, teacher outcomes (the map waits)
    assert at.select_slider(key="l2l_iteration").value == 2
    wrong = _frame(at, "prediction")
    assert wrong["example_id"].tolist() == WRONG[2] and (wrong["gold"] != wrong["prediction"]).all()
    assert any("2 of 16 seeds were wrong in every evaluated iteration" in m.value for m in at.markdown)
    at.select_slider(key="l2l_iteration").set_value(0).run()
    assert _frame(at, "prediction")["example_id"].tolist() == WRONG[0]


def test_curator_rejects_a_synthetic_example_before_the_next_train_set(finished):
    at = _page()
    at.select_slider(key="l2l_iteration").set_value(1).run()
    at.selectbox(key="l2l_family_seed").set_value("train-03").run()
    family = _frame(at, "curator_rejected")
    assert len(family) == 4 and set(family["reason"].dropna()) == {"near-duplicate: rouge-l 1.00"}
    picker = at.multiselect(key="l2l_reject_train-03")
    assert picker.options == ["syn-0-train-03-0", "syn-1-train-03-0"]
    picker.select("syn-1-train-03-0").run()
    at.button(key="l2l_family_save").click().run()
    assert not at.exception, at.exception
    with finished.connect() as con:
        eligible = {r[0] for r in store.eligible_synthetic(con, RUN, 3)}
    assert "syn-0-train-03-0" in eligible and "syn-1-train-03-0" not in eligible


@pytest.mark.slow  # loads the embedder in the page process; 26 points are mapped by PCA (`view.PCA_BELOW`)
def test_llm2llm_map_of_seeds_and_synthetic_examples(finished):
    at = _page()
    at.toggle(key="l2l_map_on").set_value(True).run()
    assert not at.exception, at.exception
    charts = at.get("plotly_chart")  # accuracy, grid, confusion, teacher outcomes + the map
    assert len(charts) == 5 and charts[-1].key == "l2l_map"
    at.radio(key="l2l_map_colour").set_value("right/wrong after iteration 2").run()
    assert not at.exception, at.exception


def test_llm2llm_page_without_runs(workspace):
    at = _page()
    assert "No LLM2LLM run" in at.info[0].value


def test_llm2llm_page_flags_a_run_whose_process_died(finished):
    from engine.jobs import launcher
    from engine.storage import jobs as runs_db

    argv = ["llm2llm", "run", "--task", "trec", "--name", RUN]
    with finished.connect() as con:
        store.set_run_status(con, RUN, "running")  # what a kill -9 leaves behind
        runs_db.insert_job(con, "b1", launcher.kind_of(argv), argv, launcher.params_of(argv), True, "",
                           launcher.llm2llm_run_of(argv))
        runs_db.update_job(con, "b1", status="failed", error="process died (pid 4242 gone)")
    at = _page()
    assert "process died (pid 4242 gone)" in at.warning[0].value
    assert at.button(key="l2l_resume").label == "Resume it"
