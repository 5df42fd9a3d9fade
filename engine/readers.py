"""Row readers for `engine.ingest`: each turns one file into a stream of `(line, value)` pairs.

A value is a dict of fields (structured formats), a bare text (.txt), or a `Problem` (the row
is skipped with that message). Readers do not judge the text column; they record the columns
they saw in the `Source` (so a preview can read any file). Memory is bounded by one row (one
.json array element, one Parquet/Arrow batch), except a one-line (minified) .json array, which
is one line in memory. Time is linear in the file size.
"""
from __future__ import annotations

import bisect
import csv
import json
from collections import deque
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from engine.errors import UserError
from engine.ingest_formats import Problem, ReadOptions, Source, json_type, lines, read_text

BATCH = 1000  # Parquet/Arrow rows per batch
JSON_BLOCK = 1 << 16  # characters a JSON buffer grows by at least (amortises re-parsing)
csv.field_size_limit(2**31 - 1)  # web documents exceed the default 128 KiB field limit; lines are bounded


def rows(src: Source, kind: str, opts: ReadOptions) -> Iterator[tuple[int, object]]:
    readers = {"jsonl": _jsonl, "json": _json_array, "csv": _csv, "tsv": _csv, "parquet": _parquet,
               "arrow": _arrow, "txt": _txt, "txt-file": _txt_file}
    return readers[kind](src, opts, kind)


def _object(src: Source, text: str, opts: ReadOptions) -> dict | Problem:
    try:
        value = json.loads(text.strip())  # without the newline, a cut-off string reads "Unterminated"
    except json.JSONDecodeError as exc:
        return Problem(f"invalid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})")
    except RecursionError:
        return Problem("invalid JSON (nested too deeply)")
    return _check_object(src, value, opts)


def _check_object(src: Source, value: object, opts: ReadOptions) -> dict | Problem:
    if not isinstance(value, dict):
        return Problem(f"row is {json_type(value)}, not a JSON object")
    if len(value) > opts.limits.max_columns:
        return Problem(f"object has {len(value):,} fields (more than the {opts.limits.max_columns:,} "
                       "of SEEDBED_MAX_COLUMNS)")
    if not src.fields:
        src.fields = list(value)
    src.column_seen = src.column_seen or opts.text_column in value
    return value


def _jsonl(src: Source, opts: ReadOptions, kind: str) -> Iterator[tuple[int, object]]:
    for number, text in lines(src, opts):
        if text.strip():
            yield number, _object(src, text, opts)


def _txt(src: Source, opts: ReadOptions, kind: str) -> Iterator[tuple[int, object]]:
    for number, text in lines(src, opts):
        if text.strip():
            yield number, text


def _txt_file(src: Source, opts: ReadOptions, kind: str) -> Iterator[tuple[int, object]]:
    """A whole .txt file as one document (inside a folder)."""
    text = read_text(src, opts)
    if text is not None:
        yield 1, text if text.strip() else Problem("empty file")


# --- CSV / TSV -------------------------------------------------------------------------------

def _csv(src: Source, opts: ReadOptions, kind: str) -> Iterator[tuple[int, object]]:
    """Rows of a headed CSV/TSV. A record whose quoting is broken (a quote never closed, or text
    after a closing quote) is reported with the lines it swallowed, and those lines are read again
    as rows of their own, so one stray quote costs one row."""
    feed = _Feed(lines(src, opts))
    new_reader = lambda: csv.reader(feed, delimiter="\t" if kind == "tsv" else ",", strict=True)  # noqa: E731
    reader, header = new_reader(), None
    while True:
        feed.mark()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reader, problem = new_reader(), f"malformed CSV ({exc})"
        else:
            if not row:
                continue  # blank line
            if header is None:
                opts.limits.check_columns(f"{src.name}:{feed.first}: the header has", len(row))
                header, src.fields, src.column_seen = row, row, opts.text_column in row
                continue
            if len(row) == len(header):
                yield feed.first, dict(zip(header, row))
                continue
            problem = f"expected {len(header)} fields ({', '.join(header)}), found {len(row)}"
        if feed.span() > 1:
            problem += (f"; a quote opened here runs to line {feed.last}: an unclosed quote? "
                        f"lines {feed.first + 1}-{feed.last} are read again as rows")
            feed.rewind()
        if header is None:
            raise UserError(f"{src.name}:{feed.first}: the header row is malformed ({problem})")
        yield feed.first, Problem(problem)


