"""`python -m engine`: help for every verb, a model-free happy path, one-line errors with exit 2."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from engine.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parents[1] / "data"
VERBS = ["ingest", "embed", "score", "density", "clusters", "project", "select", "export", "pipeline",
         "corpora", "status", "compare"]


def _engine(*args, db):
    """Run the real CLI in a fresh process; returns (exit code, stdout, stderr)."""
    env = {**os.environ, "SEEDBED_DB": str(db), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb, capsys):
    assert main([verb, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m engine {verb}") and len(out.splitlines()) > 3


def test_groups_from_other_modules_are_registered():
    verbs = build_parser()._subparsers._group_actions[0].choices
    assert set(VERBS) <= set(verbs) and {"runs", "llm2llm"} <= set(verbs)


def test_ingest_select_export_without_models(workspace, tmp_path, capsys):
    db = ["--db", str(workspace.path)]
    assert main([*db, "ingest", str(DATA / "c4_sample.jsonl"), "--corpus", "c4"]) == 0
    assert "60 new" in capsys.readouterr().out
    assert main([*db, "select", "--corpus", "c4", "--strategy", "random", "--budget", "5", "--seed", "2",
                 "--name", "five"]) == 0
    out = capsys.readouterr().out
    assert "selected 5 of 60 documents by random; saved as 'five'" in out and len(out.splitlines()) == 2
    assert "5 doc_ids, first" in out and "--ids lists them all" in out
    assert main([*db, "export", "--selection", "five", "--out", str(tmp_path / "five.jsonl")]) == 0
    assert "wrote 5 documents of selection 'five'" in capsys.readouterr().out
    assert len(pd.read_json(tmp_path / "five.jsonl", lines=True)) == 5
    assert main([*db, "status", "--corpus", "c4"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["n_docs"] == 60 and status["selections"] == ["five"] and status["projected"] == 0
    assert main([*db, "corpora"]) == 0 and "c4" in capsys.readouterr().out
    assert main([*db, "compare", "--corpus", "c4", "--budget", "6"]) == 0  # no signals yet: random only
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 2 and table[1].split()[:3] == ["random", "6", "0"]


@pytest.mark.parametrize("args, expected", [
    (["select", "--corpus", "nope"], "error: no corpus named 'nope' (known: none yet); ingest one with"),
    (["select", "--corpus", "x", "--budget", "lots"], "error: argument --budget: 'lots' is neither"),
    (["select", "--corpus", "x", "--strategy", "best"], "error: argument --strategy: invalid choice: 'best'"),
    (["ingest", "missing.jsonl", "--corpus", "c"], "error: "),
    (["export", "--selection", "s", "--out", "s.csv"], "error: cannot tell the export format of 's.csv'"),
    (["frobnicate"], "error: argument VERB: invalid choice: 'frobnicate'"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, expected):
    code, out, err = _engine(*args, db=tmp_path / "ws.duckdb")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(expected), err


def test_user_errors_inside_stages_are_one_line_too(workspace, capsys):
    db = ["--db", str(workspace.path)]
    assert main([*db, "ingest", str(DATA / "c4_sample.jsonl"), "--corpus", "c4"]) == 0
    capsys.readouterr()
    assert main([*db, "select", "--corpus", "c4", "--strategy", "density"]) == 2
    assert main([*db, "select", "--corpus", "c4", "--budget", "2.5"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: no 'density' scores for corpus 'c4': run `python -m engine density --corpus c4` first"
    assert err[1].startswith("error: argument --budget: '2.5' is not a fraction in (0, 1] (e.g. 0.2, 1.0 or 20%)")


@pytest.mark.parametrize("text, value", [("0.2", 0.2), ("1.0", 1.0), ("100%", 1.0), ("20%", 0.2), ("500", 500),
                                         ("1", 1)])
def test_budget_accepts_only_unambiguous_forms(text, value, capsys):
    from engine.arguments import fraction_or_count

    got = fraction_or_count(text)
    assert got == value and type(got) is type(value)
    note = capsys.readouterr().err
    assert ("note: --budget 1 selects one document; for the whole corpus give 1.0 or 100%" in note) == (text == "1")


@pytest.mark.parametrize("text", ["2.0", "1.5", "0", "-3", "0%", "150%", "0.0", "lots", "1e3"])
def test_budget_refuses_ambiguous_or_out_of_range_forms(text):
    import argparse

    from engine.arguments import fraction_or_count

    with pytest.raises(argparse.ArgumentTypeError):
        fraction_or_count(text)


def test_select_name_that_exists_needs_replace(workspace, capsys):
    db = ["--db", str(workspace.path)]
    assert main([*db, "ingest", str(DATA / "c4_sample.jsonl"), "--corpus", "c4"]) == 0
    pick = [*db, "select", "--corpus", "c4", "--strategy", "random", "--name", "mine"]
    assert main([*pick, "--budget", "5"]) == 0
    capsys.readouterr()
    assert main([*pick, "--budget", "7"]) == 2
    assert capsys.readouterr().err.strip() == ("error: a selection named 'mine' exists (corpus 'c4', 5 documents); "
                                               "pass --replace to overwrite it or choose another --name")
    from engine.storage import selections as store

    with workspace.connect() as con:
        assert store.selection(con, "mine")["n_selected"] == 5  # untouched
    assert main([*pick, "--budget", "7", "--replace"]) == 0
    with workspace.connect() as con:
        assert store.selection(con, "mine")["n_selected"] == 7


def test_tqdm_progress_keeps_one_bar_per_stage():
    import io

    from engine.progress import tqdm_progress

    out = io.StringIO()
    progress = tqdm_progress(file=out, mininterval=0)
    for done in (0, 4, 10):
        progress("embed", done, 10)
    progress("askllm", 3, 5)
    text = out.getvalue()
    assert "embed: 100%" in text and "10/10" in text and "askllm:  60%" in text and "3/5" in text


def test_rerunning_the_same_select_keeps_working(workspace, capsys):
    db = ["--db", str(workspace.path)]
    assert main([*db, "ingest", str(DATA / "c4_sample.jsonl"), "--corpus", "c4"]) == 0
    pick = [*db, "select", "--corpus", "c4", "--strategy", "random", "--budget", "5", "--name", "same"]
    assert main(pick) == 0 and main(pick) == 0  # the same selection again: nothing is replaced
