"""llm2llm controls: the noise replicates of a run (its seed set trained again with other training
seeds: the spread every gain is compared against) and the teacher readiness check recorded before
its first augmentation. Part of the llm2llm area's schema (`engine.storage.llm2llm.SCHEMA`)."""
from __future__ import annotations

import json

import duckdb
import pandas as pd

CONTROLS_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm2llm_noise (
    run TEXT, replicate INTEGER, train_seed BIGINT, test_acc DOUBLE, test_acc_gen DOUBLE,
    PRIMARY KEY (run, replicate));
CREATE TABLE IF NOT EXISTS llm2llm_readiness (run TEXT PRIMARY KEY, report JSON);
"""
Con = duckdb.DuckDBPyConnection


def save_replicate(con: Con, run: str, replicate: int, train_seed: int, test_acc: float,
                   test_acc_gen: float | None = None) -> None:
    con.execute("INSERT OR REPLACE INTO llm2llm_noise VALUES (?, ?, ?, ?, ?)",
                [run, replicate, train_seed, test_acc, test_acc_gen])


def replicates(con: Con, run: str) -> pd.DataFrame:
    """replicate, train_seed, test_acc, test_acc_gen of a run's noise trainings (replicate >= 1)."""
    return con.execute("SELECT replicate, train_seed, test_acc, test_acc_gen FROM llm2llm_noise WHERE run = ? "
                       "ORDER BY replicate", [run]).df()


def experiment_replicates(con: Con, experiment: str) -> pd.DataFrame:
    """seed_size, seed, replicate, test_acc of every noise training in an experiment's cells (one
    set per cell: the arms share them), plus each cell's main iteration-0 student as replicate 0."""
    return con.execute(
        "WITH cells AS (SELECT DISTINCT ON (seed_size, seed) seed_size, seed, run FROM llm2llm_experiment_runs "
        "  WHERE experiment = ? AND run IN (SELECT run FROM llm2llm_noise) ORDER BY seed_size, seed, run) "
        "SELECT c.seed_size, c.seed, n.replicate, n.test_acc FROM cells c JOIN llm2llm_noise n ON n.run = c.run "
        "UNION ALL SELECT c.seed_size, c.seed, 0, i.test_acc FROM cells c JOIN llm2llm_iterations i "
        "  ON i.run = c.run AND i.iteration = 0 ORDER BY 1, 2, 3", [experiment]).df()


def copy_controls(con: Con, source: str, target: str, what: str) -> None:
    """Copy `noise` replicates or the `check` (readiness) record from `source` to `target`, a run
    of the same cell (same seeds, same base settings), with the stage's `done` marker."""
    if what == "noise":
        con.execute("INSERT OR REPLACE INTO llm2llm_noise SELECT ? AS run, * EXCLUDE (run) FROM llm2llm_noise "
                    "WHERE run = ?", [target, source])
    else:
        con.execute("INSERT OR REPLACE INTO llm2llm_readiness SELECT ?, report FROM llm2llm_readiness "
                    "WHERE run = ?", [target, source])
    con.execute("INSERT OR REPLACE INTO llm2llm_stages VALUES (?, 0, ?, 'done', now(), now(), 0)", [target, what])


def save_readiness(con: Con, run: str, report: dict) -> None:
    con.execute("INSERT OR REPLACE INTO llm2llm_readiness VALUES (?, ?::JSON)", [run, json.dumps(report)])


def readiness(con: Con, run: str) -> dict | None:
    row = con.execute("SELECT report FROM llm2llm_readiness WHERE run = ?", [run]).fetchone()
    return json.loads(row[0]) if row else None
