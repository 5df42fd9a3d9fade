"""What an ingest reads: a file, a folder (every file named, read or not), a Hugging Face
`datasets` folder written by `save_to_disk` (its Arrow shards), or a hub dataset id (its data
files, downloaded through `huggingface_hub` when the hub is reachable). Also the fingerprint that
identifies a file version for resuming, and safe names for uploaded files."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from engine import ingest_formats as formats
from engine.errors import UserError

HUB_PREFIX = "hf://datasets/"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True)
class InputFile:
    path: Path
    source: str  # name in the corpus: relative to the folder given
    kind: str | None  # reader, or None when the file is not read
    reason: str = ""  # why it is not read


@dataclass(frozen=True)
class Inputs:
    name: str
    files: list[InputFile]
    many: bool  # a folder: an unusable file becomes one issue instead of an error


def resolve(path: str | Path, fmt: str | None = None) -> Inputs:
    """The files to read for `path` (see the module docstring); UserError when there are none."""
    text = str(path)
    local = Path(text).expanduser()
    if not local.exists():
        if text.startswith(HUB_PREFIX) or (_HUB_ID.match(text) and formats.kind_of(local) is None):
            return _hub(text.removeprefix(HUB_PREFIX))
        raise UserError(f"{local}: file not found")
    if not local.is_dir():
        return Inputs(local.name, [InputFile(local, local.name, formats.format_of(local, fmt))], False)
    saved = _saved_dataset(local)
    return Inputs(local.name, saved, True) if saved is not None else Inputs(local.name, _folder(local), True)


def _folder(folder: Path) -> list[InputFile]:
    out = []
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = file.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue  # hidden files and folders (.DS_Store, .git) are not corpus content
        kind = formats.kind_of(file)
        kind = "txt-file" if kind == "txt" else kind
        reason = "" if kind else f"not a known format ({''.join(file.suffixes) or 'no suffix'}); file not read"
        out.append(InputFile(file, rel.as_posix(), kind, reason))
    if not any(f.kind for f in out):
        raise UserError(f"{folder.name}: no files of a known format ({formats.known_suffixes()})")
    return out


def _saved_dataset(folder: Path) -> list[InputFile] | None:
    """The Arrow shards of a `save_to_disk` folder (a Dataset: state.json; a DatasetDict:
    dataset_dict.json naming split folders), in the order `datasets` reads them; None otherwise."""
    if (folder / "dataset_dict.json").is_file():
        try:
            splits = json.loads((folder / "dataset_dict.json").read_text())["splits"]
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{folder.name}/dataset_dict.json: not a datasets split list ({exc})") from None
        return [f for split in splits for f in _saved_dataset(folder / str(split)) or []]
    state = folder / "state.json"
    if not state.is_file():
        return None
    try:
        names = [entry["filename"] for entry in json.loads(state.read_text())["_data_files"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{state}: not a datasets state file ({exc})") from None
    root = folder.parent if (folder.parent / "dataset_dict.json").is_file() else folder
    files = []
    for name in names:
        file = folder / Path(name).name
        if not file.is_file():
            raise UserError(f"{folder.name}: state.json lists {name}, which is missing")
        files.append(InputFile(file, file.relative_to(root).as_posix(), "arrow"))
    return files


def _hub(repo_id: str) -> Inputs:
    """A hub dataset's data files (Parquet, JSON Lines, CSV, ...), downloaded to the local cache."""
    try:
        from huggingface_hub import HfApi, hf_hub_download  # noqa: PLC0415 (only for hub ids)
    except ImportError:
        raise UserError(f"{repo_id}: no such file, and huggingface_hub is not installed to fetch it "
                        "as a hub dataset") from None
    unreachable = _unreachable()
    if unreachable:
        raise UserError(f"{repo_id}: not a local file, and the Hugging Face hub is not reachable ({unreachable})")
    try:
        names = sorted(n for n in HfApi().list_repo_files(repo_id, repo_type="dataset")
                       if formats.kind_of(Path(n)) and not Path(n).name.startswith("."))
        if not names:
            raise UserError(f"{repo_id}: the hub dataset has no data files of a known format")
        files = [Path(hf_hub_download(repo_id, n, repo_type="dataset")) for n in names]
    except UserError:
        raise
    except Exception as exc:  # offline, unknown repo, gated, network: one line either way
        cause = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise UserError(f"{repo_id}: not a local file, and the Hugging Face hub could not provide it "
                        f"as a dataset ({type(exc).__name__}: {cause})") from None
    return Inputs(repo_id, [InputFile(f, n, formats.kind_of(f)) for f, n in zip(files, names)], True)


def _unreachable(timeout_s: float = 3.0) -> str | None:
    """Why the hub cannot be reached (offline mode, no name resolution, no connection), or None:
    checked once up front so an offline machine answers in seconds, not after retries."""
    import os  # noqa: PLC0415
    import socket  # noqa: PLC0415
    from urllib.parse import urlparse  # noqa: PLC0415

    from huggingface_hub import constants  # noqa: PLC0415

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout_s).close()
    except OSError as exc:
        return f"{url.hostname}: {exc.strerror or exc}"
    return None


def fingerprint(path: Path, opts: formats.ReadOptions, kind: str) -> str:
    """Identifies a file version and how it is read: size, the first and last 1 MiB, the options."""
    h = hashlib.sha256(json.dumps([opts.text_column, opts.encoding, opts.on_decode_error, kind]).encode())
    size = path.stat().st_size
    with open(path, "rb") as f:
        h.update(str(size).encode() + f.read(1 << 20))
        if size > 2 << 20:
            f.seek(size - (1 << 20))
            h.update(f.read())
    return h.hexdigest()[:32]


def safe_upload_path(upload_dir: str | Path, filename: str, owner: str = "") -> Path:
    """A path inside `upload_dir` for an uploaded file: only the base name is kept (any directory
    part, `..` or drive is dropped), odd characters become `_`, the stem is cut to 100 characters
    (its format suffix, `.jsonl.gz` too, is kept), hidden/empty names and unknown suffixes are
    refused with UserError. Each `owner` (a browser session) gets its own sub-folder, so two
    users uploading `data.csv` never share one file; within it the same name maps to the same
    path (a re-upload replaces the file). The folders are created if missing."""
    base = re.split(r"[/\\]", (filename or "").replace("\0", ""))[-1].strip()
    if not base or base.startswith(".") or base in ("..", "."):
        raise UserError(f"upload name {filename!r} is empty or hidden")
    ext = _format_suffix(base)
    stem = base[:-len(ext)] if ext else ""
    if not ext or not stem.strip(" ._"):
        raise UserError(f"upload {base[:80]!r}: unknown format; use one of {formats.known_suffixes()}")
    name = f"{_UNSAFE.sub('_', stem)[:100]}{ext}"
    root = Path(upload_dir).resolve()
    if owner:
        root = root / hashlib.sha256(owner.encode()).hexdigest()[:16]
    root.mkdir(parents=True, exist_ok=True)
    target = (root / name).resolve()
    if target.parent != root:  # defence in depth: the checks above already make this impossible
        raise UserError(f"upload name {filename!r} escapes the upload folder")
    return target


def _format_suffix(name: str) -> str:
    """The known format suffix `name` ends with, compression included (`.jsonl.gz`), or ""."""
    lower = name.lower()
    for ext, kind in formats.SUFFIXES.items():
        for comp in ("", *([] if kind in formats.SELF_COMPRESSED else formats.COMPRESSIONS)):
            if lower.endswith(ext + comp) and len(lower) > len(ext + comp):
                return (ext + comp)
    return ""
