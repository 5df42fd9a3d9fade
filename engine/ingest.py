"""Ingest: stream a corpus file (or a folder of them) into the workspace as documents.

Contract:
- Formats by suffix (or `fmt=`): JSON Lines (.jsonl, .ndjson), a JSON array of objects (.json;
  a .json file that is really one object per line is read as JSON Lines), CSV/TSV (.csv, .tsv,
  header row first), Parquet (.parquet), plain text (.txt: one document per non-blank line), and a
  folder (each .txt file is one document; files of the other formats are read row by row).
- One named text column; every other column is kept as a JSON object in `meta`.
- Normalisation: the text is stored with surrounding whitespace stripped, nothing else changed.
  `doc_id` = the first 32 hex digits of sha256 over that stored text's UTF-8, so exact
  duplicates (within the file and against the corpus) are counted and stored once, and
  re-ingesting a file adds nothing.
- Streaming: files are read line by line (Parquet by row group batch) and written in batches of
  at most `BATCH_ROWS` rows / `BATCH_CHARS` characters, one short transaction per batch.
  (A .json array is parsed element by element; a minified one-line array is one line in memory.)
- Broken rows are skipped and reported as `Issue(source, line, problem)`; the rest lands.
  Undecodable bytes are skipped with their byte offset (`on_decode_error="report"`) or decoded
  as Latin-1 and noted (`"latin-1"`). Whole-file problems raise `UserError` with one line, and so
  does a file whose first MAX_LEADING_BAD rows are all unusable (surely the wrong file or column).
  Inside a folder, an unusable file becomes one issue (line 0) and the other files still land.
- Counters: n_read = rows seen (blank lines excluded) = n_new + n_duplicates + skipped rows
  (`n_skipped` also counts whole files skipped inside a folder; `line` 0 means the whole file).
  `line` is 1-based: the line a row starts on, or the row number for Parquet.
- The issue log (`ingest_issues`) is append-only: re-ingesting a broken file logs its issues again.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import pandas as pd

from engine import ingest_formats as formats
from engine.errors import UserError
from engine.progress import ProgressFn
from engine.progress import report as report_progress
from engine.storage import Workspace
from engine.storage import corpus as store
from engine.user_text import check_name

BATCH_ROWS = 10_000  # measured: per-transaction cost (open, commit, checkpoint) dominates small batches
BATCH_CHARS = 16_000_000
MAX_LEADING_BAD = 10_000  # this many unusable rows before the first good one: surely the wrong file or column
MAX_REPORTED = 1000  # issues kept in the in-memory report (all of them are stored)


class Issue(NamedTuple):
    """A skipped (or noted) row: `str()` gives `source:line: problem`."""

    source: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.problem}"


@dataclass
class IngestReport:
    """What one `ingest` call did. `issues` holds the first MAX_REPORTED skipped rows; `notes`
    the rows kept with a remark (e.g. decoded as Latin-1)."""

    corpus: str
    n_read: int = 0
    n_new: int = 0
    n_duplicates: int = 0
    n_skipped: int = 0
    issues: list[Issue] = field(default_factory=list)
    notes: list[Issue] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def summary(self) -> str:
        kept = f"; {len(self.notes)} kept with a note, first: {self.notes[0]}" if self.notes else ""
        return (f"{self.corpus}: read {self.n_read} rows from {len(self.sources)} file(s): {self.n_new} new, "
                f"{self.n_duplicates} duplicates, {self.n_skipped} skipped{kept}")


def doc_id(text: str) -> str:
    """Stable id of a stored (already stripped) text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def ingest(ws: Workspace, path: str | Path, corpus: str, text_column: str = "text", encoding: str = "utf-8",
           on_decode_error: str = "report", progress: ProgressFn | None = None,
           fmt: str | None = None) -> IngestReport:
    """Add the documents of `path` (file or folder) to `corpus`; see the module docstring."""
    path = Path(path).expanduser()
    corpus = (corpus or "").strip()
    if not corpus:
        raise UserError("corpus name is empty")
    corpus = check_name("corpus name", corpus)  # no newline, escape code or 10,000 characters (security)
    if on_decode_error not in ("report", "latin-1"):
        raise UserError(f"on_decode_error must be 'report' or 'latin-1', not {on_decode_error!r}")
    opts = formats.ReadOptions(text_column, formats.check_encoding(encoding), on_decode_error)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    files = _folder_files(path) if path.is_dir() else [(path, path.name, formats.format_of(path, fmt))]
    total = sum(file.stat().st_size for file, _, _ in files)
    writer = _Writer(ws, corpus, text_column, progress, f"ingest {path.name} (bytes)", total)
    for file, source, kind in files:
        if kind is None:
            writer.note(Issue(source, 0, f"not a known format ({file.suffix or 'no suffix'}); file ignored"))
            continue
        try:
            _ingest_file(writer, file, source, kind, opts)
        except UserError as exc:
            if not path.is_dir():
                raise
            writer.forget(source)  # its unwritten row issues, summed up by one file-level issue
            writer.skip(Issue(source, 0, str(exc).removeprefix(f"{source}: ")))  # the other files still land
    writer.close()
    if writer.report.n_new + writer.report.n_duplicates == 0:
        first = f"; first: {writer.report.issues[0]}" if writer.report.issues else ""
        raise UserError(f"{path.name}: no usable rows in the folder{first}")
    return writer.report


