"""Row readers for `engine.ingest`: each turns one file into a stream of `(line, value)` pairs.

A value is a dict of fields (structured formats), a bare text (.txt), or a `Problem` (the row
is skipped with that message). Readers do not judge the text column; they record the columns
they saw in the `Source` (so a preview can read any file). Readers never hold more than one row
(one .json array element, one Parquet batch) in memory. Text is decoded line by line so one bad
byte costs one line.
"""
from __future__ import annotations

import bisect
import codecs
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from engine.errors import UserError

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
            ".parquet": "parquet", ".txt": "txt"}
STRUCTURED = {"jsonl", "json", "csv", "tsv", "parquet"}
HEADED = {"csv", "tsv", "parquet"}  # columns known before the first row: a missing text column fails at once
PARQUET_BATCH = 1000
csv.field_size_limit(2**31 - 1)  # web documents exceed the default 128 KiB field limit


class Problem(str):
    """Why a row was skipped."""


@dataclass(frozen=True)
class ReadOptions:
    text_column: str = "text"
    encoding: str = "utf-8"
    on_decode_error: str = "report"  # or "latin-1"


@dataclass
class Source:
    """One file being read; readers update `done` (bytes) and what they learn about its columns."""

    path: Path
    name: str
    note: Callable[[int, str], None]  # (line, remark) for a row kept with a remark
    skip: Callable[[int, str], None]  # (line, problem) for a row skipped before it became a value
    size: int = 0
    done: int = 0
    fields: list[str] = field(default_factory=list)  # column names (first row's keys for JSON)
    column_seen: bool = False  # some row had the text column

    def __post_init__(self) -> None:
        self.size = self.path.stat().st_size


def known_suffixes() -> str:
    return ", ".join(SUFFIXES) + " or a folder"


def format_of(path: Path, fmt: str | None = None) -> str:
    """The reader for `path`: `fmt` (a format name or suffix) when given, else by suffix."""
    key = (fmt or path.suffix).lower()
    kind = SUFFIXES.get(key) or SUFFIXES.get(f".{key}")
    if kind is None:
        what = f"format {fmt!r}" if fmt else f"suffix {path.suffix!r}" if path.suffix else "no suffix"
        raise UserError(f"{path.name}: unknown format ({what}); use {known_suffixes()}")
    return kind


