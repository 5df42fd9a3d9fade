"""Fast unit tests of LLM2LLM tasks, checkers, teacher-reply parsers and filters on real rows."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from engine.errors import UserError
from engine.llm2llm.filters import NearDuplicateIndex, judge_reply, rouge_l, rouge_tokens
from engine.llm2llm.loop import select_seed_failures
from engine.llm2llm.tasks import (Example, Task, TREC_LABELS, final_number, load_gsm8k, load_pairs,
                                  load_sst2, load_task, load_trec, sample_rows)
from engine.llm2llm.prompts import ParseError, arithmetic_is_consistent, parse_reply, teacher_messages
from engine.llm2llm.teacher import Reply

from conftest import DATA

TREC = Task("trec", "classification", TREC_LABELS)
GSM = Task("gsm8k", "numeric")


def test_trec_loader_reads_latin1_and_coarse_labels():
    rows = load_trec(DATA / "llm2llm_trec_train.label", "train")
    assert len(rows) == 70 and rows[0].id == "train-1"
    assert rows[0] == Example("train-1", "How did serfdom develop in and then leave Russia ?", "DESC")
    assert "\xf0" in rows[65].input  # line 66 holds the ISO-8859-1 byte 0xF0
    assert {r.output for r in rows} <= set(TREC_LABELS)


def test_sst2_and_gsm8k_loaders():
    sst = load_sst2(DATA / "llm2llm_sst2_train.txt", "train")
    assert len(sst) == 12 and {r.output for r in sst} == {"negative", "positive"}
    gsm = load_gsm8k(DATA / "llm2llm_gsm8k_test.jsonl", "test")
    assert gsm[0].input.startswith("Janet") and final_number(gsm[0].output) == Decimal(18)


def test_classification_checker_is_exact_and_case_insensitive():
    assert TREC.is_correct(" num\n", "NUM")
    assert TREC.is_correct("Num", "NUM")
    assert not TREC.is_correct("NUM.", "NUM")
    assert not TREC.is_correct("The answer is NUM", "NUM")
    assert TREC.canonical_label("loc ") == "LOC" and TREC.canonical_label("place") is None


def test_numeric_checker_keeps_sign_and_drops_commas():
    gold = load_gsm8k(DATA / "llm2llm_gsm8k_test.jsonl", "test")[0].output  # ends '#### 18'
    assert GSM.is_correct("She makes 9 * 2 = 18 dollars.\n#### 18", gold)
    assert not GSM.is_correct("#### -18", gold)
    assert not GSM.is_correct("18", gold)  # no '####': not an answer
    assert final_number("#### 1,234") == Decimal(1234)
    assert final_number("#### -5") == Decimal(-5)
    assert final_number("#### $70,000") == Decimal(70000)
    assert final_number("#### 2 then later #### 3.50") == Decimal(2)
    assert final_number("#### 3.50") == Decimal("3.5")
    assert GSM.is_correct("#### 18.0", gold)


def test_every_real_gsm8k_answer_parses_and_its_arithmetic_checks():
    rows = load_gsm8k(DATA / "llm2llm_gsm8k_train.jsonl", "train") + load_gsm8k(DATA / "llm2llm_gsm8k_test.jsonl", "test")
    for row in rows:
        assert final_number(row.output) is not None
        assert arithmetic_is_consistent(row.output), row.id
    assert not arithmetic_is_consistent("16 - 3 - 4 = <<16-3-4=10>>10 eggs\n#### 10")


def test_pairs_loader_jsonl_and_csv(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"input": "hi", "output": "greet"}) + "\n\n"
                                      + json.dumps({"input": "bye", "output": "part"}) + "\n")
    (tmp_path / "b.csv").write_text("input,output\n\"hello, you\",greet\n")
    assert [r.output for r in load_pairs(tmp_path / "a.jsonl", "train")] == ["greet", "part"]
    assert load_pairs(tmp_path / "b.csv", "test")[0] == Example("test-2", "hello, you", "greet")
    task, train, test = load_task("jsonl", str(tmp_path / "a.jsonl"), str(tmp_path / "b.csv"))
    assert task.labels == ("greet", "part") and len(train) == 2 and len(test) == 1
    (tmp_path / "bad.jsonl").write_text('{"input": "x"}\n')
    with pytest.raises(UserError, match=r"bad.jsonl:1"):
        load_pairs(tmp_path / "bad.jsonl", "train")
    with pytest.raises(UserError, match="not one of"):
        load_task("jsonl", str(tmp_path / "a.jsonl"), str(tmp_path / "b.csv"), labels=("part",))


def test_bad_trec_line_names_file_and_line(tmp_path):
    (tmp_path / "t.label").write_text("NUM:dist How far ?\nfoo bar\n")
    with pytest.raises(UserError, match=r"t.label:2"):
        load_trec(tmp_path / "t.label", "train")


def test_seed_sampling_is_seeded_fraction_or_count():
    rows = load_trec(DATA / "llm2llm_trec_train.label", "train")
    a, b = sample_rows(rows, 8, seed=3), sample_rows(rows, 8, seed=3)
    assert a == b and len(a) == 8 and a != sample_rows(rows, 8, seed=4)
    assert [r.id for r in a] == sorted((r.id for r in a), key=lambda i: int(i.split("-")[1]))  # file order
    assert len(sample_rows(rows, 0.1, seed=0)) == 7
    assert len(sample_rows(rows, None, seed=0)) == 70


def test_teacher_prompt_carries_input_gold_and_wrong_answer():
    seed = load_trec(DATA / "llm2llm_trec_test.label", "test")[0]
    text = teacher_messages(TREC, seed, "LOC")[0]["content"]
    assert seed.input in text and "Correct label: NUM" in text and "wrong answer: LOC" in text
    gsm = load_gsm8k(DATA / "llm2llm_gsm8k_test.jsonl", "test")[0]
    text = teacher_messages(GSM, gsm, "#### 20")[0]["content"]
    assert gsm.input in text and "#### 18" in text and "#### 20" in text


def test_classification_reply_parser_keeps_the_seed_label():
    seed = load_trec(DATA / "llm2llm_trec_test.label", "test")[0]  # NUM: How far is it from Denver to Aspen ?
    assert parse_reply(TREC, "Text: How far is Paris from Rome ?\nmore", seed) == ("How far is Paris from Rome ?", "NUM")
    assert parse_reply(TREC, "**Text:** How many miles to Boston ?", seed)[1] == "NUM"
    for bad in ("How far is Paris from Rome ?", "Text: Rome", ""):
        with pytest.raises(ParseError, match="parse_failure"):
            parse_reply(TREC, bad, seed)
    assert parse_reply(TREC, "Text: Who wrote Hamlet ?\nLabel: hum", seed, writes_label=True) == ("Who wrote Hamlet ?", "HUM")
    with pytest.raises(ParseError, match="invalid_label"):
        parse_reply(TREC, "Text: Who wrote Hamlet ?\nLabel: PERSON", seed, writes_label=True)


def test_numeric_reply_parser_checks_format_and_arithmetic():
    seed = load_gsm8k(DATA / "llm2llm_gsm8k_test.jsonl", "test")[0]
    good = ("Question: Tom has 12 apples and eats 4 of them. How many are left?\n"
            "Answer: Tom has 12 - 4 = <<12-4=8>>8 apples left.\n#### 8")
    question, answer = parse_reply(GSM, good, seed)
    assert question.startswith("Tom has 12") and answer.endswith("#### 8") and GSM.is_correct(answer, "#### 8")
    with pytest.raises(ParseError, match="wrong_arithmetic"):
        parse_reply(GSM, good.replace("=8>>8", "=9>>9").replace("#### 8", "#### 9"), seed)
    with pytest.raises(ParseError, match="parse_failure"):
        parse_reply(GSM, good.replace("#### 8", "so 8"), seed)
    with pytest.raises(ParseError, match="parse_failure"):
        parse_reply(GSM, "Answer: 8\n#### 8", seed)
    # Real SmolLM2 chatter: a second Question/Answer pair before the only '####' is rejected ...
    chatter = ("Question: How much did XZZzz spend on a party?\nAnswer: XZZZ\n\nA possible solution:\n"
               "Question: How much did a man spend on a house?\nAnswer: YYYY\n#### 5\n")
    with pytest.raises(ParseError, match="second"):
        parse_reply(GSM, chatter, seed)
    with pytest.raises(ParseError, match="no worked solution"):
        parse_reply(GSM, "Question: How much did XZZzz spend on a party?\nAnswer: XZZZ, as said.\n#### 5", seed)
    # ... and whatever follows the first '#### <number>' is dropped.
    assert parse_reply(GSM, good + "\nThe student's wrong answer: #### 3", seed)[1].endswith("apples left.\n#### 8")


def test_rouge_l_matches_rouge_score_on_real_questions():
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rows = [r.input for r in load_trec(DATA / "llm2llm_trec_test.label", "test")[:12]]
    for a in rows:
        for b in rows[:6]:
            expected = scorer.score(a, b)["rougeL"].fmeasure
            assert rouge_l(rouge_tokens(a), rouge_tokens(b)) == pytest.approx(expected)


def test_near_duplicate_filter_and_rejection_reasons():
    rows = load_trec(DATA / "llm2llm_trec_test.label", "test")
    index = NearDuplicateIndex(0.95)
    for r in rows:
        index.add(r.id, r.input)
    seed = rows[0]
    dup = judge_reply(TREC, Reply("Text: How far is it from Denver to Aspen?"), seed, index, "syn-0-a-0")
    assert not dup.accepted and dup.reason.startswith("near_duplicate") and "test-1" in dup.reason
    new = judge_reply(TREC, Reply("Text: How far is it from Paris to the sea ?"), seed, index, "syn-0-a-1")
    assert new.accepted and new.output == "NUM"
    again = judge_reply(TREC, Reply("Text: How far is it from Paris to the sea ?"), seed, index, "syn-0-a-2")
    assert again.reason.startswith("near_duplicate") and "syn-0-a-1" in again.reason  # accepted ones join the index
    failed = judge_reply(TREC, Reply(None, "request_failed: HTTP 500"), seed, index, "syn-0-a-3")
    assert failed.reason == "request_failed: HTTP 500"
    assert judge_reply(TREC, Reply("no format"), seed, index, "x").reason.startswith("parse_failure")


def test_select_seed_failures_augments_only_wrong_seeds():
    preds = [("train-2", "LOC", False), ("syn-0-train-2-0", "HUM", False), ("train-1", "NUM", True),
             ("train-3", "x", False)]
    seeds = {"train-1", "train-2", "train-3"}
    assert select_seed_failures(preds, seeds) == [("train-2", "LOC"), ("train-3", "x")]
    assert [i for i, _ in select_seed_failures(preds, seeds, "all")] == ["syn-0-train-2-0", "train-2", "train-3"]


def test_select_random_seeds_draws_as_many_seeds_right_or_wrong():
    from engine.llm2llm.loop import select_random_seeds

    preds = [(f"train-{i}", "LOC", i % 3 == 0) for i in range(1, 13)] + [("syn-0-train-1-0", "HUM", False)]
    seeds = {f"train-{i}" for i in range(1, 13)}
    picked = select_random_seeds(preds, seeds, 4, rng_seed=5)
    assert len(picked) == 4 and {i for i, _ in picked} <= seeds  # never a synthetic example
    assert picked == select_random_seeds(preds, seeds, 4, rng_seed=5) != select_random_seeds(preds, seeds, 4, 6)
    right = {i for i, _, ok in preds if ok}
    assert all((out is None) == (i in right) for i, out in picked)  # a right seed is shown without a wrong answer
    assert len(select_random_seeds(preds, seeds, 40, rng_seed=0)) == 12


def test_a_classification_answer_is_its_first_line():
    from engine.llm2llm.student import first_line

    # What a student emits when generation runs past its end-of-turn token (seen on the GPU run:
    # accuracy exactly 0 although the label came first).
    assert TREC.is_correct(first_line("HUM\nassistant\nHUM"), "HUM")
    assert first_line("\n  LOC  \nmore") == "LOC" and first_line("") == ""
