"""Staging for `engine.ingest`: rows become Arrow batches in a Parquet spill file beside the
workspace, so memory holds one batch while a commit can be hundreds of MB (fewer commits write
less: bench/results/ingest_results.md). Also the row normalisation: text column out, the other fields as
a JSON object."""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from engine import ingest_formats as formats

DOC_SCHEMA = pa.schema([("doc_id", pa.string()), ("text", pa.large_string()), ("n_chars", pa.int64()),
                        ("meta", pa.large_string()), ("source", pa.string()), ("line", pa.int64()),
                        ("ordinal", pa.int64())])
SPILL_PREFIX = ".seedbed-ingest-"


class Spill:
    """Batches of DOC_SCHEMA rows appended to one temporary Parquet file until `take`n."""

    def __init__(self, folder: Path):
        self.folder, self.path, self.writer, self.rows = folder, None, None, 0
        self.columns: list[list] = [[] for _ in DOC_SCHEMA]

    def append(self, row: tuple) -> None:
        for column, value in zip(self.columns, row):
            column.append(value)

    def pending(self) -> int:
        return len(self.columns[0])

    def flush(self) -> None:
        """Write the appended rows as one batch."""
        if not self.columns[0]:
            return
        batch = pa.record_batch([pa.array(c, f.type) for c, f in zip(self.columns, DOC_SCHEMA)], schema=DOC_SCHEMA)
        self.columns = [[] for _ in DOC_SCHEMA]
        if self.writer is None:
            fd, name = tempfile.mkstemp(prefix=SPILL_PREFIX, suffix=".parquet", dir=self.folder)
            os.close(fd)
            self.path = Path(name)
            self.writer = pq.ParquetWriter(self.path, DOC_SCHEMA, compression="zstd", compression_level=1)
        self.writer.write_batch(batch)
        self.rows += batch.num_rows

    def take(self) -> Path | None:
        """The finished spill file (None when empty); call `close` once it is read."""
        self.flush()
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        return self.path if self.rows else None

    def close(self) -> None:
        """Remove the spill file (after a commit, and on every failure)."""
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
            self.writer = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        self.path, self.rows = None, 0


def split_fields(fields: dict, text_column: str) -> tuple[str | formats.Problem, str]:
    """(stripped text or the problem with it, the other fields as a JSON object)."""
    if text_column not in fields:
        return formats.Problem(f"no field '{text_column}'"), ""
    value = fields[text_column]
    if not isinstance(value, str):
        kind = formats.json_type(value)
        return formats.Problem(f"field '{text_column}' is {kind}, not a string"), ""
    if not value.strip():
        return formats.Problem(f"field '{text_column}' is empty"), ""
    meta = {k: v for k, v in fields.items() if k != text_column}
    return value.strip(), json.dumps(_finite(meta), ensure_ascii=False, default=str, allow_nan=False)


def valid_unicode(*texts: str) -> bool:
    """JSON escapes can spell lone surrogates: Python strings hold them, UTF-8 (and DuckDB) cannot."""
    try:
        for text in texts:
            text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _finite(value: object) -> object:
    """NaN/inf (Parquet nulls as floats) become JSON null, which DuckDB's JSON type accepts."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