class _Feed:
    """Feeds decoded lines to csv.reader, remembers the lines of the current record, and can put
    all but its first line back (to re-read them after a broken record)."""

    def __init__(self, numbered: Iterator[tuple[int, str]]):
        self.numbered, self.pending, self.record = numbered, deque(), []
        self.first = self.last = 0

    def mark(self) -> None:
        self.record = []

    def span(self) -> int:
        return len(self.record)

    def rewind(self) -> None:
        self.pending.extendleft(reversed(self.record[1:]))
        self.record = self.record[:1]

    def __iter__(self) -> "_Feed":
        return self

    def __next__(self) -> str:
        number, text = self.pending.popleft() if self.pending else next(self.numbered)
        self.record.append((number, text))
        self.first, self.last = self.record[0][0], number
        return text


# --- Parquet and Arrow (Hugging Face `datasets` save_to_disk shards) -------------------------

def _check_schema(src: Source, schema: pa.Schema, opts: ReadOptions) -> None:
    opts.limits.check_columns(f"{src.name}: the schema has", len(schema.names))
    src.fields, src.column_seen = list(schema.names), opts.text_column in schema.names
    kind_ = schema.field(opts.text_column).type if src.column_seen else pa.string()
    if not (pa.types.is_string(kind_) or pa.types.is_large_string(kind_) or
            pa.types.is_dictionary(kind_) and pa.types.is_string(kind_.value_type)):
        raise UserError(f"{src.name}: column '{opts.text_column}' holds {kind_}, not text")


def _batch_rows(src: Source, batches, total: int) -> Iterator[tuple[int, object]]:
    row = 0
    for batch in batches:
        for record in batch.to_pylist():
            row += 1
            yield row, record
        src.done = src.size * row // max(total, 1)
    src.done = src.size


def _parquet(src: Source, opts: ReadOptions, kind: str) -> Iterator[tuple[int, object]]:
    try:
        pf = pq.ParquetFile(src.path)
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{src.name}: not a readable Parquet file ({exc})") from None
    _check_schema(src, pf.schema_arrow, opts)
    try:
        yield from _batch_rows(src, pf.iter_batches(batch_size=BATCH), pf.metadata.num_rows)
    except (pa.ArrowException, OSError) as exc:
        yield 0, Problem(f"the Parquet file is corrupt ({exc}); the rest is not read")


def _arrow(src: Source, opts: ReadOptions, kind: str) -> Iterator[tuple[int, object]]:
    """An Arrow IPC stream (what `datasets` writes) or file, memory-mapped, batch by batch."""
    try:
        source = pa.memory_map(str(src.path))
        try:
            reader = pa.ipc.open_stream(source)
            batches, total = reader, 0
        except pa.ArrowInvalid:
            reader = pa.ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            total = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{src.name}: not a readable Arrow file ({exc})") from None
    _check_schema(src, reader.schema, opts)
    try:
        for row, record in _batch_rows(src, batches, total):
            if not total:
                src.done = min(source.tell(), src.size)
            yield row, record
    except (pa.ArrowException, OSError) as exc:
        yield 0, Problem(f"the Arrow file is corrupt ({exc}); the rest is not read")


# --- JSON array --------------------------------------------------------------------------------

def _json_array(src: Source, opts: ReadOptions, kind: str) -> Iterator[tuple[int, object]]:
    """Elements of a top-level JSON array, each with the line it starts on. A syntax error stops
    the file there (what came before is kept), since the array cannot be resynchronised."""
    buf = _JsonBuffer(lines(src, opts, pieces=True), opts.limits.max_line_bytes)
    first = buf.peek()
    if first == "{":  # one object per line, named .json: read it as JSON Lines
        try:
            json.loads(buf.first_line())
        except (json.JSONDecodeError, RecursionError):
            raise UserError(f"{src.name}: top level is one JSON object; expected an array of objects "
                            "or one object per line") from None
        buf.numbered.close()
        src.done = 0
        yield from _jsonl(src, opts, kind)
        return
    if first != "[":
        raise UserError(f"{src.name}: not a JSON array of objects (starts with {first!r}); "
                        "for one object per line use .jsonl")
    buf.pos += 1
    while (char := buf.peek()) != "]":
        if char is None:
            yield buf.line_at(buf.pos), Problem("the file ends before the JSON array is closed")
            return
        line = buf.line_at(buf.pos)  # before decoding: reading more lines shifts buffer offsets
        try:
            value = buf.decode()
        except json.JSONDecodeError as exc:
            yield buf.line_at(exc.pos), Problem(f"invalid JSON ({exc.msg}); the rest of the file is not read")
            return
        except RecursionError:
            yield line, Problem("invalid JSON (nested too deeply); the rest of the file is not read")
            return
        except _TooLarge as exc:
            yield line, Problem(f"{exc}; the rest of the file is not read")
            return
        yield line, _check_object(src, value, opts)
        if buf.peek() == ",":
            buf.pos += 1
        elif buf.peek() != "]":
            yield buf.line_at(buf.pos), Problem("expected ',' or ']' after an array element; "
                                                "the rest of the file is not read")
            return


