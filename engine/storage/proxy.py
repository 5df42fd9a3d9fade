"""Proxy area: one row per trained proxy run, keyed by everything that decides its result, and one
row per proxy check (a comparison of selections), so nothing is retrained and the dashboard and
the export find the latest verdict of a selection.

`proxy_runs.key` hashes (training ids, target ids, proxy spec incl. seed, device kind); a rerun
with the same key reads the stored result instead of training. `proxy_checks.report` is the
JSON the CLI prints (`engine.proxy_check.summarise`).
"""
from __future__ import annotations

import json

import pandas as pd

from engine.storage.sql import Con

SCHEMA = """
CREATE TABLE IF NOT EXISTS proxy_runs (
    key TEXT PRIMARY KEY, corpus TEXT, entry TEXT, ids_hash TEXT, target_hash TEXT, seed INTEGER,
    settings JSON, result JSON, created_at TIMESTAMP DEFAULT now());
CREATE TABLE IF NOT EXISTS proxy_checks (
    key TEXT PRIMARY KEY, corpus TEXT, selections JSON, report JSON, created_at TIMESTAMP DEFAULT now());
"""


def stored_run(con: Con, key: str) -> dict | None:
    rows = con.execute("SELECT result FROM proxy_runs WHERE key = ?", [key]).fetchall()
    return json.loads(rows[0][0]) if rows else None


def save_run(con: Con, key: str, corpus: str, entry: str, ids_hash: str, target_hash: str, seed: int,
             settings: dict, result: dict) -> None:
    con.execute("INSERT OR REPLACE INTO proxy_runs (key, corpus, entry, ids_hash, target_hash, seed, settings, result) "
                "VALUES (?, ?, ?, ?, ?, ?, ?::JSON, ?::JSON)",
                [key, corpus, entry, ids_hash, target_hash, seed, json.dumps(settings), json.dumps(result)])


def save_check(con: Con, key: str, corpus: str, selections: list[str], report: dict) -> None:
    con.execute("INSERT OR REPLACE INTO proxy_checks (key, corpus, selections, report, created_at) "
                "VALUES (?, ?, ?::JSON, ?::JSON, now())",
                [key, corpus, json.dumps(selections), json.dumps(report, default=str)])


def checks(con: Con, corpus: str | None = None, selection: str | None = None) -> pd.DataFrame:
    """Proxy checks, newest first: of a corpus and/or naming a selection (key, corpus, selections,
    report as parsed JSON, created_at)."""
    frame = con.execute(
        "SELECT key, corpus, selections, report, created_at FROM proxy_checks "
        "WHERE (? IS NULL OR corpus = ?) AND (? IS NULL OR list_contains(CAST(selections AS TEXT[]), ?)) "
        "ORDER BY created_at DESC", [corpus, corpus, selection, selection]).df()
    for col in ("selections", "report"):
        frame[col] = [json.loads(v) for v in frame[col]]
    return frame


def latest_verdict(con: Con, selection: str) -> dict | None:
    """What an export carries: the newest check naming `selection` (verdict, proxy, target, when)."""
    frame = checks(con, selection=selection)
    if not len(frame):
        return None
    rep = frame.iloc[0]["report"]
    return {"verdict": rep.get("verdict"), "selections": rep.get("selections"), "proxy": rep.get("proxy"),
            "target": rep.get("target"), "checked_at": str(frame.iloc[0]["created_at"])}
