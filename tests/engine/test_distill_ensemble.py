"""engine.distill and engine.ensemble: sampling, heads, validation figures, rank-mean and stack.

Synthetic embeddings with a planted direction stand in for MiniLM vectors here (a unit test of
the maths); the stage tests run the real judge and embedder end to end."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from engine import distill, ensemble
from engine.errors import UserError


def _corpus(n=600, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    judge = X[:, 0] * 3 + rng.normal(scale=0.3, size=n)  # the judge mostly reads one direction
    return X, judge


def test_sample_size_rule_and_bad_input():
    cfg = distill.DistillConfig()
    assert distill.sample_size(500, cfg) == 500  # small corpus: all of it
    assert distill.sample_size(10_000, cfg) == 2000
    assert distill.sample_size(100_000, cfg) == 5000  # 5 %
    with pytest.raises(UserError, match=r"sample of 900 documents is larger than the corpus \(500\)"):
        distill.sample_size(500, distill.DistillConfig(sample_size=900))
    with pytest.raises(UserError, match="unknown distilled head"):
        distill.DistillConfig(head="forest")


def test_sample_is_seeded_and_stratified():
    clusters = np.repeat([0, 1, 2], [800, 150, 50])
    a = distill.draw_sample(1000, 100, seed=3, clusters=clusters)
    assert np.array_equal(a, distill.draw_sample(1000, 100, seed=3, clusters=clusters))
    assert len(np.unique(a)) == 100
    assert np.bincount(clusters[a]).tolist() == [80, 15, 5]  # proportional to cluster sizes
    assert not np.array_equal(a, distill.draw_sample(1000, 100, seed=4, clusters=clusters))
    assert len(distill.draw_sample(1000, 100, seed=3)) == 100  # no clusters: uniform


@pytest.mark.parametrize("head", distill.HEADS)
def test_heads_learn_the_judge_and_validate_on_held_out_rows(head):
    X, judge = _corpus()
    cfg = distill.DistillConfig(head=head)
    fitted = distill.fit_distilled(X[:400], judge[:400], cfg)
    assert fitted["validation"]["n_heldout"] == 80  # 20 % of the sample never trained the probe
    assert fitted["validation"]["spearman"] > 0.75 and fitted["validation"]["auc"] > 0.85
    unseen = distill.apply_head(fitted["head"], X[400:])  # documents the judge never read
    assert spearmanr(unseen, judge[400:]).statistic > 0.75
    import json
    assert distill.apply_head(json.loads(json.dumps(fitted["head"])), X[:3]).shape == (3,)  # JSON round trip


def test_curator_decisions_pull_the_head():
    X, judge = _corpus()
    flipped = X[:, 1] > 0.2  # the curator rejects what the judge cannot see
    cur = np.flatnonzero(flipped)[:60]
    plain = distill.fit_distilled(X[:300], judge[:300], distill.DistillConfig())
    taught = distill.fit_distilled(X[:300], judge[:300], distill.DistillConfig(curator_weight=5.0),
                                   X[cur], np.zeros(len(cur)))
    assert taught["n_curator"] == 60
    assert distill.apply_head(taught["head"], X[cur]).mean() < distill.apply_head(plain["head"], X[cur]).mean()


def test_constant_judge_is_one_clear_line():
    X, _ = _corpus(100)
    with pytest.raises(UserError, match="at least 20 judged documents with differing scores"):
        distill.fit_distilled(X, np.ones(100), distill.DistillConfig())


def test_rank_mean_orients_and_skips_missing():
    members = {"askllm": np.array([0.9, 0.1, 0.5, np.nan]), "density": np.array([1.0, 3.0, 2.0, 0.5])}
    q, rec = ensemble.combine(members, {"density": "low"}, ensemble.EnsembleConfig(mode="rank-mean"))
    assert rec["mode"] == "rank-mean" and rec["members"] == ["askllm", "density"]
    assert q[0] > q[2] > q[1]  # high P(yes) and low density both count as good
    assert q[3] == pytest.approx(1.0)  # only the member it has


def test_stack_needs_enough_decisions_and_beats_a_noise_member():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 400)
    members = {"good": truth + rng.normal(scale=0.8, size=400), "noise": rng.normal(size=400)}
    few = np.full(400, np.nan)
    few[:12] = truth[:12]
    with pytest.raises(UserError, match="needs >= 30 curator decisions"):
        ensemble.combine(members, {}, ensemble.EnsembleConfig(mode="stack"), few)
    q, rec = ensemble.combine(members, {}, ensemble.EnsembleConfig(), few)
    assert rec["mode"] == "rank-mean" and "why_not_stack" in rec
    many = np.full(400, np.nan)
    many[:150] = truth[:150]
    q, rec = ensemble.combine(members, {}, ensemble.EnsembleConfig(), many)
    assert rec["mode"] == "stack" and rec["stack"]["cv_auc"] > 0.7
    assert abs(rec["stack"]["w"][0]) > 3 * abs(rec["stack"]["w"][1])


def test_key_names_members_and_changes_with_them():
    a = ensemble.ensemble_key("rank-mean", {"askllm": "askllm:gemma", "perplexity": "perplexity:smol"})
    assert a.startswith("quality:rank-mean:askllm+perplexity@")
    assert a != ensemble.ensemble_key("rank-mean", {"askllm": "askllm:qwen", "perplexity": "perplexity:smol"})
    with pytest.raises(UserError, match="no quality signal"):
        ensemble.combine({}, {})
