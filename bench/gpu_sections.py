"""The Ask-LLM and embedding sections of `bench/bench_gpu.py` (density: bench/gpu_density.py).

Each judge is measured over up to four paths, each named in `PATHS`; a run may measure a subset
and merge into an earlier results file, so every path records the matmul rate its MFU uses.
"""

from __future__ import annotations

import shutil
import time

import numpy as np
import torch

PATHS = ("engine", "forward_only_sorted", "plain", "naive")


def sync(device) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device):
    """(fn(), seconds) with the device synchronised on both sides."""
    sync(device)
    t0 = time.perf_counter()
    value = fn()
    sync(device)
    return value, time.perf_counter() - t0


def path_stats(docs: int, seconds: float, tokens: int, params: tuple[int, int], rate: float) -> dict:
    """docs/s, prompt tokens/s and MFU (all parameters, and those each token multiplies)."""
    tps = tokens / seconds
    return {"docs": docs, "seconds": round(seconds, 3), "docs_per_s": round(docs / seconds, 2),
            "tokens_per_s": round(tps), "mfu": round(2 * params[0] * tps / (rate * 1e12), 4),
            "mfu_active": round(2 * params[1] * tps / (rate * 1e12), 4), "matmul_tflops": rate}


def prompt_tokens(run, texts: list[str], config, tok, seq2seq: bool) -> tuple[list, float]:
    """Prompt token ids (+ seconds to build them: the engine's CPU prep); memoised, since every
    causal judge shares the tokenizer, so their prompts are identical."""
    from engine.askllm import prompt_ids

    key = (seq2seq, len(texts))
    if key not in run.cache:
        run.cache[key] = timed(lambda: prompt_ids(texts, config, tok, seq2seq)[0], "cpu")
    return run.cache[key]


def _path_fn(run, path: str, model, tok, folder):
    """A function texts -> scores for `path` (forward_only_sorted is built in `_measure`)."""
    from bench.gpu_askllm import naive_scores, plain_scores
    from engine.askllm import score_batch

    config = run.config
    if path == "engine":
        return lambda d: score_batch(d, config)[0]
    fn = {"plain": plain_scores, "naive": naive_scores}[path]
    return lambda d: fn(model, tok, d, config)


def _measure(run, path: str, model, tok, folder, ids) -> tuple[np.ndarray | None, dict]:
    """Warm up, fit the document count to the time left, time one path; (scores or None, stats)."""
    from bench.gpu_askllm import forward_ceiling

    a, dev = run.args, run.device
    n = {"naive": a.naive_docs, "plain": a.plain_docs,
         "forward_only_sorted": a.plain_docs}.get(path, len(run.docs))
    if path == "forward_only_sorted":
        n = _fit_to_time(run, n)
        ceiling = forward_ceiling(model, tok, ids[:n], run.config)
        fn = lambda d: ceiling()  # noqa: E731
        fn(None)  # warm-up
    else:
        fn = _path_fn(run, path, model, tok, folder)
        warm = run.docs[:2] if path == "naive" else run.docs[:a.warm_docs]
        _, t_warm = timed(lambda: fn(warm), dev)  # warm-up; its rate bounds the timed run's
        n = n if path == "naive" else _fit_to_time(run, n, t_warm / len(warm))
    scores, seconds = timed(lambda: fn(run.docs[:n]), dev)
    return scores, path_stats(n, seconds, sum(len(x) for x in ids[:n]), run.params, run.rate)


def _fit_to_time(run, n: int, warm_spd: float = 0.0) -> int:
    """Fewer documents when the slowest rate seen so far for this judge (its batched paths, or
    this path's warm-up) says `n` would outrun the time left (the command has a hard limit);
    the path records the count it ran."""
    spd = max([*run.seconds_per_doc, warm_spd])
    room = run.left() - 20
    if spd and spd * n * 1.2 > room:
        return max(min(n, run.args.naive_docs), int(room / (spd * 1.2)))
    return n


def bench_judge(run, name: str, paths: tuple[str, ...] = PATHS) -> dict:
    """Measure `paths` for judge `name`; merged into any earlier entry for it."""
    from bench.gpu_askllm import build_judge, param_counts, token_stats
    from engine.askllm import AskLLMConfig, score_batch
    from engine.models import load_lm

    dev, folder = run.device, run.work / name
    entry = dict(run.results.get("askllm", {}).get(name, {}))
    entry = entry if "paths" in entry else {"paths": {}, "agreement": {}}
    entry.update(build_judge(name, run.tokenizer, folder, dev))
    # the engine's defaults (--batch-tokens overrides the CUDA token budget, default the same)
    config = run.config = AskLLMConfig(model=str(folder), device=dev, batch_tokens=run.args.batch_tokens)
    _, load_s = timed(lambda: score_batch(run.docs[:2 * config.batch_size], config), dev)  # load + warm
    model, tok = load_lm(str(folder), device=dev)  # the engine's memoised objects, shared by all paths
    run.params, run.rate = param_counts(model), run.results["matmul_bf16_tflops"]
    ids, prep_s = prompt_tokens(run, run.docs, config, tok, entry["seq2seq"])
    stats = token_stats(ids, config, dev)
    plain = token_stats(ids[:run.args.plain_docs], config, dev)
    entry.update(params=run.params[0], active_params=run.params[1], load_s=round(load_s, 2),
                 dtype=str(model.dtype), attn_implementation=model.config._attn_implementation,
                 batch_size=config.batch_size, batch_tokens=config.batch_tokens,
                 mean_prompt_tokens=round(stats["mean_tokens"], 1), engine_prep_s=round(prep_s, 2),
                 padding_efficiency_plain=round(plain["tokens"] / plain["padded_tokens_plain"], 3),
                 padding_efficiency_sorted=round(stats["tokens"] / stats["padded_tokens_sorted"], 3))
    scores, run.seconds_per_doc = {}, []
    for path in paths:
        scores[path], entry["paths"][path] = _measure(run, path, model, tok, folder, ids)
        if path != "naive":  # one-at-a-time speed says nothing about the batched paths' speed
            run.seconds_per_doc.append(1.0 / entry["paths"][path]["docs_per_s"])
        run.log(f"{name} {path}: {entry['paths'][path]}")
    if "engine" not in scores:  # an untimed engine reference on the naive subset
        scores["engine"] = score_batch(run.docs[:run.args.naive_docs], config)[0]
    entry["agreement"].update(agreement(scores))
    return summarise(entry)


