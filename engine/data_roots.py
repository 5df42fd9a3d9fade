"""The folders the dashboard may read from and write to.

A browser user is not the server's user, so every path the dashboard reads or writes on a user's
behalf must lie inside one of the data roots: `$SEEDBED_DATA_ROOTS` (folders separated by the OS
path separator, `:` on Linux), else the workspace's `uploads/` and `exports/` folders and the
bundled `demo/` folder of this repository. Symlinks and `..` are resolved before the check, so a
link inside a root that points outside it is refused. The CLI does not use this: it runs as the
user and may read or write any path the user can.
"""
from __future__ import annotations

import os
from pathlib import Path

from engine.errors import UserError
from engine.user_text import shown

ENV = "SEEDBED_DATA_ROOTS"
BUNDLED = Path(__file__).resolve().parents[1] / "demo"  # demo corpus and bundled task data


def data_roots(workspace_path: str | Path) -> list[Path]:
    """The configured roots, resolved (missing folders included: an uploads folder appears later)."""
    configured = [p for p in os.environ.get(ENV, "").split(os.pathsep) if p.strip()]
    if configured:
        return [Path(p).expanduser().resolve() for p in configured]
    home = Path(workspace_path).resolve().parent
    return [home / "uploads", home / "exports", BUNDLED.resolve()]


def uploads_dir(workspace_path: str | Path) -> Path:
    return Path(workspace_path).resolve().parent / "uploads"


def exports_dir(workspace_path: str | Path) -> Path:
    return Path(workspace_path).resolve().parent / "exports"


def confine(path: str | Path, workspace_path: str | Path, must_exist: bool = True) -> Path:
    """`path` resolved (symlinks followed, relative paths taken from the first root), or UserError
    in one line when it is outside every data root, or missing when `must_exist`."""
    text = str(path).strip()
    if not text or "\0" in text:
        raise UserError(f"path {shown(text)} is empty or invalid")
    roots = data_roots(workspace_path)
    raw = Path(text).expanduser()
    resolved = (raw if raw.is_absolute() else roots[0] / raw).resolve()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise UserError(f"path {shown(text)} is outside the dashboard's data roots "
                        f"({', '.join(str(r) for r in roots)}); set {ENV} on the server, or use the CLI")
    if must_exist and not resolved.exists():
        raise UserError(f"path {shown(text)}: not found")
    return resolved
