"""What the LLM2LLM teacher is asked and how its replies are read: the prompt built from a seed
the student got wrong, the retry prompt that feeds the parse error back, the relabelling prompt
of the label-consistency check, the strict reply format and its parser.

Small teachers write usable inputs but unreliable answers, so for classification the new example
keeps the seed's gold label and the teacher writes only a new input (unless `writes_label`); for
numeric tasks the teacher writes a worked answer that is checked in code.
"""
from __future__ import annotations

import ast
import operator
import re

from engine.llm2llm.tasks import Example, Task, final_number

_WRONG = ("Here is an example the student got WRONG.\n{example}\n"
          "The student's wrong answer: {wrong}\n\n")
_PLAIN = "Here is an example from the student's training data.\n{example}\n\n"
_CLASSIFY_FORMAT = "Reply with exactly one line in this format:\nText: <the new {noun}>"
_CLASSIFY_ASK = ("Write ONE new {noun} that tests the same concept and has the same correct label "
                 "({label}), with different surface details (other names, places, numbers, wording). ")
_LABEL_FORMAT = "Reply with exactly two lines in this format:\nText: <the new {noun}>\nLabel: <one of {labels}>"
_LABEL_ASK = "Write ONE new {noun} that tests the same concept, with different surface details, and give its label. "
_NUMERIC_FORMAT = ("Reply in exactly this format:\nQuestion: <the new problem>\n"
                   "Answer: <the solution, ending with a line '#### <number>'>")
_NUMERIC_ASK = ("Write ONE new math word problem that tests the same concept with different names and "
                "numbers, and solve it step by step. ")
_RETRY = "That reply cannot be used ({reason}). Write a new one. {format}"
_RELABEL = "Label the {noun} with exactly one of these labels:\n{labels}\n\n{noun_cap}: {text}\nAnswer with the label only."
_FINAL = re.compile(r"####\s*\$?\s*[-+]?\s*[\d,]*\.?\d+")


class ParseError(ValueError):
    """A teacher reply that does not follow the format; `reason` is the stored rejection reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def label_list(task: Task) -> str:
    """'ABBR (an abbreviation), DESC (...)' or 'negative, positive' when the task has no descriptions."""
    if not task.descriptions:
        return ", ".join(task.labels)
    return ", ".join(f"{label} ({about})" for label, about in zip(task.labels, task.descriptions))


def reply_format(task: Task, writes_label: bool = False) -> str:
    """The exact reply format the teacher must follow (also repeated in every retry)."""
    if task.kind != "classification":
        return _NUMERIC_FORMAT
    return (_LABEL_FORMAT if writes_label else _CLASSIFY_FORMAT).format(noun=task.noun, labels=", ".join(task.labels))


def teacher_messages(task: Task, seed: Example, wrong_answer: str | None, writes_label: bool = False) -> list[dict]:
    """The chat prompt for one seed: its input, its gold answer and the student's wrong answer.
    `wrong_answer` None (the random-seeds control arm) shows the seed without claiming an error."""
    if task.kind == "classification":
        about = f"label a {task.noun} with one of: {label_list(task)}."
        example = f"Text: {seed.input}\nCorrect label: {seed.output}"
        ask = (_LABEL_ASK if writes_label else _CLASSIFY_ASK).format(noun=task.noun, label=seed.output)
    else:
        about = "solve grade-school math word problems."
        example = f"Question: {seed.input}\nCorrect answer: {seed.output}"
        ask = _NUMERIC_ASK
    if wrong_answer is None:
        shown = _PLAIN.format(example=example)
    else:
        shown = _WRONG.format(example=example, wrong=(wrong_answer.strip() or "(no answer)")[:400])
    intro = f"You write training data for a student model. The task: {about}\n"
    return [{"role": "user", "content": intro + shown + ask + reply_format(task, writes_label)}]


def retry_messages(messages: list[dict], reply: str, reason: str, task: Task, writes_label: bool = False) -> list[dict]:
    """The conversation continued with the unusable reply and why it was rejected: the teacher
    sees its own mistake and the format again (a retry, not a fresh sample of the same prompt)."""
    ask = _RETRY.format(reason=reason, format=reply_format(task, writes_label))
    return messages + [{"role": "assistant", "content": (reply or "").strip()[:600] or "(empty)"},
                       {"role": "user", "content": ask}]


def relabel_messages(task: Task, text: str) -> list[dict]:
    """The label-consistency check's question: which label does this input have?"""
    labels = "\n".join(f"- {x}" for x in label_list(task).split(", ")) if not task.descriptions else "\n".join(
        f"- {label}: {about}" for label, about in zip(task.labels, task.descriptions))
    content = _RELABEL.format(noun=task.noun, noun_cap=task.noun[:1].upper() + task.noun[1:], labels=labels, text=text)
    return [{"role": "user", "content": content}]


