"""Ingest: stream a corpus file (or a folder of them) into the workspace as documents.

Contract:
- Formats by name (or `fmt=`): JSON Lines (.jsonl, .ndjson), a JSON array of objects (.json;
  a .json file that is really one object per line is read as JSON Lines), CSV/TSV (.csv, .tsv,
  header row first), Parquet (.parquet, any codec), Arrow (.arrow), plain text (.txt: one
  document per non-blank line), each also gzip/zstd compressed (.jsonl.gz, .csv.zst, ...); a
  folder (each .txt file is one document; files of the other formats are read row by row; every
  file not read is named); a Hugging Face `datasets` folder written by `save_to_disk` (its Arrow
  shards, every split); a hub dataset id (`hf://datasets/owner/name` or `owner/name`) when the
  hub is reachable. Readers: `engine.readers`; bytes and text: `engine.ingest_formats`.
- One named text column; every other column is kept as a JSON object in `meta`.
- Normalisation: the text is stored with surrounding whitespace stripped, nothing else changed.
  `doc_id` = the first 32 hex digits of sha256 over that stored text's UTF-8, so exact
  duplicates (within the file and against the corpus) are counted and stored once.
- Streaming and write amplification: rows are staged as Arrow batches of `STAGE_ROWS` and
  committed `COMMIT_CHARS` characters at a time (one transaction each); each commit rewrites
  DuckDB's index, so fewer, larger commits write less (bench/bench_ingest.py).
- Resuming: every commit records how many rows of the file (by content and read options) are
  accounted for (`storage.ingest_log`); a re-run after a crash or kill continues after them, and
  re-ingesting an unchanged file reads nothing. Corpus counters are recomputed from what is
  stored in the same transaction, so they equal what is stored after any interruption.
- Broken rows are skipped and reported as `Issue(source, line, problem)`; the rest lands.
  Undecodable bytes are skipped with their byte offset (`on_decode_error="report"`) or decoded
  as Latin-1 and noted (`"latin-1"`). Whole-file problems raise `UserError` with one line, and so
  does a file whose first MAX_LEADING_BAD rows are all unusable (surely the wrong file or column).
  Inside a folder, an unusable file becomes one issue (line 0) and the other files still land.
- Counters of a report: n_read = rows seen in this run (blank lines excluded) = n_new +
  n_duplicates + skipped rows; n_resumed = rows skipped because an earlier run stored them.
  `line` is 1-based: the line a row starts on, or the row number for Parquet/Arrow.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

from engine import ingest_formats as formats
from engine import ingest_inputs as inputs
from engine import ingest_staging as staging
from engine import readers
from engine.errors import UserError
from engine.progress import ProgressFn, report as report_progress
from engine.storage import Workspace
from engine.storage import corpus as store
from engine.storage import ingest_log
from engine.ingest_inputs import safe_upload_path  # noqa: F401 (part of this module's API)
from engine.user_text import check_name

STAGE_ROWS = 10_000  # rows per staged Arrow batch
STAGE_CHARS = 32_000_000  # ... or fewer: 10,000 rows of 16 MB (the line limit) would be 160 GB in Python lists
COMMIT_CHARS = 64_000_000  # characters per transaction: see bench/results/ingest_results.md
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
    the rows kept with a remark (e.g. decoded as Latin-1); `skipped_files` every file not read."""

    corpus: str
    n_read: int = 0
    n_new: int = 0
    n_duplicates: int = 0
    n_skipped: int = 0
    n_resumed: int = 0
    issues: list[Issue] = field(default_factory=list)
    notes: list[Issue] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    skipped_files: list[Issue] = field(default_factory=list)

    def summary(self) -> str:
        kept = f"; {len(self.notes)} kept with a note, first: {self.notes[0]}" if self.notes else ""
        resumed = f"; {self.n_resumed} rows already stored by an earlier run" if self.n_resumed else ""
        files = "".join(f"\n  file not read: {i.source}: {i.problem}" for i in self.skipped_files)
        return (f"{self.corpus}: read {self.n_read} rows from {len(self.sources)} file(s): {self.n_new} new, "
                f"{self.n_duplicates} duplicates, {self.n_skipped} skipped{resumed}{kept}{files}")


