"""How well does each quality signal separate human-labelled main content from boilerplate?

Data: ALL of ../shared/data/quality (train + dev; TurkuNLP line labels: 1 = main content,
0 = boilerplate): every line, and every page rebuilt as two documents (its content lines joined,
label 1; its boilerplate lines joined, label 0; pages where both have >= 5 words).

Two steps, so that the lent GPU only does what needs a GPU:
1. `bench/gpu_judges.py` (on the device) scores every unit with every judge option, embeds them
   with MiniLM, times judges vs the distilled head on C4 documents, and writes judges_scores.npz
   + judges_run.json;
2. this script (anywhere) reads those and writes bench/results/quality_auc.json and quality_auc.md:
   ROC-AUC with stratified-bootstrap 95% CIs per judge, the distilled heads (cross-fitted over the
   two splits: a head trained on the judge's scores of one split scores the other), rank-mean
   combinations and a logistic stack on human labels (cross-fitted the same way).

    PYTHONPATH=. python bench/quality_auc.py --scores bench/results/judges_scores.npz --run bench/results/judges_run.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine import agreement, distill, ensemble  # noqa: E402
from engine.agreement import auc  # noqa: E402

HERE = Path(__file__).parent
DATA = HERE.parent.parent / "shared" / "data" / "quality"
KINDS = {"lines": lambda u: u["kind"] == "line", "lines>=5w": lambda u: (u["kind"] == "line") & (u["words"] >= 5),
         "pages": lambda u: u["kind"] == "page"}


def load_units(data: Path = DATA, smoke: int = 0) -> dict:
    """Every labelled unit of train + dev: text, label, kind (line/page), split, word count
    (`smoke`: only the first that many lines and pages of each split, to practise the path)."""
    rows = []
    for split in ("train", "dev"):
        for page in json.loads((data / f"{split}.json").read_text()):
            lines = [(t, int(l)) for t, l in zip(page["text"], page["labels"]) if t.strip()]
            rows += [(t, l, "line", split) for t, l in lines]
            joined = {lab: "\n".join(t for t, l in lines if l == lab) for lab in (1, 0)}
            if min(len(joined[1].split()), len(joined[0].split())) >= 5:
                rows += [(joined[1], 1, "page", split), (joined[0], 0, "page", split)]
    if smoke:
        rows = [r for k in ("line", "page") for s in ("train", "dev") for r in
                [r for r in rows if r[2] == k and r[3] == s][:smoke]]
    text, label, kind, split = zip(*rows)
    return {"text": list(text), "label": np.array(label), "kind": np.array(kind), "split": np.array(split),
            "words": np.array([len(t.split()) for t in text])}


def auc_ci(y: np.ndarray, s: np.ndarray, reps: int = 1000, seed: int = 0) -> dict:
    """AUC with a 95% percentile CI (`engine.agreement.auc_ci`), rounded for the results file."""
    point, lo, hi = agreement.auc_ci(y, s, reps, seed)
    return {"auc": round(point, 4), "lo": round(lo, 4), "hi": round(hi, 4), "n": int(len(y))}


def evaluate(units: dict, scores: np.ndarray, reps: int) -> dict:
    """AUC + CI per unit kind, over all data and over the dev split alone."""
    out = {}
    for name, pick in KINDS.items():
        for where, extra in (("all", True), ("dev", units["split"] == "dev"))[:1 if name == "lines>=5w" else 2]:
            mask = pick(units) & extra & ~np.isnan(scores)
            if mask.sum() and len(np.unique(units["label"][mask])) == 2:
                out[f"{name}/{where}"] = auc_ci(units["label"][mask], scores[mask], reps)
    return out


def by_kind_ranks(units: dict, values: np.ndarray) -> np.ndarray:
    """Percentile ranks computed within each unit kind (lines and pages are judged apart)."""
    out = np.full(len(values), np.nan)
    for kind in ("line", "page"):
        m = units["kind"] == kind
        out[m] = distill.percentile_ranks(values[m])
    return out


def crossfit_distilled(units, emb, judge, c4_emb=None, c4_judge=None, head="ridge", labels_weight=0.0):
    """Out-of-split head scores: for each split, a head trained on the judge's scores of the OTHER
    split (+ C4 documents' judge scores when given; + that split's human labels as curator decisions
    when `labels_weight` > 0) scores this split. Returns (scores, validation figures per split)."""
    out, figures = np.full(len(judge), np.nan), {}
    for split in ("train", "dev"):
        train = units["split"] != split
        X, y = emb[train], judge[train]
        if c4_emb is not None:
            X, y = np.vstack([X, c4_emb]), np.concatenate([y, c4_judge])
        cur = dict(curator_X=emb[train], curator_y=units["label"][train].astype(float)) if labels_weight else {}
        fitted = distill.fit_distilled(X, y, distill.DistillConfig(head=head, curator_weight=labels_weight), **cur)
        out[~train] = distill.apply_head(fitted["head"], emb[~train])
        figures[f"head_from_{'dev' if split == 'train' else 'train'}"] = fitted["validation"]
    return out, figures


def crossfit_stack(units, members: dict[str, np.ndarray]) -> np.ndarray:
    """A logistic stack of the members' within-kind ranks on the human labels of the other split."""
    ranks = np.column_stack([by_kind_ranks(units, v) for v in members.values()])
    out = np.full(len(ranks), np.nan)
    for split in ("train", "dev"):
        train = units["split"] != split
        stack = ensemble.fit_stack(ranks[train], units["label"][train], ensemble.EnsembleConfig())
        out[~train] = ensemble.apply_stack(stack, ranks[~train])
    return out


