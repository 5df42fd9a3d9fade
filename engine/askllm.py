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

import numpy as np
import torch
from tqdm.auto import tqdm

from engine.errors import UserError
from engine.models import (DEFAULT_JUDGE, causal_position_ids, length_sorted_batches, load_lm,
                           model_fingerprint)

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
    template: str = "paper-answer"  # best plain prompt for the default judge: bench/quality_auc.md
    few_shot: str = "none"  # "none" | "good-bad" | "bad-good": one example of each, in that order
    max_doc_tokens: int = 512  # longer documents are cut (flagged `truncated`)
    batch_size: int = 16
    use_chat_template: bool = True  # only applies when the tokenizer has one
    calibrate: bool = False  # subtract the content-free log-odds (moves the 0.5 cut, not ranking)
    device: str | None = None  # None: cuda when available; not part of the key

    def __post_init__(self):
        if self.template not in TEMPLATES:
            raise UserError(f"unknown Ask-LLM template '{self.template}'; choose from {sorted(TEMPLATES)}")
        if self.few_shot not in FEW_SHOT_ORDERS:
            raise UserError(f"unknown few_shot '{self.few_shot}'; choose from {sorted(FEW_SHOT_ORDERS)}")
        if self.max_doc_tokens < 1 or self.batch_size < 1:
            raise UserError("max_doc_tokens and batch_size must be >= 1")

    def key(self) -> str:
        """Stable id: model fingerprint + template hash + every result-changing non-default."""
        prompt = TEMPLATES[self.template] + repr(FEW_SHOT_ORDERS[self.few_shot]) + repr(CONTENT_FREE)
        digest = hashlib.sha1(prompt.encode()).hexdigest()[:8]
        extras = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self)
                  if f.name not in {"model", "template", "batch_size", "device"}
                  and getattr(self, f.name) != f.default]
        return ":".join(["askllm", model_fingerprint(self.model), f"{self.template}-{digest}", *extras])


def answer_token_ids(tok) -> tuple[list[int], list[int]]:
    """First-token ids of the yes / no surface variants; ids shared by both sides are dropped."""
    def first_ids(words):
        return {ids[0] for w in words if (ids := tok(w, add_special_tokens=False)["input_ids"])}
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


@torch.inference_mode()
def _log_odds(model, tok, prompts: list[str], special: bool, yes, no, batch_size: int,
              seq2seq: bool) -> np.ndarray:
    """log P(yes) - log P(no) at the answer position for each prompt, in input order."""
    enc = tok(prompts, add_special_tokens=not special)["input_ids"]
    out = np.zeros(len(prompts), dtype=np.float64)
    batches = length_sorted_batches([len(x) for x in enc], batch_size)
    device = model.device
    for idx in tqdm(batches, desc="Ask-LLM", unit="batch", disable=len(batches) < 3):
        padded = tok.pad({"input_ids": [enc[i] for i in idx]}, return_tensors="pt").to(device)
        if seq2seq:
            start = torch.full((len(idx), 1), model.config.decoder_start_token_id, device=device)
            logits = model(**padded, decoder_input_ids=start).logits[:, 0, :]
        else:
            logits = model(**padded, position_ids=causal_position_ids(padded["attention_mask"]),
                           logits_to_keep=1).logits[:, -1, :]
        logp = torch.log_softmax(logits.float(), dim=-1)
        lo = torch.logsumexp(logp[:, yes], -1) - torch.logsumexp(logp[:, no], -1)
        out[idx] = lo.cpu().numpy()
    return out


_CALIBRATION: dict[tuple, float] = {}  # (config key, device) -> content-free log-odds


def _content_free_log_odds(config: AskLLMConfig, model, tok, seq2seq, yes, no) -> float:
    key = (config.key(), str(model.device))
    if key not in _CALIBRATION:
        built = [build_prompt(t, config, tok, seq2seq) for t in CONTENT_FREE]
        lo = _log_odds(model, tok, [p for p, _ in built], built[0][1], yes, no, config.batch_size, seq2seq)
        _CALIBRATION[key] = float(lo.mean())
    return _CALIBRATION[key]


def score_batch(texts: list[str], config: AskLLMConfig = AskLLMConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Ask-LLM scores for `texts`, in input order.

    Returns (scores in [0, 1] as float32, truncated flags). Rows are scored in length-sorted
    batches; a row's score does not depend on its batch (within float tolerance).
    """
    texts = [str(t) for t in texts]
    if not texts:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=bool)
    model, tok = load_lm(config.model, device=config.device)
    seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
    yes, no = answer_token_ids(tok)
    cut, truncated = _truncate(tok, texts, config.max_doc_tokens)
    built = [build_prompt(t, config, tok, seq2seq) for t in cut]
    lo = _log_odds(model, tok, [p for p, _ in built], built[0][1], yes, no, config.batch_size, seq2seq)
    if config.calibrate:
        lo = lo - _content_free_log_odds(config, model, tok, seq2seq, yes, no)
    return (1.0 / (1.0 + np.exp(-lo))).astype(np.float32), truncated
