"""llm2llm area: runs, their examples, per-iteration train sets, predictions, synthetic examples
and per-stage completion markers.

Resume design: each (run, iteration, stage) has a row in `llm2llm_stages`; a stage's outputs and
its `done` marker are written in the same transaction (or in per-batch transactions keyed by
primary key, so a redone batch replaces rather than duplicates). Example ids are stable:
`train-<line>` / `test-<line>` for data rows, `syn-<iteration>-<parent>-<attempt>` for synthetic ones.
"""
from __future__ import annotations

import json
from typing import Iterable, Sequence

import duckdb
import pandas as pd

from engine.storage.llm2llm_controls import CONTROLS_SCHEMA
from engine.storage.llm2llm_experiments import EXPERIMENT_SCHEMA

SCHEMA = """
CREATE TABLE IF NOT EXISTS llm2llm_runs (
    name TEXT PRIMARY KEY, task TEXT, config JSON, seed BIGINT, status TEXT, error TEXT,
    created_at TIMESTAMP DEFAULT now(), updated_at TIMESTAMP DEFAULT now(), finished_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS llm2llm_examples (
    run TEXT, example_id TEXT, role TEXT, input TEXT, output TEXT, PRIMARY KEY (run, example_id));
CREATE TABLE IF NOT EXISTS llm2llm_synthetic (
    run TEXT, example_id TEXT, parent_id TEXT, iteration INTEGER, attempt INTEGER, teacher TEXT,
    raw_output TEXT, input TEXT, output TEXT, accepted BOOLEAN, reason TEXT,
    curator_rejected BOOLEAN DEFAULT false, created_at TIMESTAMP DEFAULT now(),
    PRIMARY KEY (run, example_id));
CREATE TABLE IF NOT EXISTS llm2llm_train_sets (
    run TEXT, iteration INTEGER, example_id TEXT, PRIMARY KEY (run, iteration, example_id));
CREATE TABLE IF NOT EXISTS llm2llm_predictions (
    run TEXT, iteration INTEGER, example_id TEXT, split TEXT, output TEXT, correct BOOLEAN,
    PRIMARY KEY (run, iteration, example_id));
CREATE TABLE IF NOT EXISTS llm2llm_iterations (
    run TEXT, iteration INTEGER, train_size INTEGER, n_synthetic INTEGER, train_acc DOUBLE,
    seed_acc DOUBLE, test_acc DOUBLE, n_wrong INTEGER, n_requests INTEGER, n_accepted INTEGER,
    PRIMARY KEY (run, iteration));
CREATE TABLE IF NOT EXISTS llm2llm_stages (
    run TEXT, iteration INTEGER, stage TEXT, status TEXT, started_at TIMESTAMP, finished_at TIMESTAMP,
    seconds DOUBLE, PRIMARY KEY (run, iteration, stage));
ALTER TABLE llm2llm_iterations ADD COLUMN IF NOT EXISTS n_parsed INTEGER;
ALTER TABLE llm2llm_iterations ADD COLUMN IF NOT EXISTS judge_seed_acc DOUBLE;
ALTER TABLE llm2llm_iterations ADD COLUMN IF NOT EXISTS test_acc_gen DOUBLE;
""" + EXPERIMENT_SCHEMA + CONTROLS_SCHEMA

Con = duckdb.DuckDBPyConnection
_SYN_COLS = ("example_id", "parent_id", "iteration", "attempt", "teacher", "raw_output", "input",
             "output", "accepted", "reason")


def _rows(con: Con, sql: str, params: Sequence = ()) -> list[dict]:
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


# --- runs ------------------------------------------------------------------------------------

def create_run(con: Con, name: str, task: str, config: dict, seed: int,
               seeds: Iterable[tuple[str, str, str]], tests: Iterable[tuple[str, str, str]]) -> None:
    """The run row plus its seed and test examples ((id, input, output) tuples), atomically."""
    con.execute("INSERT INTO llm2llm_runs (name, task, config, seed, status) VALUES (?, ?, ?::JSON, ?, 'running')",
                [name, task, json.dumps(config), seed])
    rows = [(name, i, "seed", x, y) for i, x, y in seeds] + [(name, i, "test", x, y) for i, x, y in tests]
    con.executemany("INSERT INTO llm2llm_examples VALUES (?, ?, ?, ?, ?)", rows)


def get_run(con: Con, name: str) -> dict | None:
    """The run's row (config decoded to a dict), or None."""
    rows = _rows(con, "SELECT * FROM llm2llm_runs WHERE name = ?", [name])
    if not rows:
        return None
    rows[0]["config"] = json.loads(rows[0]["config"])
    return rows[0]


