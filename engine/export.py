"""Export a saved selection as training data: JSONL (optionally gzip), Parquet, or a Hugging Face
`datasets` folder (loadable with `datasets.load_from_disk`), chosen by the name or `fmt`.

Rows are the selection's documents in rank order minus those a curator rejected, then the
corpus's curator-accepted documents outside the selection (rank empty), with columns
rank, doc_id, text, meta, one column per signal of the corpus (askllm, perplexity, density,
curator, ... as present; clusters as `cluster` id and `cluster_label`; the filter columns
failed_rules (comma-joined), first_failed, failed_reason, language_code, near_dup_of), decision and note. The selection itself (name, corpus, strategy,
parameters, signal keys, counts) travels with the data: as Parquet file metadata under the key
`seedbed.selection`, for JSONL in a sidecar `<stem>.selection.json` beside the file, for a
datasets folder in `seedbed_selection.json` inside it.

Safety: the workspace file is never a target; an existing target is replaced only with
`force=True` (a folder only when it is a saved dataset); everything is written under a temporary
name that is removed on any failure, then renamed into place. One export at a time per target:
a second one to the same path is refused while the first runs (an OS lock, released even by
kill -9), and temporary files a killed export left behind are removed by the next export there.
"""
from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine import ensemble, stages
from engine.clusters import stored_labels
from engine.errors import UserError
from engine.filters import FILTER_COLUMNS, with_filter_columns
from engine.storage import Workspace
from engine.storage import corpus as store
from engine.storage import selections as selection_store

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".jsonl.gz": "jsonl.gz", ".json.gz": "jsonl.gz",
           ".parquet": "parquet", ".pq": "parquet"}
FMT_NAMES = ("jsonl", "jsonl.gz", "parquet", "datasets")
METADATA_KEY = b"seedbed.selection"
DATASET_SIDECAR = "seedbed_selection.json"
_NOT_SIGNALS = {"doc_id", "snippet", "n_chars", "x", "y", "decision"}
REJECT = "reject"  # engine.review.REJECT; not imported so export stays free of review's deps


@dataclass
class ExportResult:
    path: str
    fmt: str
    n_rows: int
    n_rejected: int
    message: str = ""
    sidecar: str | None = None


def _format(out_path: Path, fmt: str | None) -> str:
    name = out_path.name.lower()
    fmt = fmt or next((f for suffix, f in FORMATS.items() if name.endswith(suffix)), None)
    if fmt not in FMT_NAMES:
        raise UserError(f"cannot tell the export format of '{out_path}': use a .jsonl, .jsonl.gz or .parquet name "
                        f"(or fmt='jsonl' | 'jsonl.gz' | 'parquet' | 'datasets')")
    return fmt


def _stem(path: Path) -> str:
    name = path.name
    return next((name[:-len(s)] for s in FORMATS if name.lower().endswith(s)), path.stem)


def selection_table(ws: Workspace, name: str) -> tuple[pd.DataFrame, dict, int]:
    """(rows to export, selection record, how many rejected documents were dropped)."""
    with ws.connect() as con:
        sel = selection_store.selection(con, name)
        if sel is None:
            known = ", ".join(selection_store.list_selections(con)["name"]) or "none yet"
            raise UserError(f"no selection named '{name}' (known: {known}); save one with "
                            f"`python -m engine select --corpus C --strategy S --name {name}`")
        rows = selection_store.selection_documents(con, name)
        frame = with_filter_columns(con, sel["corpus"], store.corpus_frame(con, sel["corpus"], snippet_chars=0))
        labels = stored_labels(con, sel["corpus"])
        sel["quality"] = quality_record(con, sel["corpus"], "quality" in frame)
    frame["failed_rules"] = frame["failed_rules"].map(",".join).replace("", None)  # one string column: any format
    frame = frame.drop(columns=[c for c in FILTER_COLUMNS if frame[c].isna().all()])  # stages not run: no column
    # always exported: the combined quality signal
    frame["quality"] = ensemble.default_quality(frame, stages.member_signals(), stages.good_ends())
    if "cluster" in frame.columns:  # topic id (engine.clusters) and its label beside it
        frame = frame.assign(cluster=frame["cluster"].astype("Int64"),
                             cluster_label=frame["cluster"].map(labels).astype("string"))
    signals = frame[["doc_id", *[c for c in frame.columns if c not in _NOT_SIGNALS]]]
    rows = rows.merge(signals, on="doc_id", how="left")
    rejected = (rows["decision"] == REJECT).to_numpy()
    cols = ["rank", "doc_id", "text", "meta", *signals.columns[1:], "decision", "note"]
    sel.pop("doc_ids")
    return rows.loc[~rejected, cols].reset_index(drop=True), sel, int(rejected.sum())


