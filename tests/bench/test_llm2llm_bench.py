"""The LLM2LLM bench script's arguments and report table (the run itself is the engine's, tested
end to end in test_llm2llm_loop.py)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import bench_llm2llm as bench  # noqa: E402


def test_bench_config_and_markdown_report():
    args = bench.parse_args(["--seeds", "16", "--iterations", "2", "--device", "cpu", "--tag", "t"])
    config = bench.config_from(args)
    assert config.seed_size == 16 and config.iterations == 2 and config.student.device == "cpu"
    row = dict(iteration=0, train_size=16, test_acc=0.5, seed_acc=0.25, n_wrong=12, n_requests=20, n_accepted=10,
               s_train=3.0, s_eval_train=1.0, s_eval_test=2.0, s_augment=9.0)
    last = row | dict(iteration=1, train_size=26, test_acc=0.625, n_wrong=None, n_requests=None, n_accepted=None,
                      s_augment=None)
    result = dict(tag="t", seeds=16, iterations=1, test_rows=48, total_s=20.0, device="cpu", host="h",
                  config={"student": {"epochs": 2, "model": "s"}, "teacher": {"model": "t"}},
                  iterations_table=[row, last], outcomes={"accepted": 10, "parse_failure": 10})
    text = bench.markdown(result)
    assert "| 1 | 26 | 0.625 | +0.125 |" in text and "| 0 | 16 | 0.500 | +0.000 |" in text
    assert "accepted 10, parse_failure 10" in text
