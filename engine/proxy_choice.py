"""Multiple-choice targets for the proxy check: a .jsonl/.json/.parquet file whose rows carry a
`question` (or `text`), its `choices` (a list of strings) and the right `answer` (the index of the
right choice, or its text). Each trained proxy scores every choice by its mean log-probability per
token after the question; the check reports the probability the proxy puts on the right choice (a
softmax over the choices' scores: the continuous measure that ranks data at small scale, where
accuracy is still near chance) and the accuracy of its top choice. The question followed by its
right answer is also the held-out text whose loss the check reports."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
import numpy as np

from engine.errors import UserError


@dataclass(frozen=True)
class ChoiceItems:
    """Tokenised items (ids in the proxy's vocabulary) and their right answers."""
    questions: list[np.ndarray]
    choices: list[list[np.ndarray]]
    answers: np.ndarray

    def key(self) -> str:
        h = hashlib.sha256(self.answers.astype(np.int64).tobytes())
        for q, cs in zip(self.questions, self.choices):
            for part in (q, *cs):
                h.update(np.asarray(part, np.int64).tobytes() + b"|")
        return h.hexdigest()[:16]


def parse(frame, path: str) -> tuple[list[str], list[list[str]], list[int]] | None:
    """(questions, choices, answer indices) of a target frame with a `choices` column, else None (a
    plain text target). A bad row raises one UserError naming the file and the row (1-based)."""
    if "choices" not in frame.columns:
        return None
    column = "question" if "question" in frame.columns else "text"
    if column not in frame.columns or "answer" not in frame.columns:
        raise UserError(f"{path}: a multiple-choice target needs 'question' (or 'text'), 'choices' and 'answer' "
                        f"columns (it has {', '.join(map(str, frame.columns))})")
    questions, choices, answers = [], [], []
    for i, (q, cs, a) in enumerate(zip(frame[column], frame["choices"], frame["answer"]), start=1):
        cs = [str(c) for c in cs] if isinstance(cs, (list, tuple, np.ndarray)) else None
        if not cs or len(cs) < 2 or not str(q).strip():
            raise UserError(f"{path}: row {i}: needs a question and a list of two or more choices")
        index = cs.index(str(a)) if str(a) in cs else (int(a) if isinstance(a, (int, np.integer)) else None)
        if index is None or not 0 <= index < len(cs):
            raise UserError(f"{path}: row {i}: answer {str(a)[:40]!r} is neither one of its {len(cs)} choices "
                            "nor an index into them")
        questions.append(str(q))
        choices.append(cs)
        answers.append(index)
    return questions, choices, answers


def right_texts(questions: list[str], choices: list[list[str]], answers: list[int]) -> list[str]:
    """Each question followed by its right answer: the held-out text (and what overlap is checked on)."""
    return [f"{q} {cs[a]}" for q, cs, a in zip(questions, choices, answers)]


def tokenise(tok, lut: np.ndarray, questions: list[str], choices: list[list[str]], answers: list[int]) -> ChoiceItems:
    """Ids through the proxy's vocabulary map; a choice is encoded with its leading space, as it follows the question."""
    def ids(text: str) -> np.ndarray:
        return lut[np.asarray(tok(text, add_special_tokens=False)["input_ids"], dtype=np.int64)]

    return ChoiceItems([ids(q) for q in questions], [[ids(" " + c) for c in cs] for cs in choices],
                       np.asarray(answers, dtype=np.int64))


def score(model, items: ChoiceItems, device: str, max_len: int, batch: int = 64) -> dict:
    """{"p_correct": mean probability on the right choice, "acc": share whose top choice is right,
    "items": n}. Question and choice are cut from the left to `max_len` tokens (the proxy's context)."""
    import torch  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415

    seqs, spans = [], []
    for q, cs in zip(items.questions, items.choices):
        for c in cs:
            seq = np.concatenate([q, c])[-max_len:]
            seqs.append(seq)
            spans.append(max(1, min(len(c), len(seq) - 1)))
    scores = np.empty(len(seqs))
    model.eval()
    with torch.no_grad():
        for b in range(0, len(seqs), batch):
            chunk = seqs[b:b + batch]
            x = np.zeros((len(chunk), max(map(len, chunk))), np.int64)  # right padding: causal, never attended
            for k, s in enumerate(chunk):
                x[k, :len(s)] = s
            xt = torch.from_numpy(x).to(device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
                logits = model(input_ids=xt).logits.float()
            logp = F.log_softmax(logits[:, :-1], -1).gather(-1, xt[:, 1:, None])[..., 0].cpu().numpy()
            for k, s in enumerate(chunk):  # token j is predicted at position j - 1
                n = spans[b + k]
                scores[b + k] = logp[k, len(s) - 1 - n:len(s) - 1].mean()
    p_correct, right, at = [], [], 0
    for cs, answer in zip(items.choices, items.answers):
        s = scores[at:at + len(cs)]
        at += len(cs)
        p = np.exp(s - s.max())
        p_correct.append(float(p[answer] / p.sum()))
        right.append(int(np.argmax(s) == answer))
    return {"p_correct": round(float(np.mean(p_correct)), 5), "acc": round(float(np.mean(right)), 5),
            "items": len(p_correct)}
