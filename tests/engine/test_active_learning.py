"""The "label next" queue, the headless review verbs, decision import and the quality model's
switch, on a real DuckDB workspace (the committed 60-document C4 sample with the fixture's
embeddings: even positions one cluster, odd the other)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine import active_learning, quality_model, review
from engine.cli import main
from engine.review_cli import good_ends
from engine.storage import corpus as store
from engine.storage import signals as signal_store


def _ids(ws, corpus="c4"):
    with ws.connect() as con:
        return store.documents(con, corpus)["doc_id"].tolist()


def _decide_by_side(ws, ids, n):
    """A simulated curator: accepts even positions (one embedding cluster), rejects odd ones."""
    for i in range(n):
        review.decide(ws, "c4", [ids[i]], review.ACCEPT if i % 2 == 0 else review.REJECT, "sim", change_decided=True)


def test_choose_skips_decided_near_duplicates_and_spreads_over_clusters():
    unit = active_learning.unit_rows(np.array([[1, 0], [1, 0.001], [0, 1], [0.7, 0.7], [1, 0.002], [0.01, 1]], float))
    labels = np.array([1, -1, -1, -1, -1, -1])
    proba = np.array([0.9, 0.5, 0.55, 0.6, 0.5, 0.52])
    clusters = np.array([0, 0, 1, 0, 0, 1])
    exploit = active_learning.QueueConfig(explore=0.0, spread=True)
    picked = active_learning.choose(unit, labels, proba, 3, {}, clusters, exploit)
    # rows 1 and 4: near-duplicates of the decided row 0; rows 2 and 5 near-duplicates of each other
    # (5 is the more uncertain); the untaught cluster 1 comes first
    assert picked == [5, 3]
    hashes = {0: "h", 3: "h"}  # row 3: the same text (normalised) as the decided row 0
    assert 3 not in active_learning.choose(unit, labels, proba, 5, hashes, clusters)  # the random default too
    assert not {1, 4} & set(active_learning.choose(unit, labels, proba, 5, hashes, clusters))


def test_text_hash_ignores_case_and_layout():
    assert active_learning.text_hash("Hello  World\n") == active_learning.text_hash("hello world")


def test_one_class_is_a_clear_line_and_no_model(app_workspace):
    ids = _ids(app_workspace)
    review.decide(app_workspace, "c4", ids[:4], review.ACCEPT, "sim")
    with pytest.raises(Exception, match="one class only so far .4 accepted, 0 rejected.*no model"):
        quality_model.refit(app_workspace, "c4", good_ends())
    assert quality_model.latest(app_workspace, "c4") is None


def test_next_decide_and_model_headless(app_workspace, capsys):
    ids = _ids(app_workspace)
    assert main(["review", "next", "--corpus", "c4", "--n", "5", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert len(first["documents"]) == 5 and "no_model" in first and first["documents"][0]["text"]
    _decide_by_side(app_workspace, ids, 12)
    assert main(["review", "decide", "--corpus", "c4", "--doc", ids[12], "--decision", "accept",
                 "--note", "clean prose"]) == 0
    out = capsys.readouterr().out
    assert "CV AUC" in out and "active quality =" in out
    assert main(["review", "next", "--corpus", "c4", "--n", "4", "--json"]) == 0
    batch = json.loads(capsys.readouterr().out)
    served = [d["doc_id"] for d in batch["documents"]]
    assert len(served) == 4 and not set(served) & set(ids[:13])  # never a decided document
    assert batch["model"]["n_decisions"] == 13
    doc = batch["documents"][0]
    assert doc["guess"] in ("accept", "reject") and doc["neighbours"] and "askllm rank" in doc["why"]
    assert main(["review", "decide", "--corpus", "c4", "--doc", "nope", "--decision", "accept"]) == 2
    assert "no document 'nope'" in capsys.readouterr().err
    # an explicit change is kept in the history, never silently overwritten
    assert main(["review", "decide", "--corpus", "c4", "--doc", ids[12], "--decision", "reject"]) == 0
    events = review.history(app_workspace, "c4", ids[12])
    assert list(events["decision_after"]) == ["reject", "accept"]


def test_active_quality_switches_only_on_evidence(app_workspace):
    ids = _ids(app_workspace)
    _decide_by_side(app_workspace, ids, 30)  # the embeddings separate the sides; askllm is random
    fit = quality_model.refit(app_workspace, "c4", good_ends())
    assert fit.active and fit.gain_ci[0] > 0 and fit.cv_auc > 0.9
    with app_workspace.connect() as con:
        assert signal_store.active_signal_key(con, "c4", "quality").startswith("quality:curator-model:")
    # now a curator whose decisions the embeddings cannot explain: the switch goes back
    rng = np.random.default_rng(1)
    for i, d in enumerate(ids[:30]):
        review.decide(app_workspace, "c4", [d], review.ACCEPT if rng.random() < 0.5 else review.REJECT, "sim",
                      change_decided=True)
    fit = quality_model.refit(app_workspace, "c4", good_ends())
    assert not fit.active and "no measured gain" in fit.why
    with app_workspace.connect() as con:
        assert signal_store.active_signal_key(con, "c4", "quality").startswith("quality:rank-mean:")
    curve = quality_model.fits(app_workspace, "c4")
    assert list(curve["active"]) == [True, False] and list(curve["n_decisions"]) == [30, 30]


def test_import_rows(app_workspace, tmp_path, capsys):
    ids = _ids(app_workspace)
    review.decide(app_workspace, "c4", [ids[5]], review.REJECT, "earlier")
    with app_workspace.connect() as con:
        text1 = store.documents(con, "c4", [ids[1]])["text"].iloc[0]
    f = tmp_path / "team.csv"
    import csv
    with open(f, "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["doc_id", "label"])
        w.writerows([[ids[0], "accept"], ["unknown-id", "1"], [ids[2], "maybe"], [ids[3], "1"], [ids[3], "0"],
                     [ids[4], "reject"], [ids[5], "accept"], [ids[6], "keep"]])
    assert main(["review", "import", str(f), "--corpus", "c4"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert [line.split(" row ")[1].split(":")[0] for line in err] == ["2", "3", "4", "5", "7"]
    assert all(line.startswith(f"error: {f} row ") for line in err)
    assert "no document with id 'unknown-id'" in err[0] and "both accepted and rejected" in err[2]
    assert "already rejected" in err[4] and "3 decisions recorded" in captured.out
    with app_workspace.connect() as con:
        got = dict(store.corpus_frame(con, "c4")[["doc_id", "decision"]].dropna().to_numpy())
    assert got == {ids[0]: "accept", ids[4]: "reject", ids[5]: "reject", ids[6]: "accept"}
    # by exact text, and a file without the named columns
    g = tmp_path / "by_text.jsonl"
    g.write_text(json.dumps({"text": text1, "verdict": "0"}) + "\n")
    assert main(["review", "import", str(g), "--corpus", "c4", "--label-column", "verdict"]) == 0
    assert main(["review", "import", str(g), "--corpus", "c4"]) == 2
    assert "no label column 'label' (columns: text, verdict)" in capsys.readouterr().err
    assert main(["review", "import", str(f), "--corpus", "c4", "--change-decided"]) == 2  # row 7 now changes
    assert list(review.history(app_workspace, "c4", ids[5])["decision_after"]) == ["accept", "reject"]


def test_export_carries_the_active_quality_model(app_workspace, tmp_path):
    import pandas as pd

    from engine import pipeline
    from engine.export import read_selection_metadata

    ids = _ids(app_workspace)
    _decide_by_side(app_workspace, ids, 30)
    fit = quality_model.refit(app_workspace, "c4", good_ends())
    assert fit.active
    pipeline.select(app_workspace, "c4", "random", budget=10, seed=0, name="r10")
    out = pipeline.export(app_workspace, "r10", tmp_path / "r10.parquet")
    meta = read_selection_metadata(out.path)["quality"]
    assert meta["mode"] == "curator-model" and meta["n_decisions"] == 30
    assert meta["cv_auc"] == round(fit.cv_auc, 4) and "beats the unsupervised ensemble" in meta["why"]
    rows = pd.read_parquet(out.path).set_index("doc_id")
    expected = dict(zip(fit.doc_ids, fit.proba))
    assert all(abs(rows.loc[d, "quality"] - expected[d]) < 1e-9 for d in rows.index)


def test_decisions_needed_is_an_estimate_from_the_curve():
    import pandas as pd

    n = np.array([10, 20, 40, 80])
    curve = pd.DataFrame({"n_decisions": n, "cv_auc": 0.5 + 0.05 * np.log(n)})
    got = quality_model.decisions_needed(curve, 0.8)
    assert got["n"] == int(np.ceil(np.exp(0.3 / 0.05))) and got["more"] == got["n"] - 80
    assert "estimate" in got["reason"]
    assert quality_model.decisions_needed(curve, 0.6)["more"] == 0  # reached already
    assert quality_model.decisions_needed(curve.iloc[:2], 0.9)["n"] is None  # too few points
    flat = curve.assign(cv_auc=0.7 - 0.01 * np.log(n))
    assert "not rising" in quality_model.decisions_needed(flat, 0.9)["reason"]