def _folder_files(folder: Path) -> list[tuple[Path, str, str | None]]:
    """(file, source name relative to the folder, format or None) for every visible file, sorted."""
    out = []
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = file.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue  # hidden files and folders (.DS_Store, .git) are not corpus content
        kind = formats.SUFFIXES.get(file.suffix.lower())
        out.append((file, rel.as_posix(), "txt-file" if kind == "txt" else kind))
    if not any(kind for _, _, kind in out):
        raise UserError(f"{folder.name}: no files of a known format ({formats.known_suffixes()})")
    return out


def _ingest_file(writer: "_Writer", file: Path, source: str, kind: str, opts: formats.ReadOptions) -> None:
    """Stream one file's rows into the writer; whole-file problems raise UserError."""
    if file.stat().st_size == 0:
        raise UserError(f"{source}: empty file")
    src = formats.Source(file, source, writer.note_for(source), writer.skip_for(source))
    n_read, n_skipped, n_issues = writer.report.n_read, writer.report.n_skipped, len(writer.report.issues)
    writer.begin(src)
    try:
        for line, value in formats.rows(src, kind, opts):
            if kind in formats.HEADED and not src.column_seen:
                break  # reported below, before anything of this file is written
            writer.add(src, line, value, opts.text_column)
    finally:
        writer.end(src)
    n_read = writer.report.n_read - n_read
    if n_read == writer.report.n_skipped - n_skipped:  # nothing usable in this file
        if kind in formats.STRUCTURED and src.fields and not src.column_seen:
            raise UserError(f"{source}: no column '{opts.text_column}'; columns are: {', '.join(src.fields)}")
        if n_read == 0:
            raise UserError(f"{source}: empty file (no rows)")
        first = writer.report.issues[n_issues:n_issues + 1]
        raise UserError(f"{source}: no usable rows ({n_read} skipped)" + (f"; first: {first[0]}" if first else ""))