def agreement(scores: dict) -> dict:
    """How closely each path's scores match the engine's: Spearman, and the largest deviation
    of log-odds after removing their median shift (the engine may subtract a calibration
    constant, which the baselines, like the reference implementations, do not). bf16 batching
    moves scores slightly; plain batches also shift left-padded rows' positions."""
    from scipy.stats import spearmanr

    def logit(p):
        p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
        return np.log(p) - np.log1p(-p)

    ref, out = scores["engine"], {}
    for path in ("naive", "plain"):
        s = scores.get(path)
        if s is not None:
            m = min(len(s), len(ref))
            diff = logit(s[:m]) - logit(ref[:m])
            out[f"{path}_vs_engine_spearman"] = float(spearmanr(s[:m], ref[:m]).statistic)
            out[f"{path}_vs_engine_logodds_max_dev"] = float(np.abs(diff - np.median(diff)).max())
    return out


def summarise(entry: dict) -> dict:
    """The headline fields the issue asks for, from whatever paths the entry holds."""
    p = entry["paths"]
    entry["docs_per_s"] = {k: v["docs_per_s"] for k, v in p.items()}
    for key, base in (("speedup_vs_naive", "naive"), ("speedup_vs_plain", "plain")):
        if "engine" in p and base in p:
            entry[key] = round(p["engine"]["docs_per_s"] / p[base]["docs_per_s"], 2)
    if "engine" in p:
        entry["mfu"], entry["mfu_active"] = p["engine"]["mfu"], p["engine"]["mfu_active"]
    return entry


def bench_embedding(run) -> dict:
    """Engine `embed_texts` (its defaults) vs `SentenceTransformer.encode` defaults, each twice,
    interleaved, one random-weight all-MiniLM-L6-v2-architecture model, same documents."""
    from sentence_transformers import SentenceTransformer
    from transformers import BertConfig, BertModel

    from engine.embed import embed_texts

    folder, docs, dev = run.work / "minilm", run.docs, run.device
    shutil.copytree(run.args.embedder_skeleton, folder, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("model.safetensors", "*.bin", "README.md"))
    cfg = BertConfig.from_pretrained(folder)
    cfg.num_hidden_layers = 1 if run.args.smoke else cfg.num_hidden_layers
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(folder)  # fp32 on disk, like the released weights
    st = SentenceTransformer(str(folder), device=dev)
    embed_texts(docs[:256], model=str(folder), device=dev)  # load + warm-up
    st.encode(docs[:256])
    times = {"engine": [], "encode": []}
    for rep in range(2):  # twice, interleaved, to see the spread; the second only if time allows
        if rep and run.left() < 60:
            break
        v_e, t = timed(lambda: embed_texts(docs, model=str(folder), device=dev), dev)
        times["engine"].append(t)
        v_b, t = timed(lambda: st.encode(docs), dev)
        times["encode"].append(t)
    v_b = v_b / np.linalg.norm(v_b, axis=1, keepdims=True)
    tokens = sum(min(len(x), st.max_seq_length) for x in st.tokenizer(docs)["input_ids"])

    def stats(seconds: list[float], dtype: str, batch) -> dict:
        best = min(seconds)
        return {"docs_per_s": round(len(docs) / best, 1), "seconds": [round(s, 3) for s in seconds],
                "tokens_per_s": round(tokens / best), "dtype": dtype, "batch_size": batch}

    on_gpu = dev.startswith("cuda")
    eng = stats(times["engine"], "fp16" if on_gpu else "fp32", "65536 tokens" if on_gpu else 64)
    base = stats(times["encode"], "fp32 (defaults)", 32)
    return {"model": "all-MiniLM-L6-v2 architecture, random weights", "docs": len(docs),
            "mean_tokens": round(tokens / len(docs), 1), "max_seq_length": st.max_seq_length,
            "engine": eng, "encode_defaults": base,
            "speedup": round(eng["docs_per_s"] / base["docs_per_s"], 2),
            "mean_cosine_engine_vs_encode": round(float((v_e * v_b).sum(1).mean()), 5)}