def list_runs(con: Con) -> pd.DataFrame:
    """Every run, newest first: name, task, seed, status, created/finished times, iterations done."""
    return con.execute(
        "SELECT r.name, r.task, r.seed, r.status, r.created_at, r.finished_at, "
        "(SELECT count(*) FROM llm2llm_iterations i WHERE i.run = r.name AND i.test_acc IS NOT NULL) "
        "AS iterations_evaluated FROM llm2llm_runs r ORDER BY r.created_at DESC").df()


def set_run_status(con: Con, name: str, status: str, error: str | None = None) -> None:
    """`running` | `done` | `failed` (with the error line); `done` also stamps finished_at."""
    con.execute("UPDATE llm2llm_runs SET status = ?, error = ?, updated_at = now(), "
                "finished_at = CASE WHEN ? = 'done' THEN now() ELSE finished_at END WHERE name = ?",
                [status, error, status, name])


def run_examples(con: Con, run: str, role: str) -> list[tuple[str, str, str]]:
    """(id, input, output) of the run's `seed` or `test` examples, in id order."""
    return con.execute("SELECT example_id, input, output FROM llm2llm_examples WHERE run = ? AND role = ? "
                       "ORDER BY example_id", [run, role]).fetchall()


# --- stage completion ------------------------------------------------------------------------

def stage_status(con: Con, run: str, iteration: int, stage: str) -> str | None:
    """`running`, `done`, or None when the stage never started."""
    rows = con.execute("SELECT status FROM llm2llm_stages WHERE run = ? AND iteration = ? AND stage = ?",
                       [run, iteration, stage]).fetchall()
    return rows[0][0] if rows else None


def mark_stage(con: Con, run: str, iteration: int, stage: str, status: str, seconds: float | None = None) -> None:
    """Upsert a stage marker; `running` stamps started_at, `done` stamps finished_at and seconds."""
    con.execute(
        "INSERT INTO llm2llm_stages VALUES (?, ?, ?, ?, now(), NULL, NULL) ON CONFLICT (run, iteration, stage) "
        "DO UPDATE SET status = excluded.status, "
        "started_at = CASE WHEN excluded.status = 'running' THEN now() ELSE llm2llm_stages.started_at END",
        [run, iteration, stage, status])
    if status == "done":
        con.execute("UPDATE llm2llm_stages SET finished_at = now(), seconds = ? "
                    "WHERE run = ? AND iteration = ? AND stage = ?", [seconds, run, iteration, stage])


def stage_times(con: Con, run: str) -> pd.DataFrame:
    """Seconds per (iteration, stage) of finished stages, for timing tables and the bench."""
    return con.execute("SELECT iteration, stage, seconds FROM llm2llm_stages WHERE run = ? AND status = 'done' "
                       "ORDER BY iteration, started_at", [run]).df()


# --- train sets and predictions --------------------------------------------------------------

def eligible_synthetic(con: Con, run: str, before_iteration: int) -> list[tuple[str, str, str]]:
    """(id, input, output) of accepted synthetic examples made before `before_iteration` that no
    curator has rejected: what the next train set may use."""
    return con.execute(
        "SELECT example_id, input, output FROM llm2llm_synthetic WHERE run = ? AND accepted "
        "AND NOT curator_rejected AND iteration < ? ORDER BY iteration, example_id", [run, before_iteration]).fetchall()


def save_train_set(con: Con, run: str, iteration: int, example_ids: Sequence[str]) -> None:
    """Record exactly which examples an iteration trained on (replacing a partial earlier record)."""
    con.execute("DELETE FROM llm2llm_train_sets WHERE run = ? AND iteration = ?", [run, iteration])
    con.executemany("INSERT INTO llm2llm_train_sets VALUES (?, ?, ?)", [(run, iteration, i) for i in example_ids])


def train_set(con: Con, run: str, iteration: int) -> list[tuple[str, str, str]]:
    """(id, input, output) of the examples iteration `iteration` trained on, seeds first."""
    return con.execute(
        "SELECT t.example_id, coalesce(e.input, s.input), coalesce(e.output, s.output) "
        "FROM llm2llm_train_sets t LEFT JOIN llm2llm_examples e ON e.run = t.run AND e.example_id = t.example_id "
        "LEFT JOIN llm2llm_synthetic s ON s.run = t.run AND s.example_id = t.example_id "
        "WHERE t.run = ? AND t.iteration = ? ORDER BY e.example_id IS NULL, t.example_id", [run, iteration]).fetchall()


def save_predictions(con: Con, run: str, iteration: int, split: str,
                     rows: Iterable[tuple[str, str, bool]]) -> None:
    """Upsert (example_id, output, correct) predictions, so a redone batch never duplicates."""
    con.executemany("INSERT OR REPLACE INTO llm2llm_predictions VALUES (?, ?, ?, ?, ?, ?)",
                    [(run, iteration, i, split, out, bool(ok)) for i, out, ok in rows])


