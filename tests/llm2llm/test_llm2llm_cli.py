"""`python -m engine llm2llm ...` argument handling and one-line errors (no model is loaded)."""
from __future__ import annotations

import json

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


def test_bad_task_input_gets_one_line_naming_file_and_row(workspace, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SEEDBED_DATA", raising=False)
    train, test, empty = tmp_path / "train.jsonl", tmp_path / "test.jsonl", tmp_path / "empty.jsonl"
    train.write_text('{"input": "great film", "output": "pos"}\n{"input": "dull film", "output": "neg"}\n')
    test.write_text('{"input": "fine film", "output": "pos"}\n{"input": "odd film", "output": "meh"}\n')
    empty.write_text("\n")
    path = str(workspace.path)
    jsonl = ["--task", "jsonl", "--train", str(train)]
    cases = [
        (["run", "--name", "u", *jsonl, "--test", str(test), "--labels", "pos,neg"],
         f"{test}:2: label 'meh' is not one of pos, neg"),
        (["run", "--name", "e", *jsonl, "--test", str(empty), "--labels", "pos,neg"], f"{empty}: the test set is empty"),
        (["run", "--name", "s", "--task", "trec", "--seed-size", "6000"],
         "seed size 6000 is larger than the train set (5452 rows)"),
        (["experiment", "--name", "x", "--task", "trec", "--arms", "plain,magic"], "unknown arm(s) magic"),
        (["experiment", "--name", "x", "--task", "trec", "--seed-sizes", "27,x"], "expected a comma-separated list"),
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


def test_bundled_task_data_loads_without_shared_data(monkeypatch):
    from engine.llm2llm.tasks import load_task

    monkeypatch.delenv("SEEDBED_DATA", raising=False)
    sizes = {name: tuple(map(len, load_task(name)[1:])) for name in ("trec", "sst2", "gsm8k")}
    assert sizes == {"trec": (5452, 500), "sst2": (6920, 1821), "gsm8k": (7473, 1319)}


def test_status_json_prints_per_iteration_figures(workspace, capsys):
    with workspace.connect() as con:
        db.create_run(con, "r", "trec", {"teacher": {"model": "t"}}, 0, [("train-1", "Who wrote Hamlet ?", "HUM")], [])
        db.upsert_iteration(con, "r", 0, train_size=1, test_acc=0.5, n_requests=3, n_parsed=2, n_accepted=1)
        db.save_synthetic(con, "r", [dict(example_id=f"syn-0-train-1-{k}", parent_id="train-1", iteration=0,
                                          attempt=k + 1, teacher="t", raw_output="x", input=None, output=None,
                                          accepted=False, reason="parse_failure: no text") for k in range(2)])
    assert main(["--db", str(workspace.path), "llm2llm", "status", "r", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    row = figures["iterations"][0]
    assert figures["teacher"] == "t" and row["train_size"] == 1 and row["test_acc"] == 0.5
    assert row["n_accepted"] == 1 and row["rejected"] == {"parse_failure": 2}


def test_uploaded_task_files_are_stored_safely_and_checked(tmp_path):
    import pytest

    from engine.errors import UserError
    from engine.llm2llm.userdata import check_task_files, store_upload

    ws = str(tmp_path / "ws.duckdb")
    rows = b'{"input": "great film", "output": "pos"}\n{"input": "dull film", "output": "neg"}\n'
    train = store_upload(ws, "../../etc/my train.jsonl", rows)
    assert train.parent == tmp_path / "ws.uploads" / "llm2llm" and train.name.endswith("-my_train.jsonl")
    assert store_upload(ws, "my train.jsonl", rows) == train  # the same content is stored once
    test = store_upload(ws, "test.jsonl", b'{"input": "fine film", "output": "pos"}\n')
    assert check_task_files(str(train), str(test), ("pos", "neg"), 2) == (2, 1, ("pos", "neg"))
    with pytest.raises(UserError, match="seed size 5 is larger than the train set"):
        check_task_files(str(train), str(test), ("pos", "neg"), 5)
    with pytest.raises(UserError, match=r"label 'neg' is not one of pos"):
        check_task_files(str(train), str(test), ("pos",), 1)
    with pytest.raises(UserError, match="must be .jsonl or .csv"):
        store_upload(ws, "x.exe", b"MZ")
