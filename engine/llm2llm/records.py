"""Reading a run back: its status report and the export of its augmented data set."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from engine.errors import UserError
from engine.storage import Workspace
from engine.storage import llm2llm as db


def run_report(ws: Workspace, name: str) -> dict:
    """The run row, per-iteration summary (accuracies, sizes, seconds per stage) and candidate
    outcomes per iteration, as plain Python values."""
    with ws.connect() as con:
        run = db.get_run(con, name)
        if run is None:
            raise UserError(f"no llm2llm run named '{name}'")
        summary = db.iteration_summary(con, name)
        outcomes = db.rejection_counts(con, name)
    return {"run": run, "iterations": summary, "outcomes": outcomes}


def final_dataset(ws: Workspace, name: str) -> pd.DataFrame:
    """Seeds plus every accepted synthetic example no curator rejected: id, input, output,
    origin (seed/synthetic), parent_id, iteration (None for seeds)."""
    with ws.connect() as con:
        if db.get_run(con, name) is None:
            raise UserError(f"no llm2llm run named '{name}'")
        seeds = db.run_examples(con, name, "seed")
        synthetic = db.synthetic_frame(con, name)
    rows = [dict(id=i, input=x, output=y, origin="seed", parent_id=None, iteration=None) for i, x, y in seeds]
    if len(synthetic):
        kept = synthetic[synthetic["accepted"] & ~synthetic["curator_rejected"]]
        rows += [dict(id=r.example_id, input=r.input, output=r.output, origin="synthetic",
                      parent_id=r.parent_id, iteration=int(r.iteration)) for r in kept.itertuples()]
    frame = pd.DataFrame(rows, columns=["id", "input", "output", "origin", "parent_id", "iteration"])
    return frame.astype({"iteration": "Int64"})  # nullable ints: seeds have no iteration


def export_run(ws: Workspace, name: str, out: str | Path) -> int:
    """Write `final_dataset` as .jsonl, .csv or .parquet (by suffix); returns the row count."""
    out = Path(out)
    frame = final_dataset(ws, name)
    suffix = out.suffix.lower()
    if suffix not in (".jsonl", ".csv", ".parquet"):
        raise UserError(f"{out}: export format by suffix must be .jsonl, .csv or .parquet")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        frame.to_parquet(out, index=False)
    elif suffix == ".csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_json(out, orient="records", lines=True, force_ascii=False)
    return len(frame)


def run_figures(ws: Workspace, name: str) -> dict:
    """Machine-readable per-iteration figures of one run (`llm2llm status NAME --json`)."""
    report = run_report(ws, name)
    with ws.connect() as con:
        reasons = db.rejection_counts(con, name)
    cols = ["iteration", "train_size", "n_synthetic", "test_acc", "seed_acc", "n_wrong", "n_requests",
            "n_parsed", "n_accepted", "judge_seed_acc"]
    iterations = report["iterations"].reindex(columns=cols).astype(object)
    rows = iterations.where(iterations.notna(), None).to_dict("records")
    for row in rows:
        mine = reasons[(reasons["iteration"] == row["iteration"]) & (reasons["outcome"] != "accepted")]
        row["rejected"] = {o: int(n) for o, n in zip(mine["outcome"], mine["n"])}
    run = report["run"]
    return {"run": name, "kind": "run", "status": run["status"], "error": run["error"], "task": run["task"],
            "teacher": run["config"]["teacher"]["model"], "iterations": rows}


def experiment_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std of test accuracy over seeds per (seed size, arm, iteration), and the lift over
    `plain` paired by seed (plain trains one student per seed, so its accuracy holds at every
    iteration). Columns: seed_size, arm, iteration, n, acc_mean, acc_std, lift_mean, lift_std,
    accepted_mean, train_size_mean."""
    done = frame.dropna(subset=["test_acc"])
    if done.empty:
        return pd.DataFrame()
    plain = done[done["arm"] == "plain"].set_index(["seed_size", "seed"])["test_acc"]
    plain = plain[~plain.index.duplicated()]
    last = done.groupby("arm")["iteration"].max()
    rows = []
    for (size, arm), part in done.groupby(["seed_size", "arm"], sort=False):
        for it in range(int(last.max()) + 1):
            at = part[part["iteration"] == (min(it, int(last[arm])) if arm == "plain" else it)]
            if at.empty:  # an arm still running (or killed) has no row for this iteration yet
                continue
            lift = at.set_index("seed")["test_acc"] - plain.xs(size, level=0).reindex(at["seed"]).to_numpy() \
                if size in plain.index.get_level_values(0) else pd.Series(dtype=float)
            rows.append(dict(seed_size=size, arm=arm, iteration=it, n=len(at), acc_mean=at["test_acc"].mean(),
                             acc_std=at["test_acc"].std(ddof=1) if len(at) > 1 else float("nan"),
                             lift_mean=lift.mean() if len(lift) else float("nan"),
                             lift_std=lift.std(ddof=1) if len(lift) > 1 else float("nan"),
                             accepted_mean=at["n_accepted"].mean(), train_size_mean=at["train_size"].mean(),
                             judge_acc_mean=at["judge_seed_acc"].mean() if "judge_seed_acc" in at else None))
    return pd.DataFrame(rows)


