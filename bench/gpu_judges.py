"""Device half of bench/quality_auc.py: every judge with real weights on every labelled unit.

Scores ALL labelled units (lines + rebuilt pages of quality/train+dev) with each judge option
through the engine's own `score_batch` (the fast path: length-sorted token-budget batches, last
position's logits only), embeds them with MiniLM, and on the 2,000 C4 documents times the chosen
judges against the distilled head (MiniLM embedding + a ridge head trained on that judge's C4
scores) in the same process. Raw scores go to judges_scores.npz; timings, token counts, the
measured bf16 matmul rate and MFU to judges_run.json. Judges run in priority order under
--budget-s (a judge predicted to overrun is skipped and named), saving after each.

    SEEDBED_CACHE=/tmp/cache PYTHONPATH=. python bench/gpu_judges.py --out $OUT --embedder /tmp/m/minilm
    (--smoke: a few units per kind on CPU, to practise the whole path)
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine import askllm, distill, models, perplexity  # noqa: E402
from engine.embed import embed_texts  # noqa: E402
from engine.errors import UserError  # noqa: E402
from quality_auc import load_units  # noqa: E402 (beside this file)

C4 = Path(__file__).resolve().parents[2] / "shared" / "data" / "c4" / "c4_validation_2k.parquet"
QWEN15, QWEN05, GEMMA, SMOL = ("qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-0.5b-instruct",
                               "gemma3-270m", "smollm2-135m-instruct")
# A variant of ours beside the paper's prompt: name the failure modes a web curator removes.
askllm.TEMPLATES.setdefault("content", "###\n{text}\n###\n\nIs the text above informative, well-written "
                            "content (not navigation menus, ads, boilerplate or spam)? Answer yes or no.\nANSWER:")


def _judges() -> list[tuple[str, str, object]]:
    """(name, kind, config) in priority order: the engine default first, then the new judges."""
    A = lambda model, t, chat=True: askllm.AskLLMConfig(model=model, template=t, use_chat_template=chat,  # noqa: E731
                                                          calibrate=False)
    rows = [(f"gemma/{t}", "askllm", A(GEMMA, t)) for t in ("paper-inline", "paper", "paper-answer", "content")]
    rows.append(("smollm2/perplexity", "perplexity", perplexity.PerplexityConfig(model=SMOL)))
    for tag, model in (("qwen1.5b", QWEN15), ("qwen0.5b", QWEN05)):
        for t in ("paper-inline", "paper", "paper-answer", "content"):
            rows += [(f"{tag}/{t} chat", "askllm", A(model, t)), (f"{tag}/{t} no-chat", "askllm", A(model, t, False))]
        rows.append((f"{tag}/perplexity", "perplexity", perplexity.PerplexityConfig(model=model)))
    rows += [("smollm2/paper-inline chat", "askllm", A(SMOL, "paper-inline")),
             ("smollm2/paper-inline no-chat", "askllm", A(SMOL, "paper-inline", False)),
             ("gemma/perplexity", "perplexity", perplexity.PerplexityConfig(model=GEMMA))]
    return rows


C4_JUDGES = ("qwen1.5b/paper-inline chat", "gemma/paper-inline", "qwen0.5b/paper-inline chat", "smollm2/perplexity")


def matmul_tflops(device: str, n: int = 8192, reps: int = 10) -> float:
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / float(np.median(times)) / 1e12


def _wait_converted(alias: str, seconds: float) -> None:
    """On the device the GGUFs are converted in the background while pieces still arrive: wait."""
    deadline = time.monotonic() + seconds
    while not (models.cache_dir() / "models" / alias / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(1)


def _score(kind: str, config, texts: list[str]) -> tuple[np.ndarray, float]:
    module = askllm if kind == "askllm" else perplexity
    module.score_batch(texts[:32], config, show_progress=False)  # warm-up: kernels, calibration, allocator
    start = time.perf_counter()
    scores, _ = module.score_batch(texts, config, show_progress=False)  # ends in one host copy: synced
    return scores, time.perf_counter() - start


def _tokens(kind: str, config, texts: list[str]) -> int:
    """Real (unpadded) tokens the judge reads for `texts`: the numerator of MFU."""
    model, tok = models.load_lm(config.model, device=config.device)
    if kind == "askllm":
        return sum(map(len, askllm.prompt_ids(texts, config, tok, False)[0]))
    return sum(map(len, perplexity._encode(tok, texts, config.max_tokens)[0]))


def _params(model) -> dict:
    total = sum(p.numel() for p in model.parameters())
    emb = {id(m.weight): m.weight.numel() for m in (model.get_input_embeddings(), model.get_output_embeddings())}
    return {"params": total, "params_active": total - sum(emb.values())}  # lm head runs at one position only


class Run:
    def __init__(self, out: Path, meta: dict):
        self.out, self.arrays, self.meta = out, {}, {**meta, "timing": {}, "skipped": [], "c4": {}}
        out.mkdir(parents=True, exist_ok=True)

    def save(self):
        np.savez_compressed(self.out / "judges_scores.npz", **self.arrays)
        (self.out / "judges_run.json").write_text(json.dumps(self.meta, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--embedder", default=models.DEFAULT_EMBEDDER)
    ap.add_argument("--budget-s", type=float, default=420)
    ap.add_argument("--only", nargs="*", help="judge names (default: all, in priority order)")
    ap.add_argument("--wait-models", type=float, default=0, help="seconds to wait for a background conversion")
    ap.add_argument("--smoke", type=int, default=0, help="keep only this many units per kind and C4 docs")
    args = ap.parse_args()
    t0, device = time.perf_counter(), models.pick_device()
    units = load_units(smoke=args.smoke)
    c4 = pd.read_parquet(C4)["text"].tolist()[:args.smoke or None]
    texts = units["text"]
    run = Run(args.out, {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "argv": sys.argv,
                         "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
                         "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "n_units": len(texts), "n_c4": len(c4),
                         "smoke": args.smoke})
    run.arrays["label"] = units["label"]
    if device == "cuda":
        run.meta["matmul_bf16_tflops"] = round(matmul_tflops(device), 1)
    estimates: dict[str, float] = {}  # model -> seconds per unit seen so far (for the budget)
    for name, kind, config in _judges():
        if args.only and name not in args.only:
            continue
        config = dataclasses.replace(config, device=device)
        left = args.budget_s - (time.perf_counter() - t0)
        if left < estimates.get(config.model, 0) * len(texts) * 1.3 + 5:
            run.meta["skipped"].append(name)
            continue
        try:
            _wait_converted(config.model, args.wait_models)
            start = time.perf_counter()
            model, _ = models.load_lm(config.model, device=device)
            load_s = time.perf_counter() - start
            scores, seconds = _score(kind, config, texts)
        except Exception as e:  # noqa: BLE001 (one judge failing must not lose the others)
            run.meta["skipped"].append(f"{name}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            print(name, "FAILED", e, flush=True)
            continue
        estimates[config.model] = max(estimates.get(config.model, 0), seconds / len(texts))
        run.arrays[f"judge/{name}"] = scores.astype(np.float32)
        run.meta["timing"][name] = {"docs_per_s": float(f"{len(texts) / seconds:.4g}"), "seconds": round(seconds, 2),
                                    "load_s": round(load_s, 1), "key": config.key(), **_params(model)}
        print(f"{name}: {len(texts) / seconds:.1f} units/s", flush=True)
        if name in C4_JUDGES:
            c4_scores, c4_s = _score(kind, config, c4)
            run.arrays[f"c4/{name}"] = c4_scores.astype(np.float32)
            tokens = _tokens(kind, config, c4)
            p = _params(model)
            rate = run.meta.get("matmul_bf16_tflops")
            run.meta["c4"][name] = {"docs_per_s": float(f"{len(c4) / c4_s:.4g}"), "seconds": round(c4_s, 2), "tokens": tokens,
                                    "mfu_all": rate and round(2 * p["params"] * tokens / c4_s / (rate * 1e12), 4),
                                    "mfu_active": rate and round(2 * p["params_active"] * tokens / c4_s / (rate * 1e12), 4)}
        run.save()
        if config.model != (_next_model(name, args.only) or config.model):
            model = None
            models._LM_MEMO.clear()  # free the GPU for the next model
            gc.collect()
            torch.cuda.empty_cache() if device == "cuda" else None
    distilled_speed(run, units, c4, args.embedder, device)
    run.meta["total_s"] = round(time.perf_counter() - t0, 1)
    run.save()
    print(json.dumps({k: run.meta[k] for k in ("skipped", "c4", "distilled", "total_s")}, indent=1), flush=True)


def _next_model(name: str, only) -> str | None:
    rows = [r for r in _judges() if not only or r[0] in only]
    names = [r[0] for r in rows]
    return rows[names.index(name) + 1][2].model if names.index(name) + 1 < len(rows) else None


def distilled_speed(run: Run, units: dict, c4: list[str], embedder: str, device: str) -> None:
    """Embed every unit (kept for the analysis) and time embedding + head on C4 against each judge."""
    embed_texts(c4[:64], model=embedder, device=device)  # warm-up
    run.arrays["emb"] = embed_texts(units["text"], model=embedder, device=device).astype(np.float16)
    start = time.perf_counter()
    c4_emb = embed_texts(c4, model=embedder, device=device)
    embed_s = time.perf_counter() - start
    run.arrays["c4_emb"] = c4_emb.astype(np.float16)
    run.meta["distilled"] = {"embed_docs_per_s": float(f"{len(c4) / embed_s:.4g}")}
    for name, judge in run.meta["c4"].items():
        try:
            fitted = distill.fit_distilled(c4_emb, run.arrays[f"c4/{name}"], distill.DistillConfig())
        except UserError as e:  # e.g. --smoke's handful of documents
            run.meta["distilled"][name] = {"error": str(e)}
            continue
        start = time.perf_counter()
        distill.apply_head(fitted["head"], embed_texts(c4, model=embedder, device=device))
        seconds = time.perf_counter() - start
        run.meta["distilled"][name] = {"docs_per_s": float(f"{len(c4) / seconds:.4g}"),
                                       "speedup_vs_judge": round(judge["seconds"] / seconds, 1),
                                       "validation_vs_judge_on_c4": fitted["validation"]}


if __name__ == "__main__":
    main()
