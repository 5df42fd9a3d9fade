"""Gopher quality and repetition rules (Rae et al. 2021, "Scaling Language Models: Methods,
Analysis & Insights from Training Gopher", https://arxiv.org/abs/2112.11446, appendix A.1.1 and
Table A1), as two rule signals (`engine.rules`). Thresholds are the paper's; the measures follow
datatrove's `GopherQualityFilter` / `GopherRepetitionFilter` with a regex tokenizer (words and
symbol runs) instead of NLTK's, and stop words matched case-insensitively.

Contract: `quality_batch(texts, config)` / `repetition_batch(texts, config)` -> `rules.RuleOutput`;
any string (empty, binary, non-Latin, 50 MB) gives values, never an exception.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from engine.rules import Rule, check_batch, safe_ratio, tokens

STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})

QUALITY_RULES = (
    Rule("gopher_min_words", "n_words", "min", 50, "{value:.0f} words (needs at least {threshold:.0f})"),
    Rule("gopher_max_words", "n_words", "max", 100_000, "{value:.0f} words (at most {threshold:.0f})"),
    Rule("gopher_min_mean_word_length", "mean_word_length", "min", 3,
         "mean word length {value:.1f} characters (needs at least {threshold:.0f})"),
    Rule("gopher_max_mean_word_length", "mean_word_length", "max", 10,
         "mean word length {value:.1f} characters (at most {threshold:.0f})"),
    Rule("gopher_hash_ratio", "hash_per_word", "max", 0.1, "{value:.2f} '#' per word (at most {threshold})"),
    Rule("gopher_ellipsis_ratio", "ellipsis_per_word", "max", 0.1,
         "{value:.2f} ellipses per word (at most {threshold})"),
    Rule("gopher_bullet_lines", "bullet_lines", "max", 0.9, "{pct:.0f}% of lines start with a bullet (at most {tpct:.0f}%)"),
    Rule("gopher_ellipsis_lines", "ellipsis_lines", "max", 0.3,
         "{pct:.0f}% of lines end with an ellipsis (at most {tpct:.0f}%)"),
    Rule("gopher_alpha_words", "alpha_words", "min", 0.8,
         "{pct:.0f}% of words contain a letter (needs at least {tpct:.0f}%)"),
    Rule("gopher_stop_words", "stop_words", "min", 2,
         "{value:.0f} of the stop words the/be/to/of/and/that/have/with (needs at least {threshold:.0f})"),
)

REPETITION_RULES = (
    Rule("gopher_dup_para_frac", "dup_para_frac", "max", 0.30, "{pct:.0f}% of paragraphs are duplicates (at most {tpct:.0f}%)"),
    Rule("gopher_dup_para_chars", "dup_para_chars", "max", 0.20,
         "duplicated paragraphs cover {pct:.0f}% of characters (at most {tpct:.0f}%)"),
    Rule("gopher_dup_line_frac", "dup_line_frac", "max", 0.30, "{pct:.0f}% of lines are duplicates (at most {tpct:.0f}%)"),
    Rule("gopher_dup_line_chars", "dup_line_chars", "max", 0.20,
         "duplicated lines cover {pct:.0f}% of characters (at most {tpct:.0f}%)"),
    *(Rule(f"gopher_top_{n}gram", f"top_{n}gram", "max", t,
           f"top {n}-gram covers {{pct:.0f}}% of characters (at most {{tpct:.0f}}%)")
      for n, t in ((2, 0.20), (3, 0.18), (4, 0.16))),
    *(Rule(f"gopher_dup_{n}gram", f"dup_{n}gram", "max", t,
           f"duplicated {n}-grams cover {{pct:.0f}}% of characters (at most {{tpct:.0f}}%)")
      for n, t in ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))),
)


@dataclass(frozen=True)
class GopherQualityConfig:
    """No settings: the paper's thresholds. `key()` names the rule version."""

    version: int = 1

    def key(self) -> str:
        return f"gopher_quality:v{self.version}"


@dataclass(frozen=True)
class GopherRepetitionConfig:
    version: int = 1

    def key(self) -> str:
        return f"gopher_repetition:v{self.version}"


_REAL = re.compile(r"\w+")  # the tokenizer's words (its other tokens are runs of symbols)
_SYMBOL_RUN = re.compile(r"[^\w\s]+")


def _has_letter(word: str) -> bool:
    return word.isalpha() or any(c.isalpha() for c in word)  # the fast path covers most words