class _JsonBuffer:
    """Decoded text fed in blocks of lines to `json.JSONDecoder.raw_decode`, with a cursor and a
    map from text offsets back to file line numbers. An incomplete value is retried only after the
    buffer has at least doubled, and the consumed prefix is dropped only once it is over half the
    buffer, so every character is scanned O(1) times on average: linear in the file size."""

    def __init__(self, numbered: Iterator[tuple[int, str]], max_element: int = 1 << 62):
        self.numbered, self.text, self.pos, self.max_element = numbered, "", 0, max_element
        self.partial = False  # the buffer ends inside a line (a piece of a long line): a value may be cut
        self.offsets: list[int] = []  # text offset where each buffered line starts
        self.numbers: list[int] = []  # its file line number
        self.decoder = json.JSONDecoder()

    def more(self, at_least: int = JSON_BLOCK) -> bool:
        """Append lines until `at_least` more characters (or the end); False when nothing was added."""
        if self.pos > len(self.text) // 2:
            keep = bisect.bisect_right(self.offsets, self.pos) - 1  # drop lines wholly before the cursor
            cut = self.offsets[keep]
            self.text, self.pos = self.text[cut:], self.pos - cut
            self.offsets = [o - cut for o in self.offsets[keep:]]
            self.numbers = self.numbers[keep:]
        parts, added = [], 0
        for number, text in self.numbered:
            self.offsets.append(len(self.text) + added)
            self.numbers.append(number)
            parts.append(text)
            added += len(text)
            if added >= at_least:
                break
        self.text += "".join(parts)
        self.partial = added > 0 and not parts[-1].endswith("\n")
        return added > 0

    def first_line(self) -> str:
        return self.text[:self.offsets[1]] if len(self.offsets) > 1 else self.text

    def peek(self) -> str | None:
        """The next non-blank character (the cursor moves onto it), or None at the end."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos].isspace():
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return None

    def decode(self) -> object:
        """The value at the cursor; reads more while it is merely incomplete (the parse fails at
        the very end of the text)."""
        while True:
            try:
                value, end = self.decoder.raw_decode(self.text, self.pos)
                if not (end == len(self.text) and self.partial and self._grow()):  # `12|34`: a cut number
                    self.pos = end
                    return value
            except json.JSONDecodeError as exc:
                if self.text[exc.pos:].strip() and not _maybe_cut(self, exc):
                    raise
                where = exc.pos - self.pos  # more() may drop the prefix: keep the failure relative
                _check_element(len(self.text) - self.pos, self.max_element)
                if not self.more(max(JSON_BLOCK, len(self.text) - self.pos)):
                    raise json.JSONDecodeError(exc.msg, self.text, self.pos + where) from None

    def _grow(self) -> bool:
        _check_element(len(self.text) - self.pos, self.max_element)
        return self.more(max(JSON_BLOCK, len(self.text) - self.pos))

    def line_at(self, pos: int) -> int:
        i = bisect.bisect_right(self.offsets, pos) - 1
        return self.numbers[max(i, 0)] if self.numbers else 1


class _TooLarge(ValueError):
    """One JSON array element is over the line limit (read_limits)."""


def _check_element(n_chars: int, limit: int) -> None:
    if n_chars > limit:
        raise _TooLarge(f"an array element is over {limit >> 20} MB (SEEDBED_MAX_LINE_MB)")


def _maybe_cut(buf: "_JsonBuffer", exc: json.JSONDecodeError) -> bool:
    """Whether a parse failure may only be the end of a piece of a long line (read more and retry):
    an unterminated string, or any failure within the last few characters of a piece."""
    return buf.partial and (exc.msg.startswith("Unterminated string") or exc.pos >= len(buf.text) - 64)
