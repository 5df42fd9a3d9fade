"""Carry what bench/proxy_bench.py needs to a device reached only through 64 MiB calls.

Here (`pack DIR`): this worktree's engine/ and bench/ code, the built corpus and target (gzip), and a
stream of MiniLM (fp16 folder tar) + SmolLM2-135M-Instruct GGUF (judge, perplexity LM and proxy
tokenizer) cut into pieces whose sizes fit beside the rest of each call (`--first-mib` for the call
that also carries the data and the duckdb and gguf wheels, which `bench/kits/gpu_llm2llm_device.sh kit`
downloads). bench/kits/proxy_device.sh makes the calls.
There (`recv K DIR`, one call per piece while the machine stays warm): bench/kits/gpu_judges_carry.py's
receiver appends piece K, cuts out every file the stream now covers, checks its sha256, untars
MiniLM to /tmp/m/minilm and converts the GGUF into $SEEDBED_CACHE/models/smollm2-135m-instruct.

    python bench/kits/proxy_carry.py pack /work/main/.kit-proxy          # here
    python .kit-proxy/code/bench/kits/proxy_carry.py recv 0 .kit-proxy   # there
"""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "kits"))
sys.path.insert(0, str(ROOT / "bench"))


def pack(out: Path, first_mib: int, piece_mib: int) -> None:
    import gpu_judges_carry as carry  # noqa: PLC0415
    from proxy_corpus import build  # noqa: PLC0415

    sys.path.insert(0, str(ROOT))
    from engine import models  # noqa: PLC0415

    code = out / "code"
    shutil.rmtree(code, ignore_errors=True)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "engine", "bench/proxy_corpus.py",
                            "bench/proxy_bench.py", "bench/kits/proxy_carry.py", "bench/kits/gpu_judges_carry.py"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        (code / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / f, code / f)
    data = out / "data"
    with tempfile.TemporaryDirectory() as tmp:
        built = build(ROOT.parent / "shared" / "data", Path(tmp))
        data.mkdir(parents=True, exist_ok=True)
        for name in ("corpus.jsonl", "target.jsonl"):
            with open(Path(tmp) / name, "rb") as src, gzip.open(data / f"{name}.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
        (data / "built.json").write_text(json.dumps(built))
        work = Path(tmp) / "w"
        work.mkdir()
        sources = _sources(carry, models, work)
        _pieces(carry, out / "pieces", sources, first_mib << 20, piece_mib << 20)


def _sources(carry, models, work: Path) -> dict[str, Path]:
    """MiniLM as an fp16 folder tar and the SmolLM2 GGUF (bench/kits/gpu_judges_carry.py's recipe)."""
    import tarfile  # noqa: PLC0415

    import torch  # noqa: PLC0415
    from safetensors.torch import load_file, save_file  # noqa: PLC0415

    folder = Path(models.resolve_model(models.DEFAULT_EMBEDDER))
    half = work / "minilm"
    shutil.copytree(folder, half, ignore=shutil.ignore_patterns("model.safetensors"))
    tensors = {k: v.to(torch.float16) for k, v in load_file(folder / "model.safetensors").items()}
    save_file(tensors, half / "model.safetensors", metadata={"format": "pt"})
    with tarfile.open(work / "minilm.tar", "w") as tar:
        tar.add(half, arcname="minilm")
    return {"minilm": work / "minilm.tar", "smollm2-135m-instruct": models._smollm2_gguf(work)}


def _pieces(carry, out: Path, files: dict[str, Path], first: int, piece: int) -> None:
    """One stream cut at `first`, then every `piece` bytes; the manifest gives each piece's offset."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    manifest, offset, stream = [], 0, out / "stream.tmp"
    with open(stream, "wb") as dst:
        for name, path in files.items():
            manifest.append({"name": name, "offset": offset, "size": path.stat().st_size, "sha256": carry._sha(path)})
            with open(path, "rb") as src:
                shutil.copyfileobj(src, dst)
            offset += path.stat().st_size
    starts, k = [0], first
    while k < offset:
        starts.append(k)
        k += piece
    with open(stream, "rb") as src:
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else offset
            (out / f"p{i:02d}").write_bytes(src.read(end - start))
    stream.unlink()
    (out / "manifest.json").write_text(json.dumps({"starts": starts, "files": manifest}, indent=1))
    print(f"{len(starts)} pieces in {out}: " + ", ".join(f"p{i:02d} {((starts + [offset])[i + 1] - s) / 2**20:.1f} MiB"
                                                       for i, s in enumerate(starts)))


def recv(k: int, kit: Path, work: Path = Path("/tmp/w")) -> None:
    """Append piece k (once) to the stream; then the shared receiver's cutting, checking, converting."""
    import gpu_judges_carry as carry  # noqa: PLC0415

    manifest = json.loads((kit / "pieces" / "manifest.json").read_text())
    work.mkdir(parents=True, exist_ok=True)
    stream = work / "stream"
    have = stream.stat().st_size if stream.exists() else 0
    if have == manifest["starts"][k]:  # a retried call must not append the same piece twice
        with open(stream, "ab") as f:
            f.write((kit / "pieces" / f"p{k:02d}").read_bytes())
    # reuse the receiver's cutting: it appends nothing when the stream is not at k * piece_bytes
    fake = work / "manifest-view"
    fake.mkdir(exist_ok=True)
    (fake / "manifest.json").write_text(json.dumps({"piece_bytes": -1, "files": manifest["files"]}))
    carry.recv(-1, fake, work)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("verb", choices=["pack", "recv"])
    ap.add_argument("arg", nargs="+")
    ap.add_argument("--first-mib", type=int, default=20)
    ap.add_argument("--piece-mib", type=int, default=52)
    a = ap.parse_args()
    if a.verb == "pack":
        pack(Path(a.arg[0]), a.first_mib, a.piece_mib)
    else:
        recv(int(a.arg[0]), Path(a.arg[1]))