def quality_record(con, corpus: str, stored: bool) -> dict:
    """What the exported `quality` column is: the curator-trained model (its CV AUC and the number
    of decisions it used), a stored ensemble, or the rank-mean computed at export time."""
    from engine.storage import signals as signal_store  # noqa: PLC0415

    if not stored:
        return {"source": "rank-mean of the quality signals present, computed at export (no stored quality)"}
    sig = signal_store.signals(con, corpus)
    row = sig[sig["kind"] == "quality"].iloc[0]
    params = json.loads(row["params"])
    record = {"signal_key": row["signal_key"], "mode": params.get("mode")}
    if params.get("mode") == "curator-model":
        record.update(source="quality model trained on curator decisions (engine.quality_model)",
                      **{k: params.get(k) for k in ("cv_auc", "cv_auc_ci", "n_decisions", "ensemble_auc", "why")})
    elif "stack" in params:
        record.update(cv_auc=params["stack"].get("cv_auc"), n_decisions=params["stack"].get("n_decisions"))
    return record


MAX_NAME_BYTES = 255  # a file name's limit on common file systems (ext4, APFS, NTFS)


def check_target(ws: Workspace, out: Path, fmt: str, force: bool) -> list[Path]:
    """The paths an export would replace (the file and its sidecar); UserError when it must not."""
    blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise UserError(f"{out}: {blocker} is a file, not a folder")
    workspace = Path(ws.path).resolve()
    target = out.resolve()
    if target in (workspace, workspace.with_name(workspace.name + ".wal")) or workspace.is_relative_to(target):
        raise UserError(f"{out}: is the workspace (or holds it); export somewhere else")
    targets = [out] if fmt == "datasets" else [out, _sidecar(out)] if fmt.startswith("jsonl") else [out]
    for path in targets:
        if len(path.name.encode()) > MAX_NAME_BYTES:
            raise UserError(f"{path.name[:60]}…: the file name is {len(path.name.encode())} bytes long (max "
                            f"{MAX_NAME_BYTES}{', with the .selection.json beside it' if path != out else ''}); "
                            "choose a shorter name")
    for path in targets:
        if path.is_dir() and not (fmt == "datasets" and path == out and (path / "state.json").is_file()):
            raise UserError(f"{path}: is a folder; give a file name (or --format datasets for a new folder)")
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        raise UserError(f"{existing[0]}: exists; pass --force to replace it")
    return targets


def _sidecar(out: Path) -> Path:
    return out.with_name(f"{_stem(out)}.selection.json")


def export_selection(ws: Workspace, name: str, out_path: str | os.PathLike, fmt: str | None = None,
                     force: bool = False) -> ExportResult:
    """Write selection `name` to `out_path` (see the module docstring for formats and safety)."""
    out = Path(out_path).expanduser()
    fmt = _format(out, fmt)
    check_target(ws, out, fmt, force)
    rows, sel, n_rejected = selection_table(ws, name)
    sel.update(n_exported=len(rows), n_rejected=n_rejected)
    out.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(out):
        check_target(ws, out, fmt, force)  # again, now that no other export to `out` can run
        return _write(out, fmt, rows, sel, name, n_rejected)


