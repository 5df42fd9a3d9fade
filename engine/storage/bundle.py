"""Bundle area: reads the stored outputs of one corpus as plain arrays, for shipping them in a
bundle (`engine.demo_bundle`); writing goes through the `corpus` area. No tables of its own."""
from __future__ import annotations

import numpy as np

from engine.storage.sql import Con

SCHEMA = ""


def scores_of(con: Con, corpus: str, signal_key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(doc_ids, values float64, truncated bool) stored under `signal_key` for the corpus's documents."""
    rows = con.execute(
        "SELECT s.doc_id, s.value, s.truncated FROM scores s JOIN documents d USING (doc_id) "
        "WHERE s.signal_key = ? AND d.corpus = ? ORDER BY s.doc_id", [signal_key, corpus]).df()
    return (rows["doc_id"].to_numpy(dtype=str), rows["value"].to_numpy(np.float64),
            rows["truncated"].to_numpy(bool))


def projection_of(con: Con, corpus: str) -> tuple[np.ndarray, np.ndarray]:
    """(doc_ids, xy float64 (n, 2)) of the corpus's stored 2-D map."""
    rows = con.execute("SELECT doc_id, x, y FROM projections WHERE corpus = ? ORDER BY doc_id", [corpus]).df()
    return rows["doc_id"].to_numpy(dtype=str), rows[["x", "y"]].to_numpy(np.float64)


def doc_ids_of(con: Con, corpus: str) -> set[str]:
    return {r[0] for r in con.execute("SELECT doc_id FROM documents WHERE corpus = ?", [corpus]).fetchall()}
