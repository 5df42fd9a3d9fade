"""Tasks for LLM2LLM: a task is a prompt template plus an answer checker.

Two kinds are built in: `classification` over a fixed label set (TREC coarse labels, SST-2, or a
user's JSONL/CSV of (input, output) pairs) and `numeric` reasoning (GSM8K: the answer is the number
after `####`). Loaders read the bundled copies (`data/`, see SOURCES.md) or a user's files and return `Example` rows whose ids are
stable (`<split>-<line>`), so a resumed run and a rerun name the same rows the same way.
"""
from __future__ import annotations

import csv
import json
import lzma
import os
import random
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from engine.errors import UserError

BUILTIN_TASKS = ("trec", "sst2", "gsm8k", "jsonl")
TREC_LABELS = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
SST2_LABELS = ("negative", "positive")
TREC_DESCRIPTIONS = ("the question asks what an abbreviation stands for or the abbreviation of something",
                     "the question asks for a definition, description, manner or reason",
                     "the question asks for an entity: a thing, animal, colour, food, product, term, event ...",
                     "the question asks for a person, a group of people or an organisation",
                     "the question asks for a location: a city, country, mountain, place ...",
                     "the question asks for a number: a count, date, distance, money, speed, percentage ...")
SST2_DESCRIPTIONS = ("the sentence expresses a negative opinion of the movie",
                     "the sentence expresses a positive opinion of the movie")
_NUMBER = re.compile(r"####\s*\$?\s*([-+]?\s*[\d,]*\.?\d+)")

_CLASSIFY = ("Classify the text into exactly one of these labels: {labels}.\n"
             "Text: {input}\nAnswer with the label only.")
_NUMERIC = ("Solve the math word problem. Reason step by step, then give the final answer "
            "on the last line as '#### <number>'.\nProblem: {input}")


@dataclass(frozen=True)
class Example:
    """One (input, gold output) row; `id` is unique within a run."""
    id: str
    input: str
    output: str


@dataclass(frozen=True)
class Task:
    """Prompt template + checker. `labels` is set for classification, empty for numeric."""
    name: str
    kind: str  # "classification" | "numeric"
    labels: tuple[str, ...] = ()
    noun: str = "text"  # what an input is ("question"), so the teacher writes the right kind of text
    descriptions: tuple[str, ...] = ()  # one per label: what it means, for the teacher's prompts

    def prompt(self, text: str) -> str:
        """The student's user message for an input (same format in training and evaluation)."""
        if self.kind == "classification":
            return _CLASSIFY.format(labels=", ".join(self.labels), input=text)
        return _NUMERIC.format(input=text)

    def is_correct(self, prediction: str, gold: str) -> bool:
        """Classification: label name exactly, case-insensitive, after stripping whitespace.
        Numeric: the number after `####` in both equals (sign kept, commas removed)."""
        if self.kind == "classification":
            return prediction.strip().lower() == gold.strip().lower()
        pred, ref = final_number(prediction), final_number(gold)
        return pred is not None and ref is not None and pred == ref

    def canonical_label(self, text: str) -> str | None:
        """The label from the task's set that `text` names (case-insensitive), else None."""
        by_lower = {label.lower(): label for label in self.labels}
        return by_lower.get(text.strip().lower())


def final_number(text: str) -> Decimal | None:
    """The number after the first `####` (as lm-eval-harness takes it: what a model writes after its
    answer is chatter), sign kept, commas (and a leading `$`) removed; None if absent."""
    found = _NUMBER.search(text or "")
    if not found:
        return None
    try:
        return Decimal(found.group(1).replace(",", "").replace(" ", ""))
    except InvalidOperation:
        return None


BUNDLED_DATA = Path(__file__).resolve().parent / "data"  # xz copies, licences: data/SOURCES.md


def default_data_dir() -> Path:
    """`$SEEDBED_DATA` when set, else the task data bundled with the engine."""
    env = os.environ.get("SEEDBED_DATA")
    return Path(env) if env else BUNDLED_DATA


def _lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """A text file's lines; `name` may be stored as `name.xz` (the bundled copies are)."""
    packed = path.with_name(path.name + ".xz")
    if not path.is_file() and packed.is_file():
        return lzma.decompress(packed.read_bytes()).decode(encoding).splitlines()
    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    # TREC's train file is ISO-8859-1 (one 0xF0 byte); latin-1 never fails to decode.
    return path.read_text(encoding=encoding).splitlines()


def load_trec(path: Path, split: str) -> list[Example]:
    """TREC `COARSE:fine question tokens` lines -> examples labelled with the coarse label."""
    rows = []
    for n, line in enumerate(_lines(Path(path), "latin-1"), start=1):
        if not line.strip():
            continue
        label, _, rest = line.partition(":")
        fine, _, question = rest.partition(" ")
        if label not in TREC_LABELS or not question.strip():
            raise UserError(f"{path}:{n}: expected 'COARSE:fine question', got {line[:60]!r}")
        rows.append(Example(f"{split}-{n}", question.strip(), label))
    return rows


