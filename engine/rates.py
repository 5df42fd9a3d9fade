"""Measured rates on this machine, for honest time estimates before work starts.

Each finished stage of `python -m engine process` records how many documents it computed and how
long it took (model loading included) into `<workspace dir>/measured_rates.json`; a one-time model
conversion records its seconds. An estimate uses only these measurements: a stage never measured
here has no estimate (None), rather than a figure from another machine.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from engine.storage import Workspace

MIN_MEASURED_DOCS = 8  # fewer documents say more about model loading than about the rate


def rates_file(ws: Workspace) -> Path:
    return Path(ws.path).parent / "measured_rates.json"


def load(ws: Workspace) -> dict:
    """{name: {"n": documents, "seconds": s, "at": time}}; {} when nothing was measured."""
    try:
        return json.loads(rates_file(ws).read_text())
    except (OSError, ValueError):
        return {}


def record(ws: Workspace, name: str, n: int, seconds: float) -> None:
    """Remember that `name` (a stage, or 'convert:<model>' with n=1) did `n` documents in `seconds`.
    Written atomically (a rename), so concurrent jobs never leave a half file."""
    if name.startswith("convert:") or n >= MIN_MEASURED_DOCS:
        data = load(ws)
        data[name] = {"n": int(n), "seconds": round(float(seconds), 2), "at": time.strftime("%Y-%m-%d %H:%M:%S")}
        path = rates_file(ws)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)


def seconds_for(ws: Workspace, name: str, n: int) -> float | None:
    """Estimated seconds for `n` documents of `name` at the last measured rate; None if unmeasured."""
    got = load(ws).get(name)
    if not got or not got["n"]:
        return None
    return got["seconds"] if name.startswith("convert:") else n * got["seconds"] / got["n"]
