"""Memory bounds for reading any input file, whatever its size or compression ratio.

Three settings (environment variables, read when a file is opened), each refusal one line:

- `SEEDBED_MAX_LINE_MB` (default 16): a longer line (a JSON Lines/CSV/TSV/text row, a whole .txt
  document in a folder) is skipped and listed; it is read past in 1 MiB steps, never held whole.
  A JSON array is read in pieces of this size, so a minified one-line array works; one array
  element larger than this ends the file with one issue.
- `SEEDBED_MAX_COLUMNS` (default 1000): a CSV/TSV header, Parquet/Arrow schema or JSON object
  with more columns is refused.
- `SEEDBED_MAX_EXPANSION` (default 1000): a compressed file may decompress to at most this many
  times its size (and at least 1 GiB); beyond that it is a decompression bomb and is refused.

With these, peak memory of `ingest` on a 199 KB gzip file holding one 200 MB line, or a CSV
with 10,000 columns, stays far below 1 GB (bench/read_limits.py).
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Iterator

from engine.errors import UserError

MIB = 1 << 20
STEP = MIB  # how much of an over-long line is read at a time while skipping it


@dataclass(frozen=True)
class Limits:
    max_line_bytes: int = 16 * MIB
    max_columns: int = 1000
    max_expansion: int = 1000
    min_decompressed: int = 1 << 30  # a small file may always expand this far

    @classmethod
    def from_env(cls) -> "Limits":
        def number(name: str, default: float) -> float:
            raw = os.environ.get(name, "").strip()
            try:
                value = float(raw) if raw else default
            except ValueError:
                raise UserError(f"${name} = {raw!r} is not a number") from None
            if value <= 0:
                raise UserError(f"${name} = {raw!r} must be positive")
            return value

        return cls(max_line_bytes=int(number("SEEDBED_MAX_LINE_MB", 16) * MIB),
                   max_columns=int(number("SEEDBED_MAX_COLUMNS", 1000)),
                   max_expansion=int(number("SEEDBED_MAX_EXPANSION", 1000)))

    def decompressed_cap(self, compressed_size: int) -> int:
        return max(self.min_decompressed, self.max_expansion * compressed_size)

    def too_long(self, n_bytes: int) -> str:
        return (f"line is {_size(n_bytes)} long (more than the {_size(self.max_line_bytes)} of "
                f"SEEDBED_MAX_LINE_MB); skipped")

    def check_columns(self, where: str, n: int) -> None:
        if n > self.max_columns:
            raise UserError(f"{where}: {n:,} columns (more than the {self.max_columns:,} of SEEDBED_MAX_COLUMNS); "
                            "is it the right file and delimiter?")


def _size(n: int) -> str:
    return f"{n / MIB:,.1f} MB" if n >= MIB else f"{n:,} bytes"


class CappedReader(io.RawIOBase):
    """A decompressed stream that raises UserError (one line) once more than `cap` bytes came out."""

    def __init__(self, stream, cap: int, name: str, compressed: int):
        self.stream, self.cap, self.name, self.compressed, self.count = stream, cap, name, compressed, 0

    def readable(self) -> bool:
        return True

    def readinto(self, out) -> int:
        n = self.stream.readinto(out)
        self.count += n or 0
        if self.count > self.cap:
            raise UserError(f"{self.name}: decompresses to more than {_size(self.cap)} from {_size(self.compressed)} "
                            f"(SEEDBED_MAX_EXPANSION); a decompression bomb? not read further")
        return n


def bounded_lines(buf, max_bytes: int, pieces: bool = False) -> Iterator[bytes | int]:
    """Lines of a binary stream (with their newline). A line longer than `max_bytes` becomes its
    length in bytes (an int: skip it), read past in STEP pieces; with `pieces=True` it is yielded
    as consecutive pieces of at most `max_bytes` instead, never cutting a UTF-8 character."""
    carry = b""
    while True:
        data = carry + buf.readline(max_bytes + 1 - len(carry))
        carry = b""
        if not data:
            return
        if data.endswith(b"\n") or len(data) <= max_bytes:
            yield data
            continue
        if pieces:
            cut = _char_boundary(data, max_bytes)
            data, carry = data[:cut], data[cut:]
            yield data
            continue
        n = len(data)
        while not data.endswith(b"\n"):
            data = buf.readline(STEP)
            if not data:
                break
            n += len(data)
        yield n


def _char_boundary(data: bytes, at: int) -> int:
    """The largest cut <= `at` that does not split a UTF-8 sequence (continuation bytes 10xxxxxx)."""
    cut = at
    while cut > at - 4 and cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut if cut > 0 else at


def bounded_text_lines(text, max_chars: int) -> Iterator[str | int]:
    """`bounded_lines` for a decoded text stream (UTF-16/32 files): over-long lines become their
    length in characters."""
    while True:
        data = text.readline(max_chars + 1)
        if not data:
            return
        if data.endswith("\n") or len(data) <= max_chars:
            yield data
            continue
        n = len(data)
        while not data.endswith("\n"):
            data = text.readline(STEP)
            if not data:
                break
            n += len(data)
        yield n
