"""Perplexity filter: the baseline that Ask-LLM is compared with (Sachdeva et al. 2024, arXiv 2402.09668).

A small reference LM reads each document; its mean per-token negative log-likelihood is the
log-perplexity. Quality is exposed as `-log perplexity` (higher = more fluent), so it plugs in
wherever an Ask-LLM score does (rank, keep the top).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from engine.batching import (causal_position_ids, chunk_docs, device_batches, inference_mode, pad_rows,
                             prefetched, to_device)
from engine.errors import UserError
from engine.models import DEFAULT_PERPLEXITY_LM, load_lm, model_fingerprint

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class PerplexityConfig:
    """Which LM scores fluency and how much of each document it reads."""

    model: str = DEFAULT_PERPLEXITY_LM
    max_tokens: int = 512  # longer documents are cut (flagged `truncated`)
    batch_size: int = 16  # rows per batch on CPU; not part of the key
    # most padded tokens per batch on CUDA, lowered to what the logits leave room for (every
    # position's logits are kept: `logits_token_budget`); 8192 ran 1.6-2.3x slower on an H100
    # (bench/results/perplexity_gpu.md); not part of the key
    batch_tokens: int = 32768
    device: str | None = None  # None: cuda when available; not part of the key

    def __post_init__(self):
        if self.max_tokens < 2 or min(self.batch_size, self.batch_tokens) < 1:
            raise UserError("max_tokens must be >= 2, batch_size and batch_tokens >= 1")

    def key(self) -> str:
        """Stable id: model fingerprint + every result-changing non-default setting."""
        extras = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self)
                  if f.name not in {"model", "batch_size", "batch_tokens", "device"} and getattr(self, f.name) != f.default]
        return ":".join(["perplexity", model_fingerprint(self.model), *extras])


def _encode(tok, texts: list[str], max_tokens: int) -> tuple[list[list[int]], np.ndarray]:
    """Token ids with the BOS the model expects (so the first word is scored too), cut to max_tokens."""
    ids = tok(texts, add_special_tokens=True)["input_ids"]
    bos = tok.bos_token_id
    if bos is not None and ids and ids[0][:1] != [bos] and getattr(tok, "add_bos_token", None) is not False:
        ids = [[bos] + x for x in ids]
    if any(len(x) < 2 for x in ids):  # nothing to predict without a leading BOS: score from EOS
        start = bos if bos is not None else tok.eos_token_id
        ids = [x if len(x) >= 2 else [start] + x for x in ids]
    truncated = np.array([len(x) > max_tokens for x in ids], dtype=bool)
    return [x[:max_tokens] for x in ids], truncated


def logits_token_budget(model, cap: int, share: float = 0.5) -> int:
    """Padded tokens per batch, at most `cap`, whose logits (bf16 out of the model, the fp32 copy
    and the loss's log-softmax: 10 bytes per vocabulary entry) fit in `share` of the free GPU
    memory: a 152k vocabulary needs 1.5 MB per token. `cap` on CPU."""
    import torch  # noqa: PLC0415 (lazy: engine.batching)

    if model.device.type != "cuda":
        return cap
    free, _ = torch.cuda.mem_get_info(model.device)
    per_token = 10 * model.get_output_embeddings().weight.shape[0]
    return max(256, min(cap, int(free * share) // per_token))


@inference_mode
def mean_nll(model, tok, ids: list[list[int]], batch_size: int, batch_tokens: int = 32768,
             bar=None) -> torch.Tensor:
    """Mean next-token NLL (nats) per sequence, padding masked; in input order, float32 on the
    model's device (no host sync: the caller copies once)."""
    import torch  # noqa: PLC0415 (lazy: engine.batching)

    device = model.device
    batches = device_batches([len(x) for x in ids], device, batch_size, logits_token_budget(model, batch_tokens))
    parts = []
    for idx in batches:
        input_ids, mask = pad_rows([ids[i] for i in idx], tok.pad_token_id, tok.padding_side == "left", device)
        logits = model(input_ids=input_ids, attention_mask=mask,
                       position_ids=causal_position_ids(mask)).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), input_ids[:, 1:], reduction="none")
        keep = (mask[:, 1:] * mask[:, :-1]).float()  # a target counts only if it and its context are real
        parts.append((nll * keep).sum(1) / keep.sum(1).clamp(min=1))
        if bar is not None:
            bar.update(len(idx))
    out = torch.empty(len(ids), dtype=torch.float32, device=device)
    out[to_device([i for b in batches for i in b], device)] = torch.cat(parts)
    return out


def score_batch(texts: list[str], config: PerplexityConfig = PerplexityConfig(),
                show_progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(quality = -mean NLL = -log perplexity as float32, truncated flags), in input order.

    On CUDA the next chunk of documents is tokenised on a background thread while the GPU
    scores this one, in token-budget batches; one device-to-host copy at the end."""
    import torch  # noqa: PLC0415 (lazy: engine.batching)

    texts = [str(t) for t in texts]
    if not texts:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=bool)
    model, tok = load_lm(config.model, device=config.device)
    if getattr(model.config, "is_encoder_decoder", False):
        raise UserError(f"perplexity needs a causal LM; '{config.model}' is encoder-decoder")
    nll, truncated = [], []
    chunks = prefetched(lambda part: _encode(tok, part, config.max_tokens), texts,
                        chunk_docs(len(texts), model.device))
    with tqdm(total=len(texts), desc="Perplexity", unit="doc",
              disable=not show_progress or len(texts) < 3 * config.batch_size) as bar:
        for _, (ids, flags) in chunks:
            nll.append(mean_nll(model, tok, ids, config.batch_size, config.batch_tokens, bar))
            truncated.append(flags)
    return (-torch.cat(nll).double().cpu().numpy()).astype(np.float32), np.concatenate(truncated)