def check_encoding(encoding: str) -> str:
    """A known encoding where a newline is one b"\\n" byte (so files split into lines safely)."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise UserError(f"unknown encoding {encoding!r}") from None
    if "\n".encode(name) != b"\n" or "a".encode(name) != b"a":
        raise UserError(f"encoding {encoding!r} is not ASCII-compatible; convert the file to UTF-8 first")
    return name


def json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def rows(src: Source, kind: str, opts: ReadOptions) -> Iterator[tuple[int, object]]:
    readers = {"jsonl": _jsonl, "json": _json_array, "csv": _csv, "tsv": _csv, "parquet": _parquet,
               "txt": _txt, "txt-file": _txt_file}
    return readers[kind](src, opts, kind)


def decode(src: Source, raw: bytes, line: int, offset: int, opts: ReadOptions, unit: str = "line") -> str | None:
    """`raw` decoded, or None (reported) when it is not valid in `opts.encoding` and the policy is
    "report"; under "latin-1" it is decoded as Latin-1 and noted."""
    try:
        text = raw.decode(opts.encoding)
    except UnicodeDecodeError as exc:
        where = (f"byte 0x{raw[exc.start]:02X} at byte offset {offset + exc.start} is not valid "
                 f"{opts.encoding}")
        if opts.on_decode_error == "latin-1":
            src.note(line, f"{where}; decoded the {unit} as Latin-1")
            return raw.decode("latin-1")
        src.skip(line, f"{where}; {unit} skipped (re-run with the Latin-1 fallback to keep it)")
        return None
    return text[1:] if offset == 0 and text.startswith("\ufeff") else text  # byte-order mark


def lines(src: Source, opts: ReadOptions) -> Iterator[tuple[int, str]]:
    """(1-based line number, decoded line with its newline) for every decodable line."""
    with open(src.path, "rb") as f:
        for number, raw in enumerate(f, 1):
            text = decode(src, raw, number, src.done, opts)
            src.done += len(raw)
            if text is not None:
                yield number, text


def _object(src: Source, text: str, opts: ReadOptions) -> dict | Problem:
    try:
        value = json.loads(text.strip())  # without the newline, a cut-off string reads "Unterminated"
    except json.JSONDecodeError as exc:
        return Problem(f"invalid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})")
    return _check_object(src, value, opts)


def _check_object(src: Source, value: object, opts: ReadOptions) -> dict | Problem:
    if not isinstance(value, dict):
        return Problem(f"row is {json_type(value)}, not a JSON object")
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
    raw = src.path.read_bytes()
    try:
        raw.decode(opts.encoding)
    except UnicodeDecodeError as exc:  # name the line of the bad byte, then apply the policy
        line = raw.count(b"\n", 0, exc.start) + 1
        text = decode(src, raw, line, 0, opts, unit="file")
    else:
        text = decode(src, raw, 1, 0, opts, unit="file")
    src.done = src.size
    if text is not None:
        yield 1, text if text.strip() else Problem("empty file")


def _csv(src: Source, opts: ReadOptions, kind: str) -> Iterator[tuple[int, object]]:
    feed = _MarkedLines(lines(src, opts))
    reader = csv.reader(feed, delimiter="\t" if kind == "tsv" else ",")
    header = next(reader, None)
    if not header:
        return
    src.fields, src.column_seen = header, opts.text_column in header
    while True:
        feed.mark()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield feed.first or feed.last, Problem(f"malformed CSV ({exc})")
            continue
        if not row:
            continue  # blank line
        if len(row) != len(header):
            spans = f"; the row runs to line {feed.last}: an unclosed quote?" if feed.last > feed.first + 1 else ""
            yield feed.first, Problem(f"expected {len(header)} fields ({', '.join(header)}), found {len(row)}{spans}")
            continue
        yield feed.first, dict(zip(header, row))


class _MarkedLines:
    """Feeds decoded lines to csv.reader and remembers where the current record started."""

    def __init__(self, numbered: Iterator[tuple[int, str]]):
        self.numbered, self.first, self.last = numbered, 0, 0

    def mark(self) -> None:
        self.first = 0

    def __iter__(self) -> "_MarkedLines":
        return self

    def __next__(self) -> str:
        self.last, text = next(self.numbered)
        self.first = self.first or self.last
        return text


def _parquet(src: Source, opts: ReadOptions, kind: str) -> Iterator[tuple[int, object]]:
    try:
        pf = pq.ParquetFile(src.path)
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{src.name}: not a readable Parquet file ({exc})") from None
    schema = pf.schema_arrow
    src.fields, src.column_seen = list(schema.names), opts.text_column in schema.names
    kind_ = schema.field(opts.text_column).type if src.column_seen else pa.string()
    if not (pa.types.is_string(kind_) or pa.types.is_large_string(kind_) or
            pa.types.is_dictionary(kind_) and pa.types.is_string(kind_.value_type)):
        raise UserError(f"{src.name}: column '{opts.text_column}' holds {kind_}, not text")
    total, row = max(pf.metadata.num_rows, 1), 0
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH):
        for record in batch.to_pylist():
            row += 1
            yield row, record
        src.done = src.size * row // total


def _json_array(src: Source, opts: ReadOptions, kind: str) -> Iterator[tuple[int, object]]:
    """Elements of a top-level JSON array, each with the line it starts on. A syntax error stops
    the file there (what came before is kept), since the array cannot be resynchronised."""
    buf = _JsonBuffer(lines(src, opts))
    first = buf.peek()
    if first == "{":  # one object per line, named .json: read it as JSON Lines
        try:
            json.loads(buf.text)
        except json.JSONDecodeError:
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
        yield line, _check_object(src, value, opts)
        if buf.peek() == ",":
            buf.pos += 1
        elif buf.peek() != "]":
            yield buf.line_at(buf.pos), Problem("expected ',' or ']' after an array element; "
                                                "the rest of the file is not read")
            return


class _JsonBuffer:
    """Decoded text fed line by line to `json.JSONDecoder.raw_decode`, with a cursor and a map from
    text offsets back to file line numbers."""

    def __init__(self, numbered: Iterator[tuple[int, str]]):
        self.numbered, self.text, self.pos = numbered, "", 0
        self.offsets: list[int] = []  # text offset where each buffered line starts
        self.numbers: list[int] = []  # its file line number
        self.decoder = json.JSONDecoder()

    def more(self) -> bool:
        nxt = next(self.numbered, None)
        if nxt is None:
            return False
        keep = bisect.bisect_right(self.offsets, self.pos) - 1  # drop lines wholly before the cursor
        if keep > 0:
            cut = self.offsets[keep]
            self.text, self.pos = self.text[cut:], self.pos - cut
            self.offsets = [o - cut for o in self.offsets[keep:]]
            self.numbers = self.numbers[keep:]
        self.offsets.append(len(self.text))
        self.numbers.append(nxt[0])
        self.text += nxt[1]
        return True

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
        """The value at the cursor; reads more lines while it is merely incomplete (JSON strings
        cannot hold raw newlines, so an incomplete value always fails at the end of the text)."""
        while True:
            try:
                value, self.pos = self.decoder.raw_decode(self.text, self.pos)
                return value
            except json.JSONDecodeError as exc:
                if self.text[exc.pos:].strip() or not self.more():
                    raise

    def line_at(self, pos: int) -> int:
        i = bisect.bisect_right(self.offsets, pos) - 1
        return self.numbers[max(i, 0)] if self.numbers else 1
