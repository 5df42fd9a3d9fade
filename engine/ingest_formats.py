"""What a corpus file is and how its bytes become text, for `engine.ingest` and `engine.readers`.

- Formats by suffix, also under a compression suffix (`.jsonl.gz`, `.csv.zst`); gzip and zstd
  are also recognised by their magic bytes whatever the name. Parquet (any codec) and Arrow
  files carry their own compression.
- Text: a byte-order mark (UTF-8/16/32) wins over the requested encoding; a file that looks like
  UTF-16/32 without one is refused in one line. ASCII-compatible encodings are decoded line by
  line from bytes (so one bad byte costs one line, named with its byte offset); UTF-16/32 are
  decoded as a stream and a line holding invalid code units is skipped.
- A compressed stream that is cut short or corrupt ends the file with one issue on the next line;
  the rows before it are kept.
"""
from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import zstandard

from engine import read_limits
from engine.errors import UserError
from engine.read_limits import Limits

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
            ".parquet": "parquet", ".arrow": "arrow", ".txt": "txt"}
COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
SELF_COMPRESSED = {"parquet", "arrow"}  # compressed inside the format; no outer codec
STRUCTURED = {"jsonl", "json", "csv", "tsv", "parquet", "arrow"}
HEADED = {"csv", "tsv", "parquet", "arrow"}  # columns known before the first row: a missing text column fails at once
MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}
BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
STREAM_ERRORS = (EOFError, OSError, zlib.error, zstandard.ZstdError)  # a cut-short or corrupt compressed file
_MARK = "seedbed-undecodable"
_MARKED = re.compile("[\udc00-\udcff]")
codecs.register_error(_MARK, lambda exc: ("".join(chr(0xDC00 + b) for b in exc.object[exc.start:exc.end]), exc.end))


class Problem(str):
    """Why a row was skipped."""


@dataclass(frozen=True)
class ReadOptions:
    text_column: str = "text"
    encoding: str = "utf-8"
    on_decode_error: str = "report"  # or "latin-1"
    limits: Limits = field(default_factory=Limits.from_env)  # line, column and decompression bounds


@dataclass
class Source:
    """One file being read; readers update `done` (bytes of the file on disk) and what they learn
    about its columns."""

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
    return ", ".join(SUFFIXES) + " (also .gz/.zst compressed), a folder or a saved Hugging Face dataset"


