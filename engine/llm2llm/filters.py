"""Filters for teacher replies: every rejected candidate keeps the reason it was rejected.

Rules, in order: the request failed (`request_failed: ...`), the reply breaks the format
(`parse_failure: ...`, `invalid_label`, `wrong_arithmetic`, from `teacher.parse_reply`), or its new
input is a near-duplicate (ROUGE-L F >= threshold, 0.95 as in LLM2LLM / Self-Instruct) of any input
already in the data: seeds, accepted synthetic examples, and candidates accepted earlier in the
same batch.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from engine.llm2llm.tasks import Example, Task
from engine.llm2llm.teacher import ParseError, Reply, parse_reply

_TOKEN = re.compile(r"[a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokenisation: lowercase, runs of [a-z0-9] (no stemming)."""
    return _TOKEN.findall(text.lower())


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (O(len(a) * len(b)), one row of memory)."""
    if len(a) < len(b):
        a, b = b, a
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b, start=1):
            prev, row[j] = row[j], prev + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def rouge_l(a: list[str], b: list[str]) -> float:
    """ROUGE-L F1 between two token lists (symmetric; 0 when either is empty)."""
    if not a or not b:
        return 0.0
    lcs = lcs_length(a, b)
    return 0.0 if lcs == 0 else 2 * lcs / (len(a) + len(b))


class NearDuplicateIndex:
    """Inputs already in the data, queried for the most ROUGE-L-similar one.

    The exact LCS is computed only for texts that could reach the threshold: the LCS is at most
    the shared token multiset, so F1 <= 2 * |shared| / (len(a) + len(b)) prunes most pairs cheaply.
    """

    def __init__(self, threshold: float = 0.95):
        self.threshold = threshold
        self._rows: list[tuple[str, list[str], Counter]] = []

    def add(self, ident: str, text: str) -> None:
        tokens = rouge_tokens(text)
        self._rows.append((ident, tokens, Counter(tokens)))

    def nearest_duplicate(self, text: str) -> tuple[str, float] | None:
        """(id, ROUGE-L) of the first stored text with ROUGE-L >= threshold, else None."""
        tokens = rouge_tokens(text)
        bag, n = Counter(tokens), len(tokens)
        for ident, other, other_bag in self._rows:
            total = n + len(other)
            if not total or 2 * min(n, len(other)) / total < self.threshold:
                continue
            if 2 * sum((bag & other_bag).values()) / total < self.threshold:
                continue
            score = rouge_l(tokens, other)
            if score >= self.threshold or (not tokens and not other):
                return ident, score
        return None


@dataclass(frozen=True)
class Verdict:
    """A filtered candidate: the parsed (input, output) when parsable, and None or the reason."""
    input: str | None
    output: str | None
    reason: str | None

    @property
    def accepted(self) -> bool:
        return self.reason is None


def judge_reply(task: Task, reply: Reply, seed: Example, index: NearDuplicateIndex,
                ident: str, writes_label: bool = False) -> Verdict:
    """Apply every rule to one reply; an accepted reply's input is added to `index` under `ident`, so a
    later candidate cannot duplicate it."""
    if reply.raw is None:
        return Verdict(None, None, reply.error or "request_failed")
    try:
        new_input, new_output = parse_reply(task, reply.raw, seed, writes_label)
    except ParseError as e:
        return Verdict(None, None, e.reason)
    duplicate = index.nearest_duplicate(new_input)
    if duplicate:
        return Verdict(new_input, new_output, f"near_duplicate: rougeL={duplicate[1]:.2f} vs {duplicate[0]}")
    index.add(ident, new_input)
    return Verdict(new_input, new_output, None)
