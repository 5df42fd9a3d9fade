"""Export a saved selection as training data: JSONL or Parquet, chosen by the file suffix.

Rows are the selection's documents in rank order minus those a curator rejected, then the
corpus's curator-accepted documents outside the selection (rank empty), with columns
rank, doc_id, text, meta, one column per signal of the corpus (askllm, perplexity, density,
curator, ... as present), decision and note. The selection itself (name, corpus, strategy,
parameters, signal keys, counts) travels with the data: as Parquet file metadata under the key
`seedbed.selection`, or for JSONL in a sidecar `<stem>.selection.json` beside the file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine import ensemble
from engine.errors import UserError
from engine.storage import Workspace
from engine.storage import corpus as store
from engine.storage import selections as selection_store

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
METADATA_KEY = b"seedbed.selection"
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
    fmt = fmt or FORMATS.get(out_path.suffix.lower())
    if fmt not in ("jsonl", "parquet"):
        raise UserError(f"cannot tell the export format of '{out_path}': use a .jsonl or .parquet name "
                        f"(or fmt='jsonl' | 'parquet')")
    return fmt


def selection_table(ws: Workspace, name: str) -> tuple[pd.DataFrame, dict, int]:
    """(rows to export, selection record, how many rejected documents were dropped)."""
    with ws.connect() as con:
        sel = selection_store.selection(con, name)
        if sel is None:
            known = ", ".join(selection_store.list_selections(con)["name"]) or "none yet"
            raise UserError(f"no selection named '{name}' (known: {known}); save one with "
                            f"`python -m engine select --corpus C --strategy S --name {name}`")
        rows = selection_store.selection_documents(con, name)
        frame = store.corpus_frame(con, sel["corpus"], snippet_chars=0)
    frame["quality"] = ensemble.default_quality(frame)  # always exported: the combined quality signal
    signals = frame[["doc_id", *[c for c in frame.columns if c not in _NOT_SIGNALS]]]
    rows = rows.merge(signals, on="doc_id", how="left")
    rejected = (rows["decision"] == REJECT).to_numpy()
    cols = ["rank", "doc_id", "text", "meta", *signals.columns[1:], "decision", "note"]
    sel.pop("doc_ids")
    return rows.loc[~rejected, cols].reset_index(drop=True), sel, int(rejected.sum())


def export_selection(ws: Workspace, name: str, out_path: str | os.PathLike,
                     fmt: str | None = None) -> ExportResult:
    """Write selection `name` to `out_path` (written to a temporary name, then renamed)."""
    out = Path(out_path).expanduser()
    fmt = _format(out, fmt)
    rows, sel, n_rejected = selection_table(ws, name)
    sel.update(n_exported=len(rows), n_rejected=n_rejected)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp, sidecar = out.with_name(f".{out.name}.tmp"), None
    if fmt == "parquet":
        table = pa.Table.from_pandas(rows, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               METADATA_KEY: json.dumps(sel, default=str).encode()})
        pq.write_table(table, tmp)
    else:
        rows = rows.assign(meta=[json.loads(m) if isinstance(m, str) else None for m in rows["meta"]])
        rows.to_json(tmp, orient="records", lines=True, force_ascii=False)
        sidecar = out.with_name(f"{out.stem}.selection.json")
        sidecar.write_text(json.dumps(sel, indent=2, default=str) + "\n")
    os.replace(tmp, out)
    message = (f"wrote {len(rows)} documents of selection '{name}' to {out}"
               f" ({n_rejected} rejected by a curator left out)")
    return ExportResult(str(out), fmt, len(rows), n_rejected, message, str(sidecar) if sidecar else None)


def read_selection_metadata(path: str | os.PathLike) -> dict:
    """The selection record stored with an export (Parquet metadata or the JSONL sidecar)."""
    path = Path(path)
    if _format(path, None) == "parquet":
        return json.loads(pq.read_schema(path).metadata[METADATA_KEY])
    return json.loads(path.with_name(f"{path.stem}.selection.json").read_text())