def predictions(con: Con, run: str, iteration: int, split: str) -> list[tuple[str, str, bool]]:
    """(example_id, output, correct) of one iteration's predictions on `train` or `test`."""
    return con.execute("SELECT example_id, output, correct FROM llm2llm_predictions WHERE run = ? AND "
                       "iteration = ? AND split = ? ORDER BY example_id", [run, iteration, split]).fetchall()


def upsert_iteration(con: Con, run: str, iteration: int, **fields) -> None:
    """Set some columns of an iteration's summary row (creating it when missing)."""
    allowed = {"train_size", "n_synthetic", "train_acc", "seed_acc", "test_acc", "n_wrong", "n_requests", "n_parsed",
               "n_accepted", "judge_seed_acc", "test_acc_gen"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown iteration fields: {sorted(unknown)}")
    con.execute("INSERT OR IGNORE INTO llm2llm_iterations (run, iteration) VALUES (?, ?)", [run, iteration])
    for column, value in fields.items():  # column names come from `allowed`, never from user input
        con.execute(f"UPDATE llm2llm_iterations SET {column} = ? WHERE run = ? AND iteration = ?",
                    [value, run, iteration])


# --- synthetic examples ----------------------------------------------------------------------

def save_synthetic(con: Con, run: str, rows: Iterable[dict]) -> None:
    """Upsert synthetic candidates (keys: example_id, parent_id, iteration, attempt, teacher,
    raw_output, input, output, accepted, reason); curator flags of existing rows are kept."""
    con.executemany(
        f"INSERT INTO llm2llm_synthetic (run, {', '.join(_SYN_COLS)}) VALUES ({', '.join('?' * (len(_SYN_COLS) + 1))}) "
        "ON CONFLICT (run, example_id) DO UPDATE SET raw_output = excluded.raw_output, input = excluded.input, "
        "output = excluded.output, accepted = excluded.accepted, reason = excluded.reason",
        [[run] + [r[c] for c in _SYN_COLS] for r in rows])


def candidate_counts(con: Con, run: str, iteration: int) -> dict:
    """One iteration's teacher outcome: requests, parsed (the reply had the format), accepted and
    rejections by reason (up to the first ':')."""
    rows = con.execute("SELECT CASE WHEN accepted THEN 'accepted' ELSE split_part(reason, ':', 1) END, "
                       "input IS NOT NULL, count(*) FROM llm2llm_synthetic WHERE run = ? AND iteration = ? "
                       "GROUP BY ALL", [run, iteration]).fetchall()
    reasons: dict[str, int] = {}
    for outcome, _, n in rows:
        if outcome != "accepted":
            reasons[outcome] = reasons.get(outcome, 0) + n
    return dict(requests=sum(n for *_, n in rows), parsed=sum(n for _, parsed, n in rows if parsed),
                accepted=sum(n for o, _, n in rows if o == "accepted"), reasons=reasons)


def augmented_parents(con: Con, run: str, iteration: int) -> set[str]:
    """Parents that already have candidates from `iteration` (their batch was committed)."""
    rows = con.execute("SELECT DISTINCT parent_id FROM llm2llm_synthetic WHERE run = ? AND iteration = ?",
                       [run, iteration]).fetchall()
    return {r[0] for r in rows}


def known_inputs(con: Con, run: str) -> list[tuple[str, str]]:
    """(id, input) of everything a new example must not duplicate: seeds, test rows, accepted synthetic."""
    return con.execute("SELECT example_id, input FROM llm2llm_examples WHERE run = ? UNION ALL "
                       "SELECT example_id, input FROM llm2llm_synthetic WHERE run = ? AND accepted",
                       [run, run]).fetchall()


def set_curator_rejected(con: Con, run: str, example_id: str, rejected: bool = True) -> int:
    """Flag a synthetic example so no later train set uses it; returns rows changed (0 = unknown id)."""
    rows = con.execute("UPDATE llm2llm_synthetic SET curator_rejected = ? WHERE run = ? AND example_id = ? "
                       "RETURNING example_id", [rejected, run, example_id]).fetchall()
    return len(rows)


# --- views for the dashboard and exports -----------------------------------------------------

def iteration_summary(con: Con, run: str) -> pd.DataFrame:
    """One row per iteration: sizes, accuracies, augmentation counts and seconds per stage
    (columns `s_train`, `s_eval_train`, `s_eval_test`, `s_augment`)."""
    return con.execute(
        "SELECT i.*, "
        + ", ".join(f"(SELECT seconds FROM llm2llm_stages s WHERE s.run = i.run AND s.iteration = i.iteration "
                    f"AND s.stage = '{st}') AS s_{st}" for st in ("train", "eval_train", "eval_test", "augment"))
        + " FROM llm2llm_iterations i WHERE i.run = ? ORDER BY i.iteration", [run]).df()


def wrong_answers(con: Con, run: str, iteration: int, split: str = "train") -> pd.DataFrame:
    """The examples an iteration's student got wrong on `split`: id, kind (seed/test/synthetic),
    input, gold output and the student's output."""
    return con.execute(
        "SELECT p.example_id, coalesce(e.role, 'synthetic') AS kind, coalesce(e.input, s.input) AS input, "
        "coalesce(e.output, s.output) AS gold, p.output AS prediction FROM llm2llm_predictions p "
        "LEFT JOIN llm2llm_examples e ON e.run = p.run AND e.example_id = p.example_id "
        "LEFT JOIN llm2llm_synthetic s ON s.run = p.run AND s.example_id = p.example_id "
        "WHERE p.run = ? AND p.iteration = ? AND p.split = ? AND NOT p.correct ORDER BY p.example_id",
        [run, iteration, split]).df()


def family_tree(con: Con, run: str, seed_id: str) -> pd.DataFrame:
    """A seed and every candidate descended from it (accepted or not), with depth (0 = the seed),
    parent, iteration, acceptance, rejection reason and curator flag."""
    return con.execute(
        "WITH RECURSIVE tree(example_id, parent_id, depth) AS ("
        " SELECT example_id, NULL::TEXT, 0 FROM llm2llm_examples WHERE run = ? AND example_id = ?"
        " UNION ALL SELECT s.example_id, s.parent_id, t.depth + 1 FROM llm2llm_synthetic s"
        " JOIN tree t ON s.parent_id = t.example_id WHERE s.run = ?) "
        "SELECT t.example_id, t.parent_id, t.depth, s.iteration, coalesce(e.input, s.input) AS input, "
        "coalesce(e.output, s.output) AS output, coalesce(s.accepted, true) AS accepted, s.reason, "
        "coalesce(s.curator_rejected, false) AS curator_rejected, s.raw_output, s.teacher FROM tree t "
        "LEFT JOIN llm2llm_examples e ON e.run = ? AND e.example_id = t.example_id "
        "LEFT JOIN llm2llm_synthetic s ON s.run = ? AND s.example_id = t.example_id "
        "ORDER BY t.depth, s.iteration, t.example_id", [run, seed_id, run, run, run]).df()


def correctness_grid(con: Con, run: str, role: str = "seed") -> pd.DataFrame:
    """Seeds (or test rows, role='test') x iterations: True/False where predicted, NaN where not."""
    long = con.execute(
        "SELECT p.example_id, p.iteration, p.correct FROM llm2llm_predictions p JOIN llm2llm_examples e "
        "ON e.run = p.run AND e.example_id = p.example_id WHERE p.run = ? AND e.role = ?", [run, role]).df()
    if long.empty:
        return pd.DataFrame()
    return long.pivot(index="example_id", columns="iteration", values="correct")


def confusion_matrix(con: Con, run: str, iteration: int, split: str = "test") -> pd.DataFrame:
    """Classification: counts of gold label (rows) x predicted output (columns, as generated,
    stripped) for one iteration's predictions on `split`."""
    long = con.execute(
        "SELECT coalesce(e.output, s.output) AS gold, trim(p.output) AS predicted, count(*) AS n "
        "FROM llm2llm_predictions p LEFT JOIN llm2llm_examples e ON e.run = p.run AND e.example_id = p.example_id "
        "LEFT JOIN llm2llm_synthetic s ON s.run = p.run AND s.example_id = p.example_id "
        "WHERE p.run = ? AND p.iteration = ? AND p.split = ? GROUP BY ALL", [run, iteration, split]).df()
    if long.empty:
        return pd.DataFrame()
    return long.pivot(index="gold", columns="predicted", values="n").fillna(0).astype(int)


def synthetic_frame(con: Con, run: str, iteration: int | None = None) -> pd.DataFrame:
    """Every synthetic candidate of a run (or of one iteration) with parent, outcome and reason."""
    sql = "SELECT * EXCLUDE (run) FROM llm2llm_synthetic WHERE run = ?"
    params: list = [run]
    if iteration is not None:
        sql, params = sql + " AND iteration = ?", params + [iteration]
    return con.execute(sql + " ORDER BY iteration, parent_id, attempt", params).df()


def rejection_counts(con: Con, run: str) -> pd.DataFrame:
    """Candidates per iteration and outcome: reason up to the first ':' ('accepted' when kept)."""
    return con.execute(
        "SELECT iteration, CASE WHEN accepted THEN 'accepted' ELSE split_part(reason, ':', 1) END AS outcome, "
        "count(*) AS n FROM llm2llm_synthetic WHERE run = ? GROUP BY ALL ORDER BY iteration, n DESC", [run]).df()
