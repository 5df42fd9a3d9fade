"""The named filter rules: label consistency (a labelled test double relabels; the real teacher's
constrained `choose` is checked against log-probabilities computed row by row), the on-topic rule
with the real packaged embedder, rule order and stored reasons, and the retry prompt."""
from __future__ import annotations

import pytest

from engine.errors import UserError
from engine.llm2llm.augment import check_teacher_output
from engine.llm2llm.filters import Candidate, Filters, NearDuplicateIndex, OnTopic, check_label_consistency
from engine.llm2llm.prompts import relabel_messages, retry_messages, teacher_messages
from engine.llm2llm.tasks import TREC_DESCRIPTIONS, TREC_LABELS, Example, Task
from engine.llm2llm.teacher import Reply

TREC = Task("trec", "classification", TREC_LABELS, "question", TREC_DESCRIPTIONS)
SEEDS = [Example("train-1", "Who wrote the novel War and Peace ?", "HUM"),
         Example("train-2", "What city is the Eiffel Tower in ?", "LOC"),
         Example("train-3", "How many moons does Mars have ?", "NUM")]


def _candidate(ident: str, parent: Example, text: str) -> Candidate:
    return Candidate(ident, parent, Reply(f"Text: {text}"))


def test_label_consistency_rejects_what_the_judge_labels_differently():
    batch = [_candidate("a", SEEDS[0], "Who painted the Mona Lisa ?"),
             _candidate("b", SEEDS[0], "Where was Leo Tolstoy born ?"),
             _candidate("c", SEEDS[2], "no format")]

    def relabel_double(texts):  # labelled test double: a judge that knows these two questions
        assert texts == ["Who painted the Mona Lisa ?", "Where was Leo Tolstoy born ?"]  # parse failures skipped
        return ["HUM", "LOC"]

    Filters(TREC, NearDuplicateIndex(), relabel=relabel_double, relabel_judge="teacher").apply(batch)
    assert [c.accepted for c in batch] == [True, False, False]
    assert batch[1].reason == "label_mismatch: teacher says LOC, intended HUM"
    assert batch[2].reason.startswith("parse_failure")
    none = [_candidate("d", SEEDS[0], "Who discovered penicillin first ?")]
    for c in none:
        c.input, c.output = "Who discovered penicillin first ?", "HUM"
    check_label_consistency(none, lambda texts: [None], "student")
    assert none[0].reason == "label_mismatch: student says nothing, intended HUM"


def test_on_topic_rule_with_the_packaged_embedder():
    from engine.embed import embed_texts

    rule = OnTopic(SEEDS, lambda texts: embed_texts(texts, device="cpu"))
    batch = [_candidate("a", SEEDS[0], "Who wrote the play Romeo and Juliet ?"),
             _candidate("b", SEEDS[0], "What city is the Statue of Liberty in ?"),   # HUM seed, LOC text
             _candidate("c", SEEDS[2], "How many legs does a spider have ?")]
    Filters(TREC, NearDuplicateIndex(), on_topic=rule).apply(batch)
    assert [c.accepted for c in batch] == [True, False, True]
    assert batch[1].reason.startswith("off_topic:") and "train-2 (LOC)" in batch[1].reason


def test_rules_run_in_order_and_near_duplicates_see_the_batch():
    index = NearDuplicateIndex(0.95)
    for s in SEEDS:
        index.add(s.id, s.input)
    batch = [_candidate("a", SEEDS[0], "Who wrote the novel War and Peace?"),   # a seed again
             _candidate("b", SEEDS[0], "Who wrote the novel Anna Karenina ?"),
             _candidate("c", SEEDS[0], "Who wrote the novel Anna Karenina ?"),   # the same as b
             Candidate("d", SEEDS[0], Reply(None, "request_failed: ReadTimeout"))]
    Filters(TREC, index, relabel=lambda texts: ["HUM"] * len(texts)).apply(batch)
    reasons = [c.reason for c in batch]
    assert reasons[0].startswith("parse_failure: the seed copied back") or reasons[0].startswith("near_duplicate")
    assert reasons[1] is None and reasons[2].startswith("near_duplicate") and "vs b" in reasons[2]
    assert reasons[3] == "request_failed: ReadTimeout"


def test_retry_prompt_feeds_the_reply_and_its_error_back():
    first = teacher_messages(TREC, SEEDS[0], "LOC")
    again = retry_messages(first, "Sure! Here is one: Who wrote Emma", "parse_failure: no 'Text:' line", TREC)
    assert again[:1] == first and again[1] == {"role": "assistant", "content": "Sure! Here is one: Who wrote Emma"}
    assert "parse_failure: no 'Text:' line" in again[2]["content"] and "Text: <the new question>" in again[2]["content"]
    control = teacher_messages(TREC, SEEDS[0], None)[0]["content"]
    assert "WRONG" not in control and "HUM (the question asks for a person" in control
    assert "- LOC: the question asks for a location" in relabel_messages(TREC, "Where is Rome ?")[0]["content"]


def test_a_teacher_with_no_usable_reply_stops_the_run():
    check_teacher_output(dict(requests=4, parsed=1, accepted=0, reasons={"label_mismatch": 1}), 0, "t")
    check_teacher_output(dict(requests=0, parsed=0, accepted=0, reasons={}), 0, "t")  # nothing wrong: nothing asked
    with pytest.raises(UserError, match=r"teacher t gave no usable reply to any of 4 requests in iteration 1 "
                                        r"\(request_failed 4\)"):
        check_teacher_output(dict(requests=4, parsed=0, accepted=0, reasons={"request_failed": 4}), 1, "t")


@pytest.mark.slow
def test_local_teacher_choose_is_the_argmax_of_row_by_row_log_probs():
    import torch

    from engine.llm2llm.teacher import LocalTeacher, TeacherSettings, render_chat
    from engine.models import load_lm

    teacher = LocalTeacher(TeacherSettings(model="smollm2-135m-instruct", device="cpu", batch_size=4))
    prompts = [relabel_messages(TREC, s.input) for s in SEEDS]
    picked = teacher.choose(prompts, list(TREC_LABELS))
    model, tok = load_lm("smollm2-135m-instruct", "cpu")
    for prompt, choice in zip(prompts, picked):
        head = tok(render_chat(tok, prompt), add_special_tokens=False)["input_ids"]
        scores = []
        for label in TREC_LABELS:  # one unpadded row at a time: no padding, no batching
            tail = tok(label + tok.eos_token, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logp = model(torch.tensor([head + tail])).logits[0].float().log_softmax(-1)
            scores.append(sum(float(logp[len(head) + k - 1, t]) for k, t in enumerate(tail)))
        assert choice == max(range(len(scores)), key=scores.__getitem__)
