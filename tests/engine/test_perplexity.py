"""engine.perplexity with the real packaged SmolLM2 (the paper's perplexity-filter baseline)."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from engine import perplexity
from engine.errors import UserError
from engine.perplexity import PerplexityConfig

PROSE = [
    "The river flows slowly through the old town, past the church and the market square.",
    "Scientists measured the temperature of the lake every morning for three years.",
    "She opened the window, and the smell of fresh bread came in from the bakery below.",
]
CPU = PerplexityConfig(device="cpu", batch_size=4)


def shuffled(text: str, seed: int) -> str:
    words = text.split()
    random.Random(seed).shuffle(words)
    return " ".join(words)


def test_real_prose_ranks_above_its_shuffled_words(smollm2):
    gibberish = [shuffled(t, i) for i, t in enumerate(PROSE)]
    quality, truncated = perplexity.score_batch(PROSE + gibberish, CPU)
    assert quality.dtype == np.float32 and not truncated.any()
    assert (quality[:3] > quality[3:]).all(), quality


def test_quality_is_minus_mean_token_nll(smollm2):
    model, tok = smollm2
    quality, _ = perplexity.score_batch(PROSE[:1], CPU)
    ids = torch.tensor([tok(PROSE[0])["input_ids"]])
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss.item()  # HF shifts labels: mean NLL of tokens 2..n
    assert quality[0] == pytest.approx(-loss, abs=1e-3)  # fp32 kernels differ with/without padding mask


def test_batched_equals_one_at_a_time(smollm2):
    texts = PROSE + ["Short one.", "A"]
    batched, _ = perplexity.score_batch(texts, CPU)
    single = np.array([perplexity.score_batch([t], CPU)[0][0] for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_long_document_is_truncated_and_flagged(smollm2):
    config = PerplexityConfig(device="cpu", max_tokens=8)
    _, truncated = perplexity.score_batch(["Hi there.", PROSE[0]], config)
    assert truncated.tolist() == [False, True]


def test_encoder_decoder_model_is_a_user_error(tiny_t5_dir):
    with pytest.raises(UserError):
        perplexity.score_batch(["text"], PerplexityConfig(model=str(tiny_t5_dir), device="cpu"))


def test_config_key():
    assert PerplexityConfig().key() == "perplexity:smollm2-135m-instruct"
    assert PerplexityConfig(max_tokens=64).key() != PerplexityConfig().key()
    assert PerplexityConfig(model="org/other").key() != PerplexityConfig().key()
    assert PerplexityConfig(batch_size=2).key() == PerplexityConfig().key()
    with pytest.raises(UserError):
        PerplexityConfig(max_tokens=1)
