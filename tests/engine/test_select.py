"""Selection strategies on synthetic `corpus_frame`-shaped frames (pure NumPy, no models)."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from engine.errors import UserError
from engine.ranks import percentile_ranks
from engine.select import (budget_count, choose, compare_strategies, ips_keys, propensities, replay_args,
                           select_ids)


def frame(n=1000, seed=0, missing_quality=0, missing_density=0):
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"doc_id": [f"d{i:06d}" for i in range(n)], "askllm": rng.random(n),
                      "perplexity": -rng.gamma(2.0, 1.0, n), "density": rng.lognormal(0, 1, n),
                      "x": rng.normal(size=n), "y": rng.normal(size=n)})
    f.loc[f.index[:missing_quality], "askllm"] = np.nan
    f.loc[f.index[-missing_density or len(f):], "density"] = np.nan
    return f


@pytest.mark.parametrize("seed", [0, 1, 42])
@pytest.mark.parametrize("budget", [0.1, 0.5, 37])
def test_combined_at_the_ends_equals_the_pure_strategies(seed, budget):
    f = frame(missing_quality=30, missing_density=20)  # each end ignores the other signal's gaps
    f.loc[f.index[100:140], "askllm"] = 0.5  # ties must break the same way too
    ids = lambda strategy, weight: select_ids(f, strategy, weight, budget, seed)  # noqa: E731
    assert np.array_equal(ids("combined", 1.0), ids("askllm", 0.3))
    assert np.array_equal(ids("combined", 0.0), ids("density", 0.3))
    mid = choose(f, "combined", 0.5, budget, seed)
    assert mid.n_excluded == 50  # in between, both signals are needed


def test_combined_moves_from_quality_to_coverage_with_the_weight():
    f = frame(5000)
    mean_q = [f.set_index("doc_id").loc[select_ids(f, "combined", w, 0.1, 0), "askllm"].mean()
              for w in (0.0, 0.5, 1.0)]
    mean_d = [f.set_index("doc_id").loc[select_ids(f, "combined", w, 0.1, 0), "density"].mean()
              for w in (0.0, 0.5, 1.0)]
    assert mean_q[0] < mean_q[1] < mean_q[2] and mean_d[0] < mean_d[1] < mean_d[2]


def test_same_seed_same_selection_other_seed_other_selection():
    f = frame()
    for strategy in ("random", "density", "combined"):
        a, b = select_ids(f, strategy, 0.5, 0.2, 7), select_ids(f, strategy, 0.5, 0.2, 7)
        assert np.array_equal(a, b)
        assert not np.array_equal(a, select_ids(f, strategy, 0.5, 0.2, 8))
    assert np.array_equal(select_ids(f, "askllm", 0.5, 0.2, 1), select_ids(f, "askllm", 0.5, 0.2, 2))


def test_density_sampler_draws_proportional_to_inverse_density():
    """Gumbel-top-1 over many seeds: inclusion frequency ~ (1/density) / sum(1/density)."""
    f = pd.DataFrame({"doc_id": list("abcd"), "density": [1.0, 2.0, 4.0, 8.0]})
    for temperature, expected in ((1.0, np.array([8, 4, 2, 1]) / 15), (0.5, np.array([64, 16, 4, 1]) / 85)):
        freq = np.bincount(_first_draws(f, temperature, "density"), minlength=4) / 4000
        assert np.abs(freq - expected).max() < 0.03  # ~3.5 standard errors


def _first_draws(f, temperature, how, n=4000):
    """Row drawn first (budget 1) under n Gumbel noise draws: `choose`'s keys, vectorised; the
    draw of seed 0 is checked against `choose` itself."""
    values = propensities(f, how)[0]
    noise = np.random.default_rng(0).gumbel(size=(n, len(f)))
    first = np.argmax(ips_keys(values[None, :], noise, temperature), axis=1)
    seed0 = ips_keys(values, np.random.default_rng([0, 2]).gumbel(size=len(f)), temperature).argmax()
    assert choose(f, "density", budget=1, seed=0, temperature=temperature, propensity=how).rows[0] == seed0
    return first


def test_cluster_propensity_gives_each_topic_an_equal_share_at_temperature_1():
    """8 documents in topic 0, 2 in topic 1, equal density: density alone draws topic 1 with
    P = 2/10; the cluster propensity (share x density / cluster median) with P = 1/2."""
    f = pd.DataFrame({"doc_id": list("abcdefghij"), "density": 1.0, "cluster": [0.0] * 8 + [1.0] * 2})
    rate = {how: np.mean(_first_draws(f, 1.0, how) >= 8) for how in ("clusters", "density")}
    assert abs(rate["clusters"] - 0.5) < 0.03 and abs(rate["density"] - 0.2) < 0.03
    result = choose(f, "density", budget=3)
    assert result.params["propensity"] == "clusters" and result.params["temperature"] == 0.5


def test_cluster_propensity_falls_back_to_density_when_a_document_has_no_cluster():
    f = frame(50)
    f["cluster"] = np.r_[np.zeros(49), np.nan]  # a document ingested after clustering
    result = choose(f, "combined", 0.5, 10, 0)
    assert result.params["propensity"] == "density"
    assert "1 documents have no topic cluster: density alone" in result.message
    assert np.array_equal(result.doc_ids, choose(f, "combined", 0.5, 10, 0, propensity="density").doc_ids)
    assert "temperature" not in choose(f, "askllm", 0.5, 10).params  # no coverage side: not recorded
    for bad in (0, -1, float("nan")):
        with pytest.raises(UserError, match="temperature"):
            choose(f, "density", temperature=bad)
    with pytest.raises(UserError, match="unknown propensity"):
        choose(f, "density", propensity="topics")


def test_a_selection_saved_before_the_coverage_settings_replays_with_the_old_ones():
    old = {"strategy": "density", "weight": 0.5, "budget": 0.2, "seed": 3, "quality": "askllm"}
    assert replay_args(old) == {**old, "temperature": 1.0, "propensity": "density"}
    new = choose(frame(), "density", 0.5, 0.2, 3).params
    assert replay_args(new)["temperature"] == 0.5 and replay_args(new)["propensity"] == "density"


def test_top_k_strategies_take_the_best_and_report_missing_scores():
    f = frame(missing_quality=10)
    result = choose(f, "askllm", budget=50, corpus="c4")
    assert result.n_excluded == 10 and "10 without askllm" in result.message
    best = f.dropna(subset=["askllm"]).nlargest(50, "askllm")["doc_id"]
    assert list(result.doc_ids) == list(best)
    ppl = select_ids(f, "perplexity", budget=5)
    assert list(ppl) == list(f.nlargest(5, "perplexity")["doc_id"])
    f["curator"] = np.linspace(0, 1, len(f))  # the review page's classifier output
    assert list(select_ids(f, "curator", budget=3)) == list(f["doc_id"].iloc[::-1][:3])
    assert len(select_ids(f.dropna(), "combined", 1.0, 3, quality="curator")) == 3


def test_budget_fraction_count_and_bad_values():
    assert budget_count(0.2, 1000) == 200 and budget_count(1.0, 7) == 7 and budget_count(0.01, 10) == 1
    assert budget_count(500, 1000) == 500 and budget_count(3.0, 10) == 3
    for bad in (0, -1, 1.5, float("nan"), "10", True):
        with pytest.raises(UserError, match="budget"):
            budget_count(bad, 100)
    result = choose(frame(10, missing_quality=4), "askllm", budget=8)
    assert len(result.doc_ids) == 6 and "exceeds the 6 eligible" in result.message


def test_missing_signal_and_bad_parameters_say_what_to_run():
    f = frame().drop(columns=["density"])
    with pytest.raises(UserError, match=r"python -m engine density --corpus c4"):
        choose(f, "density", corpus="c4")
    with pytest.raises(UserError, match=r"score --corpus c4 --signal askllm"):
        choose(frame().assign(askllm=np.nan), "combined", 0.5, corpus="c4")
    with pytest.raises(UserError, match="no 'curator' scores .* train the curator signal"):
        choose(f, "curator")
    with pytest.raises(UserError, match="unknown strategy"):
        choose(f, "best")
    with pytest.raises(UserError, match="weight"):
        choose(frame(), "combined", 1.5)
    assert len(select_ids(f, "combined", 1.0, 10)) == 10  # weight 1 needs no density


def test_percentile_rank_keeps_order_and_ties():
    """select's scale is rank / n in (0, 1]; the quality signals' (rank - 1) / (n - 1), NaN kept."""
    r = percentile_ranks(np.array([3.0, 1.0, 2.0, 2.0, 5.0]), from_zero=False)
    assert list(r) == [0.8, 0.2, 0.5, 0.5, 1.0]
    r = percentile_ranks(np.array([3.0, 1.0, np.nan, 2.0, 2.0, 5.0]))
    assert np.isnan(r[2]) and list(np.delete(r, 2)) == [0.75, 0.0, 0.375, 0.375, 1.0]
    assert list(percentile_ranks(np.array([np.nan, 7.0]))[1:]) == [0.5]


def test_compare_strategies_table():
    f = frame(2000)
    table = compare_strategies(f, budget=0.1, seed=0, weight=0.5).set_index("strategy")
    assert list(table.index) == ["random", "askllm", "perplexity", "density", "combined"]  # no curator column
    assert (table["n"] == 200).all() and table["coverage"].between(0, 1).all()
    assert (np.diag(table[[f"overlap_{s}" for s in table.index]].to_numpy()) == 1).all()
    assert table.loc["askllm", "mean_quality"] == table["mean_quality"].max()
    clustered = f.assign(x=np.where(f["density"] > 1, 0.0, f["x"]))  # dense docs pile on one spot
    cov = compare_strategies(clustered, 0.1, 0).set_index("strategy")["coverage"]
    assert cov["density"] > cov["random"]  # inverse propensity reaches more of the map
    assert compare_strategies(f.drop(columns=["x", "y"]), 0.1)["coverage"].isna().all()


def test_selection_on_100k_documents_is_interactive():
    f = frame(100_000)
    for strategy in ("random", "askllm", "density", "combined"):
        start = time.perf_counter()
        choose(f, strategy, 0.5, 0.2, 0)
        assert time.perf_counter() - start < 1.0, strategy
