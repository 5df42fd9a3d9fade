"""`python -m engine llm2llm ...` argument handling and one-line errors (no model is loaded)."""
from __future__ import annotations

from engine.cli import main
from engine.storage import llm2llm as db


def test_cli_errors_are_one_line(workspace, capsys):
    path = str(workspace.path)
    cases = [
        (["status", "nope"], "no llm2llm run named 'nope'"),
        (["export", "nope", "--out", "x.jsonl"], "no llm2llm run named 'nope'"),
        (["run", "--name", "bad name!", "--task", "trec"], "run name 'bad name!'"),
        (["run", "--name", "j", "--task", "jsonl"], "task 'jsonl' needs --train FILE and --test FILE"),
        (["run", "--name", "t", "--task", "trec", "--train", "missing.label"], "data file not found: missing.label"),
    ]
    for argv, message in cases:
        assert main(["--db", path, "llm2llm", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_cli_status_export_and_reject_on_a_stored_run(workspace, tmp_path, capsys):
    with workspace.connect() as con:
        db.create_run(con, "r", "trec", {"seed_size": 2}, 0, [("train-1", "Who wrote Hamlet ?", "HUM")], [])
        db.save_synthetic(con, "r", [dict(example_id="syn-0-train-1-0", parent_id="train-1", iteration=0, attempt=1,
                                          teacher="t", raw_output="Text: Who painted it ?", input="Who painted it ?",
                                          output="HUM", accepted=True, reason=None)])
        db.set_run_status(con, "r", "done")
    path = str(workspace.path)
    assert main(["--db", path, "llm2llm", "status"]) == 0 and "r" in capsys.readouterr().out
    assert main(["--db", path, "llm2llm", "reject", "r", "syn-0-train-1-0"]) == 0
    out = tmp_path / "r.jsonl"
    assert main(["--db", path, "llm2llm", "export", "r", "--out", str(out)]) == 0
    assert out.read_text().count("\n") == 1  # the seed only: the curator rejected the synthetic one
    assert main(["--db", path, "llm2llm", "reject", "r", "syn-0-train-1-0", "--undo"]) == 0
    assert main(["--db", path, "llm2llm", "export", "r", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and '"parent_id":"train-1"' in lines[1] and '"iteration":0' in lines[1]
    assert main(["--db", path, "llm2llm", "status", "r"]) == 0
    assert "run r: done" in capsys.readouterr().out