def reply_prefix(task: Task) -> str:
    """The first field of the strict reply format, used to pre-fill local teachers' replies."""
    return "Text:" if task.kind == "classification" else "Question:"


def _field(raw: str, name: str) -> str | None:
    """Text after `name:` (case-insensitive) up to the end of its line."""
    m = re.search(rf"(?im)^\s*\**{name}\**\s*:\s*(.*)$", raw)
    return m.group(1).strip() if m else None


def parse_reply(task: Task, raw: str, seed: Example, writes_label: bool = False) -> tuple[str, str]:
    """(new input, new output) from a teacher reply, or ParseError(reason).

    Classification: a `Text:` line; the output is the seed's gold label, or with `writes_label` the
    `Label:` line, which must name one of the task's labels. Numeric: `Question:` then `Answer:`
    whose first `#### <number>` parses (what follows is dropped), with a worked solution before it
    and right `<<a*b=c>>` calculator notes.
    """
    if task.kind == "classification":
        return _parse_classification(task, raw, seed, writes_label)
    return _parse_numeric(raw)


def _parse_classification(task: Task, raw: str, seed: Example, writes_label: bool) -> tuple[str, str]:
    text = (_field(raw, "text") or "").strip(" \"'*")
    if not text or len(text.split()) < 3:
        raise ParseError("parse_failure: no 'Text:' line with at least 3 words")
    if text.lower() == seed.input.strip().lower():
        raise ParseError("parse_failure: the seed copied back")
    if not writes_label:
        return text, seed.output
    label = task.canonical_label((_field(raw, "label") or "").strip(" .*\"'"))
    if label is None:
        raise ParseError("invalid_label")
    return text, label


def _parse_numeric(raw: str) -> tuple[str, str]:
    question_at = re.search(r"(?im)^\s*\**question\**\s*:", raw)
    answer_at = re.search(r"(?im)^\s*\**answer\**\s*:", raw)
    if not question_at or not answer_at or answer_at.start() < question_at.start():
        raise ParseError("parse_failure: no 'Question:' followed by 'Answer:'")
    question = raw[question_at.end():answer_at.start()].strip()
    answer = raw[answer_at.end():].strip()
    final = _FINAL.search(answer)  # the answer ends at its first '#### <number>'; the rest is chatter
    if len(question.split()) < 5 or final is None:
        raise ParseError("parse_failure: empty question or no '#### <number>' in the answer")
    if re.search(r"(?im)^\s*\**(question|answer)\**\s*:", answer[:final.start()]):
        raise ParseError("parse_failure: a second 'Question:'/'Answer:' before the final '####'")
    if not re.search(r"\d", answer[:final.start()]):
        raise ParseError("parse_failure: no worked solution (no number) before '####'")
    answer = answer[:final.start()] + "#### " + _number_text(final_number(answer[:final.end()]))
    if not arithmetic_is_consistent(answer):
        raise ParseError("wrong_arithmetic")
    return question, answer


def _number_text(value) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.USub: operator.neg, ast.UAdd: operator.pos}


def _evaluate(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.operand))
    raise ValueError("unsupported expression")


def arithmetic_is_consistent(answer: str) -> bool:
    """Every GSM8K calculator note `<<expr=result>>` in `answer` evaluates to its result (±1e-6)."""
    for expr, result in re.findall(r"<<([^=<>]+)=([^<>]+)>>", answer):
        try:
            value = _evaluate(ast.parse(expr.replace(",", "").strip(), mode="eval").body)
            if abs(value - float(result.replace(",", "").strip())) > 1e-6 * max(1.0, abs(value)):
                return False
        except (ValueError, SyntaxError, ZeroDivisionError, TypeError):
            return False
    return True
