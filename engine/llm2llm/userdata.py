"""A user's own LLM2LLM task: uploaded train/test files stored beside the workspace (content-
addressed, so a re-upload reuses the file) and checked up front, so a bad file gets one clear line
on the form instead of a failed background run."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from engine.errors import UserError
from engine.llm2llm.tasks import check_sizes, load_task

SUFFIXES = (".jsonl", ".csv")


def store_upload(workspace_path: str, filename: str, data: bytes) -> Path:
    """Write an uploaded file to `<workspace stem>.uploads/llm2llm/<sha12>-<safe name>`; the
    browser's file name is only a label (its folders are dropped, odd characters replaced)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(str(filename)).name)[-80:] or "upload"
    if not name.lower().endswith(SUFFIXES):
        raise UserError(f"{name}: a task file must be .jsonl or .csv with 'input' and 'output'")
    if not data.strip():
        raise UserError(f"{name}: the file is empty")
    folder = Path(workspace_path).with_suffix(".uploads") / "llm2llm"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:12]}-{name}"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return path


def check_task_files(train: str, test: str, labels: tuple[str, ...], seed_size: float) -> tuple[int, int, tuple]:
    """(train rows, test rows, label set) of a user's task, or UserError naming the file and row."""
    task, train_rows, test_rows = load_task("jsonl", train, test, labels)
    check_sizes(train_rows, test_rows, seed_size, train, test)
    return len(train_rows), len(test_rows), task.labels
