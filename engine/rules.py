"""Heuristic rule signals: named thresholds over measured text statistics, with a reason per failure.

A rule set is a function `measure(text) -> {measure name: value}` and a tuple of `Rule`s; a
document fails a rule when its measured value is on the wrong side of the threshold. NaN means
"not applicable" (e.g. mean word length of a text with no words): such a rule neither passes nor
fails. The stored value of a rule set is the share of its applicable rules a document passes
(1.0 = passes all), so "fails any rule" is `value < 1` and the value still ranks documents.

Rule sets (the published thresholds; the implementations follow datatrove's filters, Apache-2.0,
which we do not call: its English word tokenizer needs NLTK data downloaded at run time):
- `engine.gopher`: Gopher quality and repetition rules, Rae et al. 2021, "Scaling Language
  Models: Methods, Analysis & Insights from Training Gopher", appendix A (Table A1).
- `engine.line_rules`: C4 (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a
  Unified Text-to-Text Transformer", section 2.2) and FineWeb (Penedo et al. 2024, "The FineWeb
  Datasets", section 3.5) line rules.

Texts longer than `MAX_CHARS` are measured on their first `MAX_CHARS` characters (flagged as
truncated; word counts are extrapolated), so a single 50 MB line costs what 200 kB do.
"""
from __future__ import annotations

import json
import math
import operator
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

MAX_CHARS = 200_000
WORD = re.compile(r"\w+|[^\w\s]+")  # words and runs of symbols, like a word tokenizer's output
_OPS = {"min": operator.ge, "max": operator.le}


@dataclass(frozen=True)
class Rule:
    """Passes when `measure op threshold` (op "min": >=, "max": <=); `reason` is a format string
    over `value`, `threshold` (and `pct`/`tpct`, both as percentages) saying why a document failed."""

    name: str
    measure: str
    op: str
    threshold: float
    reason: str

    def check(self, measures: dict) -> bool | None:
        """True pass, False fail, None not applicable (NaN measure)."""
        value = measures.get(self.measure, math.nan)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return bool(_OPS[self.op](value, self.threshold))

    def why(self, measures: dict) -> str:
        value = measures[self.measure]
        return self.reason.format(value=value, threshold=self.threshold, pct=100 * value, tpct=100 * self.threshold)


@dataclass
class RuleOutput:
    """A batch of checked documents: `values` (share of applicable rules passed, or a confidence),
    `truncated`, `label` (first failed rule or "", or a language code), `reason` (a sentence or ""),
    `failed` (every failed rule's name) and `detail` (the measures as JSON) per document."""

    values: np.ndarray
    truncated: np.ndarray
    label: list
    reason: list
    failed: list
    detail: list

    def __len__(self) -> int:
        return len(self.values)


def tokens(text: str) -> list[str]:
    return WORD.findall(text)


def head(text: str) -> tuple[str, bool]:
    """The part of `text` that is measured, and whether it was cut."""
    return (text[:MAX_CHARS], True) if len(text) > MAX_CHARS else (text, False)


def safe_ratio(num: float, den: float) -> float:
    """num / den, NaN when den is 0 (the rule over it is not applicable)."""
    return num / den if den else math.nan


def check_text(text: str, measure: Callable[[str], dict], rules: tuple[Rule, ...]) -> tuple:
    """(value, truncated, first failed name, its reason, all failed names, measures JSON) for one text."""
    part, cut = head(text if isinstance(text, str) else "")
    measures = measure(part)
    if cut and "n_words" in measures:  # word counts over the whole text, estimated from the head
        measures["n_words"] = measures["n_words"] * len(text) / len(part)
    verdicts = [(rule, rule.check(measures)) for rule in rules]
    applicable = [v for _, v in verdicts if v is not None]
    failed = [rule for rule, v in verdicts if v is False]
    value = sum(applicable) / len(applicable) if applicable else math.nan
    first = failed[0] if failed else None
    detail = json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else round(float(v), 4))
                         for k, v in measures.items()})
    reason = first.why(measures) if first else ("" if applicable else "not applicable: no text to measure")
    return (value, cut, first.name if first else "", reason,
            [r.name for r in failed], detail)


def check_batch(texts, measure: Callable[[str], dict], rules: tuple[Rule, ...]) -> RuleOutput:
    """`check_text` over a batch, as the stage's output."""
    rows = [check_text(t, measure, rules) for t in texts]
    cols = list(zip(*rows)) if rows else [()] * 6
    return RuleOutput(np.asarray(cols[0], np.float64), np.asarray(cols[1], bool), list(cols[2]),
                      list(cols[3]), [list(f) for f in cols[4]], list(cols[5]))


def rule_names(rules: tuple[Rule, ...]) -> list[str]:
    return [r.name for r in rules]
