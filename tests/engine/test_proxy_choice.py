"""Multiple-choice targets for the proxy check (engine/proxy_choice.py): reading them (one line per
bad row), scoring choices after a question (against a labelled successor-model double whose right
answers are known), and the whole check on CPU with the real tokenizer and a real tiny proxy."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine import cli, proxy_choice
from engine.errors import UserError

DATA = Path(__file__).resolve().parents[1] / "data"
FAST = ["--seq-len", "64", "--batch", "8", "--size", "tiny", "--device", "cpu", "--eval-tokens", "1024"]


def test_parse_reads_index_or_text_answers_and_names_the_bad_row():
    frame = pd.DataFrame({"question": ["2 + 2 =", "The sky is"], "choices": [["3", "4"], ["blue", "green", "red"]],
                          "answer": [1, "blue"]})
    assert proxy_choice.parse(frame, "mc.jsonl") == (["2 + 2 =", "The sky is"], [["3", "4"], ["blue", "green", "red"]],
                                                     [1, 0])
    assert proxy_choice.right_texts(*proxy_choice.parse(frame, "mc.jsonl")) == ["2 + 2 = 4", "The sky is blue"]
    assert proxy_choice.parse(pd.DataFrame({"text": ["plain"]}), "t.jsonl") is None  # a text target
    for bad, message in ((dict(answer=[1, 5]), "row 2: answer '5' is neither"),
                         (dict(answer=[1, "purple"]), "row 2: answer 'purple'"),
                         (dict(choices=[["3", "4"], ["blue"]]), "row 2: needs a question and a list of two")):
        with pytest.raises(UserError, match=message):
            proxy_choice.parse(frame.assign(**bad), "mc.jsonl")
    with pytest.raises(UserError, match="needs 'question'"):
        proxy_choice.parse(frame.drop(columns="answer"), "mc.jsonl")


class _Successor:
    """A labelled double of a causal LM: at every position it predicts (current token + 1)."""

    def eval(self):
        return self

    def __call__(self, input_ids):
        import torch

        logits = torch.full((*input_ids.shape, 16), -8.0)
        logits.scatter_(-1, ((input_ids + 1) % 16)[..., None], 8.0)
        return type("Out", (), {"logits": logits})()


def test_score_reads_each_choice_after_its_question():
    q, choices = np.array([1, 2, 3]), [np.array([4, 5]), np.array([4, 9]), np.array([7, 8])]
    # after 1 2 3 the successor double gives [4, 5] two right tokens (mean log-prob ~0), [4, 9] and
    # [7, 8] one each (mean ~-8): P = 1 / (1 + 2e-8) on the first, e-8 / (1 + 2e-8) on each other
    right, other = 1 / (1 + 2 * np.exp(-8)), np.exp(-8) / (1 + 2 * np.exp(-8))
    for answer, p_correct, acc in ((0, right, 1.0), (2, other, 0.0)):
        items = proxy_choice.ChoiceItems([q], [choices], np.array([answer]))
        got = proxy_choice.score(_Successor(), items, "cpu", max_len=32)
        assert got == {"p_correct": pytest.approx(p_correct, abs=1e-4), "acc": acc, "items": 1}
        # cut from the left to the context: the choice's own tokens are still all scored
        assert proxy_choice.score(_Successor(), items, "cpu", max_len=3)["p_correct"] == pytest.approx(p_correct, abs=1e-4)
    both = proxy_choice.ChoiceItems([q, q], [choices, choices], np.array([0, 2]))
    assert proxy_choice.score(_Successor(), both, "cpu", max_len=32)["acc"] == 0.5
    assert both.key() != proxy_choice.ChoiceItems([q, q], [choices, choices], np.array([0, 1])).key()


@pytest.fixture
def mc(workspace, tmp_path):
    """Corpus 'tiny' (the C4 sample's first 45 documents, selections 'a' and 'b' of 30 each) and a
    multiple-choice file from the next 15: the document's first words, then its true next words or
    another document's; one more row repeats a training document whole (overlap, removed)."""
    from engine import pipeline
    from engine.storage import selections as sel_store

    docs = [json.loads(line)["text"] for line in (DATA / "c4_sample.jsonl").read_text().splitlines()]
    src = tmp_path / "corpus.jsonl"
    src.write_text("\n".join(json.dumps({"text": t}) for t in docs[:45]))
    pipeline.ingest(workspace, src, "tiny")
    with workspace.connect() as con:
        ids = [d for (d,) in con.execute("SELECT doc_id FROM documents WHERE corpus = 'tiny' ORDER BY doc_id").fetchall()]
        sel_store.save_selection(con, "a", "tiny", "test", {}, ids[:30])
        sel_store.save_selection(con, "b", "tiny", "test", {}, ids[15:])
    rows = []
    for i, t in enumerate(docs[45:60]):
        words, other = t.split(), docs[45 + (i + 1) % 15].split()
        rows.append({"question": " ".join(words[:20]), "choices": [" ".join(words[20:28]), " ".join(other[20:28])],
                     "answer": 0})
    first = docs[0].split()
    rows.append({"question": " ".join(first[:-3]), "choices": [" ".join(first[-3:]), "no"], "answer": 0})
    target = tmp_path / "mc.jsonl"
    target.write_text("\n".join(json.dumps(r) for r in rows))
    return workspace, target


def test_a_multiple_choice_check_reports_the_probability_on_the_right_choice(mc, capsys):
    ws, target = mc
    argv = ["--db", ws.path, "proxy", "--corpus", "tiny", "--selections", "a,b", "--target", str(target),
            "--seeds", "2", "--tokens", "4096", *FAST]
    assert cli.main([*argv, "--json"], progress=lambda *a: None) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["target"]["multiple_choice"] and rep["target"]["removed_overlap"] == 1 and rep["target"]["docs"] == 15
    for e in rep["entries"]:
        assert 0 < e["p_correct_mean"] < 1 and 0 <= e["acc_mean"] <= 1 and e["choice_items"] == 15
        assert e["p_correct_ci95"][0] <= e["p_correct_mean"] <= e["p_correct_ci95"][1]
    pair = rep["pairs"][0]
    better = next(e for e in rep["entries"] if e["name"] == pair["better"])
    worse = next(e for e in rep["entries"] if e["name"] == pair["worse"])
    assert pair["p_correct_gap_mean"] == pytest.approx(better["p_correct_mean"] - worse["p_correct_mean"], abs=1e-4)
    assert cli.main(argv, progress=lambda *a: None) == 0  # stored: the text table reads the same runs
    out = capsys.readouterr().out
    assert out.count("P(right choice)") == 3 and "accuracy" in out
    with ws.connect() as con:
        assert con.execute("SELECT count(*) FROM proxy_runs").fetchone()[0] == 4  # 2 selections x 2 seeds, once