def kind_of(path: Path) -> str | None:
    """The reader for a file name (`a.jsonl`, `a.jsonl.gz`), or None when the name is not a known format."""
    suffixes = [s.lower() for s in Path(path.name).suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        kind = SUFFIXES.get(suffixes[-2]) if len(suffixes) > 1 else None
        return None if kind in SELF_COMPRESSED else kind
    return SUFFIXES.get(suffixes[-1]) if suffixes else None


def format_of(path: Path, fmt: str | None = None) -> str:
    """The reader for `path`: `fmt` (a format name or suffix) when given, else by its name."""
    if fmt:
        kind = SUFFIXES.get(fmt.lower()) or SUFFIXES.get(f".{fmt.lower()}")
    else:
        kind = kind_of(path)
    if kind is None:
        what = f"format {fmt!r}" if fmt else f"suffix {''.join(path.suffixes)!r}" if path.suffix else "no suffix"
        raise UserError(f"{path.name}: unknown format ({what}); use {known_suffixes()}")
    return kind


def check_encoding(encoding: str) -> str:
    """The codec name of a known text encoding."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise UserError(f"unknown encoding {encoding!r}") from None


def ascii_compatible(encoding: str) -> bool:
    """Lines split safely on b"\\n" bytes (UTF-8, Latin-1, cp1252, ...; not UTF-16/32)."""
    try:
        return "\n".encode(encoding) == b"\n" and "a".encode(encoding) == b"a"
    except (LookupError, UnicodeError):
        return False


def json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


@contextlib.contextmanager
def open_bytes(src: Source, limits: Limits | None = None) -> Iterator[tuple[io.BufferedReader, object]]:
    """(decompressed byte stream, the file underneath: its tell() is the progress in bytes)."""
    limits = limits or Limits.from_env()
    with open(src.path, "rb") as raw:
        head = raw.read(4)
        raw.seek(0)
        codec = next((name for magic, name in MAGIC.items() if head.startswith(magic)), None)
        if codec == "gzip":
            stream = gzip.GzipFile(fileobj=raw)
        elif codec == "zstd":
            stream = _ZstdReader(raw)
        else:
            stream = raw
        if stream is not raw:  # a decompression bomb stops at the cap (read_limits)
            stream = read_limits.CappedReader(stream, limits.decompressed_cap(src.size), src.name, src.size)
        with io.BufferedReader(stream, 1 << 16) if stream is not raw else contextlib.nullcontext(raw) as buf:
            yield buf, raw


class _ZstdReader(io.RawIOBase):
    """Zstandard frames decompressed as a stream; unlike zstandard's own reader, input that ends
    inside a frame raises EOFError (a truncated file is reported, not silently cut)."""

    def __init__(self, raw):
        self.raw, self.pending, self.pos = raw, b"", 0
        self.obj, self.started = zstandard.ZstdDecompressor().decompressobj(), False

    def readable(self) -> bool:
        return True

    def readinto(self, out) -> int:
        while self.pos >= len(self.pending):
            chunk = self.raw.read(1 << 16)
            if not chunk:
                if self.started and not self.obj.eof:
                    raise EOFError("zstd data ends inside a frame")
                return 0
            self.started, self.pending, self.pos = True, self.obj.decompress(chunk), 0
            while self.obj.eof and self.obj.unused_data:  # the next frame starts in the same chunk
                rest, self.obj = self.obj.unused_data, zstandard.ZstdDecompressor().decompressobj()
                self.pending += self.obj.decompress(rest)
        n = min(len(out), len(self.pending) - self.pos)
        out[:n] = self.pending[self.pos:self.pos + n]
        self.pos += n
        return n


def sniff_encoding(src: Source, head: bytes, encoding: str) -> tuple[str, int]:
    """(encoding to read with, length of the byte-order mark to drop)."""
    for bom, name in BOMS:
        if head.startswith(bom) and _plausible(head[len(bom):], name):
            return name, len(bom)
    if ascii_compatible(encoding) and len(head) >= 4 and head.count(0) * 4 >= len(head):
        even, odd = head[0::2].count(0), head[1::2].count(0)
        guess = "utf-32" if head[2::4].count(0) * 2 >= len(head) // 4 and head[3::4].count(0) else "utf-16"
        order = "le" if odd > even else "be"
        raise UserError(f"{src.name}: looks like {guess.upper()} without a byte-order mark (many NUL bytes); "
                        f"pass --encoding {guess}-{order} or convert the file to UTF-8")
    return encoding, 0


def _plausible(body: bytes, encoding: str) -> bool:
    """A UTF-16/32 byte-order mark is believed unless the text after it has newline bytes but no
    newline in that encoding (then the mark was the first bytes of a broken line, not a BOM)."""
    if ascii_compatible(encoding) or b"\n" not in body:
        return True
    return "\n" in body[:len(body) // 4 * 4].decode(encoding, "replace")


def decode(src: Source, raw: bytes, line: int, offset: int, opts: ReadOptions, unit: str = "line",
           encoding: str | None = None) -> str | None:
    """`raw` decoded, or None (reported) when it is not valid in the encoding and the policy is
    "report"; under "latin-1" it is decoded as Latin-1 and noted."""
    encoding = encoding or opts.encoding
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        where = f"byte 0x{raw[exc.start]:02X} at byte offset {offset + exc.start} is not valid {encoding}"
        if opts.on_decode_error == "latin-1":
            src.note(line, f"{where}; decoded the {unit} as Latin-1")
            return raw.decode("latin-1")
        src.skip(line, f"{where}; {unit} skipped (re-run with the Latin-1 fallback to keep it)")
        return None


def lines(src: Source, opts: ReadOptions, pieces: bool = False) -> Iterator[tuple[int, str]]:
    """(1-based line number, decoded line with its newline) for every decodable line; a line over
    the line limit is skipped (one issue), or with `pieces` comes as several pieces of one number."""
    number, limit = 0, opts.limits.max_line_bytes
    with open_bytes(src, opts.limits) as (buf, raw):
        try:
            encoding, bom = sniff_encoding(src, buf.peek(4096)[:4096], opts.encoding)
            offset = len(buf.read(bom))
            if ascii_compatible(encoding):
                for number, data in _numbered(read_limits.bounded_lines(buf, limit, pieces)):
                    if isinstance(data, int):
                        src.skip(number, opts.limits.too_long(data))
                        offset += data
                        continue
                    text = decode(src, data, number, offset, opts, encoding=encoding)
                    offset += len(data)
                    src.done = raw.tell()
                    if text is not None:
                        yield number, text
            else:
                wrapper = io.TextIOWrapper(buf, encoding, _MARK, newline="\n")
                for number, text in enumerate(read_limits.bounded_text_lines(wrapper, limit // 2), 1):
                    src.done = raw.tell()
                    if isinstance(text, int):
                        src.skip(number, opts.limits.too_long(text * 2))
                    elif _MARKED.search(text):
                        src.skip(number, f"bytes that are not valid {encoding}; line skipped")
                    else:
                        yield number, text
        except STREAM_ERRORS as exc:
            src.skip(number + 1, f"the compressed file is cut short or corrupt after line {number} "
                                 f"({exc}); the rest is not read")
        src.done = src.size


def read_text(src: Source, opts: ReadOptions) -> str | None:
    """A whole (small) file as text, under the decoding policy (a .txt document in a folder); a
    file over the line limit is skipped (one issue), never read whole."""
    with open_bytes(src, opts.limits) as (buf, _):
        try:
            data = buf.read(opts.limits.max_line_bytes + 1)
        except STREAM_ERRORS as exc:
            src.skip(1, f"the compressed file is cut short or corrupt ({exc}); file skipped")
            return None
    if len(data) > opts.limits.max_line_bytes:
        src.skip(1, f"the document is over {opts.limits.max_line_bytes >> 20} MB (SEEDBED_MAX_LINE_MB); file skipped")
        src.done = src.size
        return None
    src.done = src.size
    encoding, bom = sniff_encoding(src, data[:4096], opts.encoding)
    data = data[bom:]
    if not ascii_compatible(encoding):
        text = data.decode(encoding, _MARK)
        if _MARKED.search(text):
            src.skip(1, f"bytes that are not valid {encoding}; file skipped")
            return None
        return text
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:  # name the line of the bad byte, then apply the policy
        line = data.count(b"\n", 0, exc.start) + 1
        return decode(src, data, line, bom, opts, unit="file", encoding=encoding)


def _numbered(items: Iterator[bytes | int]) -> Iterator[tuple[int, bytes | int]]:
    """Line numbers for `read_limits.bounded_lines`: pieces of one long line share a number."""
    number, continued = 0, False
    for item in items:
        if not continued:
            number += 1
        continued = isinstance(item, bytes) and not item.endswith(b"\n")
        yield number, item
