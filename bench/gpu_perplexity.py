"""GPU throughput of the perplexity filter (`engine.perplexity.score_batch`) against two baselines.

    python bench/gpu_perplexity.py --out bench/            # on the GPU machine (~4 min)
    python bench/gpu_perplexity.py --smoke --out /tmp/p    # toy sizes, any CPU

Same documents, same random-weight models with released shapes (bench/gpu_askllm.py), timed
after a warm-up, in one run:
(a) naive: one document at a time, `model(ids, labels=ids).loss`, the usual snippet;
(b) plain: batches of 16 in corpus order, padded, full logits (as Hugging Face `evaluate`'s
    perplexity metric does);
(c) the engine with its defaults, and (d) with 8192 tokens per batch (its default before
    2026-11-22, which this benchmark showed too small).
Writes perplexity_gpu.{json,md}; the baselines are measured in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.bench_gpu import CARRY, load_docs  # noqa: E402
from bench.gpu_askllm import build_judge, load_tokenizer  # noqa: E402
from bench.gpu_sections import timed  # noqa: E402
from engine.models import _LM_MEMO, load_lm, pick_device  # noqa: E402
from engine.perplexity import PerplexityConfig, _encode, logits_token_budget, score_batch  # noqa: E402


@torch.inference_mode()
def naive(model, tok, texts: list[str], max_tokens: int) -> np.ndarray:
    out = []
    for text in texts:
        ids = torch.tensor([_encode(tok, [text], max_tokens)[0][0]], device=model.device)
        out.append(-model(input_ids=ids, labels=ids).loss.float().item())
    return np.array(out)


@torch.inference_mode()
def plain(model, tok, texts: list[str], max_tokens: int, batch_size: int = 16) -> np.ndarray:
    out = []
    for start in range(0, len(texts), batch_size):
        ids, _ = _encode(tok, texts[start:start + batch_size], max_tokens)
        width = max(map(len, ids))
        pad = tok.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids], device=model.device)
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=model.device)
        logits = model(input_ids=input_ids, attention_mask=mask).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), input_ids[:, 1:], reduction="none")
        keep = (mask[:, 1:] * mask[:, :-1]).float()
        out.append(-((nll * keep).sum(1) / keep.sum(1)))
    return torch.cat(out).cpu().numpy()


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def bench_model(spec: str, docs: list[str], args, tok, work: Path, device: str) -> dict:
    folder = work / spec
    build_judge(spec, tok, folder, device)
    config = PerplexityConfig(model=str(folder), device=device)
    small = PerplexityConfig(model=str(folder), device=device, batch_tokens=8192)
    model, mtok = load_lm(str(folder), device=device)
    few = docs[:args.naive_docs]
    paths = {
        "naive": (few, lambda d: naive(model, mtok, d, config.max_tokens)),
        "plain": (docs[:args.plain_docs], lambda d: plain(model, mtok, d, config.max_tokens)),
        "engine": (docs, lambda d: score_batch(d, config, show_progress=False)[0]),
        "engine_8192_tokens": (docs, lambda d: score_batch(d, small, show_progress=False)[0]),
    }
    for _, fn in paths.values():
        fn(docs[:8])  # warm-up: kernels, allocator, clocks
    entry, scores = {"model": f"{spec} shape, random weights",
                     "batch_tokens": logits_token_budget(model, config.batch_tokens)}, {}
    for name, (subset, fn) in paths.items():
        scores[name], seconds = timed(lambda: fn(subset), device)
        entry[name] = {"docs": len(subset), "seconds": round(seconds, 2), "docs_per_s": round(len(subset) / seconds, 1)}
        print(spec, name, entry[name], flush=True)
    for name in ("plain", "engine", "engine_8192_tokens"):
        entry[name]["vs_naive"] = round(entry[name]["docs_per_s"] / entry["naive"]["docs_per_s"], 1)
    entry["spearman_engine_vs_naive"] = round(spearman(scores["engine"][:len(few)], scores["naive"]), 4)
    entry["max_abs_diff_engine_vs_naive"] = round(float(np.abs(scores["engine"][:len(few)] - scores["naive"]).max()), 4)
    _LM_MEMO.clear()  # free this model before the next one loads
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return entry


def render(result: dict) -> str:
    lines = [f"# Perplexity filter throughput ({result['date']}, {result['device']})", "",
             f"`{result['command']}`; {result['docs']} C4 validation documents (tiled), max 512 tokens each; "
             "docs/s after a warm-up; baseline (a) measured in the same run.", "",
             "| model | (a) naive docs/s | (b) plain batches docs/s | (c) engine docs/s (tokens per batch) "
             "| (d) engine, 8192 tokens per batch | (c)/(a) | (c)/(b) | (c)/(d) | Spearman (c) vs (a) | max abs diff |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for spec, e in result["models"].items():
        lines.append(f"| {e['model']} | {e['naive']['docs_per_s']} | {e['plain']['docs_per_s']} | "
                     f"{e['engine']['docs_per_s']} ({e['batch_tokens']}) | {e['engine_8192_tokens']['docs_per_s']} | "
                     f"{e['engine']['vs_naive']}× | {round(e['engine']['docs_per_s'] / e['plain']['docs_per_s'], 1)}× | "
                     f"{round(e['engine']['docs_per_s'] / e['engine_8192_tokens']['docs_per_s'], 2)}× | "
                     f"{e['spearman_engine_vs_naive']} | {e['max_abs_diff_engine_vs_naive']} |")
    counts = "; ".join(f"{s}: " + ", ".join(f"{p} {e[p]['docs']}" for p in ("naive", "plain", "engine"))
                       for s, e in result["models"].items())
    return "\n".join(lines + ["", f"Documents per path: {counts}."]) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["smollm2-135m", "qwen2-0.5b"])
    p.add_argument("--docs", type=int, default=8000)
    p.add_argument("--plain-docs", type=int, default=2000)
    p.add_argument("--naive-docs", type=int, default=200)
    p.add_argument("--tokenizer", default=str(CARRY / "smollm2-tokenizer"), help="folder (every model shares it)")
    p.add_argument("--data", type=Path, default=CARRY / "c4_validation_2k.parquet", help="parquet with a text column")
    p.add_argument("--smoke", action="store_true", help="toy model and sizes (exercises every path)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args()
    if args.smoke:
        args.models, args.docs, args.plain_docs, args.naive_docs = ["tiny-llama"], 24, 12, 6
    device = pick_device()
    tok = load_tokenizer(args.tokenizer)
    docs = load_docs(args.data, args.docs)
    work = Path(tempfile.mkdtemp())
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
              "command": "python bench/gpu_perplexity.py " + " ".join(sys.argv[1:]), "docs": args.docs,
              "versions": {"torch": torch.__version__}, "models": {}}
    for spec in args.models:
        result["models"][spec] = bench_model(spec, docs, args, tok, work, device)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "perplexity_gpu.json").write_text(json.dumps(result, indent=2) + "\n")
        (args.out / "perplexity_gpu.md").write_text(render(result))


if __name__ == "__main__":
    main()