def doc_id(text: str) -> str:
    """Stable id of a stored (already stripped) text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def ingest(ws: Workspace, path: str | Path, corpus: str, text_column: str = "text", encoding: str = "utf-8",
           on_decode_error: str = "report", progress: ProgressFn | None = None,
           fmt: str | None = None) -> IngestReport:
    """Add the documents of `path` (file, folder, saved dataset or hub id) to `corpus`; see the
    module docstring."""
    corpus = (corpus or "").strip()
    if not corpus:
        raise UserError("corpus name is empty")
    corpus = check_name("corpus name", corpus)  # no newline, escape code or 10,000 characters (security)
    if on_decode_error not in ("report", "latin-1"):
        raise UserError(f"on_decode_error must be 'report' or 'latin-1', not {on_decode_error!r}")
    opts = formats.ReadOptions(text_column, formats.check_encoding(encoding), on_decode_error)
    found = inputs.resolve(path, fmt)
    total = sum(f.path.stat().st_size for f in found.files)
    writer = _Writer(ws, corpus, opts, progress, f"ingest {found.name}", total)
    try:
        for f in found.files:
            if f.kind is None:
                writer.skip_file(Issue(f.source, 0, f.reason), row_issue=False)
                continue
            try:
                _ingest_file(writer, f.path, f.source, f.kind)
            except UserError as exc:
                if not found.many:
                    raise
                writer.forget(f.source)  # its unwritten row issues, summed up by one file-level issue
                writer.skip_file(Issue(f.source, 0, str(exc).removeprefix(f"{f.source}: ")), row_issue=True)
        writer.close()
    finally:
        writer.discard()
    r = writer.report
    if r.n_new + r.n_duplicates + r.n_resumed == 0:
        first = f"; first: {r.issues[0]}" if r.issues else ""
        raise UserError(f"{found.name}: no usable rows in the folder{first}")
    return r


def _ingest_file(writer: "_Writer", file: Path, source: str, kind: str) -> None:
    """Stream one file's rows into the writer; whole-file problems raise UserError."""
    if file.stat().st_size == 0:
        raise UserError(f"{source}: empty file")
    src = formats.Source(file, source, writer.note_for(source), writer.skip_for(source))
    opts = writer.opts
    if not writer.begin(src, kind):
        return  # read to its end by an earlier run
    n_read, n_skipped, n_issues = writer.report.n_read, writer.report.n_skipped, len(writer.report.issues)
    try:
        for line, value in readers.rows(src, kind, opts):
            if kind in formats.HEADED and not src.column_seen:
                break  # reported below, before anything of this file is written
            writer.add(src, line, value)
    finally:
        writer.end(src)
    n_read = writer.report.n_read - n_read
    if n_read == writer.report.n_skipped - n_skipped and not writer.resumed(source):  # nothing usable
        if kind in formats.STRUCTURED and src.fields and not src.column_seen:
            shown = ", ".join(map(str, src.fields[:20])) + (f", ... ({len(src.fields)} in all)" if len(src.fields) > 20 else "")
            raise UserError(f"{source}: no column '{opts.text_column}'; columns are: {shown}")
        if n_read == 0:
            raise UserError(f"{source}: empty file (no rows)")
        first = writer.report.issues[n_issues:n_issues + 1]
        raise UserError(f"{source}: no usable rows ({n_read} skipped)" + (f"; first: {first[0]}" if first else ""))


@dataclass
class _File:
    """Reading position of one file: rows up to `resume_at` were stored by an earlier run."""

    fingerprint: str
    resume_at: int = 0
    ordinal: int = 0  # rows seen so far (skipped ones included), in reading order
    good: int = 0  # usable rows staged since the last commit
    finished: bool = False
    new_version: bool = False  # another version of this source was read before: replace its counts


