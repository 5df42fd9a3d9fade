"""Quality-model area: every fit of the curator-trained quality model (engine.quality_model), one
row per refit, so the learning curve (cross-validated AUC against the number of decisions) is a
plain read and nothing about an earlier fit is ever overwritten."""
from __future__ import annotations

import json

import pandas as pd

from engine.storage.sql import Con

SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS quality_fit_seq;
CREATE TABLE IF NOT EXISTS quality_fits (
    seq BIGINT DEFAULT nextval('quality_fit_seq') PRIMARY KEY, corpus TEXT, n_decisions BIGINT,
    n_accept BIGINT, n_reject BIGINT, cv_auc DOUBLE, ci_lo DOUBLE, ci_hi DOUBLE,
    ensemble_auc DOUBLE, ensemble_lo DOUBLE, ensemble_hi DOUBLE, gain_lo DOUBLE, gain_hi DOUBLE,
    active BOOLEAN, why TEXT, signal_key TEXT, params JSON, seconds DOUBLE, created_at TIMESTAMP DEFAULT now());
"""
COLUMNS = ("corpus", "n_decisions", "n_accept", "n_reject", "cv_auc", "ci_lo", "ci_hi", "ensemble_auc",
           "ensemble_lo", "ensemble_hi", "gain_lo", "gain_hi", "active", "why", "signal_key", "params", "seconds")


def add_fit(con: Con, row: dict) -> None:
    """Append one fit (keys of COLUMNS; params a dict)."""
    values = [json.dumps(row[c], default=str) if c == "params" else row.get(c) for c in COLUMNS]
    con.execute(f"INSERT INTO quality_fits ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                values)


def fits(con: Con, corpus: str) -> pd.DataFrame:
    """Every fit of the corpus, oldest first."""
    return con.execute(f"SELECT {', '.join(COLUMNS)}, created_at FROM quality_fits WHERE corpus = ? ORDER BY seq",
                       [corpus]).df()


def drop_signal(con: Con, corpus: str, kind: str, signal_key: str) -> None:
    """Remove one active-signal marker (its stored values stay, keyed by signal_key)."""
    con.execute("DELETE FROM signals WHERE corpus = ? AND kind = ? AND signal_key = ?", [corpus, kind, signal_key])
