"""What the LLM2LLM page shows, read from the stored run (`engine.storage.llm2llm`) in one short
transaction per section: the run and the job behind it, accuracy per iteration, wrong seeds, the
seeds x iterations grid, the confusion matrix (classification tasks), synthetic families, and a 2-D
map of seeds and synthetic examples (sentence embeddings + UMAP via `engine.project`, PCA under
`PCA_BELOW` points). The page imports this module, never the storage; no Streamlit here."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.models import DEFAULT_EMBEDDER
from engine.storage import Workspace
from engine.storage import llm2llm as store

NUMERIC_TASKS = ("gsm8k",)  # answers are numbers (`engine.llm2llm.tasks`); every other task has a label set
PCA_BELOW = 100  # example maps with fewer points are a PCA, larger ones UMAP (`engine.project`)
ACCURACY_COLUMNS = {"train_acc": "train (seeds + synthetic)", "seed_acc": "seeds", "test_acc": "test"}


def runs(ws: Workspace) -> pd.DataFrame:
    """LLM2LLM runs: name, status, ... (newest first)."""
    with ws.connect() as con:
        return store.list_runs(con)


def task_kind(record: dict) -> str:
    """'classification' (a label set: a confusion matrix means something) or 'numeric'."""
    return "numeric" if record["task"] in NUMERIC_TASKS and not record["config"].get("labels") else "classification"


def run_header(ws: Workspace, run: str) -> tuple[dict, dict | None]:
    """(the run's record, the newest background job that drives it or None), after the job
    listing's dead-process check; the record gains `kind` (see `task_kind`)."""
    from engine.jobs import jobs_of_llm2llm  # noqa: PLC0415

    with ws.connect() as con:
        record = store.get_run(con, run)
    jobs = jobs_of_llm2llm(ws, run)
    return {**record, "kind": task_kind(record)}, (jobs.iloc[0].to_dict() if len(jobs) else None)


def summary(ws: Workspace, run: str) -> pd.DataFrame:
    with ws.connect() as con:
        return store.iteration_summary(con, run)


def wrong_seeds(ws: Workspace, run: str, iteration: int) -> pd.DataFrame:
    """The seeds the student got wrong after `iteration` (these get augmented)."""
    with ws.connect() as con:
        wrong = store.wrong_answers(con, run, iteration, "train")
    return wrong[wrong["kind"] == "seed"]


def seed_grid(ws: Workspace, run: str) -> pd.DataFrame:
    with ws.connect() as con:
        return store.correctness_grid(con, run, "seed")


def confusion(ws: Workspace, run: str, iteration: int) -> pd.DataFrame:
    with ws.connect() as con:
        return store.confusion_matrix(con, run, iteration, "test")


def families(ws: Workspace, run: str, iteration: int) -> tuple[pd.DataFrame, list[str]]:
    """(every synthetic example, the seeds to offer: wrong after `iteration` and with children,
    else every parent), in one read."""
    with ws.connect() as con:
        syn = store.synthetic_frame(con, run)
        wrong = store.wrong_answers(con, run, iteration, "train")
    if syn.empty:
        return syn, []
    parents = [p for p in wrong.loc[wrong["kind"] == "seed", "example_id"] if p in set(syn["parent_id"])]
    return syn, parents or sorted(syn["parent_id"].unique())


def family(ws: Workspace, run: str, seed_id: str) -> tuple[pd.DataFrame, str | None]:
    """(the seed's family tree, the status of the next iteration's training)."""
    with ws.connect() as con:
        tree = store.family_tree(con, run, seed_id)
        kids = tree[tree["depth"] > 0]
        next_iteration = int(kids["iteration"].max()) + 1 if len(kids) else None
        nxt = store.stage_status(con, run, next_iteration, "train") if next_iteration is not None else None
    return tree, nxt


def set_curator_rejected(ws: Workspace, run: str, changes: list[tuple[str, bool]]) -> None:
    """Curator decisions on synthetic examples, in one transaction."""
    with ws.connect() as con:
        for example_id, rejected in changes:
            store.set_curator_rejected(con, run, example_id, rejected)


def n_examples(ws: Workspace, run: str) -> int:
    """Seeds + synthetic examples (keys the cached map: new examples invalidate it)."""
    with ws.connect() as con:
        return len(store.synthetic_frame(con, run)) + len(store.run_examples(con, run, "seed"))


def accuracy_long(summary: pd.DataFrame) -> pd.DataFrame:
    """iteration, split, accuracy rows from `iteration_summary` (iteration 0 = plain fine-tuning)."""
    cols = [c for c in ACCURACY_COLUMNS if c in summary.columns]
    if summary.empty or not cols:
        return pd.DataFrame(columns=["iteration", "split", "accuracy"])
    long = summary.melt(id_vars="iteration", value_vars=cols, var_name="split", value_name="accuracy")
    long["split"] = long["split"].map(ACCURACY_COLUMNS)
    return long.dropna(subset=["accuracy"]).reset_index(drop=True)


def persistent_failures(grid: pd.DataFrame) -> pd.Series:
    """For each seed of a seeds x iterations grid: how many evaluated iterations in a row, counting
    back from the latest, it has been wrong (0 = right now). Sorted, most stubborn first."""
    done = grid.loc[:, grid.notna().all()] if not grid.empty else grid  # skip an iteration mid-evaluation
    if done.empty or done.shape[1] == 0:
        return pd.Series(0, index=grid.index, name="wrong_streak", dtype=int)
    wrong = ~done.to_numpy(bool)[:, ::-1]  # latest iteration first
    streak = np.where(wrong.all(axis=1), wrong.shape[1], np.argmin(wrong, axis=1))
    return pd.Series(streak, index=grid.index, name="wrong_streak").sort_values(ascending=False, kind="stable")


def map_inputs(ws: Workspace, run: str) -> pd.DataFrame:
    """Seeds and synthetic candidates that have an input: example_id, kind (seed | accepted |
    rejected | curator-rejected), iteration (-1 for seeds), parent_id, input, and the seed's
    correctness per evaluated iteration as columns `correct_<i>`."""
    with ws.connect() as con:
        seeds = pd.DataFrame(store.run_examples(con, run, "seed"), columns=["example_id", "input", "output"])
        syn = store.synthetic_frame(con, run)
        grid = store.correctness_grid(con, run, "seed")
    seeds = seeds.assign(kind="seed", iteration=-1, parent_id=None)
    syn = syn[syn["input"].notna()] if len(syn) else syn
    if len(syn):
        syn = syn.assign(kind=np.where(syn["curator_rejected"], "curator-rejected",
                                       np.where(syn["accepted"], "accepted", "rejected")))
    cols = ["example_id", "kind", "iteration", "parent_id", "input"]
    frame = pd.concat([seeds[cols], syn[cols]] if len(syn) else [seeds[cols]], ignore_index=True)
    for it in grid.columns:
        frame[f"correct_{it}"] = frame["example_id"].map(grid[it])
    return frame


def example_map(ws: Workspace, run: str, embed_model: str = DEFAULT_EMBEDDER, seed: int = 0) -> pd.DataFrame:
    """`map_inputs` plus x, y: UMAP (cosine, seeded) of the inputs' sentence embeddings."""
    from engine.models import load_embedder  # noqa: PLC0415 (model load only when a map is asked for)
    from engine.project import pca_2d, project_vectors  # noqa: PLC0415

    frame = map_inputs(ws, run)
    if frame.empty:
        return frame.assign(x=[], y=[])
    vectors = load_embedder(embed_model).encode(frame["input"].tolist(), batch_size=64,
                                                normalize_embeddings=True, show_progress_bar=False)
    vectors = np.asarray(vectors, np.float32)
    # a few dozen points: UMAP's neighbourhoods are noise and its numba compile alone takes 15-90 s
    xy = pca_2d(vectors) if len(vectors) < PCA_BELOW else project_vectors(vectors, seed=seed)[0]
    return frame.assign(x=xy[:, 0], y=xy[:, 1])


def teacher_outcomes(ws: Workspace, run: str) -> pd.DataFrame:
    """Teacher candidates per iteration and outcome ('accepted' or the rejecting rule)."""
    with ws.connect() as con:
        return store.rejection_counts(con, run)


def experiments(ws: Workspace) -> pd.DataFrame:
    """Every LLM2LLM experiment, newest first."""
    from engine.storage import llm2llm_experiments as xstore

    with ws.connect() as con:
        return xstore.list_experiments(con)


def experiment(ws: Workspace, name: str) -> dict:
    """An experiment's summary (mean ± std per arm and iteration, lift over plain), its verdict
    sentence, per-arm gain notes (no gain implied within the seed spread) and rejection reasons."""
    from engine.llm2llm.records import experiment_report, experiment_verdict, gain_notes

    report = experiment_report(ws, name)
    summary = report["summary"]
    rows = summary.astype(object).where(summary.notna(), None).to_dict("records") if len(summary) else []
    return report | {"verdict": experiment_verdict(rows), "notes": gain_notes(rows)}


def readiness(ws: Workspace, name: str) -> dict | None:
    """The teacher readiness check recorded for run `name` (by `llm2llm run --check` or the run)."""
    from engine.storage import llm2llm_controls as controls

    with ws.connect() as con:
        return controls.readiness(con, name)


def readiness_rows(report: dict) -> pd.DataFrame:
    """The check as a small table: sampled, labelled right, parsed, then passing each filter in order."""
    rows = [("seeds sampled", report["sampled"]), ("labelled right by the teacher", report["labelled_right"]),
            ("new examples parsed", report["parsed"])]
    rows += [(f"passed {rule}" + ("" if rule in report.get("rules_on", [rule]) else " (rule off)"), n)
             for rule, n in report["passed"].items()]
    return pd.DataFrame(rows, columns=["step", "count"])


def noise_band(summary: pd.DataFrame) -> pd.DataFrame:
    """Per seed size and iteration: plain's mean accuracy ± the noise floor of the llm2llm arm (or
    of any augmenting arm): the band a curve must leave to show a measured gain."""
    if summary.empty or "noise_floor" not in summary:
        return pd.DataFrame(columns=["seed_size", "iteration", "low", "high"])
    base = summary[summary["iteration"] == 0].groupby("seed_size")["acc_mean"].first()
    floors = summary[summary["arm"] != "plain"].groupby(["seed_size", "iteration"])["noise_floor"].max().reset_index()
    floors["noise_floor"] = floors["noise_floor"].fillna(0.0)
    floors["low"] = floors["seed_size"].map(base) - floors["noise_floor"]
    floors["high"] = floors["seed_size"].map(base) + floors["noise_floor"]
    return floors[["seed_size", "iteration", "low", "high"]]
