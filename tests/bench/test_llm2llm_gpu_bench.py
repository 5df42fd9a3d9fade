"""bench/gpu_llm2llm.py end to end on CPU at toy sizes (real SmolLM2 teacher, real embedder, the
tasks and the determinism probe as concurrent processes, 2 cell workers each with shard
workspaces merged back; the student is the 2-layer SmolLM2 double of `llm2llm_tiny`): the GPU
window runs the same code at full size, so it must be known to work before it."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


@pytest.mark.slow
@pytest.mark.gpu
def test_gpu_bench_smoke_writes_the_table(tmp_path):
    from bench import gpu_llm2llm
    from llm2llm_tiny import tiny_student

    result = gpu_llm2llm.main(["--smoke", "--parallel", "--out", str(tmp_path), "--work", str(tmp_path / "work"),
                               "--device", "cpu", "--student", tiny_student()])
    assert not result.get("missing") and set(result["tasks"]) == {"trec", "quality"}
    trec = result["tasks"]["trec"]
    assert trec["status"] == "done" and trec["test_rows"] == 6
    arms = {(r["arm"], r["iteration"]) for r in trec["summary"]}
    assert arms == {(a, i) for a in ("plain", "llm2llm", "random-seeds") for i in (0, 1)}
    assert all(r["n"] == 2 for r in trec["summary"])  # both seeds of every arm finished
    assert trec["stage_seconds"]["train"]["count"] == 2 * (1 + 2)  # iteration 0 trained once per cell
    assert trec["stage_seconds"]["noise"]["count"] == 2  # one noise set per cell, shared by the arms
    noise = trec["noise"][0]
    assert noise["trainings"] == 4 and noise["cells"] == 2  # per cell: the main student + 1 replicate
    assert all(r["noise_floor"] is not None for r in trec["summary"] if r["iteration"] == 1)
    assert trec["readiness"]["checks"] == 2 and trec["readiness"]["sampled"] == 8  # one check per cell
    probe = result["determinism_probe"]
    assert probe["answers_differing"] == 0 and probe["test_acc"][0] == probe["test_acc"][1]  # CPU: bit-exact
    saved = json.loads((tmp_path / "llm2llm_results_smoke.json").read_text())
    assert saved["tasks"]["trec"]["summary"] == json.loads(json.dumps(trec["summary"], default=str))
    md = (tmp_path / "llm2llm_results_smoke.md").read_text()
    assert "| 6 | llm2llm | 1 | 2 |" in md and "Verdict:" in md and "noise floor" in md and "## quality" in md
    assert len(list(tmp_path.glob("*"))) <= 8  # what the device can return (work/ aside)
