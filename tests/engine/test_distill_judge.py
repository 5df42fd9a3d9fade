"""The distilled head learns the judge settings that were scored (issue 22): after
`score --set template=content`, `score --signal distilled` must distil THOSE scores, not a fresh
run of the default `paper-inline` prompt."""
from __future__ import annotations

import dataclasses
import json

import numpy as np

from engine import distill, pipeline, stages
from engine.askllm import AskLLMConfig
from engine.storage import corpus as cstore
from engine.storage import signals as sstore


def test_judge_settings_follow_the_stored_signal():
    fields = {f.name for f in dataclasses.fields(AskLLMConfig)}
    stored = dataclasses.asdict(AskLLMConfig(template="content", device="cuda"))
    got = distill.judge_settings(stored, fields)
    assert got["template"] == "content" and "device" not in got and "batch_size" not in got
    assert AskLLMConfig(**got).key() == AskLLMConfig(template="content").key()
    assert distill.judge_settings(None, fields) == {"model": None}
    assert distill.judge_settings(stored, fields, "qwen2.5-coder-1.5b-instruct") == {
        "model": "qwen2.5-coder-1.5b-instruct"}  # another model named: its own defaults


def test_distilled_uses_the_scored_content_prompt(app_workspace):
    chosen = AskLLMConfig(template="content")
    with app_workspace.connect() as con:
        ids = cstore.documents(con, "c4")["doc_id"].tolist()
        values = np.where(np.arange(len(ids)) % 2 == 0, 0.9, 0.1) + np.random.default_rng(0).normal(0, 0.05, len(ids))
        sstore.put_scores(con, chosen.key(), ids, values)  # what `score --set template=content` stored
        sstore.set_signal(con, "c4", "askllm", chosen.key(), stages.stage("askllm").params(chosen, ""))
    config = stages.stage("distilled").make_config(sample_size=40)
    pipeline.run_stage(app_workspace, "c4", "distilled", config)  # every sampled document is judged already
    with app_workspace.connect() as con:
        sig = sstore.signals(con, "c4")
    params = json.loads(sig.loc[sig["kind"] == "distilled", "params"].iloc[0])
    assert params["judge_key"] == chosen.key() and "paper-inline" not in params["judge_key"]
