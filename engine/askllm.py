"""Ask-LLM quality scoring (Sachdeva et al. 2024, "How to Train Data-Efficient LLMs", arXiv 2402.09668).

A judge LM reads a document inside the paper's prompt and the score is P(yes) / (P(yes) + P(no))
taken from its NEXT-TOKEN distribution (never from generated text). Optional lifts for small
judges: contextual calibration against content-free inputs (Zhao et al. 2021, "Calibrate Before
Use", arXiv 2102.09690) and one good + one bad in-prompt example in either order.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from engine.batching import (causal_position_ids, chunk_docs, device_batches, inference_mode, pad_rows,
                             prefetched, to_device)
from engine.errors import UserError
from engine.models import DEFAULT_JUDGE, load_lm, model_fingerprint

if TYPE_CHECKING:
    import torch

_QUESTION = (
    "Does the previous paragraph demarcated within ### and ### contain informative signal for "
    "pre-training a large-language model? An informative datapoint should be well-formatted, "
    "contain some usable knowledge of the world, and strictly NOT have any harmful, racist, "
    "sexist, etc. content."
)
# {text} is the document; few-shot answers are appended right after the template text.
TEMPLATES: dict[str, str] = {
    "paper": "###\n{text}\n###\n\n" + _QUESTION + "\n\nOPTIONS:\n- yes\n- no",  # paper, p. 4
    "paper-answer": "###\n{text}\n###\n\n" + _QUESTION + "\n\nOPTIONS:\n- yes\n- no\nAnswer:",
    "paper-inline": "###\n{text}\n###\n\n" + _QUESTION + "\n\nOPTIONS: yes / no\nANSWER:",
    # ours: names what a web curator removes; best with Qwen2.5-Coder-1.5B + chat (bench/results/quality_auc.md)
    "content": "###\n{text}\n###\n\nIs the text above informative, well-written content (not navigation menus, "
               "ads, boilerplate or spam)? Answer yes or no.\nANSWER:",
}
FEW_SHOT_GOOD = (
    "The mitochondrion is an organelle found in most eukaryotic cells. It produces most of the "
    "cell's supply of adenosine triphosphate (ATP), which is used as a source of chemical energy."
)
FEW_SHOT_BAD = (
    "Home | About | Contact | Login. Click here to subscribe!!! Best cheap deals 2019 buy now "
    "free shipping casino bonus >>> Copyright All rights reserved."
)
FEW_SHOT_ORDERS = {"none": (), "good-bad": ((FEW_SHOT_GOOD, "yes"), (FEW_SHOT_BAD, "no")),
                   "bad-good": ((FEW_SHOT_BAD, "no"), (FEW_SHOT_GOOD, "yes"))}
CONTENT_FREE = ("N/A", "", "[MASK]")  # Zhao et al. 2021's content-free inputs
_YES = ("yes", "Yes", "YES", " yes", " Yes", " YES")
_NO = ("no", "No", "NO", " no", " No", " NO")


@dataclass(frozen=True)
class AskLLMConfig:
    """How to ask the judge. `key()` names the scores these settings produce (the storage key)."""

    model: str = DEFAULT_JUDGE
    template: str = "paper-inline"  # best plain prompt for the default judge: bench/results/quality_auc.md
    few_shot: str = "none"  # "none" | "good-bad" | "bad-good": one example of each, in that order
    max_doc_tokens: int = 512  # longer documents are cut (flagged `truncated`)
    batch_size: int = 16  # rows per batch on CPU; not part of the key
    batch_tokens: int = 32768  # padded tokens per batch on CUDA (H100: bigger no longer helps); not in the key
    use_chat_template: bool = True  # only applies when the tokenizer has one
    calibrate: bool = True  # subtract the content-free log-odds: same ranking, a meaningful 0.5 cut
    device: str | None = None  # None: cuda when available; not part of the key

    def __post_init__(self):
        if self.template not in TEMPLATES:
            raise UserError(f"unknown Ask-LLM template '{self.template}'; choose from {sorted(TEMPLATES)}")
        if self.few_shot not in FEW_SHOT_ORDERS:
            raise UserError(f"unknown few_shot '{self.few_shot}'; choose from {sorted(FEW_SHOT_ORDERS)}")
        if min(self.max_doc_tokens, self.batch_size, self.batch_tokens) < 1:
            raise UserError("max_doc_tokens, batch_size and batch_tokens must be >= 1")

    def key(self) -> str:
        """Stable id: model fingerprint + template hash + every result-changing non-default."""
        prompt = TEMPLATES[self.template] + repr(FEW_SHOT_ORDERS[self.few_shot]) + repr(CONTENT_FREE)
        digest = hashlib.sha1(prompt.encode()).hexdigest()[:8]
        extras = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self)
                  if f.name not in {"model", "template", "batch_size", "batch_tokens", "device"}
                  and getattr(self, f.name) != f.default]
        return ":".join(["askllm", model_fingerprint(self.model), f"{self.template}-{digest}", *extras])


def answer_token_ids(tok) -> tuple[list[int], list[int]]:
    """Ids of the yes / no surface variants that are one token each (else their first tokens,
    e.g. for a tokenizer that splits every variant); ids shared by both sides are dropped."""
    def first_ids(words):
        encoded = [tok(w, add_special_tokens=False)["input_ids"] for w in words]
        single = {ids[0] for ids in encoded if len(ids) == 1}  # "Y" of "YES" would also start "You"
        return single or {ids[0] for ids in encoded if ids}
    yes, no = first_ids(_YES), first_ids(_NO)
    yes, no = sorted(yes - no), sorted(no - yes)
    if not yes or not no:
        raise UserError("the judge's tokenizer cannot tell 'yes' from 'no' by first token")
    return yes, no


def _truncate(tok, texts: list[str], max_tokens: int) -> tuple[list[str], np.ndarray]:
    ids = tok(list(texts), add_special_tokens=False)["input_ids"]
    flags = np.array([len(x) > max_tokens for x in ids], dtype=bool)
    cut = [tok.decode(x[:max_tokens]) if f else t for t, x, f in zip(texts, ids, flags)]
    return cut, flags


def build_prompt(text: str, config: AskLLMConfig, tok, seq2seq: bool = False) -> tuple[str, bool]:
    """The full prompt for one (already truncated) document; returns (prompt, has_special_tokens)."""
    template = TEMPLATES[config.template]
    shots = FEW_SHOT_ORDERS[config.few_shot]
    if config.use_chat_template and not seq2seq and getattr(tok, "chat_template", None):
        messages = []
        for example, answer in shots:
            messages += [{"role": "user", "content": template.format(text=example)},
                         {"role": "assistant", "content": answer}]
        messages.append({"role": "user", "content": template.format(text=text)})
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), True
    sep = " " if template.endswith(":") else "\n"
    parts = [template.format(text=example) + sep + answer for example, answer in shots]
    return "\n\n".join(parts + [template.format(text=text)]), False


def _encode_prompts(texts: list[str], config: AskLLMConfig, tok, seq2seq: bool) -> list[list[int]]:
    built = [build_prompt(t, config, tok, seq2seq) for t in texts]
    return tok([p for p, _ in built], add_special_tokens=not built[0][1])["input_ids"]


def prompt_ids(texts: list[str], config: AskLLMConfig, tok, seq2seq: bool) -> tuple[list[list[int]], np.ndarray]:
    """Token ids of the full prompts for `texts` (documents cut to max_doc_tokens), truncated flags."""
    cut, truncated = _truncate(tok, texts, config.max_doc_tokens)
    return _encode_prompts(cut, config, tok, seq2seq), truncated


def _answer_logits(model, ids: torch.Tensor, mask: torch.Tensor, seq2seq: bool) -> torch.Tensor:
    """Next-token logits (rows, vocab) at the answer position: the first decoder step (seq2seq)
    or the last prompt token (causal, left-padded; only that position's logits are computed)."""
    import torch  # noqa: PLC0415 (lazy: engine.batching)

    if seq2seq:
        start = torch.full((len(ids), 1), model.config.decoder_start_token_id, device=ids.device)
        return model(input_ids=ids, attention_mask=mask, decoder_input_ids=start).logits[:, 0, :]
    return model(input_ids=ids, attention_mask=mask, position_ids=causal_position_ids(mask),
                 logits_to_keep=1).logits[:, -1, :]


@inference_mode
def _log_odds(model, tok, ids: list[list[int]], answers: tuple, config: AskLLMConfig, seq2seq: bool,
              bar=None) -> torch.Tensor:
    """log P(yes) - log P(no) at the answer position for each row of `ids`, in input order, as
    float32 on the model's device: no host sync here, so the GPU never waits for the host."""
    import torch  # noqa: PLC0415 (lazy: engine.batching)

    device = model.device
    yes, no = (to_device(a, device) for a in answers)
    batches = device_batches([len(x) for x in ids], device, config.batch_size, config.batch_tokens)
    parts = []
    for idx in batches:
        input_ids, mask = pad_rows([ids[i] for i in idx], tok.pad_token_id, not seq2seq, device)
        logp = torch.log_softmax(_answer_logits(model, input_ids, mask, seq2seq).float(), dim=-1)
        parts.append(torch.logsumexp(logp[:, yes], -1) - torch.logsumexp(logp[:, no], -1))
        if bar is not None:
            bar.update(len(idx))
    out = torch.empty(len(ids), dtype=torch.float32, device=device)
    out[to_device([i for b in batches for i in b], device)] = torch.cat(parts)
    return out


_CALIBRATION: dict[tuple, float] = {}  # (config key, device) -> content-free log-odds


def _content_free_log_odds(config: AskLLMConfig, model, tok, seq2seq, answers) -> float:
    key = (config.key(), str(model.device))
    if key not in _CALIBRATION:
        ids = _encode_prompts(list(CONTENT_FREE), config, tok, seq2seq)
        _CALIBRATION[key] = float(_log_odds(model, tok, ids, answers, config, seq2seq).double().mean())
    return _CALIBRATION[key]


def score_batch(texts: list[str], config: AskLLMConfig = AskLLMConfig(),
                show_progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Ask-LLM scores for `texts`, in input order.

    Returns (scores in [0, 1] as float32, truncated flags). Rows are scored in length-sorted
    batches (`batch_size` rows on CPU, `batch_tokens` padded tokens on CUDA); a row's score does
    not depend on its batch (within float tolerance). On CUDA the prompts of the next chunk of
    documents are built and tokenised on a background thread while the GPU scores this one.
    `show_progress=False` drops the tqdm bar, for callers that report progress themselves.
    """
    import torch  # noqa: PLC0415 (lazy: engine.batching)

    texts = [str(t) for t in texts]
    if not texts:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=bool)
    model, tok = load_lm(config.model, device=config.device)
    seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
    answers = answer_token_ids(tok)
    lo, truncated = [], []
    chunks = prefetched(lambda part: prompt_ids(part, config, tok, seq2seq), texts,
                        chunk_docs(len(texts), model.device))
    with tqdm(total=len(texts), desc="Ask-LLM", unit="doc",
              disable=not show_progress or len(texts) < 3 * config.batch_size) as bar:
        for _, (ids, flags) in chunks:
            lo.append(_log_odds(model, tok, ids, answers, config, seq2seq, bar))
            truncated.append(flags)
    lo = torch.cat(lo).double().cpu().numpy()  # the one device-to-host sync
    if config.calibrate:
        lo = lo - _content_free_log_odds(config, model, tok, seq2seq, answers)
    return (1.0 / (1.0 + np.exp(-lo))).astype(np.float32), np.concatenate(truncated)
