"""Does the "label next" queue teach the quality model faster than random choice?

A simulated curator (answers from the human labels) on the bundled labelled web pages
(../shared/data/quality, train + dev), two document sets rebuilt from the labelled lines:
- pages: each page as two documents, its content lines and its boilerplate lines (78, as in
  bench/quality_auc.py; too few for 80 decisions plus a test set, so it stops at 40);
- blocks: each maximal run of consecutive same-label lines of >= 10 words (550 documents).
Features = MiniLM embeddings computed here on the CPU with the real model (engine.embed) +
percentile ranks of judge scores where bench/results/judges_scores.npz has them (GPU scores of the
same units: for pages the page's own score, for blocks the mean of its lines' scores):
Qwen2.5-Coder-1.5B `content` (its prompt was CHOSEN on the train pages, so its own AUC there
is optimistic) and SmolLM2-135M perplexity, plus a run with embeddings only.

Protocol, per repeat (seed): a stratified 40% of the documents is held out and never shown; the
curator decides documents of the other 60%: 4 random ones first (a cold start has no model),
then batches of 5 chosen by the queue (engine.active_learning.choose with the product's defaults,
and with uncertainty only (explore=0), over the current model's P(accept), topic clusters = k-means
of the pool, near-duplicates skipped) or at random. After
10, 20, 40, 80 decisions the product's model (engine.quality_model.fit_calibrated) is fitted and
its ROC-AUC measured on the held-out documents; the CV AUC the product would report
(engine.quality_model.fit_quality) is recorded beside it. The unsupervised rank-mean of the judge
signals on the same held-out documents is the flat baseline. Spread = sd over repeats; the
queue-minus-random gain is paired per seed and called "no measured gain" when its 95% interval
(mean +- 1.96 sd / sqrt(repeats)) includes 0.

    PYTHONPATH=. python bench/active_learning.py [--repeats 10] [--out bench/results/active_learning]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine import active_learning, quality_model  # noqa: E402
from engine.agreement import auc  # noqa: E402
from engine.distill import percentile_ranks  # noqa: E402
from engine.ensemble import rank_mean  # noqa: E402
from engine.progress import tqdm_progress  # noqa: E402

HERE = Path(__file__).parent
DATA = HERE.parent.parent / "shared" / "data" / "quality"
SIGNALS = {"askllm": "judge/qwen1.5b/content chat", "perplexity": "judge/smollm2/perplexity"}
STEPS = (10, 20, 40, 80)
START, BATCH = 4, 5
STRATEGIES = {"queue": active_learning.QueueConfig(),  # the product's defaults
              "uncertainty only": active_learning.QueueConfig(explore=0.0), "random": None}


def documents(data: Path = DATA) -> dict[str, dict]:
    """Both document sets: text, label and the npz unit rows (lines or the page unit) per document,
    walking the files in bench/quality_auc.py's unit order (lines, then the two page units)."""
    sets = {"pages": [], "blocks": []}
    unit = 0
    for split in ("train", "dev"):
        for page in json.loads((data / f"{split}.json").read_text()):
            lines = [(t, int(lab)) for t, lab in zip(page["text"], page["labels"]) if t.strip()]
            rows = list(range(unit, unit + len(lines)))
            unit += len(lines)
            runs: list[list] = []
            for (t, lab), r in zip(lines, rows):
                if runs and runs[-1][1] == lab:
                    runs[-1][0].append(t), runs[-1][2].append(r)
                else:
                    runs.append([[t], lab, [r]])
            sets["blocks"] += [("\n".join(ts), lab, rs) for ts, lab, rs in runs if len(" ".join(ts).split()) >= 10]
            joined = {lab: "\n".join(t for t, x in lines if x == lab) for lab in (1, 0)}
            if min(len(joined[1].split()), len(joined[0].split())) >= 5:
                sets["pages"] += [(joined[1], 1, [unit]), (joined[0], 0, [unit + 1])]
                unit += 2
    return {k: {"text": [d[0] for d in v], "label": np.array([d[1] for d in v]), "units": [d[2] for d in v]}
            for k, v in sets.items()}


def signal_ranks(docs: dict, scores: np.lib.npyio.NpzFile) -> dict[str, np.ndarray]:
    """Percentile rank per document of each judge signal (mean over the document's units)."""
    return {name: percentile_ranks(np.array([float(np.mean(scores[key][u])) for u in docs["units"]]))
            for name, key in SIGNALS.items()}


