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
    """Machine-readable per-iteration figures of one run (`llm2llm status NAME --json`): sizes,
    accuracies (label likelihood `test_acc`, free generation `test_acc_gen`), `n_added` (examples
    new in this iteration's train set), the gain over iteration 0, and the noise floor and verdict
    that gain was judged by (`engine.llm2llm.noise`), plus the teacher readiness record."""
    from engine.llm2llm.noise import noise_floor, sample_sd, verdict
    from engine.storage import llm2llm_controls as controls

    report = run_report(ws, name)
    with ws.connect() as con:
        reasons = db.rejection_counts(con, name)
        reps = controls.replicates(con, name)
        readiness = controls.readiness(con, name)
    cols = ["iteration", "train_size", "n_synthetic", "test_acc", "test_acc_gen", "seed_acc", "n_wrong",
            "n_requests", "n_parsed", "n_accepted", "judge_seed_acc"]
    iterations = report["iterations"].reindex(columns=cols).astype(object)
    rows = iterations.where(iterations.notna(), None).to_dict("records")
    base = rows[0]["test_acc"] if rows else None
    sigma = sample_sd(([base] if base is not None else []) + reps["test_acc"].tolist())
    floor = noise_floor(sigma, 1)
    previous = None
    for row in rows:
        mine = reasons[(reasons["iteration"] == row["iteration"]) & (reasons["outcome"] != "accepted")]
        row["rejected"] = {o: int(n) for o, n in zip(mine["outcome"], mine["n"])}
        size = row["train_size"]
        row["n_added"] = None if size is None else int(size - (previous if previous is not None else size))
        previous = size if size is not None else previous
        gain = None if row["iteration"] == 0 or row["test_acc"] is None or base is None else row["test_acc"] - base
        row.update(gain=gain, noise_sd=sigma, noise_floor=floor,
                   verdict=None if row["iteration"] == 0 else verdict(gain, floor))
    run = report["run"]
    return {"run": name, "kind": "run", "status": run["status"], "error": run["error"], "task": run["task"],
            "teacher": (run["config"].get("teacher") or {}).get("model"), "train_seed": run["config"].get("train_seed"),
            "noise": {"replicates": len(reps), "test_acc": reps["test_acc"].tolist(), "sd": sigma,
                      "floor": floor}, "readiness": readiness, "iterations": rows}


