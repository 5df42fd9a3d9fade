"""Shared fixtures: a fresh workspace file per test, models loaded once per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = Path(__file__).parent / "data"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A real DuckDB workspace file in a temporary folder, also exported as SEEDBED_DB."""
    from engine.storage import Workspace

    path = tmp_path / "ws.duckdb"
    monkeypatch.setenv("SEEDBED_DB", str(path))
    return Workspace(path)
