"""The LLM2LLM teacher: the prompt built from a seed the student got wrong, the strict reply
format and its parser, and two backends (a local Hugging Face model, or any OpenAI-compatible chat
endpoint: vLLM, Ollama, llama.cpp server, OpenAI).

Tiny offline teachers write usable inputs but unreliable answers, so for classification the new
example keeps the seed's gold label and the teacher writes only a new input (unless
`writes_label`); for numeric tasks the teacher writes a worked answer that is checked in code.
"""
from __future__ import annotations

import ast
import asyncio
import operator
import os
import re
from dataclasses import dataclass

from engine.errors import UserError
from engine.llm2llm.tasks import Example, Task, final_number
from engine.teacher_endpoints import key_env_for

_INTRO = ("You write training data for a student model. The task: {task}\n"
          "Here is an example the student got WRONG.\n{example}\n"
          "The student's wrong answer: {wrong}\n\n")
_CLASSIFY_ASK = ("Write ONE new {noun} that tests the same concept and has the same correct label "
                 "({label}), with different surface details (other names, places, numbers, wording). "
                 "Reply with exactly one line in this format:\nText: <the new {noun}>")
_LABEL_ASK = ("Write ONE new {noun} that tests the same concept, with different surface details, and "
              "give its label. Reply with exactly two lines in this format:\nText: <the new {noun}>\n"
              "Label: <one of {labels}>")
_NUMERIC_ASK = ("Write ONE new math word problem that tests the same concept with different names and "
                "numbers, and solve it step by step. Reply in exactly this format:\n"
                "Question: <the new problem>\nAnswer: <the solution, ending with a line '#### <number>'>")


_FINAL = re.compile(r"####\s*\$?\s*[-+]?\s*[\d,]*\.?\d+")


class ParseError(ValueError):
    """A teacher reply that does not follow the format; `reason` is the stored rejection reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Reply:
    """One teacher request's outcome: the raw text, or the error after every retry failed."""
    raw: str | None
    error: str | None = None


def teacher_messages(task: Task, seed: Example, wrong_answer: str, writes_label: bool = False) -> list[dict]:
    """The chat prompt for one wrong seed: its input, its gold answer and the student's wrong answer."""
    if task.kind == "classification":
        example = f"Text: {seed.input}\nCorrect label: {seed.output}"
        template = _LABEL_ASK if writes_label else _CLASSIFY_ASK
        ask = template.format(labels=", ".join(task.labels), label=seed.output, noun=task.noun)
        about = f"label a {task.noun} with one of: {', '.join(task.labels)}."
    else:
        example = f"Question: {seed.input}\nCorrect answer: {seed.output}"
        ask, about = _NUMERIC_ASK, "solve grade-school math word problems."
    wrong = (wrong_answer or "").strip() or "(no answer)"
    return [{"role": "user", "content": _INTRO.format(task=about, example=example, wrong=wrong[:400]) + ask}]


def reply_prefix(task: Task) -> str:
    """The first field of the strict reply format, used to pre-fill local teachers' replies."""
    return "Text:" if task.kind == "classification" else "Question:"


def _field(raw: str, name: str, multiline: bool = False) -> str | None:
    """Text after `name:` (case-insensitive) up to the next line (or to the end when `multiline`)."""
    m = re.search(rf"(?im)^\s*\**{name}\**\s*:\s*(.*)$", raw)
    if not m:
        return None
    text = raw[m.start(1):] if multiline else m.group(1)
    return text.strip()


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
    text = _field(raw, "text")
    if not text or len(text.split()) < 3:
        raise ParseError("parse_failure: no 'Text:' line with at least 3 words")
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


@dataclass
class TeacherSettings:
    """How the teacher is called. `model` is a packaged alias, HF id, folder or GGUF, or an
    OpenAI-compatible base URL (http(s)://.../v1) together with `endpoint_model`."""
    model: str = "smollm2-135m-instruct"
    endpoint_model: str = ""
    api_key_env: str = ""  # only for an endpoint configured in $SEEDBED_TEACHER_ENDPOINTS
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 0  # 0: 48 for classification (one line), 320 for a worked numeric answer
    batch_size: int = 8
    concurrency: int = 8
    timeout_s: float = 60.0
    retries: int = 3


