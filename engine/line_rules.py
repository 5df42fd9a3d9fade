"""C4 and FineWeb line rules as rule signals (`engine.rules`).

C4 (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified Text-to-Text
Transformer", https://arxiv.org/abs/1910.10683, section 2.2): keep only lines that end in terminal
punctuation, have at least 3 words, no word over 1000 characters, no "javascript" and no
cookie/terms-of-use phrase (the last two from the reference code, as in datatrove); drop a page
with fewer than 5 sentences left, with "lorem ipsum" or with a curly bracket. Seedbed does not
rewrite documents, so the line rules count what they would remove, and the page rules decide.

FineWeb (Penedo et al. 2024, "The FineWeb Datasets", https://arxiv.org/abs/2406.17557, section
3.5; thresholds of datatrove's `FineWebQualityFilter`): at least 12% of lines end in punctuation,
at most 67% of lines are <= 30 characters, duplicated lines cover at most 1% of characters, at
most 0.3 newlines per word.

Contract: `c4_batch` / `fineweb_batch(texts, config)` -> `rules.RuleOutput`; never raises on text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from engine.rules import Rule, check_batch, safe_ratio, tokens

END_PUNCTUATION = (".", "?", "!", '"', "'")
POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
# FineWeb's stop characters: terminal punctuation of many scripts (datatrove's TERMINAL_PUNCTUATION, abridged)
FINEWEB_STOPS = tuple(".!?\"'\u3002\uff01\uff1f\u0964\u061f\u06d4\u2026")

C4_RULES = (
    Rule("c4_min_sentences", "sentences_kept", "min", 5,
         "{value:.0f} sentences left after C4's line rules (needs at least {threshold:.0f})"),
    Rule("c4_lorem_ipsum", "lorem_ipsum", "max", 0, "contains 'lorem ipsum'"),
    Rule("c4_curly_bracket", "curly_bracket", "max", 0, "contains a curly bracket"),
)

FINEWEB_RULES = (
    Rule("fineweb_line_punct", "line_punct", "min", 0.12,
         "{pct:.0f}% of lines end in punctuation (needs at least {tpct:.0f}%)"),
    Rule("fineweb_short_lines", "short_lines", "max", 0.67,
         "{pct:.0f}% of lines have <= 30 characters (at most {tpct:.0f}%)"),
    Rule("fineweb_dup_line_chars", "dup_line_chars", "max", 0.01,
         "duplicated lines cover {pct:.1f}% of characters (at most {tpct:.0f}%)"),
    Rule("fineweb_newline_ratio", "newlines_per_word", "max", 0.3, "{value:.2f} newlines per word (at most {threshold})"),
)


@dataclass(frozen=True)
class C4Config:
    version: int = 1

    def key(self) -> str:
        return f"c4_rules:v{self.version}"


@dataclass(frozen=True)
class FineWebConfig:
    version: int = 1

    def key(self) -> str:
        return f"fineweb_rules:v{self.version}"


def _c4_keeps(line: str) -> bool:
    """Whether C4's line rules keep a (stripped) line."""
    words = line.split()
    if any(len(w) > 1000 for w in words):
        return False
    line = CITATION.sub("", line)
    if not line.endswith(END_PUNCTUATION) or line.endswith("...") or len(words) < 3:
        return False
    low = line.lower()
    return "javascript" not in low and not any(p in low for p in POLICY)


def c4_measures(text: str) -> dict:
    """Sentences in the lines C4 keeps, share of lines it drops, lorem ipsum and curly bracket (0/1)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    kept = [line for line in lines if _c4_keeps(line)]
    return {"sentences_kept": float(sum(max(1, len(SENTENCE_END.findall(line))) for line in kept)),
            "lines_dropped": safe_ratio(len(lines) - len(kept), len(lines)),
            "lorem_ipsum": float("lorem ipsum" in text.lower()), "curly_bracket": float("{" in text)}


def fineweb_measures(text: str) -> dict:
    """Share of non-empty lines ending in punctuation and of short ones, duplicated-line
    characters over all non-newline characters, newlines per word; NaN for an empty text."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return {r.measure: float("nan") for r in FINEWEB_RULES}
    seen, dup_chars = set(), 0
    for line in lines:
        dup_chars += len(line) if line in seen else 0
        seen.add(line)
    return {"line_punct": sum(line.endswith(FINEWEB_STOPS) for line in lines) / len(lines),
            "short_lines": sum(len(line) <= 30 for line in lines) / len(lines),
            "dup_line_chars": safe_ratio(dup_chars, len(text.replace("\n", ""))),
            "newlines_per_word": safe_ratio(text.count("\n"), len(tokens(text)))}


def c4_batch(texts, config: C4Config):  # noqa: ARG001 (no settings yet)
    return check_batch(texts, c4_measures, C4_RULES)


def fineweb_batch(texts, config: FineWebConfig):  # noqa: ARG001
    return check_batch(texts, fineweb_measures, FINEWEB_RULES)
