"""What the LLM2LLM page shows, computed from the stored run (`engine.storage.llm2llm`):
accuracy per iteration in long form, seeds that stay wrong, and a 2-D map of seeds and synthetic
examples (sentence embeddings + UMAP via `engine.project`). No Streamlit here."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.models import DEFAULT_EMBEDDER
from engine.storage import Workspace
from engine.storage import llm2llm as store

ACCURACY_COLUMNS = {"train_acc": "train (seeds + synthetic)", "seed_acc": "seeds", "test_acc": "test"}


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
    from engine.project import project_vectors  # noqa: PLC0415

    frame = map_inputs(ws, run)
    if frame.empty:
        return frame.assign(x=[], y=[])
    vectors = load_embedder(embed_model).encode(frame["input"].tolist(), batch_size=64,
                                                normalize_embeddings=True, show_progress_bar=False)
    xy, _ = project_vectors(np.asarray(vectors, np.float32), seed=seed)
    return frame.assign(x=xy[:, 0], y=xy[:, 1])
