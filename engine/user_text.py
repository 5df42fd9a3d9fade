"""User text is data: names a user types are checked before they are stored, and any user text
shown through Markdown (Streamlit's st.markdown, captions, alerts, labels) is escaped first, so
`![x](http://host/t.png)` in a document, a CSV header or an error message shows as those
characters and never makes a browser fetch anything."""
from __future__ import annotations

import re
import unicodedata

from engine.errors import UserError

MAX_NAME = 100
_NAME_PUNCTUATION = set(" ._-+@=,")
# Characters that start Markdown anywhere in a line (CommonMark lets a backslash escape any ASCII
# punctuation); Streamlit adds `:color[...]`, `:material/icon:` and `$math$`. Without '[' and '<'
# no link, image or HTML can form, so parentheses and full stops stay readable.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~:$!&])")
_LINE_START = re.compile(r"(?m)^(\s*)([-+=]|\d+(?=[.)]))")  # list items, setext underlines, "1." lists
# GFM turns bare `http://...` and `www.x` into links *after* escapes are resolved (it searches the
# text), so a backslash cannot stop it: a word joiner (U+2060, invisible) breaks the pattern.
_BARE_LINK = re.compile(r"(?i)(?<=https)(?=\\?:)|(?<=http)(?=\\?:)|(?<=\bwww)(?=\\?\.)|(?<=\bftp)(?=\\?:)")
WORD_JOINER = "\u2060"


def check_name(kind: str, name: str) -> str:
    """`name` stripped and NFKC-normalised (so NFD `café`, NFC `café` and fullwidth `ｃａｆé` are
    one name), or UserError (one line) when it is empty, longer than MAX_NAME, holds anything but
    letters, digits, marks and ` ._-+@=,` (no newline, control or escape code, no bidi override,
    no Markdown), or looks like another name (`look_alike`). `kind` names the thing in the
    message, e.g. "corpus name"."""
    name = unicodedata.normalize("NFKC", name or "").strip()
    if not name:
        raise UserError(f"{kind} is empty")
    if len(name) > MAX_NAME:
        raise UserError(f"{kind} {shown(name, 40)} is {len(name):,} characters long (max {MAX_NAME})")
    bad = next((c for c in name if not _name_char(c)), None)
    if bad is not None:
        raise UserError(f"{kind} {shown(name, 40)}: character {bad!r} is not allowed; "
                        f"use letters, digits, spaces and {''.join(sorted(_NAME_PUNCTUATION - {' '}))}")
    if not (name[0].isalnum() or name[0] == "_"):
        raise UserError(f"{kind} {shown(name, 40)} must start with a letter, a digit or '_'")
    why = look_alike(name)
    if why:
        raise UserError(f"{kind} {shown(name, 40)} {why}; type it with one alphabet")
    return name


# Cyrillic and Greek letters drawn like Latin ones (Unicode confusables, the common subset).
_CONFUSABLE = set("аеорсухіјѕԁԛԝүвкмнтАВЕКМНОРСТХІЈЅ" "αονρτυικΑΒΕΖΗΙΚΜΝΟΡΤΥΧ")
_LOOK_ALIKE_SCRIPTS = {"LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE"}


def look_alike(name: str) -> str | None:
    """Why `name` could pass for another name, or None: it mixes Latin with Cyrillic, Greek, ...
    letters (`с4-demo` with a Cyrillic с), or its only non-Latin letters are ones drawn like Latin
    letters (`с4`)."""
    scripts = {unicodedata.name(c, "?").split()[0] for c in name if c.isalpha()}
    alike = scripts & _LOOK_ALIKE_SCRIPTS
    if len(alike) > 1:
        return f"mixes {' and '.join(sorted(s.title() for s in alike))} letters (look-alike characters?)"
    foreign = [c for c in name if c.isalpha() and unicodedata.name(c, "?").split()[0] in alike - {"LATIN"}]
    if foreign and all(c in _CONFUSABLE for c in foreign):
        return f"uses {', '.join(sorted(set(foreign)))} (drawn like Latin letters)"
    return None


def _name_char(c: str) -> bool:
    return c.isalnum() or c == "_" or c in _NAME_PUNCTUATION or unicodedata.category(c).startswith("M")


def shown(text: str, limit: int = 80) -> str:
    """`text` quoted for a one-line message: control characters and escape codes as `\\x..`
    escapes (Python's repr), cut to `limit` characters with an ellipsis."""
    text = str(text)
    cut = text[:limit] + ("…" if len(text) > limit else "")
    return repr(cut)


def escape_markdown(text: object) -> str:
    """`text` with every Markdown-special character backslash-escaped, so Markdown shows it
    verbatim: no image, link (bare `http://` and `www.` ones included: a word joiner is put after
    the scheme), emphasis, heading, HTML, colour directive or math. Newlines are kept as hard line
    breaks."""
    text = str(text).replace("\r\n", "\n").replace("\r", "\n")
    escaped = _LINE_START.sub(_escape_line_start, _MARKDOWN_SPECIAL.sub(r"\\\1", text))
    return _BARE_LINK.sub(WORD_JOINER, escaped).replace("\n", "  \n")


def _escape_line_start(m: re.Match) -> str:
    mark = m.group(2)
    return m.group(1) + (mark + "\\" if mark[0].isdigit() else "\\" + mark)
