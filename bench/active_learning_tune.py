"""Choose the queue's exploration share on data the benchmark does not report: web-page LINES of
the quality set's TRAIN split (a seeded sample of 1,200), features = the stored MiniLM embeddings
of bench/results/judges_scores.npz + the same two judge ranks as bench/active_learning.py. Simulated
curator, held-out 40%, 4 repeats; prints and writes bench/results/active_learning_tune.json. The share
with the best mean held-out AUC over 20/40/80 decisions becomes QueueConfig.explore.

    PYTHONPATH=. python bench/active_learning_tune.py
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from active_learning import SIGNALS, simulate  # noqa: E402
from quality_auc import load_units  # noqa: E402

from engine import active_learning, quality_model  # noqa: E402
from engine.distill import percentile_ranks  # noqa: E402

HERE = Path(__file__).parent
Q = active_learning.QueueConfig
# round 1 (bench/results/active_learning_tune_round1.json): uncertainty alone (explore=0) 0.649, explore=0.2 0.724,
# 0.5 0.709, pool=20 0.732, density=1 0.730, pool=20+density=1 0.601, explore=1 (random minus near-duplicates)
# 0.750, random 0.736: round 2 adds cluster spread to the exploring slots
VARIANTS = (("random", "random", Q()), ("explore=1 plain", "queue", Q(explore=1.0, spread=False)),
            ("explore=1 spread", "queue", Q(explore=1.0, spread=True)),
            ("explore=0.5 spread", "queue", Q(explore=0.5, spread=True)),
            ("explore=0.2 spread", "queue", Q(explore=0.2, spread=True)),
            ("explore=0.2 pool=20 spread", "queue", Q(explore=0.2, pool=20, spread=True)))


def main() -> None:
    from sklearn.cluster import KMeans
    from sklearn.model_selection import train_test_split

    units, z = load_units(), np.load(HERE / "results" / "judges_scores.npz")
    lines = np.flatnonzero((units["kind"] == "line") & (units["split"] == "train"))
    rows = np.sort(np.random.default_rng(0).choice(lines, 1200, replace=False))
    y, emb = units["label"][rows], z["emb"][rows].astype(np.float64)
    texts = [units["text"][i] for i in rows]
    X = quality_model.features(emb, np.column_stack([percentile_ranks(z[k][rows].astype(float)) for k in SIGNALS.values()]))
    unit = active_learning.unit_rows(emb)
    out: dict = {}
    for rep in range(4):
        _, test_idx = train_test_split(np.arange(len(y)), test_size=0.4, stratify=y, random_state=rep)
        test = np.isin(np.arange(len(y)), test_idx)
        clusters = np.full(len(y), -1)
        clusters[~test] = KMeans(17, n_init=3, random_state=rep).fit_predict(emb[~test])
        for name, strategy, queue in VARIANTS:
            got = simulate(X, y, unit, texts, test, 1000 + rep, strategy, clusters, queue)
            for n, (a, _) in got.items():
                out.setdefault(name, {}).setdefault(n, []).append(a)
        print(f"repeat {rep + 1}/4 done", flush=True)
    table = {name: {n: round(float(np.mean(v)), 4) for n, v in sorted(by_n.items())} for name, by_n in out.items()}
    score = {name: round(float(np.mean([t[n] for n in (20, 40, 80)])), 4) for name, t in table.items()}
    record = {"script": "bench/active_learning_tune.py", "data": "quality train-split lines, 1200 sampled (seed 0)",
              "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
              "held_out_auc_mean_of_4": table, "mean_over_20_40_80": score}
    (HERE / "results" / "active_learning_tune.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
