"""Filters for teacher replies: named rules applied in order to a batch of candidates; every
rejected candidate keeps the reason (`<rule>: details`), which is stored and shown on the page.

1. `format` (`request_failed`, `parse_failure`, `invalid_label`, `wrong_arithmetic`): the request
   failed or the reply breaks the format (`prompts.parse_reply`; GSM8K calculator notes are checked).
2. `label_consistency` (classification): the new input is labelled again, by the teacher in a
   separate constrained call (default) or by the seed-trained student, and rejected
   (`label_mismatch`) when that label differs from the intended one.
3. `on_topic` (classification): rejected (`off_topic`) when its embedding is farther from its seed
   than from the nearest seed of another label.
4. `near_duplicate`: ROUGE-L F >= threshold (0.95 as in LLM2LLM / Self-Instruct) against any input
   already in the data: seeds, test rows, accepted synthetic examples, earlier accepted candidates.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from engine.llm2llm.prompts import ParseError, parse_reply
from engine.llm2llm.tasks import Example, Task
from engine.llm2llm.teacher import Reply

_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass
class Candidate:
    """One teacher reply for one parent seed on its way through the rules."""
    ident: str
    parent: Example
    reply: Reply
    input: str | None = None
    output: str | None = None
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.reason is None


def check_format(task: Task, batch: Sequence[Candidate], writes_label: bool = False) -> None:
    """Rule `format`: parse every reply (sets input/output) or store why it failed."""
    for c in batch:
        if c.reply.raw is None:
            c.reason = c.reply.error or "request_failed"
            continue
        try:
            c.input, c.output = parse_reply(task, c.reply.raw, c.parent, writes_label)
        except ParseError as e:
            c.reason = e.reason


Relabel = Callable[[list[str]], list[str | None]]  # inputs -> a label each (None: no answer)


def check_label_consistency(batch: Sequence[Candidate], relabel: Relabel, judge: str) -> None:
    """Rule `label_consistency`: reject a candidate whose input `relabel` labels differently from
    its intended output; `judge` names who relabelled (teacher / student) in the stored reason."""
    alive = [c for c in batch if c.accepted]
    if not alive:
        return
    for c, label in zip(alive, relabel([c.input for c in alive])):
        if label is None or label.strip().lower() != c.output.strip().lower():
            c.reason = f"label_mismatch: {judge} says {label or 'nothing'}, intended {c.output}"


Embed = Callable[[list[str]], np.ndarray]  # texts -> L2-normalised rows


class OnTopic:
    """Rule `on_topic`: a candidate must be nearer (cosine) to its own seed than to every seed
    of another label, so the teacher's rewrite still looks like its seed's class."""

    def __init__(self, seeds: Sequence[Example], embed: Embed):
        self.embed, self.seeds = embed, list(seeds)
        self.vectors = embed([s.input for s in self.seeds])
        self.row = {s.id: i for i, s in enumerate(self.seeds)}

    def check(self, batch: Sequence[Candidate]) -> None:
        alive = [c for c in batch if c.accepted and c.parent.id in self.row]
        if not alive:
            return
        sims = self.embed([c.input for c in alive]) @ self.vectors.T
        labels = np.array([s.output for s in self.seeds])
        for c, sim in zip(alive, sims):
            other = np.flatnonzero(labels != c.output)
            if not len(other):
                continue
            nearest = other[np.argmax(sim[other])]
            own = 1 - sim[self.row[c.parent.id]]
            if own > 1 - sim[nearest]:
                c.reason = (f"off_topic: distance {own:.2f} to its seed > {1 - sim[nearest]:.2f} to "
                            f"{self.seeds[nearest].id} ({self.seeds[nearest].output})")


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
    """Rule `near_duplicate`: inputs already in the data, queried for the most ROUGE-L-similar one.

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

    def check(self, batch: Sequence[Candidate]) -> None:
        """Reject duplicates in batch order; an accepted candidate joins the index."""
        for c in batch:
            if not c.accepted:
                continue
            duplicate = self.nearest_duplicate(c.input)
            if duplicate:
                c.reason = f"near_duplicate: rougeL={duplicate[1]:.2f} vs {duplicate[0]}"
            else:
                self.add(c.ident, c.input)


@dataclass
class Filters:
    """The rules of one augment stage, in order; `relabel`/`on_topic` None switches a rule off."""
    task: Task
    index: NearDuplicateIndex
    writes_label: bool = False
    relabel: Relabel | None = None
    relabel_judge: str = "teacher"
    on_topic: OnTopic | None = None

    def apply(self, batch: Sequence[Candidate]) -> None:
        check_format(self.task, batch, self.writes_label)
        if self.relabel is not None and self.task.kind == "classification":
            check_label_consistency(batch, self.relabel, self.relabel_judge)
        if self.on_topic is not None and self.task.kind == "classification":
            self.on_topic.check(batch)
        self.index.check(batch)


def judge_reply(task: Task, reply: Reply, seed: Example, index: NearDuplicateIndex,
                ident: str, writes_label: bool = False) -> Candidate:
    """The format and near-duplicate rules on one reply (the cheap rules, for tests and callers
    without models)."""
    candidate = Candidate(ident, seed, reply)
    Filters(task, index, writes_label).apply([candidate])
    return candidate
