"""Terminal-safe printing for the CLI: user-controlled text (CSV headers, file names, corpus
names, error messages quoting them) never reaches a terminal as control codes. An OSC 52
sequence in a CSV header would otherwise write to the clipboard in many terminals; a bidi
override would reorder what is shown. Such characters are printed as visible escapes (`\\x1b`,
`\\u202e`); newlines and tabs stay."""
from __future__ import annotations

import re
import sys

# C0 controls but tab and newline, DEL, C1 controls, and the Unicode bidi controls/isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe(text: object) -> str:
    """`text` with every terminal control character shown as a Python-style escape."""
    return _UNSAFE.sub(_escape, str(text))


def _escape(m: re.Match) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def say(*parts: object, file=None, sep: str = " ", end: str = "\n", flush: bool = False) -> None:
    """`print` for the CLI: every part made terminal-safe first."""
    print(safe(sep.join(str(p) for p in parts)), file=file if file is not None else sys.stdout, end=end,
          flush=flush)
