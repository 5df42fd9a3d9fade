"""Choose the quality model's feature scaling and C on data bench/active_learning.py does not
report: web-page LINES of the quality set's TRAIN split (stored MiniLM embeddings of
bench/results/judges_scores.npz + the two judge ranks), random decisions, held-out AUC, 10 seeds.
Writes bench/results/quality_model_tune.json.

    PYTHONPATH=. python bench/quality_model_tune.py
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from active_learning import SIGNALS  # noqa: E402
from quality_auc import load_units  # noqa: E402

from engine.agreement import auc  # noqa: E402
from engine.distill import percentile_ranks  # noqa: E402

HERE = Path(__file__).parent


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    units, z = load_units(), np.load(HERE / "results" / "judges_scores.npz")
    rows = np.flatnonzero((units["kind"] == "line") & (units["split"] == "train"))
    y, emb = units["label"][rows], z["emb"][rows].astype(np.float64)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    ranks = np.column_stack([percentile_ranks(z[k][rows].astype(float)) for k in SIGNALS.values()])
    out = {}
    for scale in (1.0, 4.0, np.sqrt(unit.shape[1])):
        X = np.hstack([unit * scale, ranks])
        for C in (0.1, 1.0, 10.0):
            res = {}
            for n in (10, 20, 40, 80):
                got = []
                for seed in range(10):
                    idx = np.random.default_rng(seed).permutation(len(y))
                    tr, te = idx[:n], idx[n:]
                    if len(set(y[tr])) < 2:
                        continue
                    with threadpool_limits(1):
                        p = LogisticRegression(C=C, max_iter=2000).fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
                    got.append(auc(y[te], p))
                res[n] = round(float(np.mean(got)), 4)
            out[f"embeddings x {scale:.1f}, C={C}"] = res
            print(f"scale {scale:.1f} C {C}: {res}", flush=True)
    record = {"script": "bench/quality_model_tune.py", "data": "quality train-split lines (3,129), random decisions",
              "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
              "held_out_auc_mean_of_10": out,
              "mean_over_20_40_80": {k: round(float(np.mean([v[n] for n in (20, 40, 80)])), 4) for k, v in out.items()}}
    (HERE / "results" / "quality_model_tune.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
