"""The LLM2LLM student: supervised fine-tuning (full or LoRA via peft) and greedy evaluation, both
with the same prompt format (the model's chat template around `Task.prompt`).

The loss covers only the answer tokens and the end-of-turn token, so the student learns to answer,
not to repeat the prompt. Checkpoints are plain folders: a full model + tokenizer, or a LoRA
adapter (the base weights come from `settings.model`).
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from engine.llm2llm.tasks import Task
from engine.llm2llm.teacher import render_chat, turn_end
from engine.progress import ProgressFn

DEFAULT_STUDENT = "smollm2-135m-instruct"  # = engine.models.DEFAULT_STUDENT; models imports torch (slow --help)


@dataclass
class StudentSettings:
    """Student model and hyper-parameters. `max_new_tokens` 0 means 8 for classification and
    256 for numeric tasks; `device` None picks CUDA when available. `answer_by` auto: a closed
    label set is answered by label likelihood (`label_answers`), open answers by generation;
    `generate` forces generation (the metric before 2026-12)."""
    model: str = DEFAULT_STUDENT
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    epochs: int = 3
    lr: float = 1e-4
    batch_size: int = 8
    max_len: int = 384
    eval_batch_size: int = 16
    max_new_tokens: int = 0
    device: str | None = None
    answer_by: str = "auto"


def _encode(tok, task: Task, text: str, answer: str, max_len: int) -> tuple[list[int], list[int]]:
    """(input ids, labels): the prompt is masked with -100; the answer + the chat template's
    end-of-turn token (what generation stops at) is learned."""
    prompt = tok(render_chat(tok, [{"role": "user", "content": task.prompt(text)}]), add_special_tokens=False)["input_ids"]
    target = tok(answer + turn_end(tok), add_special_tokens=False)["input_ids"]
    ids = (prompt + target)[-max_len:]  # keep the answer when a prompt is too long
    labels = ([-100] * len(prompt) + target)[-max_len:]
    return ids, labels


def _collate(rows: list[tuple[list[int], list[int]]], pad_id: int):
    import torch

    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (x, y) in enumerate(rows):  # right padding: positions start at 0 for every row
        ids[r, :len(x)], labels[r, :len(y)], mask[r, :len(x)] = torch.tensor(x), torch.tensor(y), 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def load_student(settings: StudentSettings, checkpoint: str | None = None, trainable: bool = False):
    """(model, tokenizer): base weights (wrapped in a fresh LoRA adapter when `settings.lora` and
    `trainable`), or a checkpoint written by `save_student`."""
    from engine.models import load_lm_fresh

    if checkpoint and not settings.lora:
        return load_lm_fresh(checkpoint, settings.device)
    model, tok = load_lm_fresh(settings.model, settings.device)
    if not settings.lora:
        return model, tok
    from peft import LoraConfig, PeftModel, get_peft_model

    if checkpoint:
        return PeftModel.from_pretrained(model, checkpoint, is_trainable=trainable), tok
    if not trainable:
        return model, tok
    config = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=0.05,
                        target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, config), tok


def train_student(task: Task, examples: Sequence[tuple[str, str]], settings: StudentSettings, seed: int,
                  init_checkpoint: str | None = None, progress: ProgressFn | None = None):
    """Fine-tune on (input, output) pairs from the base weights (or `init_checkpoint`, for the
    continue-training ablation); AdamW with linear decay, seeded shuffling. Returns (model, tok) in eval mode."""
    import torch

    torch.manual_seed(seed)
    model, tok = load_student(settings, init_checkpoint, trainable=True)
    if not settings.lora:  # fp32 master weights: bf16 AdamW steps of ~1e-4 relative size round away
        model = model.float()  # (LoRA: peft already keeps the adapter in fp32)
    encoded = [_encode(tok, task, x, y, settings.max_len) for x, y in examples]
    steps_per_epoch = math.ceil(len(encoded) / settings.batch_size)
    total = max(1, steps_per_epoch * settings.epochs)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda step: 1.0 - step / total)
    order_rng = torch.Generator().manual_seed(seed)
    model.train()
    step = 0
    # CUDA: bf16 autocast over fp32 master weights (the matmuls run at bf16 speed, updates keep precision).
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=model.device.type == "cuda")
    for _ in range(settings.epochs):
        order = torch.randperm(len(encoded), generator=order_rng).tolist()
        for start in range(0, len(order), settings.batch_size):
            batch = _collate([encoded[i] for i in order[start:start + settings.batch_size]], tok.pad_token_id)
            with autocast:
                loss = model(**{k: v.to(model.device) for k, v in batch.items()}).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optim.step(), sched.step(), optim.zero_grad(set_to_none=True)
            step += 1
            if progress:
                progress("train", step, total)
    return model.eval(), tok


def save_student(model, tok, path: Path) -> None:
    """Write the model (or LoRA adapter) + tokenizer to `path` atomically (temp folder + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        shutil.rmtree(path, ignore_errors=True)
        os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def generate_answers(model, tok, task: Task, inputs: Sequence[str], settings: StudentSettings,
                     progress: ProgressFn | None = None, label: str = "eval") -> list[str]:
    """Greedy answers (stripped) in input order, batched by prompt length; progress counts rows."""
    import torch

    from engine.models import length_sorted_batches

    prompts = [render_chat(tok, [{"role": "user", "content": task.prompt(x)}]) for x in inputs]
    max_new = settings.max_new_tokens or (8 if task.kind == "classification" else 256)
    answers: list[str] = [""] * len(prompts)
    tok.padding_side = "left"  # every row's last prompt token at -1; generate derives positions from the mask
    batches = length_sorted_batches([len(p) for p in prompts], settings.eval_batch_size)
    stop = end_of_turn_ids(model, tok)
    _eager_on_cuda(model)
    done = 0
    for idx in batches:
        enc = tok([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc.to(model.device), do_sample=False, max_new_tokens=max_new,
                                 pad_token_id=tok.pad_token_id, eos_token_id=stop)
        texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        for i, text in zip(idx, texts):
            answers[i] = first_line(text) if task.kind == "classification" else text.strip()
        done += len(idx)
        if progress:
            progress(label, done, len(prompts))
    return answers


def uses_likelihood(task: Task, settings: StudentSettings) -> bool:
    """True when the student's answer is the most likely label (closed label set, `answer_by` auto)."""
    return task.kind == "classification" and bool(task.labels) and settings.answer_by != "generate"


def answer(model, tok, task: Task, inputs: Sequence[str], settings: StudentSettings,
           progress: ProgressFn | None = None, label: str = "eval") -> list[str]:
    """The student's answers as the run scores them: `label_answers` for a closed label set,
    else `generate_answers` (GSM8K, or `answer_by="generate"`)."""
    if uses_likelihood(task, settings):
        return label_answers(model, tok, task, inputs, settings, progress, label)
    return generate_answers(model, tok, task, inputs, settings, progress, label)


def label_answers(model, tok, task: Task, inputs: Sequence[str], settings: StudentSettings,
                  progress: ProgressFn | None = None, label: str = "eval") -> list[str]:
    """Per input, the label with the highest log P(label + end of turn | prompt), the same
    target the student was trained on: every (input, label) row of a batch in one forward pass.
    Always a label of the set, so "no parse" cannot count as an error (generation's failure mode)."""
    import torch

    from engine.batching import causal_position_ids, pad_rows

    labels = list(task.labels)
    tails = [tok(y + turn_end(tok), add_special_tokens=False)["input_ids"] for y in labels]
    width = max(map(len, tails))  # left padding: every tail ends at the last position
    target = torch.zeros((len(labels), width), dtype=torch.long)  # tails right-aligned, mask marks them
    counted = torch.zeros((len(labels), width))
    for j, tail in enumerate(tails):
        target[j, width - len(tail):], counted[j, width - len(tail):] = torch.tensor(tail), 1.0
    _eager_on_cuda(model)
    per_call = max(1, settings.eval_batch_size // len(labels))
    answers: list[str] = []
    for start in range(0, len(inputs), per_call):
        heads = [tok(render_chat(tok, [{"role": "user", "content": task.prompt(x)}]), add_special_tokens=False)
                 ["input_ids"] for x in inputs[start:start + per_call]]
        rows = [(h + t)[-settings.max_len:] for h in heads for t in tails]
        ids, mask = pad_rows(rows, tok.pad_token_id, True, model.device)
        with torch.no_grad():  # position k of the kept logits predicts kept token k + 1
            logp = model(input_ids=ids, attention_mask=mask, position_ids=causal_position_ids(mask),
                         logits_to_keep=width + 1).logits[:, :width].float().log_softmax(-1)
        tgt = target.repeat(len(heads), 1).to(logp.device)
        scores = (logp.gather(-1, tgt[..., None])[..., 0] * counted.repeat(len(heads), 1).to(logp.device)).sum(-1)
        best = scores.view(len(heads), len(labels)).argmax(-1).tolist()
        answers += [labels[j] for j in best]
        if progress:
            progress(label, len(answers), len(inputs))
    return answers


def _eager_on_cuda(model) -> None:
    """Eager attention masks use a finite minimum: a left-padded row's fully masked pad positions
    cannot turn into NaN on CUDA (sdpa: -inf)."""
    if model.device.type == "cuda":
        try:
            model.set_attn_implementation("eager")
        except (AttributeError, ValueError):
            pass


def end_of_turn_ids(model, tok) -> list[int]:
    """Every token that ends the assistant's turn: the generation config's, the tokenizer's eos and
    the chat template's `<|im_end|>`: a checkpoint whose configs disagree must still stop there."""
    ids = getattr(model.generation_config, "eos_token_id", None)
    ids = list(ids) if isinstance(ids, (list, tuple)) else [ids]
    for token in (turn_end(tok), tok.eos_token, "<|im_end|>", "<|endoftext|>"):
        found = tok.convert_tokens_to_ids(token) if token else None
        if isinstance(found, int) and found != tok.unk_token_id:
            ids.append(found)
    return sorted({i for i in ids if i is not None})


def first_line(text: str) -> str:
    """A classification answer: the first non-empty line, stripped (what follows is chatter)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