def simulate(X, y, unit, texts, test, order_seed, strategy, clusters,
             queue=active_learning.QueueConfig()) -> dict[int, tuple[float, float]]:
    """(held-out AUC, the CV AUC the product would report) after each of STEPS decisions for one
    strategy ("queue" | "random")."""
    cfg = quality_model.QualityModelConfig()
    rng = np.random.default_rng(order_seed)
    pool = np.flatnonzero(~test)
    labels = np.full(len(y), -1)
    start = rng.choice(pool, START, replace=False)
    labels[start] = y[start]
    hashes = {i: active_learning.text_hash(texts[i]) for i in pool}
    out = {}
    while (labels >= 0).sum() < min(max(STEPS), len(pool)):
        n_done = int((labels >= 0).sum())
        decided = labels >= 0
        two = len(np.unique(labels[decided])) == 2
        model = quality_model.fit_calibrated(X[decided], labels[decided], cfg) if two else None
        take = min(BATCH, len(pool) - n_done, max(STEPS) - n_done)
        if strategy == "queue":
            proba = model.predict_proba(X)[:, 1] if model is not None else None
            picked = active_learning.choose(unit, labels, proba, take, hashes, clusters, queue, exclude=test)
        else:
            open_ = np.flatnonzero(~decided & ~test)
            picked = list(rng.choice(open_, min(take, len(open_)), replace=False))
        if not picked:
            break
        labels[picked] = y[picked]
        n_now = int((labels >= 0).sum())
        for step in STEPS:
            if n_done < step <= n_now:
                decided = labels >= 0
                if len(np.unique(labels[decided])) == 2:
                    m = quality_model.fit_calibrated(X[decided], labels[decided], cfg)
                    cv = float("nan")  # the product reports no CV AUC below 2 decisions of a class
                    if min(np.bincount(labels[decided], minlength=2)) >= cfg.min_per_class:
                        cv = auc(labels[decided], quality_model.cross_validated(X[decided], labels[decided], cfg)[0])
                    out[step] = (auc(y[test], m.predict_proba(X[test])[:, 1]), cv)
    return out


def run_set(name: str, docs: dict, emb: np.ndarray, ranks: dict, repeats: int, with_signals: bool,
            progress) -> dict:
    """Every repeat of queue vs random on one document set and feature set."""
    from sklearn.cluster import KMeans
    from sklearn.model_selection import train_test_split

    y = docs["label"]
    R = np.column_stack(list(ranks.values())) if with_signals else None
    X = quality_model.features(emb, R)
    unit = active_learning.unit_rows(emb)
    rows = []
    for rep in range(repeats):
        idx = np.arange(len(y))
        _, test_idx = train_test_split(idx, test_size=0.4, stratify=y, random_state=rep)
        test = np.isin(idx, test_idx)
        k = max(2, int(round(np.sqrt((~test).sum()) / 2)))
        clusters = np.full(len(y), -1)
        clusters[~test] = KMeans(k, n_init=3, random_state=rep).fit_predict(emb[~test])
        for strategy, queue in STRATEGIES.items():
            got = simulate(X, y, unit, docs["text"], test, 1000 + rep, "random" if strategy == "random" else "queue",
                           clusters, queue)
            rows += [{"rep": rep, "strategy": strategy, "n": n, "auc": a, "cv_auc": cv} for n, (a, cv) in got.items()]
        baseline = auc(y[test], rank_mean(np.column_stack(list(ranks.values())))[test])
        rows += [{"rep": rep, "strategy": "unsupervised rank-mean", "n": 0, "auc": baseline}]
        progress(f"{name}{'+signals' if with_signals else ''}", rep + 1, repeats)
    return summarise(pd.DataFrame(rows), repeats)


