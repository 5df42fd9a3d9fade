"""Proxy models: does a selection train a better language model? (the training and evaluation math)

A proxy is a small Llama-style causal LM (`transformers.LlamaForCausalLM`) trained FROM SCRATCH on
one selection's packed token ids for a fixed number of tokens, then scored by held-out loss on a
target set. Small proxies trained at equal tokens over several seeds are the field's cheap way to
rank data subsets (DataDecide, Magnusson et al. 2025, arXiv:2504.11393; RegMix, arXiv:2407.01492).

Contract: `train_proxy(train_ids, eval_blocks, spec, ...)` is a pure function of its inputs and
`spec.seed` (same data + same seed -> same curve on the same device); it checkpoints model,
optimizer, RNG and step atomically to `checkpoint` and continues from there after a kill, with
the same final loss as an uninterrupted run. The data order is a function of (seed, step), so a
resumed run reads exactly the batches the killed one would have. Nothing here touches storage.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from engine.errors import UserError
from engine.progress import ProgressFn, report

# name -> (hidden, layers, heads, ffn). With the full 49k SmolLM2 vocabulary: small ~17M parameters,
# base ~58M, large ~150M (GPU sizes); tiny with the CPU's 4,096-id vocabulary ~0.4M (2 CPU cores).
SIZES = {"tiny": (64, 2, 2, 256), "small": (256, 4, 4, 1024), "base": (512, 8, 8, 2048),
         "large": (768, 12, 12, 3072)}
H100_BF16_PEAK = 989e12  # dense bf16 FLOP/s (NVIDIA H100 SXM datasheet); MFU = 6*N*tokens/s / peak


@dataclass(frozen=True)
class ProxySpec:
    """Everything that decides a proxy run's result (stored with it; part of its cache key)."""
    size: str = "tiny"
    tokens: int = 200_000  # training tokens (sequences x seq_len); a small selection is repeated
    seq_len: int = 128
    batch: int = 16
    lr: float = 3e-3
    seed: int = 0
    vocab_size: int = 49152
    eval_points: int = 8  # learning-curve points (held-out loss), the last at the final step

    @property
    def steps(self) -> int:
        return max(1, self.tokens // (self.batch * self.seq_len))


def llama_config(spec: ProxySpec):
    """The proxy's `LlamaConfig`: tied embeddings, SDPA attention, no dropout."""
    from transformers import LlamaConfig  # noqa: PLC0415

    if spec.size not in SIZES:
        raise UserError(f"unknown proxy size '{spec.size}': choose one of {', '.join(SIZES)}")
    hidden, layers, heads, ffn = SIZES[spec.size]
    return LlamaConfig(vocab_size=spec.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=heads, intermediate_size=ffn,
                       max_position_embeddings=spec.seq_len, tie_word_embeddings=True,
                       attn_implementation="sdpa", bos_token_id=None, eos_token_id=None, pad_token_id=None)


def n_params(spec: ProxySpec) -> int:
    """Parameters of the proxy (the tied embedding counted once), from the shapes alone."""
    hidden, layers, _heads, ffn = SIZES[spec.size]
    per_layer = 4 * hidden * hidden + 3 * hidden * ffn + 2 * hidden
    return spec.vocab_size * hidden + layers * per_layer + hidden


def check_memory(spec: ProxySpec, device: str) -> None:
    """Refuse (one line) a proxy whose weights, Adam state and logits would not fit the device."""
    hidden, layers, _h, ffn = SIZES[spec.size]
    rows = spec.batch * spec.seq_len
    need = 16 * n_params(spec) + rows * (spec.vocab_size * 10 + layers * (16 * hidden + 3 * ffn) * 4)
    if device.startswith("cuda"):
        import torch  # noqa: PLC0415

        free = torch.cuda.mem_get_info(torch.device(device))[0]
    else:
        import psutil  # noqa: PLC0415

        free = psutil.virtual_memory().available
    if need > 0.8 * free:
        raise UserError(f"proxy size '{spec.size}' with batch {spec.batch} x {spec.seq_len} needs about "
                        f"{need / 2**30:.1f} GiB but {device} has {free / 2**30:.1f} GiB free: "
                        "choose a smaller --size")


def pack_blocks(ids: np.ndarray, seq_len: int) -> np.ndarray:
    """Cut one flat id stream (documents joined by EOS) into non-overlapping rows of seq_len + 1
    ids (input and shifted target share all but one id); the incomplete tail is dropped."""
    n = (len(ids) - 1) // seq_len
    if n < 1:
        return np.zeros((0, seq_len + 1), dtype=np.int64)
    starts = np.arange(n) * seq_len
    return ids[starts[:, None] + np.arange(seq_len + 1)[None, :]].astype(np.int64)


def batch_order(n_blocks: int, spec: ProxySpec) -> np.ndarray:
    """Row indices for every step ([steps, batch]): seeded permutations, one per pass over the data."""
    need = spec.steps * spec.batch
    rng = np.random.default_rng(spec.seed)
    order = np.concatenate([rng.permutation(n_blocks) for _ in range(-(-need // n_blocks))])
    return order[:need].reshape(spec.steps, spec.batch)


def lr_at(step: int, spec: ProxySpec) -> float:
    """Linear warm-up over 5% of the steps, then cosine decay to 10% of the peak."""
    warm = max(1, spec.steps // 20)
    if step < warm:
        return spec.lr * (step + 1) / warm
    t = (step - warm) / max(1, spec.steps - warm)
    return spec.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * t)))


def eval_steps(spec: ProxySpec) -> list[int]:
    """Steps after which the held-out loss is measured (the curve); always includes the last."""
    return sorted({max(1, round(spec.steps * (k + 1) / spec.eval_points)) for k in range(spec.eval_points)})


# Models are built once per (config, device) and compiled once; each run loads fresh seeded weights.
_MODELS: dict[tuple, tuple] = {}


def _model(spec: ProxySpec, device: str, compile_: bool):
    import torch  # noqa: PLC0415
    from transformers import LlamaForCausalLM  # noqa: PLC0415

    key = (spec.size, spec.vocab_size, spec.seq_len, device, compile_)
    if key not in _MODELS:
        model = LlamaForCausalLM(llama_config(spec)).to(device)
        _MODELS[key] = (model, _compiled(model, spec, device) if compile_ else model)
    model, run = _MODELS[key]
    torch.manual_seed(spec.seed)  # seeded initial weights, copied into the (compiled) module in place
    model.load_state_dict(LlamaForCausalLM(llama_config(spec)).state_dict())
    return model, run


def _compiled(model, spec: ProxySpec, device: str):
    """`torch.compile(model)`, compiled now on one dummy step (so no run's tokens/s pays for it);
    the eager model, with one line on stderr, where compiling fails on this machine."""
    import sys  # noqa: PLC0415

    import torch  # noqa: PLC0415

    run = torch.compile(model)
    try:
        x = torch.zeros((spec.batch, spec.seq_len + 1), dtype=torch.long, device=device)
        _loss(run, x[:, :-1], x[:, 1:], device).backward()
        model.zero_grad(set_to_none=True)
        return run
    except Exception as exc:  # noqa: BLE001 (any compiler failure: train eagerly instead)
        print(f"[seedbed] torch.compile failed ({type(exc).__name__}); training without it", file=sys.stderr)
        model.zero_grad(set_to_none=True)
        return model


def _loss(run, x, y, device: str):
    import torch  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415

    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
        logits = run(input_ids=x).logits
    return F.cross_entropy(logits.float().flatten(0, 1), y.flatten())


def evaluate(run, blocks, device: str, batch: int) -> float:
    """Mean next-token loss (nats per token) over the held-out rows."""
    import torch  # noqa: PLC0415

    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(blocks), batch):
            rows = blocks[i:i + batch]
            total += float(_loss(run, rows[:, :-1], rows[:, 1:], device)) * rows[:, 1:].numel()
            n += rows[:, 1:].numel()
    return total / max(n, 1)


def _save(path: Path, state: dict) -> None:
    """Atomic checkpoint: write beside, then rename (a kill leaves the old one or the new one)."""
    import torch  # noqa: PLC0415

    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _restore(path: Path | None, spec: ProxySpec, model, opt) -> tuple[int, list, float]:
    """(step, curve, seconds) from a checkpoint of this very spec, else a fresh start."""
    import torch  # noqa: PLC0415

    if path is None or not path.exists():
        return 0, [], 0.0
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("spec") != asdict(spec):
        return 0, [], 0.0
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    return state["step"], state["curve"], state["seconds"]


def train_proxy(train_ids: np.ndarray, eval_ids: np.ndarray, spec: ProxySpec, device: str = "cpu",
                checkpoint: Path | None = None, progress: ProgressFn | None = None, label: str = "proxy",
                tokens_done: int = 0, tokens_total: int | None = None, compile_: bool | None = None,
                checkpoint_every_s: float = 20.0, choices=None) -> dict:
    """Train one proxy on `train_ids` (flat, EOS-joined) and score it on `eval_ids`.

    Returns {"loss": final held-out loss, "curve": [[tokens, loss], ...], "params", "seconds",
    "tokens_per_s", "mfu" (CUDA only, against the H100 bf16 peak), "epochs"}, plus "choices"
    (`engine.proxy_choice.score`) for a multiple-choice target's `choices`. Progress counts
    training tokens from `tokens_done` towards `tokens_total` (the whole check's), so one bar and
    ETA cover every run of a check.
    """
    import torch  # noqa: PLC0415

    train, held = pack_blocks(train_ids, spec.seq_len), pack_blocks(eval_ids, spec.seq_len)
    if len(train) < spec.batch or len(held) < 1:
        raise UserError(f"too few tokens for the proxy: {len(train_ids):,} training and {len(eval_ids):,} target "
                        f"tokens; one batch needs {spec.batch * spec.seq_len + 1:,} and the target {spec.seq_len + 1}")
    check_memory(spec, device)
    cuda = device.startswith("cuda")
    model, run = _model(spec, device, cuda if compile_ is None else compile_)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, betas=(0.9, 0.95), weight_decay=0.1,
                            **({"fused": True} if cuda else {}))
    step, curve, seconds = _restore(checkpoint, spec, model, opt)
    order, per_step = batch_order(len(train), spec), spec.batch * spec.seq_len
    train_t, held_t = torch.from_numpy(train).to(device), torch.from_numpy(held).to(device)
    marks, total = set(eval_steps(spec)), tokens_total or spec.steps * per_step
    model.train()
    t0, saved = time.perf_counter() - seconds, time.monotonic()
    while step < spec.steps:
        rows = train_t[torch.from_numpy(order[step]).to(device)]
        for group in opt.param_groups:
            group["lr"] = lr_at(step, spec)
        loss = _loss(run, rows[:, :-1], rows[:, 1:], device)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        if step in marks:
            model.eval()
            curve.append([step * per_step, round(evaluate(run, held_t, device, spec.batch), 5)])
            model.train()
        report(progress, label, tokens_done + step * per_step, total)
        if checkpoint is not None and step < spec.steps and time.monotonic() - saved > checkpoint_every_s:
            _save(checkpoint, {"spec": asdict(spec), "model": model.state_dict(), "optimizer": opt.state_dict(),
                               "rng": torch.get_rng_state(), "step": step, "curve": curve,
                               "seconds": time.perf_counter() - t0})
            saved = time.monotonic()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    tps = spec.steps * per_step / max(seconds, 1e-9)
    result = {"loss": curve[-1][1], "curve": curve, "params": n_params(spec), "seconds": round(seconds, 2),
              "tokens_per_s": round(tps), "epochs": round(spec.steps * spec.batch / len(train), 2),
              "mfu": round(6 * n_params(spec) * tps / H100_BF16_PEAK, 4) if cuda else None}
    if choices is not None:
        from engine import proxy_choice  # noqa: PLC0415

        result["choices"] = proxy_choice.score(model, choices, device, spec.seq_len)
    return result