@contextlib.contextmanager
def exclusive(out: Path):
    """Hold the export lock of `out` (UserError when another export to it runs), and first remove
    the temporary files an export to `out` that was killed left behind."""
    key = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:24]
    folder = Path(tempfile.gettempdir()) / f"seedbed-export-locks-{os.getuid()}"
    folder.mkdir(exist_ok=True)
    with open(folder / f"{key}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the OS drops it when the process dies
        except BlockingIOError:
            raise UserError(f"{out}: another export to this path is running; wait for it or export elsewhere") from None
        for stale in out.parent.glob(f"{_tmp_prefix(out)}*.tmp"):
            _remove(stale)
        for stale in out.parent.glob(f"{_tmp_prefix(_sidecar(out))}*.tmp"):
            _remove(stale)
        yield


def _tmp_prefix(path: Path) -> str:
    """Short, fixed per target (a 250-byte name plus a suffix would exceed the name limit)."""
    return f".seedbed-{hashlib.sha256(path.name.encode()).hexdigest()[:12]}."


def _write(out: Path, fmt: str, rows: pd.DataFrame, sel: dict, name: str, n_rejected: int) -> ExportResult:
    tmp = out.with_name(f"{_tmp_prefix(out)}{uuid.uuid4().hex[:8]}.tmp")
    sidecar = _sidecar(out) if fmt.startswith("jsonl") else None
    try:
        if fmt == "parquet":
            pq.write_table(_table(rows, sel), tmp)
        elif fmt == "datasets":
            _write_dataset(tmp, _table(rows, sel), sel)
        else:
            records = rows.assign(meta=[json.loads(m) if isinstance(m, str) else None for m in rows["meta"]])
            with (gzip.open(tmp, "wt", encoding="utf-8") if fmt == "jsonl.gz" else open(tmp, "w", encoding="utf-8")) as f:
                records.to_json(f, orient="records", lines=True, force_ascii=False)
            _replace_file(sidecar, json.dumps(sel, indent=2, default=str) + "\n")
        if out.is_dir():
            shutil.rmtree(out)  # a saved dataset, and force was given (check_target)
        os.replace(tmp, out)
    finally:
        _remove(tmp)
    message = (f"wrote {len(rows)} documents of selection '{name}' to {out}"
               f" ({n_rejected} rejected by a curator left out)")
    return ExportResult(str(out), fmt, len(rows), n_rejected, message, str(sidecar) if sidecar else None)


def _table(rows: pd.DataFrame, sel: dict) -> pa.Table:
    table = pa.Table.from_pandas(rows, preserve_index=False)
    return table.replace_schema_metadata({**(table.schema.metadata or {}),
                                          METADATA_KEY: json.dumps(sel, default=str).encode()})


def _write_dataset(folder: Path, table: pa.Table, sel: dict) -> None:
    """The layout of `datasets.Dataset.save_to_disk`: one Arrow stream shard, state and info."""
    features = {f.name: {"dtype": _dtype(f.type), "_type": "Value"} for f in table.schema}
    table = table.replace_schema_metadata({b"huggingface": json.dumps({"info": {"features": features}}).encode()})
    folder.mkdir()
    shard = "data-00000-of-00001.arrow"
    with pa.ipc.new_stream(folder / shard, table.schema) as writer:
        writer.write_table(table)
    state = {"_data_files": [{"filename": shard}], "_fingerprint": uuid.uuid4().hex[:16], "_format_columns": None,
             "_format_kwargs": {}, "_format_type": None, "_output_all_columns": False, "_split": None}
    info = {"citation": "", "description": f"Seedbed selection '{sel['name']}' of corpus '{sel['corpus']}'",
            "features": features, "homepage": "", "license": ""}
    (folder / "state.json").write_text(json.dumps(state, indent=2) + "\n")
    (folder / "dataset_info.json").write_text(json.dumps(info, indent=2) + "\n")
    (folder / DATASET_SIDECAR).write_text(json.dumps(sel, indent=2, default=str) + "\n")


def _dtype(kind: pa.DataType) -> str:
    """The `datasets` Value dtype of an Arrow type (strings, numbers, booleans, null)."""
    names = {pa.string(): "string", pa.large_string(): "large_string", pa.bool_(): "bool", pa.null(): "null",
             pa.float64(): "float64", pa.float32(): "float32", pa.int64(): "int64", pa.int32(): "int32"}
    return names.get(kind, str(kind))


def _replace_file(path: Path, text: str) -> None:
    tmp = path.with_name(f"{_tmp_prefix(path)}{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def read_selection_metadata(path: str | os.PathLike) -> dict:
    """The selection record stored with an export (Parquet metadata, JSONL sidecar or dataset folder)."""
    path = Path(path)
    if path.is_dir():
        return json.loads((path / DATASET_SIDECAR).read_text())
    if _format(path, None) == "parquet":
        return json.loads(pq.read_schema(path).metadata[METADATA_KEY])
    return json.loads(_sidecar(path).read_text())
