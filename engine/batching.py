"""The batching kit shared by every model stage: length-sorted and token-budget batches, padding
in NumPy, pinned host-to-GPU copies, and a one-thread prefetcher that overlaps tokenisation with
the model. torch is imported inside the functions that need it, so importing this module (and
every module that imports it) stays cheap: `python -m engine jobs list` never loads torch.
"""
from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, Sequence

import numpy as np

GPU_CHUNK_DOCS = 2048  # documents tokenised per background step on CUDA (sorting stays within a chunk)


def is_cuda(device) -> bool:
    """Whether `device` (a string or a torch.device) is a CUDA device, without importing torch."""
    return str(getattr(device, "type", device)).startswith("cuda")


def inference_mode(fn: Callable) -> Callable:
    """`@torch.inference_mode()` that imports torch when the function is first called."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import torch  # noqa: PLC0415 (lazy: see the module docstring)

        with torch.inference_mode():
            return fn(*args, **kwargs)
    return wrapper


def length_sorted_batches(lengths, batch_size: int) -> list[list[int]]:
    """Row indices grouped into batches of similar length, longest first (so an out-of-memory
    shows on the first batch and padding is minimal); callers scatter results back by index."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), max(1, batch_size))]


def causal_position_ids(attention_mask):
    """Positions counted over real tokens only: with left padding the default positions are
    shifted by the pad count, so a batched row would score differently from the same row alone."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def token_budget_batches(lengths, batch_tokens: int, max_rows: int = 512) -> list[list[int]]:
    """Row indices sorted longest first, cut so that rows x longest row <= batch_tokens (a batch
    holds at least one row): on a GPU a fixed row count leaves short rows' batches too small."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, current = [], []
    for i in order:
        longest = lengths[current[0]] if current else lengths[i]
        if current and ((len(current) + 1) * longest > batch_tokens or len(current) >= max_rows):
            batches.append(current)
            current = []
        current.append(i)
    return batches + ([current] if current else [])


def device_batches(lengths, device, batch_size: int, batch_tokens: int) -> list[list[int]]:
    """Token-budget batches on CUDA; `batch_size` rows elsewhere (on CPU compute, not per-batch
    overhead, bounds the speed, and smaller batches keep memory low)."""
    if is_cuda(device):
        return token_budget_batches(lengths, batch_tokens)
    return length_sorted_batches(lengths, batch_size)


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int, left: bool,
             device) -> tuple[Any, Any]:
    """(ids, attention mask), int64 (rows, longest) on `device`: filled in NumPy (far cheaper than
    `tokenizer.pad`) and, on CUDA, copied from pinned memory without blocking the host."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        cols = slice(width - len(row), width) if left else slice(0, len(row))
        ids[i, cols], mask[i, cols] = row, 1
    return to_device(ids, device), to_device(mask, device)


def to_device(array, device):
    """`array` as a tensor on `device`; on CUDA through pinned memory without blocking, since a
    copy from pageable memory may wait for the GPU's queue to drain (a hidden sync)."""
    import torch  # noqa: PLC0415

    tensor = torch.from_numpy(np.asarray(array))
    if not is_cuda(device):
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)


def prefetched(fn: Callable[[Sequence], Any], items: Sequence, chunk: int) -> Iterator[tuple[int, Any]]:
    """Yield (start, fn(items[start:start + chunk])) chunk by chunk, computing the NEXT chunk on
    one background thread while the caller works on this one (tokenisation overlaps the GPU).
    A single chunk runs inline, with no thread."""
    starts = list(range(0, len(items), max(1, chunk)))
    if len(starts) <= 1:
        yield 0, fn(items)
        return
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(fn, items[:chunk])
        for k, start in enumerate(starts):
            result = pending.result()
            if k + 1 < len(starts):
                pending = pool.submit(fn, items[starts[k + 1]:starts[k + 1] + chunk])
            yield start, result


def chunk_docs(n: int, device) -> int:
    """Documents per prefetched chunk: GPU_CHUNK_DOCS on CUDA; all of them elsewhere (on CPU the
    model already uses every core, so a tokenising thread would only compete with it)."""
    return GPU_CHUNK_DOCS if is_cuda(device) else max(1, n)
