"""The student learns to end its answer with the chat template's end-of-turn token, the one
generation stops at, even when the tokenizer names another eos.

The 2026-11-29 GPU run scored 0 in every cell because the GPU's SmolLM2 folder was converted from
GGUF by transformers 5.17, whose tokenizer names `<|im_start|>` as eos (5.23 names `<|im_end|>`):
students learned "HUM<|im_start|>", never emitted `<|im_end|>`, and ran on past the label. Here
the real SmolLM2 tokenizer is given that eos (a labelled reproduction of the 5.17 conversion)."""
from __future__ import annotations

import shutil

import pytest

from engine.llm2llm import student as st
from engine.llm2llm.tasks import TREC_DESCRIPTIONS, TREC_LABELS, Task
from engine.llm2llm.teacher import render_chat, turn_end

from llm2llm_tiny import tiny_student

TREC = Task("trec", "classification", TREC_LABELS, "question", TREC_DESCRIPTIONS)
AS_517_CONVERTS_IT = "<|im_start|>"  # transformers 5.17's eos for the SmolLM2 GGUF


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from engine.models import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("smollm2-135m-instruct"), local_files_only=True)


@pytest.mark.parametrize("eos", ["<|im_end|>", AS_517_CONVERTS_IT])
def test_training_sequence_is_the_chat_templates_conversation(tokenizer, eos):
    tok = tokenizer
    tok.eos_token = eos
    ids, labels = st._encode(tok, TREC, "Who wrote Hamlet ?", "HUM", 384)
    learned = [i for i, y in zip(ids, labels) if y != -100]
    assert tok.decode(learned) == "HUM<|im_end|>" and turn_end(tok) == "<|im_end|>"
    chat = [{"role": "user", "content": TREC.prompt("Who wrote Hamlet ?")}, {"role": "assistant", "content": "HUM"}]
    whole = tok(tok.apply_chat_template(chat, tokenize=False), add_special_tokens=False)["input_ids"]
    assert whole[:len(ids)] == ids  # exactly the conversation the chat template writes, up to the turn end


def test_a_student_trained_with_that_tokenizer_stops_at_the_turn_end(tmp_path):
    """Real training and greedy generation (2-layer SmolLM2 double, 5.17-style tokenizer): every
    answer is a label alone, and what ended it is `<|im_end|>`, not `<|im_start|>`."""
    import torch
    from transformers import AutoTokenizer

    folder = tmp_path / "student"
    shutil.copytree(tiny_student(), folder)
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    tok.eos_token, tok.pad_token = AS_517_CONVERTS_IT, None
    tok.save_pretrained(folder)
    rows = [("Who wrote Hamlet ?", "HUM"), ("How far is the moon ?", "NUM"), ("Where is Paris ?", "LOC")]
    settings = st.StudentSettings(model=str(folder), epochs=12, lr=2e-3, batch_size=3, device="cpu",
                                  max_new_tokens=4)
    model, tok = st.train_student(TREC, rows, settings, seed=0)
    assert set(st.generate_answers(model, tok, TREC, [x for x, _ in rows], settings)) <= set(TREC_LABELS)
    enc = tok(render_chat(tok, [{"role": "user", "content": TREC.prompt(rows[0][0])}]), return_tensors="pt",
              add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, do_sample=False, max_new_tokens=4, pad_token_id=tok.pad_token_id,
                             eos_token_id=st.end_of_turn_ids(model, tok))
    answer, _, end = tok.decode(out[0, enc["input_ids"].shape[1]:]).partition("<")
    assert answer in TREC_LABELS and end == "|im_end|>"