def quality_measures(text: str) -> dict:
    """Word count, mean word length, symbol/word ratios, bullet/ellipsis line shares, share of
    words with a letter, number of distinct stop words. Counted with C-level regex scans (the
    same tokens as `rules.tokens`: words and symbol runs)."""
    real = _REAL.findall(text)
    n = len(real) + len(_SYMBOL_RUN.findall(text))  # every token
    lines = text.splitlines() or [""]
    return {
        "n_words": float(len(real)),
        "mean_word_length": safe_ratio(sum(map(len, real)), len(real)),
        "hash_per_word": safe_ratio(text.count("#"), n),
        "ellipsis_per_word": safe_ratio(text.count("...") + text.count("\u2026"), n),
        "bullet_lines": sum(s.lstrip().startswith(("\u2022", "-")) for s in lines) / len(lines),
        "ellipsis_lines": sum(s.rstrip().endswith(("...", "\u2026")) for s in lines) / len(lines),
        "alpha_words": safe_ratio(sum(map(_has_letter, real)), n),  # symbol runs hold no letters
        "stop_words": float(len(STOP_WORDS.intersection(w.lower() for w in real))),
    }


def _duplicates(parts: list[str]) -> tuple[int, int]:
    """(number of elements seen before, their characters)."""
    seen, n, chars = set(), 0, 0
    for p in parts:
        if p in seen:
            n, chars = n + 1, chars + len(p)
        else:
            seen.add(p)
    return n, chars


def _gram_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """One 64-bit hash per word n-gram (polynomial over word ids, wrapping): n-grams compared as integers."""
    h = np.zeros(len(ids) - n + 1, np.uint64)
    for j in range(n):
        h = h * np.uint64(1_000_003) + ids[j:len(ids) - n + 1 + j]
    return h


def _top_ngram_chars(h: np.ndarray, starts: np.ndarray, n: int) -> int:
    """Characters covered by the most frequent n-gram: its length (words joined by spaces) x count."""
    if not len(h):
        return 0
    _, first, counts = np.unique(h, return_index=True, return_counts=True)
    i = int(first[counts == counts.max()].min())  # ties: the n-gram seen first, as Counter.most_common
    return int(starts[i + n] - starts[i] + n - 1) * int(counts.max())


def _dup_ngram_chars(h: np.ndarray, starts: np.ndarray, n: int) -> int:
    """Characters of the words inside n-grams seen earlier (a repeated n-gram skips ahead n words,
    as datatrove's `find_all_duplicate`)."""
    seen, chars, i, grams = set(), 0, 0, h.tolist()
    while i < len(grams):
        if grams[i] in seen:
            chars, i = chars + int(starts[i + n] - starts[i]), i + n
        else:
            seen.add(grams[i])
            i += 1
    return chars


def repetition_measures(text: str) -> dict:
    """Duplicate paragraph/line shares (by count and characters), top 2/3/4-gram and duplicated
    5..10-gram character shares; NaN for an empty text."""
    if not text.strip():
        return {r.measure: float("nan") for r in REPETITION_RULES}
    paragraphs = re.split(r"\n{2,}", text.strip())
    lines = [line for line in re.split(r"\n+", text) if line]
    out = {}
    for name, parts in (("para", paragraphs), ("line", lines)):
        n, chars = _duplicates(parts)
        out[f"dup_{name}_frac"], out[f"dup_{name}_chars"] = safe_ratio(n, len(parts)), chars / len(text)
    words = tokens(text)
    vocab: dict[str, int] = {}
    ids = np.fromiter((vocab.setdefault(w, len(vocab) + 1) for w in words), np.uint64, len(words))
    starts = np.concatenate([[0], np.cumsum([len(w) for w in words])])  # characters before word i
    for n in range(2, 11):
        h = _gram_hashes(ids, n) if len(ids) >= n else np.zeros(0, np.uint64)
        if n <= 4:  # symbol runs have no spaces between them: cap at the whole text
            out[f"top_{n}gram"] = min(1.0, _top_ngram_chars(h, starts, n) / len(text))
        if n >= 5:
            out[f"dup_{n}gram"] = _dup_ngram_chars(h, starts, n) / len(text)
    return out


def quality_batch(texts, config: GopherQualityConfig):  # noqa: ARG001 (no settings yet)
    return check_batch(texts, quality_measures, QUALITY_RULES)


def repetition_batch(texts, config: GopherRepetitionConfig):  # noqa: ARG001
    return check_batch(texts, repetition_measures, REPETITION_RULES)
