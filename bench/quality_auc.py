"""How well do the quality judges separate main content from boilerplate? ROC-AUC on human labels.

Data: ../shared/data/quality/dev.json (TurkuNLP line-level annotations: 1 = main content,
0 = boilerplate). A fixed, seeded sample balanced by label of lines with >= 5 words; every judge
scores the same lines. `--unit page` instead scores, per page, its content lines joined against
its boilerplate lines joined. Writes bench/quality_auc.json (numbers) and quality_auc.md (table).

    PYTHONPATH=. .venv/bin/python bench/quality_auc.py [--n 300] [--unit page] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from engine import askllm, perplexity
from engine.models import DEFAULT_PERPLEXITY_LM, lm_dtype, load_lm, pick_device

HERE = Path(__file__).parent
DATA = HERE.parent.parent / "shared" / "data" / "quality"
FINDINGS = "## Findings"
SMOL = DEFAULT_PERPLEXITY_LM
A = functools.partial(askllm.AskLLMConfig, calibrate=False)  # rows name every lift they switch on
SMOL_PLAIN = dict(model=SMOL, use_chat_template=False)  # SmolLM2 without its chat template
JUDGES = {  # name -> (kind, config); each row is one option against the same sample
    "gemma/paper": ("askllm", A(template="paper")),
    "gemma/paper-answer": ("askllm", A(template="paper-answer")),
    "gemma/paper-inline": ("askllm", A(template="paper-inline")),
    "gemma/paper-answer+calibrate": ("askllm", A(template="paper-answer", calibrate=True)),
    "gemma/paper-inline+calibrate": ("askllm", A(template="paper-inline", calibrate=True)),
    "gemma/paper-inline+fewshot good-bad": ("askllm", A(template="paper-inline", few_shot="good-bad")),
    "gemma/paper-inline+fewshot bad-good": ("askllm", A(template="paper-inline", few_shot="bad-good")),
    "gemma/paper-answer+fewshot good-bad": ("askllm", A(template="paper-answer", few_shot="good-bad")),
    "gemma/paper-answer+fewshot bad-good": ("askllm", A(template="paper-answer", few_shot="bad-good")),
    "smollm2/paper-answer chat": ("askllm", A(model=SMOL, template="paper-answer")),
    "smollm2/paper-answer no-chat": ("askllm", A(template="paper-answer", **SMOL_PLAIN)),
    "smollm2/paper-inline chat": ("askllm", A(model=SMOL, template="paper-inline")),
    "smollm2/paper-inline no-chat": ("askllm", A(template="paper-inline", **SMOL_PLAIN)),
    "smollm2/perplexity": ("perplexity", perplexity.PerplexityConfig()),
}


def sample_lines(path: Path, n: int, seed: int = 0, min_words: int = 5) -> tuple[list[str], np.ndarray]:
    """n lines (n/2 per label, fewer if a label runs out) with >= min_words words, seeded."""
    pages = json.loads(path.read_text())
    rows = [(t, int(l)) for p in pages for t, l in zip(p["text"], p["labels"]) if len(t.split()) >= min_words]
    rng = random.Random(seed)
    picked = []
    for label in (1, 0):
        pool = [r for r in rows if r[1] == label]
        picked += rng.sample(pool, min(n // 2, len(pool)))
    rng.shuffle(picked)
    return [t for t, _ in picked], np.array([l for _, l in picked])


def sample_pages(path: Path) -> tuple[list[str], np.ndarray]:
    """Two documents per page: its main-content lines joined (1) and its boilerplate lines joined
    (0), for pages where both have >= 5 words: does the judge prefer a page's content?"""
    texts, labels = [], []
    for page in json.loads(path.read_text()):
        for label in ("1", "0"):
            text = "\n".join(t for t, l in zip(page["text"], page["labels"]) if l == label)
            texts.append(text)
            labels.append(int(label))
        if min(len(texts[-1].split()), len(texts[-2].split())) < 5:
            del texts[-2:], labels[-2:]
    return texts, np.array(labels)


