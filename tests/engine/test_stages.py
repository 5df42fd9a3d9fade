"""The stage registry and the layout rules it enables: a new signal is one module + one registry
line and shows up in the CLI, select, the map colours and export; light commands never load torch;
no hidden imports and no engine module above 350 lines."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine import explore, select, stages
from engine.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parents[1] / "data"


# --- a toy signal: what a new signal module holds (a config with key() and a batch function) ---

@dataclass(frozen=True)
class ToyConfig:
    scale: float = 1.0
    device: str | None = None

    def key(self) -> str:
        return "toy" + (f":scale={self.scale}" if self.scale != 1.0 else "")


def toy_batch(texts, config):
    """Test double for a model: the number of vowels, scaled (a real, deterministic function)."""
    return np.array([sum(c in "aeiou" for c in t) * config.scale for t in texts], np.float64)


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setattr(stages, "STAGES", stages.STAGES)  # restored after the test
    stages.register(stages.Stage("toy", stages.SIGNAL, ToyConfig, toy_batch, stages.SCORES, "Vowels",
                                 "vowel count of the document"))  # the one registry line
    return stages.stage("toy")


def test_a_new_signal_appears_in_cli_select_map_colours_and_export(toy, workspace, tmp_path, capsys):
    db = ["--db", str(workspace.path)]
    assert main([*db, "ingest", str(DATA / "c4_sample.jsonl"), "--corpus", "c4"]) == 0
    assert main([*db, "score", "--corpus", "c4", "--signal", "toy", "--set", "scale=2"]) == 0
    assert "scored 60 documents as toy:scale=2.0" in capsys.readouterr().out
    assert main([*db, "score", "--corpus", "c4", "--signal", "toy", "--set", "scale=2"]) == 0
    assert "scored 0 documents" in capsys.readouterr().out  # stored under its key: never recomputed

    assert "toy" in select.strategies() and "toy" in select.quality_signals()
    assert main([*db, "select", "--corpus", "c4", "--strategy", "toy", "--budget", "5", "--name", "vowels"]) == 0
    with workspace.connect() as con:
        from engine.storage import corpus as store

        frame = store.corpus_frame(con, "c4")
    assert "toy" in explore.colour_choices() and "toy" in explore.score_columns(frame)
    best = frame.sort_values(["toy", "doc_id"], ascending=[False, True], kind="stable")["doc_id"][:5].tolist()
    out = tmp_path / "vowels.jsonl"
    assert main([*db, "export", "--selection", "vowels", "--out", str(out)]) == 0
    exported = pd.read_json(out, lines=True)
    assert sorted(exported["doc_id"]) == sorted(best) and "toy" in exported.columns
    values, _ = explore.colour_values(frame, np.zeros(len(frame), bool), "toy")
    assert values.notna().all()


def test_a_signal_whose_low_end_is_good_is_ranked_by_its_negation(toy, monkeypatch):
    monkeypatch.setattr(stages, "STAGES", tuple(
        stages.Stage(**{**s.__dict__, "good": "low"}) if s.name == "toy" else s for s in stages.STAGES))
    frame = pd.DataFrame({"doc_id": list("abcd"), "toy": [3.0, 1.0, 2.0, 0.5]})
    assert list(select.choose(frame, "toy", budget=2).doc_ids) == ["d", "b"]


def test_cli_choices_and_help_defaults_come_from_the_registry_and_configs(capsys):
    from engine.density import DensityConfig

    assert main(["density", "--help"]) == 0
    assert f"(default {DensityConfig().n_hashes})" in capsys.readouterr().out
    verbs = build_parser()._subparsers._group_actions[0].choices
    score = verbs["score"]._option_string_actions["--signal"]
    assert list(score.choices) == [s.name for s in stages.computed_signals()]
    assert {"jobs", "runs"} <= set(verbs)  # `runs` stays as an alias of `jobs`


def test_unknown_setting_is_one_line(workspace, capsys):
    assert main(["--db", str(workspace.path), "score", "--corpus", "c", "--signal", "askllm",
                 "--set", "temperature=2"]) == 2
    assert capsys.readouterr().err.startswith("error: AskLLMConfig has no setting 'temperature'")


def test_jobs_list_does_not_import_torch(tmp_path):
    code = ("import sys, json; from engine.cli import main; rc = main(['--db', sys.argv[1], 'jobs', 'list']); "
            "print(json.dumps([rc, sorted(m for m in ('torch', 'transformers', 'scipy', 'ray') if m in sys.modules)]))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "ws.duckdb")], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    rc, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    assert rc == 0 and heavy == [], done.stderr[-2000:]


# --- layout rules (static, over the source) ---------------------------------------------------

def _engine_files():
    return sorted((ROOT / "engine").rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return names


def test_no_engine_module_imports_the_cli_or_uses_importlib():
    for path in _engine_files():
        if path.name == "__main__.py" and path.parent.name == "engine":
            continue  # the entry point
        imported = _imports(path)
        assert "engine.cli" not in imported, f"{path} imports engine.cli"
        text = path.read_text()
        assert "importlib.import_module" not in text and "__import__(" not in text, path


def test_no_engine_file_over_350_lines():
    long = {str(p.relative_to(ROOT)): n for p in _engine_files() if (n := len(p.read_text().splitlines())) > 350}
    assert not long, long


def test_pages_and_ui_go_through_the_engine_facade():
    for path in [ROOT / "app.py", *sorted((ROOT / "ui").glob("*.py")), *sorted((ROOT / "pages").glob("*.py"))]:
        assert not any(m.startswith("engine.storage") for m in _imports(path)), f"{path.name} imports engine.storage"
        assert ".connect(" not in path.read_text(), f"{path.name} opens a connection"
