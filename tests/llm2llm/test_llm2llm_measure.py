"""LLM2LLM measured right (issue 20): one training seed per run, so an iteration that added
nothing reproduces the previous student exactly (CPU, the real SmolLM2-135M student); the noise
replicates and the floor in `status --json`; label-likelihood answers checked against
log-probabilities computed row by row and against generation on a tiny TREC slice; the teacher
readiness check with teacher doubles (always wrong, silent) and the power formula."""
from __future__ import annotations

import json
import math

import pytest

from engine.cli import main
from engine.llm2llm import augment, readiness
from engine.llm2llm import student as st
from engine.llm2llm.loop import LLM2LLMConfig, start_llm2llm
from engine.llm2llm.noise import noise_floor, pooled_sd, sample_sd, seeds_needed, verdict
from engine.llm2llm.student import StudentSettings
from engine.llm2llm.tasks import TREC_DESCRIPTIONS, TREC_LABELS, Task, load_task
from engine.llm2llm.teacher import Reply, TeacherSettings
from engine.storage import llm2llm as db
from engine.storage import llm2llm_controls as controls

from conftest import DATA
from llm2llm_tiny import tiny_student

TRAIN, TEST = str(DATA / "llm2llm_trec_train.label"), str(DATA / "llm2llm_trec_test.label")
TREC = Task("trec", "classification", TREC_LABELS, "question", TREC_DESCRIPTIONS)


class EchoTeacher:
    """Labelled teacher double: replies with its seed's own text, so every reply parses and the
    near-duplicate rule rejects it: an iteration that adds nothing. `choose` is always wrong."""
    name = "echo-double"

    def batch_size(self) -> int:
        return 8

    def generate(self, prompts, seed, prefix="", one_line=False):
        return [Reply("Text: " + p[-1]["content"].split("Text: ")[1].split("\n")[0] + " !") for p in prompts]

    def choose(self, prompts, options):
        return [0 for _ in prompts]


class WrongTeacher(EchoTeacher):
    """Always wrong: labels every seed with a label that is not its gold one, writes nothing usable."""
    name = "wrong-double"

    def __init__(self, gold):
        self.gold = gold  # text -> gold label

    def choose(self, prompts, options):
        texts = [p[-1]["content"].split("\nQuestion: ")[1].split("\n")[0] for p in prompts]
        # a seed: any label but its gold one; a new input (the label check of a run): the first label
        return [(options.index(self.gold[t]) + 1) % len(options) if t in self.gold else 0 for t in texts]

    def generate(self, prompts, seed, prefix="", one_line=False):
        return [Reply("I cannot help with that.") for _ in prompts]


class SilentTeacher(EchoTeacher):
    name = "silent-double"

    def choose(self, prompts, options):
        return [None for _ in prompts]

    def generate(self, prompts, seed, prefix="", one_line=False):
        return [Reply(None, "request_failed: ReadTimeout: timed out") for _ in prompts]


def _config(student: str, **kw) -> LLM2LLMConfig:
    base = dict(task="trec", train_path=TRAIN, test_path=TEST, seed_size=8, test_size=8, iterations=1,
                max_attempts=1, label_check="off", topic_check=False, readiness_sample=0, record_generation=False,
                student=StudentSettings(model=student, epochs=1, max_new_tokens=4),
                teacher=TeacherSettings(model="smollm2-135m-instruct", max_new_tokens=24))
    return LLM2LLMConfig(**(base | kw))


@pytest.mark.slow
@pytest.mark.parametrize("student", ["smollm2-135m-instruct", "tiny"])
def test_an_iteration_that_adds_nothing_reproduces_the_previous_student_exactly(workspace, tmp_path, monkeypatch,
                                                                                 student):
    """The real SmolLM2-135M student (and the 2-layer double) on CPU: iteration 1 trains on exactly
    iteration 0's data, with the same training seed, so every prediction and the test accuracy
    repeat bit for bit."""
    monkeypatch.setattr(augment, "make_teacher", lambda settings: EchoTeacher())
    model = tiny_student() if student == "tiny" else student
    start_llm2llm(workspace, "same", _config(model, run_dir=str(tmp_path)))
    with workspace.connect() as con:
        summary = db.iteration_summary(con, "same").set_index("iteration")
        preds = {it: db.predictions(con, "same", it, "test") for it in (0, 1)}
        sets = {it: db.train_set(con, "same", it) for it in (0, 1)}
    assert summary.loc[0, "n_accepted"] == 0 and summary.loc[0, "n_parsed"] == summary.loc[0, "n_requests"]
    assert sets[0] == sets[1] and summary.loc[1, "n_synthetic"] == 0
    assert preds[0] == preds[1] and summary.loc[1, "test_acc"] == summary.loc[0, "test_acc"]