class LocalTeacher:
    """A local Hugging Face causal LM (memoised by `engine.models.load_lm`), sampled in batches."""

    def __init__(self, settings: TeacherSettings):
        self.settings, self.name = settings, settings.model

    def generate(self, prompts: list[list[dict]], seed: int, prefix: str = "",
                 one_line: bool = False) -> list[Reply]:
        """Sampled replies, one per prompt; `seed` fixes the sampling of this call. The reply is
        pre-filled with `prefix` (tiny models then keep the format) and stops at the first newline
        when `one_line`; returned texts start with `prefix`."""
        import torch

        from engine.models import load_lm

        model, tok = load_lm(self.settings.model)
        texts = [render_chat(tok, p) + prefix for p in prompts]
        stop = dict(stop_strings=["\n"], tokenizer=tok) if one_line else {}
        replies: list[Reply] = []
        for start in range(0, len(texts), self.settings.batch_size):
            torch.manual_seed(seed + start)
            enc = tok(texts[start:start + self.settings.batch_size], return_tensors="pt",
                      padding=True, add_special_tokens=False).to(model.device)
            with torch.no_grad():
                out = model.generate(**enc, do_sample=True, temperature=self.settings.temperature,
                                     top_p=self.settings.top_p, max_new_tokens=self.settings.max_new_tokens or 128,
                                     pad_token_id=tok.pad_token_id, **stop)
            new = out[:, enc["input_ids"].shape[1]:]
            replies += [Reply(prefix + t) for t in tok.batch_decode(new, skip_special_tokens=True)]
        return replies


def render_chat(tok, messages: list[dict]) -> str:
    """The generation prompt: the chat template when the tokenizer has one, else the plain text."""
    if getattr(tok, "chat_template", None):
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    body = "\n\n".join(m["content"] for m in messages) + "\n"  # base model: plain prompt after BOS
    return (tok.bos_token or "") + body


class EndpointTeacher:
    """An OpenAI-compatible `/chat/completions` endpoint, called concurrently with timeouts and
    retries (exponential backoff); a request that still fails comes back as `Reply(None, error)`."""

    def __init__(self, settings: TeacherSettings):
        if not settings.endpoint_model:
            raise UserError("an endpoint teacher needs a model name (--teacher-model)")
        self.settings = settings
        self.url = settings.model.rstrip("/") + "/chat/completions"
        self.key_env = key_env_for(settings.model, settings.api_key_env)  # keys go to configured endpoints only
        self.name = f"{settings.model}#{settings.endpoint_model}"

    def generate(self, prompts: list[list[dict]], seed: int, prefix: str = "",
                 one_line: bool = False) -> list[Reply]:
        """Replies in prompt order (chat endpoints cannot be pre-filled: `prefix` and `one_line`
        are hints for local models only; the parser finds the field anywhere in the reply)."""
        return asyncio.run(self._all(prompts, seed))

    async def _all(self, prompts, seed):
        import httpx

        key = os.environ.get(self.key_env, "") if self.key_env else ""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        gate = asyncio.Semaphore(max(1, self.settings.concurrency))
        async with httpx.AsyncClient(timeout=self.settings.timeout_s, headers=headers) as client:
            return await asyncio.gather(*(self._one(client, gate, p, seed + i) for i, p in enumerate(prompts)))

    async def _one(self, client, gate, messages, seed) -> Reply:
        import httpx

        body = {"model": self.settings.endpoint_model, "messages": messages, "seed": seed,
                "temperature": self.settings.temperature, "top_p": self.settings.top_p,
                "max_tokens": self.settings.max_new_tokens or 128}
        error = "no attempt"
        for attempt in range(self.settings.retries + 1):
            if attempt:
                await asyncio.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)))
            async with gate:
                try:
                    resp = await client.post(self.url, json=body)
                    if resp.status_code == 200:
                        return Reply(resp.json()["choices"][0]["message"]["content"] or "")
                    error = f"HTTP {resp.status_code}: {resp.text[:200]}"
                    if resp.status_code in (400, 401, 403, 404):  # retrying cannot fix these
                        break
                except (httpx.HTTPError, KeyError, IndexError, ValueError) as e:
                    error = f"{type(e).__name__}: {e}"[:300]
        return Reply(None, f"request_failed: {error}")


def make_teacher(settings: TeacherSettings):
    """EndpointTeacher for an http(s) URL, else LocalTeacher."""
    if settings.model.startswith(("http://", "https://")):
        return EndpointTeacher(settings)
    return LocalTeacher(settings)
