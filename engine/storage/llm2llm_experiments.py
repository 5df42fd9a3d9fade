"""llm2llm experiments: one row per experiment (its spec) and one per (arm, seed size, seed) cell
pointing at the ordinary LLM2LLM run that holds the cell's records. Part of the llm2llm area's
schema (`engine.storage.llm2llm.SCHEMA` includes it).
"""
from __future__ import annotations

import json

import duckdb
import pandas as pd

EXPERIMENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm2llm_experiments (
    name TEXT PRIMARY KEY, task TEXT, spec JSON, status TEXT, error TEXT,
    created_at TIMESTAMP DEFAULT now(), finished_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS llm2llm_experiment_runs (
    experiment TEXT, arm TEXT, seed_size DOUBLE, seed INTEGER, run TEXT,
    PRIMARY KEY (experiment, arm, seed_size, seed));
"""
# Tables a shard workspace (one worker of a parallel experiment) merges back, all keyed.
SHARD_TABLES = ("llm2llm_runs", "llm2llm_examples", "llm2llm_synthetic", "llm2llm_train_sets",
                "llm2llm_predictions", "llm2llm_iterations", "llm2llm_stages", "llm2llm_experiment_runs",
                "llm2llm_noise", "llm2llm_readiness")
Con = duckdb.DuckDBPyConnection


def create_experiment(con: Con, name: str, task: str, spec: dict) -> None:
    con.execute("INSERT INTO llm2llm_experiments (name, task, spec, status) VALUES (?, ?, ?::JSON, 'running')",
                [name, task, json.dumps(spec)])


def get_experiment(con: Con, name: str) -> dict | None:
    """The experiment's row with its spec decoded, or None."""
    cur = con.execute("SELECT * FROM llm2llm_experiments WHERE name = ?", [name])
    row = cur.fetchone()
    if row is None:
        return None
    out = dict(zip([d[0] for d in cur.description], row))
    out["spec"] = json.loads(out["spec"])
    return out


def set_experiment_status(con: Con, name: str, status: str, error: str | None = None) -> None:
    con.execute("UPDATE llm2llm_experiments SET status = ?, error = ?, "
                "finished_at = CASE WHEN ? = 'done' THEN now() ELSE NULL END WHERE name = ?",
                [status, error, status, name])


def add_cell(con: Con, experiment: str, arm: str, seed_size: float, seed: int, run: str) -> None:
    con.execute("INSERT OR IGNORE INTO llm2llm_experiment_runs VALUES (?, ?, ?, ?, ?)",
                [experiment, arm, float(seed_size), seed, run])


def list_experiments(con: Con) -> pd.DataFrame:
    return con.execute("SELECT name, task, status, created_at, finished_at FROM llm2llm_experiments "
                       "ORDER BY created_at DESC").df()


def experiment_iterations(con: Con, experiment: str) -> pd.DataFrame:
    """One row per (arm, seed size, seed, iteration) with the run's figures and status."""
    return con.execute(
        "SELECT c.arm, c.seed_size, c.seed, c.run, r.status, i.iteration, i.train_size, i.n_synthetic, "
        "i.test_acc, i.test_acc_gen, i.seed_acc, i.n_wrong, i.n_requests, i.n_parsed, i.n_accepted, i.judge_seed_acc "
        "FROM llm2llm_experiment_runs c JOIN llm2llm_runs r ON r.name = c.run "
        "LEFT JOIN llm2llm_iterations i ON i.run = c.run WHERE c.experiment = ? "
        "ORDER BY c.arm, c.seed_size, c.seed, i.iteration", [experiment]).df()


def experiment_rejections(con: Con, experiment: str) -> pd.DataFrame:
    """Candidates per arm, iteration and outcome (reason up to the first ':'), over all cells."""
    return con.execute(
        "SELECT c.arm, s.iteration, CASE WHEN s.accepted THEN 'accepted' ELSE split_part(s.reason, ':', 1) END "
        "AS outcome, count(*) AS n FROM llm2llm_experiment_runs c JOIN llm2llm_synthetic s ON s.run = c.run "
        "WHERE c.experiment = ? GROUP BY ALL ORDER BY c.arm, s.iteration, n DESC", [experiment]).df()


def share_iteration(con: Con, source: str, target: str, iteration: int, stages: tuple[str, ...]) -> None:
    """Copy a finished iteration (train set, predictions, summary, `done` stage markers with 0 s)
    from run `source` to run `target`, which trains the same student on the same seeds."""
    args = [target, source, iteration]
    con.execute("INSERT OR REPLACE INTO llm2llm_train_sets SELECT ?, iteration, example_id FROM llm2llm_train_sets "
                "WHERE run = ? AND iteration = ?", args)
    con.execute("INSERT OR REPLACE INTO llm2llm_predictions SELECT ? AS run, * EXCLUDE (run) FROM "
                "llm2llm_predictions WHERE run = ? AND iteration = ?", args)
    con.execute("INSERT OR REPLACE INTO llm2llm_iterations (run, iteration, train_size, n_synthetic, train_acc, "
                "seed_acc, test_acc, test_acc_gen) SELECT ?, iteration, train_size, n_synthetic, train_acc, seed_acc, "
                "test_acc, test_acc_gen "
                "FROM llm2llm_iterations WHERE run = ? AND iteration = ?", args)
    for stage in stages:
        con.execute("INSERT OR REPLACE INTO llm2llm_stages VALUES (?, ?, ?, 'done', now(), now(), 0)",
                    [target, iteration, stage])


def merge_shard(con: Con, shard_path: str) -> None:
    """Copy every llm2llm record of a worker's shard workspace into this one (idempotent: keyed).
    ATTACH/DETACH cannot share a transaction with the copy, so the caller's one is split around it."""
    con.execute("COMMIT")
    con.execute("ATTACH ? AS shard", [shard_path])  # not read-only: replays the WAL a killed worker left
    try:
        con.execute("BEGIN TRANSACTION")
        for table in SHARD_TABLES:  # names from a constant; BY NAME: older shards may lack new columns
            con.execute(f"INSERT OR REPLACE INTO {table} BY NAME SELECT * FROM shard.{table}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("DETACH shard")
        con.execute("BEGIN TRANSACTION")  # Workspace.connect commits it
