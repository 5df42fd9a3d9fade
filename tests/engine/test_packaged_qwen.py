"""engine.packaged_qwen: finding, joining and checking the Qwen GGUF parts; the memory guard.

The real-file test joins the installed 0.5B parts (491 MB, sha256 checked) and dequantises a
tiny slice of one tensor; it never loads a whole Qwen model (the 1.5B needs 7-9 GiB on CPU).
"""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from engine import models, packaged_qwen as pq
from engine.errors import UserError

SMALL = "qwen2.5-coder-0.5b-instruct"
BIG = "qwen2.5-coder-1.5b-instruct"


def _parts(tmp_path, chunks):
    paths = []
    for i, data in enumerate(chunks, start=1):
        paths.append(tmp_path / f"part{i:02d}.bin")
        paths[-1].write_bytes(data)
    return paths


def test_join_checks_size_and_sha256(tmp_path):
    chunks = [b"GGUF", b"\x01" * 1000, b"tail"]
    whole = b"".join(chunks)
    target = pq.join_parts(_parts(tmp_path, chunks), tmp_path / "out" / "m.gguf", len(whole),
                           hashlib.sha256(whole).hexdigest())
    assert target.read_bytes() == whole


def test_join_mismatch_is_one_line_and_leaves_no_file(tmp_path):
    chunks = [b"GGUF", b"\x01" * 1000]
    whole = b"".join(chunks)
    out = tmp_path / "out"
    with pytest.raises(UserError) as err:  # parts in the wrong order: same size, other digest
        pq.join_parts(_parts(tmp_path, chunks[::-1]), out / "m.gguf", len(whole),
                      hashlib.sha256(whole).hexdigest(), "qwen-test")
    assert "checksum mismatch for qwen-test" in str(err.value) and "\n" not in str(err.value)
    assert "--with-qwen" in str(err.value)
    assert list(out.iterdir()) == []  # no half-written or wrong file that looks complete


def test_missing_parts_name_the_install_flag(monkeypatch):
    fake = pq.QwenPackage("seedbed-no-such-part{i}", "0.0.1", 3, 10, "0" * 64, 1.0)
    monkeypatch.setitem(pq.QWEN, "qwen-missing", fake)
    assert not pq.qwen_available("qwen-missing")
    assert not pq.qwen_available("not-a-qwen-alias")
    with pytest.raises(UserError, match=r"3 of 3 weight parts missing.*--with-qwen"):
        pq.part_paths("qwen-missing")


def test_aliases_are_registered_models():
    for alias in pq.QWEN:
        assert alias in models._PACKAGED_GGUF
        assert models.model_fingerprint(alias) == alias  # keys name the alias, not a cache path


def test_memory_guard_fails_before_loading(monkeypatch):
    monkeypatch.setattr(pq, "available_ram_gib", lambda: 2.0)
    with pytest.raises(UserError, match=r"needs about 8.0 GiB of free RAM on CPU; 2.0 GiB is free"):
        models.load_lm_fresh(BIG, device="cpu")  # raises before any file is read or joined
    pq.check_memory(BIG, "cuda")  # a converted model on a GPU needs no host RAM to speak of
    pq.check_memory("gemma3-270m", "cpu")  # other models are not guarded here
    with pytest.raises(UserError, match="to convert"):
        pq.check_memory(BIG, "cuda", converting=True)


@pytest.mark.slow
@pytest.mark.skipif(not pq.qwen_available(SMALL), reason="Qwen 0.5B parts not installed (--with-qwen)")
def test_real_parts_join_verify_and_dequantise_a_slice(tmp_path):
    from gguf import GGUFReader
    from gguf.quants import dequantize

    path = pq.joined_gguf(SMALL, tmp_path)  # raises on a size or sha256 mismatch
    assert path.stat().st_size == pq.QWEN[SMALL].size
    reader = GGUFReader(path)  # memory-mapped: reads the header, not the weights
    field = reader.fields["general.architecture"]
    assert bytes(field.parts[field.data[0]]).decode() == "qwen2"
    assert "tokenizer.chat_template" in reader.fields  # ChatML: the judge can use its template
    emb = next(t for t in reader.tensors if t.name == "token_embd.weight")
    rows = 4  # a tiny slice: the first rows of the embedding, dequantised from their blocks
    per_row = emb.data.shape[-1] if emb.data.ndim > 1 else emb.data.size // int(emb.shape[1])
    values = dequantize(np.asarray(emb.data).reshape(-1)[:rows * per_row].reshape(rows, per_row),
                        emb.tensor_type)
    assert values.shape == (rows, int(emb.shape[0])) and np.isfinite(values).all()
    assert 1e-4 < float(np.abs(values).mean()) < 1.0  # real weights, not zeros or garbage