def load_sst2(path: Path, split: str) -> list[Example]:
    """SST-2 `0|1 sentence` lines -> examples labelled negative/positive."""
    rows = []
    for n, line in enumerate(_lines(Path(path)), start=1):
        if not line.strip():
            continue
        label, _, sentence = line.partition(" ")
        if label not in ("0", "1") or not sentence.strip():
            raise UserError(f"{path}:{n}: expected '0|1 sentence', got {line[:60]!r}")
        rows.append(Example(f"{split}-{n}", sentence.strip(), SST2_LABELS[int(label)]))
    return rows


def load_gsm8k(path: Path, split: str) -> list[Example]:
    """GSM8K JSONL `{"question", "answer"}`; the answer must end in `#### <number>`."""
    rows = []
    for n, line in enumerate(_lines(Path(path)), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            question, answer = obj["question"], obj["answer"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise UserError(f"{path}:{n}: expected JSON with 'question' and 'answer' ({e})") from None
        if final_number(answer) is None:
            raise UserError(f"{path}:{n}: answer has no '#### <number>'")
        rows.append(Example(f"{split}-{n}", question.strip(), answer.strip()))
    return rows


def load_pairs(path: Path, split: str) -> list[Example]:
    """A JSONL or CSV file of (input, output) rows (CSV needs a header with both columns)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise UserError(f"data file not found: {path}")
        with path.open(newline="", encoding="utf-8") as f:
            records = [(n, r) for n, r in enumerate(csv.DictReader(f), start=2)]
    else:
        records = []
        for n, line in enumerate(_lines(path), start=1):
            if line.strip():
                try:
                    records.append((n, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise UserError(f"{path}:{n}: not valid JSON ({e.msg})") from None
    rows = []
    for n, rec in records:
        if not isinstance(rec, dict) or not str(rec.get("input") or "").strip() or rec.get("output") is None:
            raise UserError(f"{path}:{n}: expected non-empty 'input' and 'output'")
        rows.append(Example(f"{split}-{n}", str(rec["input"]).strip(), str(rec["output"]).strip()))
    return rows


_DEFAULT_FILES = {
    "trec": ("trec/train_5500.label", "trec/TREC_10.label", load_trec),
    "sst2": ("sst2/stsa.binary.train", "sst2/stsa.binary.test", load_sst2),
    "gsm8k": ("gsm8k/train.jsonl", "gsm8k/test.jsonl", load_gsm8k),
}


def load_task(name: str, train: str | None = None, test: str | None = None,
              labels: tuple[str, ...] = ()) -> tuple[Task, list[Example], list[Example]]:
    """(task, train rows, test rows) for a built-in task or `jsonl` (JSONL/CSV pairs).

    For `jsonl` the label set is `labels`, else the distinct outputs of the train file; every
    output in either file must be one of them.
    """
    if name in _DEFAULT_FILES:
        train_default, test_default, loader = _DEFAULT_FILES[name]
        data = default_data_dir()
        train_rows = loader(Path(train) if train else data / train_default, "train")
        test_rows = loader(Path(test) if test else data / test_default, "test")
        if name == "gsm8k":
            return Task("gsm8k", "numeric"), train_rows, test_rows
        if name == "trec":
            return Task("trec", "classification", TREC_LABELS, "question", TREC_DESCRIPTIONS), train_rows, test_rows
        return (Task("sst2", "classification", SST2_LABELS, "movie review sentence", SST2_DESCRIPTIONS),
                train_rows, test_rows)
    if name != "jsonl":
        raise UserError(f"unknown task '{name}' (choose from {', '.join(BUILTIN_TASKS)})")
    if not train or not test:
        raise UserError("task 'jsonl' needs --train FILE and --test FILE")
    train_rows, test_rows = load_pairs(Path(train), "train"), load_pairs(Path(test), "test")
    label_set = tuple(labels) or tuple(sorted({r.output for r in train_rows}))
    task = Task("jsonl", "classification", label_set)
    for path, rows in ((train, train_rows), (test, test_rows)):
        for r in rows:
            if task.canonical_label(r.output) is None:
                line = r.id.rsplit("-", 1)[-1]
                raise UserError(f"{path}:{line}: label {r.output!r} is not one of {', '.join(label_set)}")
    return task, train_rows, test_rows


def check_sizes(train_rows: list[Example], test_rows: list[Example], seed_size: float,
                train_path: str | None = None, test_path: str | None = None) -> None:
    """One clear error for an empty train or test set, or more seeds asked than train rows."""
    if not test_rows:
        raise UserError(f"{test_path or 'test file'}: the test set is empty")
    if not train_rows:
        raise UserError(f"{train_path or 'train file'}: the train set is empty")
    if seed_size > 1 and int(seed_size) > len(train_rows):
        raise UserError(f"seed size {int(seed_size)} is larger than the train set ({len(train_rows)} rows"
                        + (f" in {train_path})" if train_path else ")"))


def sample_rows(rows: list[Example], size: float | int | None, seed: int) -> list[Example]:
    """A seeded sample in original order: `size` in (0, 1] is a fraction, an integer > 1 a count,
    None (or more than there are) keeps every row."""
    if size is None or size >= len(rows):
        return list(rows)
    if size <= 0:
        raise UserError(f"sample size must be positive, got {size}")
    count = max(1, round(size * len(rows))) if size <= 1 and isinstance(size, float) else int(size)
    keep = set(random.Random(seed).sample(range(len(rows)), min(count, len(rows))))
    return [r for i, r in enumerate(rows) if i in keep]
