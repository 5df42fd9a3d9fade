"""engine.models: alias resolution, the GGUF conversion cache, memoised loading, fingerprints."""
from __future__ import annotations

import inspect
import time
from pathlib import Path

import pytest
import torch

from engine import models
from engine.errors import UserError


def test_packaged_alias_converts_once_and_is_reused(smollm2):
    folder = Path(models.resolve_model(models.DEFAULT_PERPLEXITY_LM))
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    start = time.perf_counter()
    again = Path(models.resolve_model(models.DEFAULT_PERPLEXITY_LM))
    assert again == folder
    assert time.perf_counter() - start < 2.0  # no GGUF dequantisation (17-50 s) the second time
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
    assert not list(folder.parent.glob(f".{folder.name}.*"))  # no half-written folder left behind


def test_failed_conversion_leaves_no_half_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SEEDBED_CACHE", str(tmp_path / "cache"))
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"GGUF" + b"\0" * 64)  # a truncated file: loading must fail
    with pytest.raises(Exception):
        models.resolve_model(str(bogus))
    leftovers = list((tmp_path / "cache" / "models").iterdir())
    assert leftovers == [], leftovers


def test_local_folder_and_hub_id_pass_through(tmp_path):
    assert models.resolve_model(str(tmp_path)) == str(tmp_path)
    assert models.resolve_model("google/flan-t5-small") == "google/flan-t5-small"


@pytest.mark.parametrize("bad", ["./no/such/folder", "/no/such/model.gguf", "a/b/c"])
def test_unknown_model_is_a_user_error(bad):
    with pytest.raises(UserError):
        models.resolve_model(bad)


def test_trust_remote_code_is_off_by_default():
    for fn in (models.load_lm, models.load_lm_fresh):
        assert inspect.signature(fn).parameters["trust_remote_code"].default is False


def test_load_lm_is_memoised_and_fresh_is_not(smollm2):
    model, tok = smollm2
    assert models.load_lm(models.DEFAULT_PERPLEXITY_LM, device="cpu") is smollm2
    assert not model.training and model.dtype == torch.float32
    assert tok.pad_token is not None and tok.padding_side == "left"
    fresh, _ = models.load_lm_fresh(models.DEFAULT_PERPLEXITY_LM, device="cpu")
    assert fresh is not model
    name = "model.norm.weight"
    assert torch.equal(fresh.state_dict()[name], model.state_dict()[name])


def test_gemma_tokenizer_prepends_bos(gemma_judge):
    model, tok = gemma_judge
    assert tok("hello")["input_ids"][0] == tok.bos_token_id
    assert not getattr(model.config, "is_encoder_decoder", False)


def test_seq2seq_detected_from_config(tiny_t5_dir):
    model, tok = models.load_lm(str(tiny_t5_dir), device="cpu")
    assert model.config.is_encoder_decoder and tok.padding_side == "right"


def test_embedder_is_memoised(embedder):
    assert models.load_embedder(device="cpu") is embedder
    assert embedder.encode(["a short sentence"]).shape == (1, 384)


def test_fingerprints_are_stable_and_specific(tmp_path):
    assert models.model_fingerprint(models.DEFAULT_JUDGE) == models.DEFAULT_JUDGE
    assert models.model_fingerprint("org/model") == "org/model"
    (tmp_path / "config.json").write_text("{}")
    first = models.model_fingerprint(str(tmp_path))
    assert first == models.model_fingerprint(str(tmp_path)) and first.startswith(tmp_path.name)
    (tmp_path / "model.safetensors").write_bytes(b"x")
    assert models.model_fingerprint(str(tmp_path)) != first


def test_device_and_dtype():
    assert models.pick_device("cpu") == "cpu"
    assert models.pick_device() in {"cpu", "cuda"}
    assert models.lm_dtype("cpu") == torch.float32 and models.lm_dtype("cuda:0") == torch.bfloat16


def test_length_sorted_batches_cover_every_row_once():
    batches = models.length_sorted_batches([3, 9, 1, 7, 5], 2)
    assert sorted(i for b in batches for i in b) == [0, 1, 2, 3, 4]
    assert batches[0] == [1, 3] and all(len(b) <= 2 for b in batches)


def test_token_budget_batches_respect_budget_and_cover_every_row_once():
    lengths = [3, 9, 1, 7, 5, 30]
    batches = models.token_budget_batches(lengths, batch_tokens=16)
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert batches[0] == [5]  # longer than the budget alone: still scored, in its own batch
    assert all(len(b) * max(lengths[i] for i in b) <= 16 for b in batches[1:])
    assert models.device_batches(lengths, "cpu", 2, 16) == models.length_sorted_batches(lengths, 2)


def test_pad_rows_left_and_right():
    ids, mask = models.pad_rows([[5, 6, 7], [8]], pad_id=0, left=True, device="cpu")
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    ids, mask = models.pad_rows([[5, 6, 7], [8]], pad_id=0, left=False, device="cpu")
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert ids.dtype == torch.int64


def test_prefetched_yields_chunks_in_order():
    chunks = list(models.prefetched(lambda part: [x * 2 for x in part], list(range(7)), chunk=3))
    assert chunks == [(0, [0, 2, 4]), (3, [6, 8, 10]), (6, [12])]
    assert list(models.prefetched(len, [1, 2], chunk=8)) == [(0, 2)]
