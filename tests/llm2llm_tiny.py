"""A labelled test double for the LLM2LLM student: SmolLM2-135M-Instruct cut to its first 2 of 30
decoder layers (real tokenizer, chat template, embeddings and generation config). Tests of the
loop's plumbing (stages, kill and resume, shards, tables) train and evaluate it ~5x faster than
the full model; what it answers is not under test there (the real model is, in
test_llm2llm_student.py). Built once per model cache and reused."""
from __future__ import annotations

from pathlib import Path

LAYERS = 2


def tiny_student() -> str:
    """Folder of the cut model (built on first use, atomically)."""
    import os
    import shutil
    import tempfile

    from engine.models import cache_dir, resolve_model

    out = cache_dir() / "test-models" / f"smollm2-135m-instruct-{LAYERS}layers"
    if (out / "config.json").exists():
        return str(out)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve_model("smollm2-135m-instruct")
    model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True)
    model.model.layers = model.model.layers[:LAYERS]
    model.config.num_hidden_layers = LAYERS
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = model.config.layer_types[:LAYERS]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent))
    model.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(source, local_files_only=True).save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    return str(out)
