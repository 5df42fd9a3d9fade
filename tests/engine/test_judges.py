"""The judges' bundled evidence, the default judge per device, the judge picker's command, and a
signal's agreement with curator decisions (bootstrap CI) on a real workspace."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from engine import agreement, judges, review, stages
from engine.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("make_judge_evidence", ROOT / "scripts" / "make_judge_evidence.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundled_evidence_is_the_scripts_output_of_the_bench_file():
    assert judges.load_evidence() == json.loads(json.dumps(_script().build(ROOT / "bench" / "results" / "quality_auc.json")))
    best = next(j for j in judges.load_evidence()["judges"] if j["name"] == "qwen1.5b/content chat")
    assert best["auc"]["pages/all"] == {"auc": 0.8001, "lo": 0.7061, "hi": 0.8902, "n": 78}  # bench/results/quality_auc.md


def test_default_judge_per_device():
    cpu = judges.default_judge("cpu")
    assert (cpu.option, cpu.settings) == ("gemma/paper-inline", {}) and "0.64 [0.52, 0.75]" in cpu.why
    everything = judges.default_judge("cuda", is_installed=lambda model: True)
    assert everything.option == "qwen1.5b/content chat" and "0.80 [0.71, 0.89]" in everything.why
    assert everything.settings == {"model": "qwen2.5-coder-1.5b-instruct", "template": "content"}
    gemma_only = judges.default_judge("cuda", is_installed=lambda model: model == "gemma3-270m")
    assert gemma_only.option == "gemma/paper-inline" and "--with-qwen" in gemma_only.why


def test_askllm_stage_takes_the_device_default_unless_the_user_names_a_judge(monkeypatch):
    monkeypatch.setattr(judges, "installed", lambda model: True)
    askllm = stages.stage("askllm")
    assert askllm.make_config(device="cpu").model == "gemma3-270m"  # CPU keys never change
    gpu = askllm.make_config(device="cuda")
    assert (gpu.model, gpu.template, gpu.use_chat_template) == ("qwen2.5-coder-1.5b-instruct", "content", True)
    assert askllm.make_config(device="cuda", model="gemma3-270m").template == "paper-inline"


def test_picked_judge_runs_with_exactly_the_measured_settings():
    from engine.cli import _config, build_parser

    argv = judges.score_argv("qwen1.5b/content chat", "c4")
    config = _config("askllm", build_parser().parse_args(argv), model="qwen2.5-coder-1.5b-instruct")
    measured = next(j for j in judges.load_evidence()["judges"] if j["name"] == "qwen1.5b/content chat")["key"]
    assert measured == config.key() + ":calibrate=False"  # same model, prompt text and chat template
    with pytest.raises(UserError, match="choose one of the measured options"):
        judges.score_argv("gemma/made-up", "c4")
    with pytest.raises(UserError, match="corpus name"):
        judges.score_argv("gemma/paper-inline", "bad\nname")


def test_auc_and_bootstrap_ci():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(40, bool), np.zeros(60, bool)]
    s = y + rng.normal(0, 1, 100)
    point, lo, hi = agreement.auc_ci(y, s, reps=300)
    assert point == pytest.approx(roc_auc_score(y, s)) and lo < point < hi and hi - lo < 0.4


def test_agreement_with_the_curator_on_a_real_workspace(app_workspace):
    with app_workspace.connect() as con:
        ids = con.execute("SELECT doc_id FROM documents WHERE corpus = 'c4' ORDER BY doc_id").df()["doc_id"].tolist()
        # askllm = the fixture's cluster side (+ noise): the curator accepts the even cluster
        con.execute("UPDATE scores SET value = value + 2 * ((list_position(?, doc_id) - 1) % 2) "
                    "WHERE signal_key = 'askllm:fixture'", [ids])
    review.record(app_workspace, "c4", ids[1:40:2], "accept", "tester")
    review.record(app_workspace, "c4", ids[0:40:2], "reject", "tester")
    found = agreement.corpus_evidence(app_workspace, "c4", reps=200)
    row = found["agreement"].set_index("signal").loc["askllm"]
    assert row["n"] == 40 and row["accepts"] == 20 and row["auc"] > 0.9 and row["ci_lo"] <= row["auc"] <= row["ci_hi"]
    assert found["distilled"] == {} and list(found["correlations"].columns) == ["askllm"]


def test_too_few_decisions_say_so():
    frame = pd.DataFrame({"askllm": [0.1, 0.9, 0.5], "decision": ["accept", "reject", None]})
    out = agreement.curator_agreement(frame, {"askllm": "high"})
    assert np.isnan(out.loc[0, "auc"]) and "needs >= 5 accepts" in out.loc[0, "note"]
