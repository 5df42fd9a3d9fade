"""Reading a run back: its status report and the export of its augmented data set."""
from __future__ import annotations

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