def experiment_summary(frame: pd.DataFrame, noise: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean ± std of test accuracy over seeds per (seed size, arm, iteration), the lift over
    `plain` paired by seed (the arms share iteration 0 and train every iteration with the same
    training seed, so the lift at iteration k is the data's alone), and the noise floor it is
    judged by: `noise_sd` is the retraining spread pooled over cells (`noise` rows: seed_size,
    seed, replicate, test_acc), `noise_floor` and `verdict` as in `engine.llm2llm.noise`.
    llm2llm rows also carry their paired difference to random-seeds (`vs_random_*`)."""
    from engine.llm2llm.noise import noise_floor, pooled_sd, verdict

    done = frame.dropna(subset=["test_acc"])
    if done.empty:
        return pd.DataFrame()
    plain = done[done["iteration"] == 0].drop_duplicates(["seed_size", "seed"]).set_index(["seed_size", "seed"])
    by_cell = done.set_index(["seed_size", "arm", "seed", "iteration"])["test_acc"]
    by_cell = by_cell[~by_cell.index.duplicated()]
    last = done.groupby("arm")["iteration"].max()
    sigmas = {} if noise is None or noise.empty else {
        size: pooled_sd(g.groupby("seed")["test_acc"].apply(list)) for size, g in noise.groupby("seed_size")}
    rows = []
    for (size, arm), part in done.groupby(["seed_size", "arm"], sort=False):
        for it in range(int(last.max()) + 1):
            at = part[part["iteration"] == (min(it, int(last[arm])) if arm == "plain" else it)]
            if at.empty:  # an arm still running (or killed) has no row for this iteration yet
                continue
            lift = at.set_index("seed")["test_acc"] - plain.loc[size, "test_acc"].reindex(at["seed"]).to_numpy()
            sigma, n = sigmas.get(size), len(at)
            lift_std = lift.std(ddof=1) if len(lift) > 1 else float("nan")
            floor = noise_floor(sigma, n, None if math.isnan(lift_std) else lift_std) if it > 0 else None
            row = dict(seed_size=size, arm=arm, iteration=it, n=n, acc_mean=at["test_acc"].mean(),
                       acc_std=at["test_acc"].std(ddof=1) if n > 1 else float("nan"),
                       acc_gen_mean=at["test_acc_gen"].mean() if "test_acc_gen" in at else None,
                       lift_mean=lift.mean() if len(lift) else float("nan"), lift_std=lift_std,
                       noise_sd=sigma, noise_floor=floor,
                       verdict=verdict(lift.mean(), floor) if it > 0 and arm != "plain" else None,
                       accepted_mean=at["n_accepted"].mean(), train_size_mean=at["train_size"].mean(),
                       judge_acc_mean=at["judge_seed_acc"].mean() if "judge_seed_acc" in at else None)
            if arm == "llm2llm" and it > 0:
                row.update(_vs_random(at, by_cell, size, it, sigma))
            rows.append(row)
    return pd.DataFrame(rows)


def _vs_random(at: pd.DataFrame, by_cell: pd.Series, size: float, it: int, sigma: float | None) -> dict:
    """llm2llm minus random-seeds at iteration `it`, paired by cell, with its noise floor."""
    from engine.llm2llm.noise import noise_floor

    if (size, "random-seeds", at["seed"].iloc[0], it) not in by_cell.index:
        return {}
    other = by_cell.reindex([(size, "random-seeds", s, it) for s in at["seed"]]).to_numpy()
    diff = at["test_acc"].to_numpy() - other
    diff = diff[~pd.isna(diff)]
    sd = float(pd.Series(diff).std(ddof=1)) if len(diff) > 1 else None
    return dict(vs_random_mean=float(diff.mean()) if len(diff) else None, vs_random_sd=sd,
                vs_random_floor=noise_floor(sigma, len(diff), sd) if len(diff) else None)


def experiment_report(ws: Workspace, name: str) -> dict:
    """An experiment's row, its per-run iterations, the summary table and rejection reasons."""
    from engine.storage import llm2llm_experiments as xdb
    from engine.storage.llm2llm_controls import experiment_replicates

    with ws.connect() as con:
        row = xdb.get_experiment(con, name)
        if row is None:
            raise UserError(f"no llm2llm experiment named '{name}'")
        frame = xdb.experiment_iterations(con, name)
        rejections = xdb.experiment_rejections(con, name)
        noise = experiment_replicates(con, name)
    return {"experiment": row, "iterations": frame, "summary": experiment_summary(frame, noise),
            "noise": noise, "rejections": rejections}


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
    """(level, sentence) per seed size and augmenting arm at its last iteration: the paired gain
    over iteration 0 against the noise floor (retraining spread, `engine.llm2llm.noise`); inside
    the floor, or with no floor measured, it says "no measured gain"."""
    notes = []
    for (size, arm) in dict.fromkeys((r["seed_size"], r["arm"]) for r in summary if r["arm"] != "plain"):
        rows = sorted((r for r in summary if r["seed_size"] == size and r["arm"] == arm), key=lambda r: r["iteration"])
        first, last = rows[0], rows[-1]
        if last["iteration"] == first["iteration"] or _missing(last["acc_mean"]) or _missing(last["lift_mean"]):
            continue
        gain, floor = last["lift_mean"], last.get("noise_floor")
        head = (f"{arm} at {size:g} seeds: {first['acc_mean']:.3f} at iteration 0 → {last['acc_mean']:.3f} at "
                f"iteration {last['iteration']} (paired gain {gain:+.3f}, n={last['n']}")
        if _missing(floor):
            notes.append(("warning", f"{head}). No measured gain: no noise floor was measured "
                                     "(train with --noise-seeds >= 1)."))
        elif gain > floor:
            notes.append(("success", f"{head}): above the noise floor ({floor:.3f})."))
        else:
            notes.append(("warning", f"{head}). No measured gain: within the noise floor (±{floor:.3f}); "
                                     "read it as training noise."))
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
    """At the smallest seed size and the last iteration: llm2llm's paired gain over plain and over
    the random-seeds control, each against its noise floor ("no measured gain" inside it)."""
    if not summary:
        return "no finished cells"
    smallest = min(r["seed_size"] for r in summary)
    last = max(r["iteration"] for r in summary)
    at = {r["arm"]: r for r in summary if r["seed_size"] == smallest and r["iteration"] == last}
    l2l = at.get("llm2llm")
    if not l2l or _missing(l2l["lift_mean"]):
        return "llm2llm arm not finished"
    from engine.llm2llm.noise import verdict

    floor = l2l.get("noise_floor")
    text = (f"at {smallest:g} seeds, iteration {last}: llm2llm − plain = {_pm(l2l['lift_mean'], l2l['lift_std'])} "
            f"(noise floor {_pm(floor, None)}) → {verdict(l2l['lift_mean'], None if _missing(floor) else floor)}")
    if not _missing(l2l.get("vs_random_mean")):
        vfloor = l2l.get("vs_random_floor")
        text += (f"; llm2llm − random-seeds = {_pm(l2l['vs_random_mean'], l2l.get('vs_random_sd'))} (floor "
                 f"{_pm(vfloor, None)}) → {verdict(l2l['vs_random_mean'], None if _missing(vfloor) else vfloor)}")
    return text
