"""Sentence embeddings of documents: the space in which density and the 2-D map are computed.

The batch function is pure (texts in, vectors out); caching by (model, document hash) and
batching into transactions live in the executors (`engine.pipeline`, `engine.ray_backend`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from engine.batching import chunk_docs, device_batches, inference_mode, pad_rows, prefetched, to_device
from engine.models import DEFAULT_EMBEDDER, load_embedder, model_fingerprint

if TYPE_CHECKING:
    import torch


def embed_texts(texts: Sequence[str], model: str = DEFAULT_EMBEDDER, batch_size: int = 64,
                device: str | None = None, batch_tokens: int = 65536) -> np.ndarray:
    """L2-normalised float32 vectors (n, dim) for `texts`, in input order.

    Texts are tokenised in one batched tokenizer call per chunk (on CUDA the next chunk on a
    background thread), cut to the model's window (256 word pieces for MiniLM), and run through
    the SentenceTransformer's modules in length-sorted batches: `batch_size` rows on CPU,
    `batch_tokens` padded tokens on CUDA, where outputs stay on the GPU until one copy at the
    end. The embedder runs in fp16 on CUDA (see `engine.models.load_embedder`). Models whose
    first module is not a Hugging Face transformer go through `SentenceTransformer.encode`.
    """
    import torch  # noqa: PLC0415 (lazy: engine.batching)

    if len(texts) == 0:
        return np.zeros((0, 0), np.float32)
    encoder = load_embedder(model, device=device)
    if not _plain_transformer(encoder):
        return _encode(encoder, texts, batch_size)
    parts = [_embed_chunk(encoder, ids, batch_size, batch_tokens)
             for _, ids in prefetched(lambda part: _tokenize(encoder, part), list(texts),
                                      chunk_docs(len(texts), encoder.device))]
    return torch.nn.functional.normalize(torch.cat(parts).float(), dim=1).cpu().numpy()


def _plain_transformer(encoder) -> bool:
    """True when the fast path reproduces `encode`: a HF transformer first, right padding."""
    first = encoder[0]
    return (hasattr(first, "auto_model") and getattr(encoder.tokenizer, "padding_side", "right") == "right"
            and not getattr(first, "do_lower_case", False))


def _tokenize(encoder, texts: list[str]) -> list[list[int]]:
    """Token ids cut to the model's window, unpadded: one batched (multi-threaded) tokenizer call."""
    return encoder.tokenizer([str(t) for t in texts], truncation=True, max_length=encoder.max_seq_length,
                             return_attention_mask=False, return_token_type_ids=False)["input_ids"]


@inference_mode
def _embed_chunk(encoder, ids: list[list[int]], batch_size: int, batch_tokens: int) -> torch.Tensor:
    """Sentence embeddings (rows, dim) of token-id rows, in input order, on the model's device."""
    import torch  # noqa: PLC0415 (lazy: engine.batching)

    device, pad_id = encoder.device, encoder.tokenizer.pad_token_id
    typed = "token_type_ids" in getattr(encoder.tokenizer, "model_input_names", ())
    batches = device_batches([len(x) for x in ids], device, batch_size, batch_tokens)
    outs = []
    for idx in batches:
        input_ids, mask = pad_rows([ids[i] for i in idx], pad_id, False, device)
        features = {"input_ids": input_ids, "attention_mask": mask}
        if typed:
            features["token_type_ids"] = torch.zeros_like(input_ids)
        outs.append(encoder(features)["sentence_embedding"])
    out = torch.empty((len(ids), outs[0].shape[1]), dtype=outs[0].dtype, device=outs[0].device)
    out[to_device([i for b in batches for i in b], out.device)] = torch.cat(outs)
    return out


def _encode(encoder, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """`encode` over texts sorted longest first (similar lengths per batch), back in input order."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    vectors = encoder.encode([texts[i] for i in order], batch_size=batch_size, convert_to_numpy=True,
                             normalize_embeddings=True, show_progress_bar=False)
    out = np.empty_like(vectors, dtype=np.float32)
    out[order] = vectors  # back to input order
    return out


@dataclass(frozen=True)
class EmbedConfig:
    """Which sentence embedder; `key()` names the stored vectors (`embeddings.model`)."""

    model: str = DEFAULT_EMBEDDER
    batch_size: int = 64  # rows per batch on CPU; not part of the key
    device: str | None = None  # None: cuda when available; not part of the key

    def key(self) -> str:
        return model_fingerprint(self.model)


def embed_batch(texts: Sequence[str], config: EmbedConfig = EmbedConfig()) -> np.ndarray:
    """The vectors stage's batch function: `embed_texts` with the config's settings."""
    return embed_texts(texts, config.model, config.batch_size, config.device)