def crossfit_probe(units, emb) -> np.ndarray:
    """Logistic regression on MiniLM embeddings trained on the other split's human labels: what a
    curator's ~2-3k decisions buy (the distilled head with curator labels only)."""
    from sklearn.linear_model import LogisticRegression

    out = np.full(len(emb), np.nan)
    for split in ("train", "dev"):
        train = units["split"] != split
        model = LogisticRegression(C=1.0, max_iter=2000).fit(emb[train], units["label"][train])
        out[~train] = model.predict_proba(emb[~train])[:, 1]
    return out


def pick_best(units, judges: dict, names: list[str]) -> str:
    """The judge with the best mean of line and page AUC on the TRAIN split (dev stays unseen)."""
    def train_auc(name):
        s = judges[name]
        vals = [auc(units["label"][m], s[m]) for m in (units["kind"] == k for k in ("line", "page"))
                for m in [m & (units["split"] == "train") & ~np.isnan(s)] if m.sum()]
        return np.mean(vals) if vals else -1
    return max(names, key=train_auc)


def analyse(npz: Path, run: dict, reps: int = 1000) -> dict:
    units = load_units(smoke=run.get("smoke", 0))
    data = np.load(npz)
    assert len(data["label"]) == len(units["label"]) and (data["label"] == units["label"]).all(), "units differ"
    judges = {k[len("judge/"):]: data[k].astype(np.float64) for k in data.files if k.startswith("judge/")}
    emb = data["emb"].astype(np.float32) if "emb" in data.files else None
    result = {"run": run, "units": {k: int(f(units).sum()) for k, f in KINDS.items()}, "judges": {}, "derived": {}}
    for name, s in judges.items():
        result["judges"][name] = {**evaluate(units, s, reps), **run.get("timing", {}).get(name, {})}
    askllm = [n for n in judges if "/perplexity" not in n]
    best = pick_best(units, judges, askllm)
    best_ppl = pick_best(units, judges, [n for n in judges if "/perplexity" in n]) if len(askllm) < len(judges) else None
    result["best"] = {"askllm": best, "perplexity": best_ppl}
    derived = {}
    if emb is not None:
        ranked = sorted(askllm, key=lambda n: -result["judges"][n].get("lines/all", {}).get("auc", 0))[:3]
        for name in dict.fromkeys([best, *ranked, best_ppl] if best_ppl else [best, *ranked]):
            c4 = f"c4/{name}"
            extra = (data["c4_emb"].astype(np.float32), data[c4].astype(np.float64)) if c4 in data.files else (None, None)
            for head in ("ridge",):  # the MLP head: tests only (its CV fits took >10 min on the shared CPU)
                s, figs = crossfit_distilled(units, emb, judges[name], *extra, head=head)
                derived[f"distilled[{head}] of {name}"] = (s, {"validation_vs_judge": figs, "c4_in_sample": c4 in data.files})
        s, _ = crossfit_distilled(units, emb, judges[best], head="ridge", labels_weight=3.0)
        derived[f"distilled[ridge] of {best} + human labels of the other split"] = (s, {})
        derived["probe: logistic on MiniLM, human labels of the other split"] = (crossfit_probe(units, emb), {})
    if best_ppl:
        derived[f"rank-mean({best}, {best_ppl})"] = (ensemble.rank_mean(np.column_stack(
            [by_kind_ranks(units, judges[best]), by_kind_ranks(units, judges[best_ppl])])), {})
        key = f"distilled[ridge] of {best}"
        if key in derived:
            members = [judges[best], judges[best_ppl], derived[key][0]]
            derived[f"rank-mean({best}, {best_ppl}, distilled)"] = (ensemble.rank_mean(np.column_stack(
                [by_kind_ranks(units, m) for m in members])), {})
            derived["stack(judge, perplexity, distilled) on human labels of the other split"] = (
                crossfit_stack(units, {"judge": judges[best], "ppl": judges[best_ppl], "dist": derived[key][0]}), {})
    for name, (s, extra) in derived.items():
        result["derived"][name] = {**evaluate(units, s, reps), **extra}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scores", type=Path, default=HERE / "results" / "judges_scores.npz")
    ap.add_argument("--run", type=Path, default=HERE / "results" / "judges_run.json")
    ap.add_argument("--reps", type=int, default=1000, help="bootstrap resamples")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "quality_auc.json", help="json; the md goes beside it")
    args = ap.parse_args()
    result = analyse(args.scores, json.loads(args.run.read_text()), args.reps)
    args.out.write_text(json.dumps(result, indent=1))
    from quality_auc_report import write_md  # noqa: PLC0415 (beside this file)

    write_md(result, args.out.with_suffix(".md"))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
