"""The experiment command: arms as runs, iteration 0 shared within a cell, mean ± std and lift,
and (slow, real SmolLM2 on CPU) a tiny TREC slice with 2 seeds x 2 arms killed with SIGKILL and
resumed by running the same command again."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from engine.llm2llm.config import LLM2LLMConfig
from engine.llm2llm.experiment import ARMS, ExperimentSpec, run_name
from engine.llm2llm.records import experiment_summary
from engine.storage import Workspace
from engine.storage import llm2llm as db

from conftest import DATA
from llm2llm_tiny import tiny_student

TINY = ["--task", "trec", "--train", str(DATA / "llm2llm_trec_train.label"), "--test", str(DATA / "llm2llm_trec_test.label"),
        "--seed-sizes", "6", "--seeds", "0,1", "--arms", "plain,llm2llm", "--iterations", "1", "--epochs", "1",
        "--test-size", "6", "--max-new-tokens", "4", "--teacher", "smollm2-135m-instruct",
        "--teacher-max-new-tokens", "20", "--max-attempts", "1", "--label-check", "off", "--no-topic-check",
        "--student", tiny_student()]  # 2-layer SmolLM2 double: the experiment's plumbing is under test


def test_arms_differ_only_in_their_rule():
    spec = ExperimentSpec((27, 54), (0, 1), ("plain", "llm2llm", "random-seeds"), LLM2LLMConfig(iterations=3))
    plain, l2l, rnd = (spec.run_config(a, 27, 1) for a in spec.arms)
    assert (plain.iterations, l2l.iterations, rnd.iterations) == (0, 3, 3)
    assert (l2l.select, rnd.select) == ("wrong", "random") and plain.seed == l2l.seed == 1 and l2l.seed_size == 27
    assert spec.cells() == [(27, 0), (27, 1), (54, 0), (54, 1)] and set(ARMS) >= set(spec.arms)
    assert run_name("e", "random-seeds", 27, 1) == "e.random-seeds.n27.s1"
    stored = json.loads(json.dumps(spec.to_dict()))
    assert json.loads(json.dumps(ExperimentSpec.from_dict(stored).to_dict())) == stored


def test_summary_mean_std_and_paired_lift_over_plain():
    rows = []
    for seed, (p, a1) in enumerate([(0.50, 0.60), (0.40, 0.60), (0.60, 0.60)]):
        rows.append(dict(arm="plain", seed_size=8.0, seed=seed, iteration=0, test_acc=p, n_accepted=None, train_size=8))
        rows += [dict(arm="llm2llm", seed_size=8.0, seed=seed, iteration=0, test_acc=p, n_accepted=3, train_size=8),
                 dict(arm="llm2llm", seed_size=8.0, seed=seed, iteration=1, test_acc=a1, n_accepted=None, train_size=11)]
    summary = experiment_summary(pd.DataFrame(rows)).set_index(["arm", "iteration"])
    assert summary.loc[("llm2llm", 1), "acc_mean"] == pytest.approx(0.60)
    assert summary.loc[("llm2llm", 1), "lift_mean"] == pytest.approx(0.10)  # (0.1 + 0.2 + 0.0) / 3
    assert summary.loc[("llm2llm", 1), "lift_std"] == pytest.approx(0.10)
    assert summary.loc[("plain", 1), "acc_mean"] == pytest.approx(0.50)  # plain's one student, repeated
    assert summary.loc[("llm2llm", 0), "lift_mean"] == 0 and summary.loc[("plain", 0), "acc_std"] == pytest.approx(0.1)


def _summary_rows(pairs, retrained=None):
    """Summary rows of a one-size experiment; `retrained`: per cell, the accuracies of its seed set
    retrained with other training seeds (the noise replicates)."""
    rows = []
    for seed, (p, a1) in enumerate(pairs):
        rows += [dict(arm="plain", seed_size=8.0, seed=seed, iteration=0, test_acc=p, n_accepted=None, train_size=8),
                 dict(arm="llm2llm", seed_size=8.0, seed=seed, iteration=0, test_acc=p, n_accepted=3, train_size=8),
                 dict(arm="llm2llm", seed_size=8.0, seed=seed, iteration=1, test_acc=a1, n_accepted=None, train_size=11)]
    noise = None if retrained is None else pd.DataFrame(
        [dict(seed_size=8.0, seed=seed, replicate=j, test_acc=acc) for seed, (p, _) in enumerate(pairs)
         for j, acc in enumerate([p, *retrained[seed]])])
    summary = experiment_summary(pd.DataFrame(rows), noise)
    return summary.astype(object).where(summary.notna(), None).to_dict("records")


def test_no_gain_is_claimed_inside_the_noise_floor_or_without_one():
    from engine.llm2llm.records import experiment_verdict, gain_notes

    # sigma pooled over cells = 0.05; n = 3; lift +0.10 ± 0.10: floor 2 * max(0.05 * sqrt(2/3), 0.1 / sqrt(3)) = 0.115
    rows = _summary_rows([(0.50, 0.60), (0.40, 0.60), (0.60, 0.60)], [[0.55, 0.45], [0.45, 0.35], [0.65, 0.55]])
    last = next(r for r in rows if r["arm"] == "llm2llm" and r["iteration"] == 1)
    assert last["noise_sd"] == pytest.approx(0.05) and last["noise_floor"] == pytest.approx(0.2 / 3 ** 0.5)
    (level, note), = gain_notes(rows)
    assert level == "warning" and "No measured gain: within the noise floor (±0.115)" in note
    assert last["verdict"] == "no measured gain" and "→ no measured gain" in experiment_verdict(rows)
    (level, note), = gain_notes(_summary_rows([(0.50, 0.60)]))
    assert level == "warning" and "no noise floor was measured" in note
    assert "no noise floor" in experiment_verdict(_summary_rows([(0.50, 0.60)]))
    rows = _summary_rows([(0.50, 0.70), (0.48, 0.69), (0.52, 0.70)], [[0.51, 0.49], [0.49, 0.47], [0.53, 0.51]])
    (level, note), = gain_notes(rows)
    assert level == "success" and "above the noise floor" in note and "→ gain" in experiment_verdict(rows)


def _cmd(path, *args):
    env = dict(os.environ, PYTHONPATH=os.getcwd(), TQDM_DISABLE="1")
    return [sys.executable, "-m", "engine", "--db", str(path), "llm2llm", *args], env


@pytest.mark.slow
def test_experiment_killed_and_resumed(tmp_path):
    path = tmp_path / "ws.duckdb"
    cmd, env = _cmd(path, "experiment", "--name", "tiny", *TINY)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ws, first = Workspace(path), run_name("tiny", "llm2llm", 6, 0)
    deadline = time.monotonic() + 1800
    while True:  # kill -9 once the first llm2llm run has augmented (mid-experiment, mid-run)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        with ws.connect() as con:
            if db.get_run(con, first) and db.stage_status(con, first, 0, "augment") == "done":
                break
        assert time.monotonic() < deadline, "the first llm2llm run never augmented"
        time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "experiment tiny: done" in done.stdout
    with ws.connect() as con:
        for seed in (0, 1):
            plain, l2l = run_name("tiny", "plain", 6, seed), run_name("tiny", "llm2llm", 6, seed)
            assert db.get_run(con, plain)["status"] == db.get_run(con, l2l)["status"] == "done"
            assert db.predictions(con, plain, 0, "test") == db.predictions(con, l2l, 0, "test")  # shared it0
            times = db.stage_times(con, l2l).set_index(["iteration", "stage"])["seconds"]
            assert times[(0, "train")] == 0 and times[(1, "train")] > 0  # it0 copied, it1 trained
            assert db.candidate_counts(con, l2l, 0)["requests"] >= 1
    status = subprocess.run(_cmd(path, "status", "tiny", "--json")[0], env=env, capture_output=True, text=True)
    figures = json.loads(status.stdout)
    assert figures["status"] == "done" and {r["arm"] for r in figures["summary"]} == {"plain", "llm2llm"}
    assert len(figures["runs"]) == 2 * 1 + 2 * 2  # plain: iteration 0; llm2llm: iterations 0 and 1, per seed


def test_llm2llm_page_shows_an_experiment_with_error_bars_and_lift(workspace):
    from streamlit.testing.v1 import AppTest

    from engine.storage import llm2llm_controls as controls
    from engine.storage import llm2llm_experiments as xdb

    with workspace.connect() as con:
        xdb.create_experiment(con, "exp", "trec", {"arms": ["plain", "llm2llm"]})
        for seed, (p, a) in enumerate([(0.50, 0.60), (0.40, 0.60)]):
            for arm, accs in (("plain", [p]), ("llm2llm", [p, a])):
                run = run_name("exp", arm, 8, seed)
                db.create_run(con, run, "trec", {"teacher": {"model": "t"}}, seed, [("train-1", "Who ?", "HUM")], [])
                db.set_run_status(con, run, "done")
                xdb.add_cell(con, "exp", arm, 8, seed, run)
                for it, acc in enumerate(accs):
                    db.upsert_iteration(con, run, it, train_size=8 + 3 * it, test_acc=acc, n_accepted=3)
                if arm == "plain":  # the cell's seed set retrained twice: sigma 0.02
                    controls.save_replicate(con, run, 1, 1000, p + 0.02)
                    controls.save_replicate(con, run, 2, 2000, p - 0.02)
            db.save_synthetic(con, run, [dict(example_id="syn-0-a-0", parent_id="a", iteration=0, attempt=1,
                                              teacher="t", raw_output="x", input=None, output=None, accepted=False,
                                              reason="off_topic: far")])
        xdb.set_experiment_status(con, "exp", "done")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "pages" / "6_LLM2LLM.py"), default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    at.radio(key="l2l_view").set_value("Experiments").run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 2  # curves with error bars, rejection reasons
    table = next(d.value for d in at.dataframe if "lift vs plain" in d.value.columns)
    row = table[(table["arm"] == "llm2llm") & (table["iteration"] == 1)].iloc[0]
    assert row["lift vs plain"] == pytest.approx(0.15) and row["test acc"] == pytest.approx(0.60)
    # floor = 2 * max(0.02 * sqrt(2/2), sd(0.1, 0.2) / sqrt(2) = 0.05) = 0.1 < 0.15: a measured gain
    assert row["noise floor"] == pytest.approx(0.1)
    assert any("llm2llm − plain = 0.150" in i.value and "→ gain" in i.value for i in at.info)
    assert any("llm2llm at 8 seeds" in s.value and "above the noise floor (0.100)" in s.value for s in at.success)
    curves = str(at.get("plotly_chart")[0].proto)
    assert "noise floor around plain" in curves  # the band is drawn


def test_merge_shard_copies_a_workers_records_idempotently(tmp_path):
    from engine.storage import llm2llm_experiments as xdb

    main_ws, shard = Workspace(tmp_path / "main.duckdb"), Workspace(tmp_path / "main.shard0.duckdb")
    with shard.connect() as con:
        db.create_run(con, "r", "trec", {"k": 1}, 0, [("train-1", "Who wrote Hamlet ?", "HUM")], [])
        db.upsert_iteration(con, "r", 0, train_size=1, test_acc=0.5)
        db.mark_stage(con, "r", 0, "train", "done", 1.5)
        xdb.add_cell(con, "exp", "plain", 1, 0, "r")
    for _ in range(2):  # a rerun after a kill merges the same shard again
        with main_ws.connect() as con:
            xdb.merge_shard(con, shard.path)
    with main_ws.connect() as con:
        assert db.get_run(con, "r")["config"] == {"k": 1} and db.stage_status(con, "r", 0, "train") == "done"
        assert con.execute("SELECT count(*) FROM llm2llm_experiment_runs").fetchone()[0] == 1
        assert db.iteration_summary(con, "r")["test_acc"].tolist() == [0.5]