class _Writer:
    """Collects rows into batches and writes each batch (documents + issues) in one transaction.

    Nothing is written before the first usable row, so a file that turns out unusable leaves no
    trace (no empty corpus, no issue log)."""

    def __init__(self, ws: Workspace, corpus: str, text_column: str, progress: ProgressFn | None,
                 label: str, total: int):
        self.ws, self.corpus, self.text_column = ws, corpus, text_column
        self.progress, self.label, self.total = progress, label, total
        self.report = IngestReport(corpus)
        self.docs: list[dict] = []
        self.issues: list[Issue] = []
        self.notes: list[Issue] = []
        self.chars = 0
        self.done_bytes = 0  # bytes of the files already finished
        self.sources: set[str] = set()  # sources registered with the corpus already
        self.any_doc = False
        self.current: formats.Source | None = None

    def note_for(self, source: str) -> Callable[[int, str], None]:
        return lambda line, problem: self.note(Issue(source, line, problem))

    def skip_for(self, source: str) -> Callable[[int, str], None]:
        return lambda line, problem: self.skip(Issue(source, line, problem), counted=True)

    def note(self, issue: Issue) -> None:
        self.notes.append(issue)
        if len(self.report.notes) < MAX_REPORTED:
            self.report.notes.append(issue)

    def skip(self, issue: Issue, counted: bool = False) -> None:
        """Record a skipped row (`counted`: it was a row, so it counts in n_read) or a skipped file."""
        self.issues.append(issue)
        self.report.n_skipped += 1
        self.report.n_read += counted
        if len(self.report.issues) < MAX_REPORTED:
            self.report.issues.append(issue)
        if counted and not self.any_doc and len(self.issues) >= MAX_LEADING_BAD:
            raise UserError(f"{issue.source}: the first {MAX_LEADING_BAD} rows are all unusable; "
                            f"first: {self.issues[0]}")

    def forget(self, source: str) -> None:
        """Drop a failed file's row issues while nothing is written yet (they are all still here)."""
        if self.any_doc:
            return
        dropped = sum(i.source == source for i in self.issues)
        self.issues = [i for i in self.issues if i.source != source]
        self.report.issues = [i for i in self.report.issues if i.source != source]
        self.notes = [i for i in self.notes if i.source != source]
        self.report.notes = [i for i in self.report.notes if i.source != source]
        self.report.n_skipped -= dropped
        self.report.n_read -= dropped

    def begin(self, src: formats.Source) -> None:
        self.current = src
        self.report.sources.append(src.name)

    def end(self, src: formats.Source) -> None:
        self.done_bytes += src.size
        src.done = 0

    def add(self, src: formats.Source, line: int, value: object, text_column: str) -> None:
        """One row: a dict of fields, a bare text, or a `formats.Problem`."""
        if isinstance(value, formats.Problem):
            self.skip(Issue(src.name, line, str(value)), counted=True)
        else:
            text, meta = (value.strip(), "{}") if isinstance(value, str) else _split_fields(value, text_column)
            if not isinstance(text, formats.Problem) and not _valid_unicode(text, meta):
                text = formats.Problem("text or fields hold an unpaired surrogate (a \\ud800-\\udfff escape)")
            if isinstance(text, formats.Problem):
                self.skip(Issue(src.name, line, str(text)), counted=True)
                return
            self.report.n_read += 1
            self.any_doc = True
            self.docs.append({"doc_id": doc_id(text), "text": text, "n_chars": len(text), "meta": meta,
                              "source": src.name, "line": line})
            self.chars += len(text)
        if len(self.docs) + len(self.issues) >= BATCH_ROWS or self.chars >= BATCH_CHARS:
            self.flush()

    def flush(self) -> None:
        if not self.any_doc:
            return
        docs = pd.DataFrame(self.docs, columns=["doc_id", "text", "n_chars", "meta", "source", "line"])
        unique = docs.drop_duplicates("doc_id")
        with self.ws.connect() as con:
            seen = {i.source for i in self.issues + self.notes} | set(unique["source"])
            for source in sorted(seen - self.sources):  # registers the corpus before its counters change
                store.upsert_corpus(con, self.corpus, self.text_column, source)
            new = store.insert_documents(con, self.corpus, unique) if len(unique) else 0
            store.record_ingest(con, self.corpus, len(docs) - new, self.issues)
            store.record_ingest_notes(con, self.corpus, self.notes)
        self.sources |= seen
        self.report.n_new += new
        self.report.n_duplicates += len(docs) - new
        self.docs, self.issues, self.notes, self.chars = [], [], [], 0
        done = self.done_bytes + (self.current.done if self.current else 0)
        report_progress(self.progress, self.label, min(done, self.total), self.total)

    def close(self) -> None:
        self.flush()


def _split_fields(fields: dict, text_column: str) -> tuple[str | formats.Problem, str]:
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


def _valid_unicode(*texts: str) -> bool:
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


_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_upload_path(upload_dir: str | Path, filename: str) -> Path:
    """A path inside `upload_dir` for an uploaded file: only the base name is kept (any directory
    part, `..` or drive is dropped), odd characters become `_`, hidden/empty names and unknown
    suffixes are refused with UserError. The same upload name always maps to the same path (a
    re-upload replaces the file); the folder is created if missing."""
    base = re.split(r"[/\\]", (filename or "").replace("\0", ""))[-1].strip()
    if not base or base.startswith(".") or base in ("..", "."):
        raise UserError(f"upload name {filename!r} is empty or hidden")
    stem, dot, suffix = base.rpartition(".")
    if not dot or not stem.strip(" ._") or f".{suffix.lower()}" not in formats.SUFFIXES:
        raise UserError(f"upload {base!r}: unknown format; use one of {formats.known_suffixes()}")
    name = f"{_UNSAFE.sub('_', stem)[:150]}.{suffix.lower()}"
    root = Path(upload_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    target = (root / name).resolve()
    if target.parent != root:  # defence in depth: the checks above already make this impossible
        raise UserError(f"upload name {filename!r} escapes the upload folder")
    return target