class _Writer:
    """Stages rows as Arrow batches in a Parquet spill file and commits them (documents, issues,
    file progress, counters) in one transaction per COMMIT_CHARS characters.

    Nothing is written before the first usable row, so a file that turns out unusable leaves no
    trace (no empty corpus, no issue log)."""

    def __init__(self, ws: Workspace, corpus: str, opts: formats.ReadOptions, progress: ProgressFn | None,
                 label: str, total: int):
        self.ws, self.corpus, self.opts = ws, corpus, opts
        self.progress, self.label, self.total = progress, label, total
        self.report = IngestReport(corpus)
        self.spill = staging.Spill(Path(ws.path).parent)
        self.events = 0  # rows and issues since the last staged batch
        self.pending_chars = 0  # characters of text and fields since the last staged batch
        self.issues: list[Issue] = []
        self.notes: list[Issue] = []
        self.staged_chars = self.committed_chars = 0
        self.done_bytes = 0  # bytes of the files already finished
        self.registered: set[str] = set()  # sources registered with the corpus already
        self.files: dict[str, _File] = {}
        self.any_doc = False
        self.current: formats.Source | None = None
        with ws.connect() as con:
            self.stored = ingest_log.corpus_progress(con, corpus)

    def note_for(self, source: str) -> Callable[[int, str], None]:
        return lambda line, problem: self.note(Issue(source, line, problem))

    def skip_for(self, source: str) -> Callable[[int, str], None]:
        return lambda line, problem: self._row_skip(source, line, problem)

    def note(self, issue: Issue) -> None:
        self.notes.append(issue)
        if len(self.report.notes) < MAX_REPORTED:
            self.report.notes.append(issue)

    def _row_skip(self, source: str, line: int, problem: str) -> None:
        if self._seen(source):
            self.skip(Issue(source, line, problem), counted=True)

    def _seen(self, source: str) -> bool:
        """Count one more row of the file; False when an earlier run stored it already."""
        state = self.files[source]
        state.ordinal += 1
        return state.ordinal > state.resume_at

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

    def skip_file(self, issue: Issue, row_issue: bool) -> None:
        """A file of a folder not read: named in the report; an unusable one is a skipped-row issue."""
        self.report.skipped_files.append(issue)
        self.skip(issue) if row_issue else self.note(issue)

    def forget(self, source: str) -> None:
        """Drop a failed file's row issues while nothing is written yet (they are all still here)."""
        self.files.pop(source, None)
        if self.any_doc:
            return
        dropped = sum(i.source == source for i in self.issues)
        self.issues = [i for i in self.issues if i.source != source]
        self.report.issues = [i for i in self.report.issues if i.source != source]
        self.notes = [i for i in self.notes if i.source != source]
        self.report.notes = [i for i in self.report.notes if i.source != source]
        self.report.n_skipped -= dropped
        self.report.n_read -= dropped

    def begin(self, src: formats.Source, kind: str) -> bool:
        """Start a file; False when an earlier run read it to its end (nothing to do)."""
        fingerprint = inputs.fingerprint(src.path, self.opts, kind)
        stored_print, rows_done, complete = self.stored.get(src.name, (fingerprint, 0, False))
        new_version = stored_print != fingerprint
        if new_version:
            rows_done, complete = 0, False
        self.report.sources.append(src.name)
        self.report.n_resumed += rows_done
        if complete:
            self.done_bytes += src.size
            return False
        self.current, self.files[src.name] = src, _File(fingerprint, resume_at=rows_done, new_version=new_version)
        self.any_doc = self.any_doc or rows_done > 0
        return True

    def resumed(self, source: str) -> bool:
        return source in self.files and self.files[source].resume_at > 0

    def end(self, src: formats.Source) -> None:
        self.done_bytes += src.size
        src.done = 0
        if src.name in self.files:
            self.files[src.name].finished = True

    def add(self, src: formats.Source, line: int, value: object) -> None:
        """One row: a dict of fields, a bare text, or a `formats.Problem`."""
        if not self._seen(src.name):
            return
        if isinstance(value, formats.Problem):
            self.skip(Issue(src.name, line, str(value)), counted=True)
        else:
            text, meta = ((value.strip(), "{}") if isinstance(value, str)
                          else staging.split_fields(value, self.opts.text_column))
            if not isinstance(text, formats.Problem) and not staging.valid_unicode(text, meta):
                text = formats.Problem("text or fields hold an unpaired surrogate (a \\ud800-\\udfff escape)")
            if isinstance(text, formats.Problem):
                self.skip(Issue(src.name, line, str(text)), counted=True)
                return
            self.report.n_read += 1
            self.any_doc = True
            self.files[src.name].good += 1
            self.spill.append((doc_id(text), text, len(text), meta, src.name, line, self.files[src.name].ordinal))
            self.staged_chars += len(text) + len(meta)
            self.pending_chars += len(text) + len(meta)
        self.events += 1
        if self.events >= STAGE_ROWS or self.pending_chars >= STAGE_CHARS:
            self.stage()

    def stage(self) -> None:
        """Move the rows in Python lists to the spill file; commit when enough is staged."""
        self.events = self.pending_chars = 0
        self.spill.flush()
        self.report_documents()
        # a commit rewrites the index: commit sizes grow with what is stored (capped: the lock is held meanwhile)
        if self.staged_chars >= min(max(COMMIT_CHARS, self.committed_chars), 8 * COMMIT_CHARS) \
                or len(self.issues) >= 100 * STAGE_ROWS:
            self.commit()

    def commit(self) -> None:
        if not self.any_doc:
            return
        touched = {i.source for i in self.issues + self.notes} | {s for s, f in self.files.items()}
        with self.ws.connect() as con:
            for source in sorted(touched - self.registered):  # registers the corpus before its counters change
                store.upsert_corpus(con, self.corpus, self.opts.text_column, source)
            for source, state in self.files.items():
                ingest_log.advance(con, self.corpus, source, state.fingerprint, state.ordinal, state.good,
                                   state.finished, state.new_version)
                state.new_version = False
            staged = self.spill.take()
            new = ingest_log.insert_documents(con, self.corpus, str(staged)) if staged is not None else 0
            ingest_log.log_issues(con, self.corpus, self.issues, kept=False)
            ingest_log.log_issues(con, self.corpus, self.notes, kept=True)
            ingest_log.refresh_counters(con, self.corpus)
        self.spill.close()
        n_rows = sum(state.good for state in self.files.values())
        self.registered |= touched
        self.report.n_new += new
        self.report.n_duplicates += n_rows - new
        self.files = {s: f for s, f in self.files.items() if not f.finished}
        for state in self.files.values():
            state.good = 0
        self.issues, self.notes = [], []
        self.committed_chars += self.staged_chars
        self.staged_chars = 0

    def report_documents(self) -> None:
        """Progress in documents (what a user counts), not bytes: rows read so far out of a total
        estimated from the share of the bytes read (exact once the input is read)."""
        done_bytes = self.done_bytes + (self.current.done if self.current else 0)
        rows = self.report.n_read
        estimate = round(rows * self.total / done_bytes) if done_bytes and rows else rows
        report_progress(self.progress, self.label, rows, max(rows, estimate, 1))

    def close(self) -> None:
        self.commit()
        report_progress(self.progress, self.label, self.report.n_read, self.report.n_read)

    def discard(self) -> None:
        self.spill.close()