def run_judge(kind: str, config, texts: list[str], labels: np.ndarray) -> dict:
    load_lm(config.model, device=config.device)  # load time is not scoring time
    start = time.perf_counter()
    module = askllm if kind == "askllm" else perplexity
    scores, _ = module.score_batch(texts, config)
    seconds = time.perf_counter() - start
    row = {"key": config.key(), "auc": round(float(roc_auc_score(labels, scores)), 4),
           "docs_per_s": round(len(texts) / seconds, 2), "seconds": round(seconds, 1),
           "mean_score": round(float(np.mean(scores)), 4)}
    if kind == "askllm":  # Ask-LLM scores are probabilities: how good is the 0.5 cut?
        row["balanced_acc_at_0.5"] = round(float(balanced_accuracy_score(labels, scores >= 0.5)), 4)
    return row


def write_md(result: dict, path: Path) -> None:
    """The table, regenerated; hand-written findings below FINDINGS in an existing file are kept."""
    kept = path.read_text().split(FINDINGS, 1)[1] if path.exists() and FINDINGS in path.read_text() else "\n"
    lines = [
        "# Quality judges: ROC-AUC on human line labels",
        "",
        (f"Sample: {result['n']} lines of `quality/{result['split']}.json` with >= 5 words, balanced by "
         f"label where the data allow ({result['n_pos']} main content / {result['n_neg']} boilerplate), "
         f"seed {result['seed']}. " if result.get("unit", "line") == "line" else
         f"Pages of `quality/{result['split']}.json`, two documents each: its main-content lines joined "
         f"({result['n_pos']}) and its boilerplate lines joined ({result['n_neg']}). ")
        + f"Batch size {result['batch_size']}. "
        f"Device: {result['device']}. Generated by `bench/quality_auc.py`.",
        "",
        "| judge | ROC-AUC | balanced acc @0.5 | mean score | docs/s |",
        "|---|---|---|---|---|",
    ]
    for name, r in result["judges"].items():
        lines.append(f"| {name} | {r['auc']:.3f} | {r.get('balanced_acc_at_0.5', '-')} | "
                     f"{r['mean_score']:.3f} | {r['docs_per_s']} |")
    path.write_text("\n".join(lines) + "\n\n" + FINDINGS + kept)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--split", default="dev")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", help="judge names to (re)run; others are kept from the json")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--unit", choices=["line", "page"], default="line")
    ap.add_argument("--data", type=Path, default=DATA, help="folder with the quality {split}.json files")
    ap.add_argument("--out", type=Path, default=HERE / "quality_auc.json", help="json; the md goes beside it")
    args = ap.parse_args()
    path = args.data / f"{args.split}.json"
    texts, labels = sample_lines(path, args.n, args.seed) if args.unit == "line" else sample_pages(path)
    out = args.out
    result = json.loads(out.read_text()) if out.exists() and args.only else {"judges": {}}
    if result.get("n") not in (None, len(texts)):
        result["judges"] = {}
    device = pick_device()
    result.update(unit=args.unit, split=args.split, seed=args.seed, n=len(texts), n_pos=int(labels.sum()),
                  n_neg=int(len(labels) - labels.sum()), batch_size=args.batch_size,
                  device=f"{device} ({torch.cuda.get_device_name() if device == 'cuda' else 'CPU'}, "
                         f"{lm_dtype(device)}, torch {torch.__version__})")
    for name, (kind, config) in JUDGES.items():
        if args.only and name not in args.only:
            continue
        config = dataclasses.replace(config, batch_size=args.batch_size)
        result["judges"][name] = run_judge(kind, config, texts, labels)
        print(name, result["judges"][name], flush=True)
        out.write_text(json.dumps(result, indent=2))  # partial results survive an interrupt
    write_md(result, out.with_suffix(".md"))


if __name__ == "__main__":
    main()