@pytest.mark.slow
def test_noise_replicates_and_status_json_give_the_floor_per_iteration(workspace, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(augment, "make_teacher", lambda settings: EchoTeacher())
    start_llm2llm(workspace, "noisy", _config(tiny_student(), noise_seeds=2, run_dir=str(tmp_path),
                                             record_generation=True))
    assert main(["--db", str(workspace.path), "llm2llm", "status", "noisy", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    with workspace.connect() as con:
        reps = controls.replicates(con, "noisy")
    assert list(reps["replicate"]) == [1, 2] and list(reps["train_seed"]) == [1000, 2000]
    it0, it1 = figures["iterations"]
    sigma = sample_sd([it0["test_acc"], *reps["test_acc"]])
    assert figures["noise"]["sd"] == pytest.approx(sigma) and figures["noise"]["replicates"] == 2
    assert it1["noise_floor"] == pytest.approx(2 * sigma * math.sqrt(2))  # one run: n = 1
    assert it0["n_added"] == 0 and it1["n_added"] == 0 and it1["gain"] == pytest.approx(0.0)
    assert it1["verdict"] in ("no measured gain", "no noise floor (no measured gain)")
    assert it0["test_acc_gen"] is not None and 0 <= it0["test_acc_gen"] <= 1  # both metrics recorded


def test_label_likelihood_is_the_row_by_row_argmax_and_always_a_label():
    """A tiny TREC slice, the 2-layer SmolLM2 double trained on 12 seeds: the batched answer equals
    the label whose log P(label + turn end | prompt), computed one row at a time, is highest; every
    answer is a label; generation may answer something that is none."""
    import torch

    from engine.llm2llm.teacher import render_chat, turn_end

    task, train, test = load_task("trec", TRAIN, TEST)
    settings = StudentSettings(model=tiny_student(), epochs=1, max_new_tokens=4, eval_batch_size=5)
    model, tok = st.train_student(task, [(r.input, r.output) for r in train[:12]], settings, seed=0)
    texts = [r.input for r in test[:6]]
    batched = st.label_answers(model, tok, task, texts, settings)
    for text, got in zip(texts, batched):
        prompt = tok(render_chat(tok, [{"role": "user", "content": task.prompt(text)}]), add_special_tokens=False)["input_ids"]
        scores = []
        for label in task.labels:
            tail = tok(label + turn_end(tok), add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logp = model(torch.tensor([prompt + tail])).logits[0].float().log_softmax(-1)
            scores.append(sum(float(logp[len(prompt) + k - 1, t]) for k, t in enumerate(tail)))
        assert got == task.labels[max(range(len(scores)), key=scores.__getitem__)]
    generated = st.generate_answers(model, tok, task, texts, settings)
    assert set(batched) <= set(task.labels) and len(generated) == len(texts)
    assert st.answer(model, tok, task, texts, settings) == batched
    assert st.answer(model, tok, task, texts, StudentSettings(model=tiny_student(), answer_by="generate",
                                                              max_new_tokens=4)) == generated


def test_readiness_warns_for_a_teacher_that_is_always_wrong(monkeypatch, capsys, workspace):
    config = _config(tiny_student(), readiness_sample=6)
    task, seeds = readiness.run_seeds(config)
    report = readiness.check_readiness(config, 6, task, seeds, WrongTeacher({s.input: s.output for s in seeds}))
    assert report["labelled_right"] == 0 and report["sampled"] == 6 and report["parsed"] == 0
    assert report["level"] == "warning" and "no usable reply" in report["sentence"]
    echo = readiness.check_readiness(config, 6, task, seeds, _EchoWrong({s.input: s.output for s in seeds}))
    assert echo["parsed"] == 6 and echo["passed"] == {"format": 6, "label_consistency": 6, "on_topic": 6,
                                                      "near_duplicate": 0}
    assert echo["level"] == "warning" and "cannot label this task reliably" in echo["sentence"]
    # The CLI prints it before anything trains; `--check` stops there, and nothing is created.
    monkeypatch.setattr(readiness, "make_teacher", lambda settings: _EchoWrong({s.input: s.output for s in seeds}))
    argv = ["--db", str(workspace.path), "llm2llm", "run", "--name", "c", "--task", "trec", "--train", TRAIN,
            "--test", TEST, "--seed-size", "8", "--readiness-sample", "6", "--check"]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert '"labelled_right": 0' in out.out and out.err.startswith("WARNING: ") and out.err.count("\n") == 1
    with workspace.connect() as con:
        assert db.get_run(con, "c") is None


class _EchoWrong(WrongTeacher):
    def generate(self, prompts, seed, prefix="", one_line=False):
        return EchoTeacher.generate(self, prompts, seed, prefix, one_line)


def test_readiness_of_a_silent_teacher_or_a_timeout_is_one_sentence():
    config = _config(tiny_student())
    task, seeds = readiness.run_seeds(config)
    report = readiness.check_readiness(config, 4, task, seeds, SilentTeacher())
    assert report["parsed"] == 0 and report["labelled_right"] == 0 and report["level"] == "warning"
    assert "no usable reply (request_failed: ReadTimeout: timed out)" in report["sentence"]


@pytest.mark.slow
def test_the_run_records_its_readiness_check(workspace, tmp_path, monkeypatch):
    monkeypatch.setattr(augment, "make_teacher", lambda settings: EchoTeacher())
    monkeypatch.setattr(readiness, "make_teacher", lambda settings: EchoTeacher())
    start_llm2llm(workspace, "checked", _config(tiny_student(), readiness_sample=4, run_dir=str(tmp_path)))
    with workspace.connect() as con:
        report = controls.readiness(con, "checked")
        assert db.stage_status(con, "checked", 0, "check") == "done"
    assert report["sampled"] == 4 and report["teacher"] == "echo-double" and report["parsed"] == 4


def test_noise_floor_verdicts_and_power():
    assert pooled_sd([[0.5, 0.7], [0.1, 0.3]]) == pytest.approx(math.sqrt(0.02))  # the cell means drop out
    assert noise_floor(None, 3) is None and noise_floor(0.05, 1) == pytest.approx(2 * 0.05 * math.sqrt(2))
    assert noise_floor(0.01, 4, gain_sd=0.1) == pytest.approx(2 * 0.1 / 2)  # the observed spread is larger
    assert verdict(0.02, 0.03) == "no measured gain" and verdict(0.04, 0.03) == "gain"
    assert verdict(-0.05, 0.03) == "loss" and verdict(0.2, None).startswith("no noise floor")
    # ((1.95996 + 0.84162) * 0.05 / 0.03) ** 2 = 21.80 -> 22 paired cells for a gain sd of 0.05
    assert seeds_needed(0.03, gain_sd=0.05) == 22
    assert seeds_needed(0.03) == 16  # sd of a gain = 0.03 * sqrt(2): (2.8016 * 1.4142) ** 2 = 15.7
    assert seeds_needed(0.03, paired=False) == 16 and seeds_needed(0.01) == 2
    with pytest.raises(ValueError):
        seeds_needed(0.0)


def test_default_seeds_on_a_gpu_come_from_the_measured_spread(monkeypatch):
    from engine.llm2llm import noise

    monkeypatch.setattr(noise, "MEASURED_SD", {"trec": 0.03, "sst2": None})
    assert noise.default_seeds("trec", on_gpu=True) == 16 and noise.default_seeds("trec", on_gpu=False) == 3
    assert noise.default_seeds("sst2", on_gpu=True) == noise.FALLBACK_SEEDS == 3
