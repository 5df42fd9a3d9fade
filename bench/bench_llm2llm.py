"""LLM2LLM on TREC: test accuracy per iteration against iteration 0 (plain fine-tuning on the
seeds), accepted synthetic examples, rejection reasons and seconds per stage.

    .venv/bin/python bench/bench_llm2llm.py                        # full: 100 seeds, 3 rounds, all 500 test rows
    .venv/bin/python bench/bench_llm2llm.py --seeds 24 --iterations 1 --test-size 60 --epochs 2 --tag cpu-reduced

Runs the real engine (`engine.llm2llm.loop.start_llm2llm`) in a fresh workspace and writes
`bench/llm2llm_results_<tag>.json` and `.md`. On a GPU machine pass `--device cuda`; the student
and teacher are any model reference `engine.models` accepts (packaged alias, HF folder, .gguf).

The lent GPU machine has torch/transformers/peft but no duckdb, gguf or weights: carry wheels for
duckdb and gguf (and pyarrow/pandas/tqdm if missing), and the SmolLM2 GGUF (98 MB, over one call's
64 MiB: e.g. split it in two carried halves over two calls on a warm machine, `cat` them together,
then pass `--student PATH.gguf --teacher PATH.gguf` and set SEEDBED_CACHE to a writable folder).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.llm2llm.loop import LLM2LLMConfig, resume_llm2llm, start_llm2llm  # noqa: E402
from engine.llm2llm.records import run_report  # noqa: E402
from engine.llm2llm.student import StudentSettings  # noqa: E402
from engine.llm2llm.teacher import TeacherSettings  # noqa: E402
from engine.progress import tqdm_progress  # noqa: E402
from engine.storage import Workspace  # noqa: E402
from engine.storage.llm2llm import stage_times  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--test-size", type=int, default=None, help="default: the whole TREC_10 test set (500)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--lora", action="store_true")
    p.add_argument("--student", default="smollm2-135m-instruct")
    p.add_argument("--teacher", default="smollm2-135m-instruct")
    p.add_argument("--teacher-max-new-tokens", type=int, default=48)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train", default=None, help="TREC train file (default ../shared/data or $SEEDBED_DATA)")
    p.add_argument("--test", default=None)
    p.add_argument("--db", default=None, help="workspace file (default: a temporary one)")
    p.add_argument("--resume", action="store_true", help="continue the run `bench-<tag>` stored in --db")
    p.add_argument("--tag", default="full")
    p.add_argument("--out-dir", default=str(ROOT / "bench" / "results"))
    return p.parse_args(argv)


def config_from(args) -> LLM2LLMConfig:
    student = StudentSettings(model=args.student, lora=args.lora, epochs=args.epochs, lr=args.lr,
                              device=args.device, eval_batch_size=32)
    teacher = TeacherSettings(model=args.teacher, max_new_tokens=args.teacher_max_new_tokens, batch_size=16)
    return LLM2LLMConfig(task="trec", train_path=args.train, test_path=args.test, seed_size=args.seeds,
                         test_size=args.test_size, iterations=args.iterations, seed=args.seed,
                         student=student, teacher=teacher)


def markdown(result: dict) -> str:
    """The results table: one row per iteration, accuracy delta against iteration 0."""
    lines = [f"# LLM2LLM on TREC ({result['tag']})", "",
             f"{result['seeds']} seeds, {result['test_rows']} test rows, {result['iterations']} augmentation rounds, "
             f"{result['config']['student']['epochs']} epochs, student {result['config']['student']['model']}, "
             f"teacher {result['config']['teacher']['model']}, device {result['device']}, "
             f"stages total {result['total_s']:.0f} s, {result['host']}.", "",
             "| iteration | train size | test acc | vs it0 | seed acc | wrong seeds | requests | accepted "
             "| train s | eval_train s | eval_test s | augment s |", "|" + "---|" * 12]
    base = result["iterations_table"][0]["test_acc"]
    for row in result["iterations_table"]:
        fmt = lambda v, spec=".3f": "" if v is None else format(v, spec)  # noqa: E731
        lines.append(f"| {row['iteration']} | {row['train_size']} | {fmt(row['test_acc'])} | "
                     f"{fmt(row['test_acc'] - base, '+.3f')} | {fmt(row['seed_acc'])} | {fmt(row['n_wrong'], '.0f')} | "
                     f"{fmt(row['n_requests'], '.0f')} | {fmt(row['n_accepted'], '.0f')} | {fmt(row['s_train'], '.1f')} | "
                     f"{fmt(row['s_eval_train'], '.1f')} | {fmt(row['s_eval_test'], '.1f')} | {fmt(row['s_augment'], '.1f')} |")
    lines += ["", "Candidate outcomes (all iterations): "
              + ", ".join(f"{k} {v}" for k, v in result["outcomes"].items()), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    config = config_from(args)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(args.db or Path(tmp) / "bench.duckdb")
        if args.resume:
            resume_llm2llm(ws, f"bench-{args.tag}", tqdm_progress())
        else:
            start_llm2llm(ws, f"bench-{args.tag}", config, tqdm_progress())
        report = run_report(ws, f"bench-{args.tag}")
        with ws.connect() as con:  # total of the stages, so a resumed run still reports its whole time
            total = float(stage_times(con, f"bench-{args.tag}")["seconds"].sum())
    table = report["iterations"].drop(columns=["run"]).astype(object)
    table = table.where(table.notna(), None)
    outcomes = report["outcomes"].groupby("outcome")["n"].sum().sort_values(ascending=False)
    import torch

    result = {"tag": args.tag, "seeds": args.seeds, "iterations": args.iterations,
              "test_rows": args.test_size or 500, "total_s": total, "config": report["run"]["config"],
              "device": args.device or ("cuda" if torch.cuda.is_available() else "cpu"),
              "host": f"{platform.node()} {torch.get_num_threads()} threads"
                      + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""),
              "iterations_table": table.to_dict("records"), "outcomes": {k: int(v) for k, v in outcomes.items()}}
    out = Path(args.out_dir)
    (out / f"llm2llm_results_{args.tag}.json").write_text(json.dumps(result, indent=2, default=str))
    (out / f"llm2llm_results_{args.tag}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