def experiment_report(ws: Workspace, name: str) -> dict:
    """An experiment's row, its per-run iterations, the summary table and rejection reasons."""
    from engine.storage import llm2llm_experiments as xdb

    with ws.connect() as con:
        row = xdb.get_experiment(con, name)
        if row is None:
            raise UserError(f"no llm2llm experiment named '{name}'")
        frame = xdb.experiment_iterations(con, name)
        rejections = xdb.experiment_rejections(con, name)
    return {"experiment": row, "iterations": frame, "summary": experiment_summary(frame), "rejections": rejections}


FALLBACK_NOTE = ("The teacher is {teacher}, the small offline fallback. Measured on TREC with 100 seeds it "
                 "did not improve the student (0.73 at iteration 0 → 0.62 after 3 rounds, "
                 "bench/results/llm2llm_results_cpu-100seeds.md): read any change here as training noise. "
                 "A capable teacher: Qwen2.5-Coder-1.5B-Instruct (`scripts/setup.sh --with-qwen`) or an "
                 "OpenAI-compatible endpoint.")


def outcome_note(summary: pd.DataFrame, teacher: str) -> tuple[str, str]:
    """(level, sentence) saying plainly what a run's augmentation did to test accuracy, and when
    the teacher is the weak fallback, that it cannot be expected to help. level: info|warning."""
    from engine.llm2llm.teacher import FALLBACK_TEACHER

    done = summary.dropna(subset=["test_acc"]) if len(summary) else summary
    weak = FALLBACK_NOTE.format(teacher=teacher) if teacher == FALLBACK_TEACHER else ""
    if len(done) < 2:
        return ("warning" if weak else "info"), (weak or "No augmented iteration has been evaluated yet.")
    first, last = done.iloc[0], done.iloc[-1]
    delta = last["test_acc"] - first["test_acc"]
    text = (f"Test accuracy {first['test_acc']:.3f} at iteration 0 (seeds only) → {last['test_acc']:.3f} at "
            f"iteration {int(last['iteration'])} ({delta:+.3f}). No measured gain: one run is one seed, so there "
            "is no seed-to-seed spread to tell a change from training noise. Compare arms over seeds with "
            "`llm2llm experiment` before calling it a lift.")
    return "warning", (f"{text} {weak}" if weak else text)


def gain_notes(summary: list[dict]) -> list[tuple[str, str]]:
    """(level, sentence) per seed size and augmenting arm at its last iteration: a gain is claimed
    only when the final accuracy is above iteration 0's by more than the seed spread (the larger
    of the paired difference's std and iteration 0's std over seeds); one seed has no spread."""
    notes = []
    for (size, arm) in dict.fromkeys((r["seed_size"], r["arm"]) for r in summary if r["arm"] != "plain"):
        rows = sorted((r for r in summary if r["seed_size"] == size and r["arm"] == arm), key=lambda r: r["iteration"])
        first, last = rows[0], rows[-1]
        if last["iteration"] == first["iteration"] or _missing(last["acc_mean"]) or _missing(first["acc_mean"]):
            continue
        gain = last["acc_mean"] - first["acc_mean"]
        head = (f"{arm} at {size:g} seeds: {first['acc_mean']:.3f} at iteration 0 → {last['acc_mean']:.3f} at "
                f"iteration {last['iteration']} ({gain:+.3f}, n={last['n']})")
        if last["n"] < 2:
            notes.append(("warning", f"{head}. No measured gain: one seed has no spread."))
            continue
        spread = max(_or0(last["lift_std"]), _or0(first["acc_std"]))
        if gain > spread:
            notes.append(("success", f"{head}: above iteration 0 by more than the seed spread ({spread:.3f})."))
        else:
            notes.append(("warning", f"{head}. No measured gain: not above iteration 0 by more than the seed "
                                     f"spread ({spread:.3f}); read it as training noise."))
    return notes


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _or0(value) -> float:
    return 0.0 if _missing(value) else float(value)


def _pm(mean, std, spec=".3f") -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    spread = "" if std is None or (isinstance(std, float) and math.isnan(std)) else f" ± {std:{spec}}"
    return f"{mean:{spec}}{spread}"


def experiment_verdict(summary: list[dict]) -> str:
    """The issue's target at the smallest seed size and the last iteration: LLM2LLM beats plain by
    more than 2 standard deviations of the lift, and beats the random-seeds control."""
    if not summary:
        return "no finished cells"
    smallest = min(r["seed_size"] for r in summary)
    last = max(r["iteration"] for r in summary)
    at = {r["arm"]: r for r in summary if r["seed_size"] == smallest and r["iteration"] == last}
    l2l, rnd = at.get("llm2llm"), at.get("random-seeds")
    if not l2l or l2l["lift_mean"] is None:
        return "llm2llm arm not finished"
    std = _or0(l2l["lift_std"])
    beats_plain = l2l["n"] >= 2 and l2l["lift_mean"] > 2 * std and l2l["lift_mean"] > 0  # one seed: no spread
    text = (f"at {smallest:g} seeds, iteration {last}: llm2llm − plain = {_pm(l2l['lift_mean'], l2l['lift_std'])} "
            f"→ {'beats' if beats_plain else 'does NOT beat'} plain by > 2 std"
            + (" (one seed: no spread)" if l2l["n"] < 2 else ""))
    if rnd and rnd["acc_mean"] is not None:
        better = l2l["acc_mean"] > rnd["acc_mean"]
        text += (f"; llm2llm {_pm(l2l['acc_mean'], l2l['acc_std'])} vs random-seeds {_pm(rnd['acc_mean'], rnd['acc_std'])}"
                 f" → {'beats' if better else 'does NOT beat'} the control")
    return text
