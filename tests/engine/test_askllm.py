"""engine.askllm with the real packaged judges (and a random-weight T5 for the seq2seq path)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import askllm
from engine.askllm import AskLLMConfig
from engine.errors import UserError
from engine.models import DEFAULT_PERPLEXITY_LM as SMOL

DOCS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, built from 1887 to 1889.",
    "Click here!!! cheap pills casino bonus buy now",
    "Home | About | Contact",
    "Photosynthesis lets green plants turn sunlight, water and carbon dioxide into sugar and oxygen. "
    "It takes place mostly in the leaves, inside chloroplasts.",
]


def test_scores_are_probabilities_in_input_order(gemma_judge):
    config = AskLLMConfig(device="cpu", batch_size=2)
    scores, truncated = askllm.score_batch(DOCS, config)
    assert scores.shape == (4,) and scores.dtype == np.float32 and not truncated.any()
    assert ((scores > 0) & (scores < 1)).all()
    reversed_scores, _ = askllm.score_batch(DOCS[::-1], config)
    np.testing.assert_allclose(reversed_scores[::-1], scores, atol=1e-4)


def test_batched_equals_one_at_a_time_with_chat_template(smollm2):
    config = AskLLMConfig(model=SMOL, device="cpu", batch_size=4)
    batched, _ = askllm.score_batch(DOCS, config)
    single = np.array([askllm.score_batch([d], config)[0][0] for d in DOCS])
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_long_document_is_truncated_and_flagged(smollm2):
    long_doc = " ".join(["word"] * 200)
    config = AskLLMConfig(model=SMOL, device="cpu", max_doc_tokens=16)
    scores, truncated = askllm.score_batch(["Paris is in France.", long_doc], config)
    assert truncated.tolist() == [False, True] and np.isfinite(scores).all()
    cut, flags = askllm._truncate(smollm2[1], [long_doc], 16)
    assert flags[0] and len(smollm2[1](cut[0], add_special_tokens=False)["input_ids"]) <= 17


def test_calibration_shifts_scores_but_keeps_their_order(smollm2):
    plain = AskLLMConfig(model=SMOL, device="cpu", use_chat_template=False, calibrate=False)
    raw, _ = askllm.score_batch(DOCS, plain)
    cal, _ = askllm.score_batch(DOCS, AskLLMConfig(model=SMOL, device="cpu", use_chat_template=False,
                                                   calibrate=True))
    assert not np.allclose(raw, cal, atol=1e-3)
    assert np.argsort(raw).tolist() == np.argsort(cal).tolist()


def test_prompts_follow_template_few_shot_order_and_chat_switch(smollm2):
    _, tok = smollm2
    chat, special = askllm.build_prompt("DOC", AskLLMConfig(model=SMOL, few_shot="bad-good"), tok)
    assert special and "<|im_start|>assistant" in chat
    assert chat.index(askllm.FEW_SHOT_BAD) < chat.index(askllm.FEW_SHOT_GOOD) < chat.index("DOC")
    plain, special = askllm.build_prompt(
        "DOC", AskLLMConfig(model=SMOL, few_shot="good-bad", use_chat_template=False), tok)
    assert not special and "<|im_start|>" not in plain
    assert plain.index(askllm.FEW_SHOT_GOOD) < plain.index(askllm.FEW_SHOT_BAD) < plain.index("DOC")
    assert plain.endswith("###\nDOC\n###\n\n" + askllm.TEMPLATES["paper-inline"].split("###\n\n", 1)[1])


def test_answer_tokens_are_yes_and_no_variants(gemma_judge):
    tok = gemma_judge[1]
    yes, no = askllm.answer_token_ids(tok)
    assert yes and no and not set(yes) & set(no)
    assert {tok.decode([i]).strip().lower() for i in yes} == {"yes"}
    assert {tok.decode([i]).strip().lower() for i in no} == {"no"}


def test_seq2seq_judge_reads_first_decoder_step(tiny_t5_dir):
    """Random-weight T5 (test double): the score must equal a hand computation of step 0."""
    from engine.models import load_lm

    config = AskLLMConfig(model=str(tiny_t5_dir), device="cpu", batch_size=2, calibrate=False)
    scores, _ = askllm.score_batch(DOCS[:3], config)
    model, tok = load_lm(str(tiny_t5_dir), device="cpu")
    yes, no = askllm.answer_token_ids(tok)
    prompt, _ = askllm.build_prompt(DOCS[1], config, tok, seq2seq=True)
    with torch.no_grad():
        enc = tok(prompt, return_tensors="pt")
        start = torch.tensor([[model.config.decoder_start_token_id]])
        logp = model(**enc, decoder_input_ids=start).logits[0, 0].log_softmax(-1)
    lo = torch.logsumexp(logp[yes], 0) - torch.logsumexp(logp[no], 0)
    assert scores[1] == pytest.approx(torch.sigmoid(lo).item(), abs=1e-4)


def test_config_key_names_what_changes_results():
    base = AskLLMConfig()
    assert base.key() == AskLLMConfig().key()
    assert base.key().startswith("askllm:gemma3-270m:paper-inline-")
    changed = [AskLLMConfig(template="paper"), AskLLMConfig(model=SMOL), AskLLMConfig(calibrate=False),
               AskLLMConfig(few_shot="good-bad"), AskLLMConfig(few_shot="bad-good"),
               AskLLMConfig(max_doc_tokens=64)]
    keys = {c.key() for c in changed}
    assert len(keys) == len(changed) and base.key() not in keys
    assert AskLLMConfig(batch_size=64, device="cpu").key() == base.key()  # same results, same key


@pytest.mark.parametrize("kwargs", [{"template": "nope"}, {"few_shot": "x"}, {"max_doc_tokens": 0}])
def test_bad_config_is_a_user_error(kwargs):
    with pytest.raises(UserError):
        AskLLMConfig(**kwargs)


def test_empty_input():
    scores, truncated = askllm.score_batch([], AskLLMConfig())
    assert scores.shape == (0,) and truncated.shape == (0,)


GOOD = [
    "The Great Barrier Reef is the world's largest coral reef system, composed of over 2,900 individual "
    "reefs and 900 islands stretching for over 2,300 kilometres off the coast of Queensland, Australia.",
    "To make a basic vinaigrette, whisk three parts olive oil with one part vinegar, then season with "
    "salt, pepper and a little mustard, which helps the oil and vinegar stay mixed.",
    "The French Revolution began in 1789 and ended in the late 1790s with the ascent of Napoleon "
    "Bonaparte. During this period, French citizens radically altered their political landscape.",
]
SPAM = [
    "Home | About Us | Contact Us | Privacy Policy | Terms of Service | Sitemap",
    "CLICK HERE!!! Cheap viagra cialis online no prescription best price buy now casino bonus free spins $$$",
    "Copyright 2019 All rights reserved. Powered by WordPress. Theme by ThemeForest.",
]


def test_default_judge_ranks_clear_prose_above_clear_spam(gemma_judge):
    """Hand-picked, clear-cut C4-like cases only (on labelled lines the judge is weak, AUC ~0.65:
    bench/results/quality_auc.md). Measured here: prose 0.55-0.56, spam 0.47-0.50 (CPU, fp32)."""
    scores, _ = askllm.score_batch(GOOD + SPAM, AskLLMConfig(device="cpu"))
    assert scores[:3].min() > scores[3:].max(), scores


def test_pipeline_reports_progress_once_not_also_with_the_scorers_bar(tiny_t5_dir, workspace, tmp_path, capsys):
    """The CLI showed two bars for one stage (the pipeline's and the scorer's own): the pipeline
    now turns the scorer's off; called directly, the scorer keeps its bar."""
    from engine import pipeline

    texts = [f"Document number {i} about {topic}." for i, topic in enumerate(["rivers", "tax law", "baking"] * 6)]
    config = AskLLMConfig(model=str(tiny_t5_dir), device="cpu", batch_size=2)
    askllm.score_batch(texts, config)
    assert "Ask-LLM" in capsys.readouterr().err
    (tmp_path / "d.jsonl").write_text("".join(f'{{"text": "{t}"}}\n' for t in texts))
    pipeline.ingest(workspace, tmp_path / "d.jsonl", "d")
    calls = []
    pipeline.score(workspace, "d", "askllm", config, progress=lambda *a: calls.append(a))
    assert "Ask-LLM" not in capsys.readouterr().err
    assert calls[-1] == ("askllm", len(texts), len(texts))
