"""engine.coverage: the per-cluster audit and cluster coverage metrics on a hand-checked toy."""
from __future__ import annotations

import numpy as np
import pytest

from engine.coverage import cluster_audit, cluster_metrics, dropped_topics, rare_clusters

# 10 documents in 4 clusters of sizes 4, 3, 2, 1 (+ one without a cluster); 4 kept: 2, 1, 1, 0
CLUSTERS = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 3, np.nan])
SELECTED = np.zeros(11, bool)
SELECTED[[0, 1, 4, 8]] = True
QUALITY = np.array([1, 1, 0, 0, 0.5, 0.5, np.nan, 1, 0, 0.2, 9])
LABELS = {0: "web", 1: "questions", 2: "math", 3: "reviews"}


def test_audit_numbers_by_hand():
    audit = cluster_audit(CLUSTERS, SELECTED, LABELS, QUALITY).set_index("cluster")
    # overall rate 4 / 10 = 0.4; loss = 1 - kept_rate / 0.4
    assert audit.loc[3, ["n_docs", "kept", "dropped"]].tolist() == [1, 0, 1]
    assert audit.loc[3, "loss"] == pytest.approx(1.0)
    assert audit.loc[1, "loss"] == pytest.approx(1 - (1 / 3) / 0.4)
    assert audit.loc[0, "loss"] == pytest.approx(-0.25)
    assert audit["share_corpus"].tolist() == pytest.approx([0.1, 0.3, 0.4, 0.2])
    assert audit["share_selection"].tolist() == pytest.approx([0.0, 0.25, 0.5, 0.25])
    assert audit.loc[1, "mean_quality"] == pytest.approx(0.5)  # the NaN is skipped
    assert audit.loc[0, "mean_quality_kept"] == pytest.approx(1.0)
    assert audit.loc[2, "mean_quality_kept"] == pytest.approx(0.0)
    assert np.isnan(audit.loc[3, "mean_quality_kept"])
    assert audit.loc[2, "label"] == "math"


def test_audit_sorts_the_most_dropped_topics_first():
    audit = cluster_audit(CLUSTERS, SELECTED, LABELS)
    assert audit["cluster"].tolist() == [3, 1, 0, 2]  # loss 1, 1/6, then -0.25 by size
    assert dropped_topics(audit)["label"].tolist() == ["reviews"]
    assert np.isnan(audit["mean_quality"]).all()  # no quality given


def test_cluster_metrics_by_hand():
    m = cluster_metrics(CLUSTERS, SELECTED)
    assert m["cluster_coverage"] == pytest.approx(3 / 4)
    # selection over clusters: 1/2, 1/4, 1/4 -> entropy 1.0397 nats / log 4
    assert m["cluster_entropy"] == pytest.approx(-(0.5 * np.log(0.5) + 0.5 * np.log(0.25)) / np.log(4))
    assert m["rare_cluster_retention"] == 0.0  # the rare cluster (size 1 <= 10%) lost its document
    assert cluster_metrics(CLUSTERS, SELECTED, rare_share=0.3)["rare_cluster_retention"] == pytest.approx(1 / 3)


def test_rare_clusters_are_the_smallest_within_the_share():
    assert rare_clusters(CLUSTERS).tolist() == [3]
    assert sorted(rare_clusters(CLUSTERS, 0.3).tolist()) == [2, 3]
    assert rare_clusters(np.zeros(5)).tolist() == [0]  # at least one


def test_everything_kept_or_nothing_clustered():
    everything = cluster_metrics(CLUSTERS, np.ones(11, bool))
    assert everything == {"cluster_coverage": 1.0, "cluster_entropy": pytest.approx(
        -(np.array([.4, .3, .2, .1]) * np.log([.4, .3, .2, .1])).sum() / np.log(4)), "rare_cluster_retention": 1.0}
    assert np.isnan(cluster_metrics(np.full(3, np.nan), np.ones(3, bool))["cluster_coverage"])


def test_compare_strategies_reports_topic_coverage_for_every_strategy():
    import pandas as pd

    from engine.select import choose, compare_strategies

    rng = np.random.default_rng(0)
    n = 400
    cluster = np.where(np.arange(n) < 360, np.arange(n) % 6, 6 + np.arange(n) % 4)  # 4 small clusters
    size = np.bincount(cluster)[cluster].astype(float)
    frame = pd.DataFrame({"doc_id": [f"d{i:03d}" for i in range(n)], "askllm": rng.random(n),
                          "density": size / np.median(size), "x": rng.random(n), "y": rng.random(n),
                          "cluster": cluster.astype(float)})
    table = compare_strategies(frame, budget=0.1, seed=1).set_index("strategy")
    assert {"random", "askllm", "density", "combined"} <= set(table.index)
    for strategy in table.index:
        mask = np.zeros(n, bool)
        mask[choose(frame, strategy, 0.5, 0.1, 1).rows] = True
        expected = cluster_metrics(frame["cluster"], mask)
        assert table.loc[strategy, list(expected)].tolist() == pytest.approx(list(expected.values()))
    # density = cluster size here, so inverse propensity favours the four small clusters
    assert table.loc["density", "rare_cluster_retention"] > 2 * table.loc["random", "rare_cluster_retention"]


def test_label_positions_and_region_summary():
    import pandas as pd

    from engine.coverage import label_positions, region_summary

    frame = pd.DataFrame({"doc_id": list("abcdef"), "snippet": ["one", "two", "three", "four", "five", "six"],
                          "x": [0, 1, 2, 10, 11, 50], "y": [0, 0, 0, 5, 5, 5], "cluster": [0, 0, 0, 1, 1, np.nan],
                          "askllm": [0.2, 0.4, np.nan, 1.0, 0.0, 0.5]})
    pos = label_positions(frame, {0: "web", 1: "math"}).set_index("cluster")
    assert pos.loc[0, ["x", "y", "n_docs"]].tolist() == [1, 0, 3] and pos.loc[1, "label"] == "math"
    assert list(label_positions(frame, {}, min_share=0.5)["cluster"]) == [0]  # 2 of 5 < half
    summary = region_summary(frame, ["a", "b", "c", "d", "zzz"], ["askllm", "density"], {0: "web"})
    assert summary["n"] == 4 and summary["means"] == {"askllm": pytest.approx(1.6 / 3)}
    assert summary["clusters"] == {"web": 3, "cluster 1": 1} and summary["examples"] == ["one", "two", "three"]


def test_audit_of_a_corpus_without_clusters_or_of_another_corpus_says_so():
    import pandas as pd

    from engine.api import selection_audit
    from engine.errors import UserError

    frame = pd.DataFrame({"doc_id": ["a", "b", "c"], "cluster": [0.0, 1.0, 1.0]})
    assert selection_audit(frame, ["b"], {0: "x", 1: "y"}, corpus="c")["kept"].sum() == 1
    with pytest.raises(UserError, match="has no clusters yet: run `python -m engine clusters --corpus c`"):
        selection_audit(frame.drop(columns="cluster"), ["a"], {}, corpus="c")
    with pytest.raises(UserError, match="none of the 2 selected documents belongs to corpus 'c'"):
        selection_audit(frame, ["zz", "yy"], {}, corpus="c")