def summarise(frame: pd.DataFrame, repeats: int) -> dict:
    """Mean, sd, min, max per strategy and n; the paired queue - random gain with its 95% interval."""
    out = {}
    for (strategy, n), g in frame.groupby(["strategy", "n"]):
        out.setdefault(strategy, {})[int(n)] = {"mean": round(g["auc"].mean(), 4), "sd": round(g["auc"].std(), 4),
                                                "min": round(g["auc"].min(), 4), "max": round(g["auc"].max(), 4),
                                                "repeats": int(len(g)),
                                                "cv_auc_mean": round(g["cv_auc"].mean(), 3) if g["cv_auc"].notna().any() else None}
    wide = frame[frame["n"] > 0].pivot_table(index=["rep", "n"], columns="strategy", values="auc")
    for strategy in ("queue", "uncertainty only"):
        gains = {}
        for n, g in (wide[strategy] - wide["random"]).dropna().groupby(level="n"):
            half = 1.96 * g.std() / np.sqrt(len(g))
            gains[int(n)] = {"mean": round(g.mean(), 4), "lo": round(g.mean() - half, 4),
                             "hi": round(g.mean() + half, 4), "verdict": "gain" if g.mean() - half > 0 else
                             "loss" if g.mean() + half < 0 else "no measured gain"}
        out[f"{strategy} minus random"] = gains
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default=str(HERE / "results" / "active_learning"))
    args = parser.parse_args()
    from engine.embed import embed_texts

    t0, progress = time.time(), tqdm_progress()
    scores = np.load(HERE / "results" / "judges_scores.npz")
    sets = documents()
    results = {}
    for name, docs in sets.items():
        emb = embed_texts(docs["text"], device="cpu")
        ranks = signal_ranks(docs, scores)
        results[name] = {"n_documents": len(docs["label"]), "n_content": int(docs["label"].sum()),
                         "signal_auc_all_docs": {k: round(auc(docs["label"], v), 4) for k, v in ranks.items()},
                         "embeddings+signals": run_set(name, docs, emb, ranks, args.repeats, True, progress),
                         "embeddings only": run_set(name, docs, emb, ranks, args.repeats, False, progress)}
    record = {"script": "bench/active_learning.py", "date_utc": datetime.datetime.now(datetime.UTC).isoformat()[:16],
              "machine": f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores (CPU only)",
              "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
              "repeats": args.repeats, "steps": STEPS, "start_random": START, "batch": BATCH,
              "signals": SIGNALS, "seconds": round(time.time() - t0, 1), "results": results}
    Path(args.out + ".json").write_text(json.dumps(record, indent=1) + "\n")
    Path(args.out + ".md").write_text(report(record))
    print(report(record))


def report(record: dict) -> str:
    """The results as a short Markdown table per document set and feature set."""
    lines = [f"# Active-learning queue vs random choice ({record['date_utc']} UTC)", "",
             f"Made by `{record['script']}` on {record['machine']}; load `{record['uptime']}`; "
             f"{record['repeats']} repeats (seeds 0..{record['repeats'] - 1}); {record['seconds']} s. "
             "ROC-AUC on the held-out 40% the simulated curator never saw: mean ± sd over repeats [min, max].", ""]
    for name, res in record["results"].items():
        lines += [f"## {name}: {res['n_documents']} documents ({res['n_content']} content)", "",
                  "Judge signals' own AUC on all these documents (no decisions): " + ", ".join(
                      f"{k} {v}" for k, v in res["signal_auc_all_docs"].items()) + " (the askllm prompt was "
                  "chosen on the train pages: optimistic here)", ""]
        for feats in ("embeddings+signals", "embeddings only"):
            r = res[feats]
            base = r["unsupervised rank-mean"][0]
            lines += [f"### features: {feats}", "", "| decisions | queue (defaults) | uncertainty only | random | "
                      "queue - random (95% CI) | uncertainty - random (95% CI) | CV AUC reported (queue / random) |",
                      "|---|---|---|---|---|---|---|"]
            for n in record["steps"]:
                q, u, rd = (r[k].get(str(n)) or r[k].get(n) for k in ("queue", "uncertainty only", "random"))
                g, gu = (r[k].get(str(n)) or r[k].get(n) for k in ("queue minus random", "uncertainty only minus random"))
                if not q:
                    lines.append(f"| {n} | - | - | - | too few documents | | |")
                    continue
                cell = lambda m: f"{m['mean']:.3f} ± {m['sd']:.3f} [{m['min']:.2f}, {m['max']:.2f}]"  # noqa: E731
                gain = lambda m: f"{m['mean']:+.3f} [{m['lo']:+.3f}, {m['hi']:+.3f}] {m['verdict']}"  # noqa: E731
                lines.append(f"| {n} | {cell(q)} | {cell(u)} | {cell(rd)} | {gain(g)} | {gain(gu)} | "
                             f"{q['cv_auc_mean']} / {rd['cv_auc_mean']} |")
            lines += ["", f"Unsupervised rank-mean of the signals on the same held-out documents: "
                      f"{base['mean']:.3f} ± {base['sd']:.3f}.", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
