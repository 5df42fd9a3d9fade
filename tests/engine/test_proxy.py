"""Proxy checks on CPU with the real SmolLM2 tokenizer, `LlamaForCausalLM` and AdamW.

The tiny corpus: the committed C4 sample's first 45 documents twice, once as written ("clean") and
once with each document's words shuffled ("garbled", a seeded permutation: same words, same
length); the last 15 documents are the held-out target file.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import cli, pipeline
from engine.storage import selections as sel_store

DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = Path(__file__).resolve().parents[2]
FAST = ["--seq-len", "64", "--batch", "8", "--size", "tiny", "--device", "cpu", "--eval-tokens", "1024"]


def _garble(text: str, seed: int) -> str:
    words = text.split()
    random.Random(seed).shuffle(words)
    return " ".join(words)


@pytest.fixture
def tiny(workspace, tmp_path):
    """(workspace, target file): corpus 'tiny' with selections 'clean' and 'garbled'."""
    docs = [json.loads(line)["text"] for line in (DATA / "c4_sample.jsonl").read_text().splitlines()]
    rows = [{"text": t, "kind": "clean"} for t in docs[:45]] + [{"text": _garble(t, i), "kind": "garbled"}
                                                                for i, t in enumerate(docs[:45])]
    src = tmp_path / "corpus.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows))
    target = tmp_path / "target.jsonl"
    target.write_text("\n".join(json.dumps({"text": t}) for t in docs[45:]))
    pipeline.ingest(workspace, src, "tiny")
    with workspace.connect() as con:
        frame = con.execute("SELECT doc_id, meta FROM documents WHERE corpus = 'tiny' ORDER BY doc_id").df()
        kinds = {k: [d for d, m in zip(frame["doc_id"], frame["meta"]) if k in str(m)] for k in ("clean", "garbled")}
        for k, ids in kinds.items():
            sel_store.save_selection(con, k, "tiny", "test", {}, ids)
    return workspace, target


def _run(ws, *argv) -> tuple[int, dict | None]:
    out = []
    code = cli.main(["--db", ws.path, "proxy", "--corpus", "tiny", *argv], progress=lambda *a: out.append(a))
    return code, out


def test_proxy_trains_and_reports_json(tiny, capsys):
    ws, target = tiny
    code, progress = _run(ws, "--selections", "clean,garbled", "--target", str(target), "--seeds", "2",
                          "--tokens", "4096", *FAST, "--json")
    assert code == 0
    rep = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in rep["entries"]] == ["clean", "garbled"]
    for e in rep["entries"]:
        assert len(e["losses"]) == 2 and e["loss_ci95"][0] <= e["loss_mean"] <= e["loss_ci95"][1]
        assert 0 < e["loss_mean"] < 8.0  # below log(4096) = 8.3: it learned something
        assert e["curve"][-1]["tokens"] == rep["proxy"]["tokens"] == 4096
    pair = rep["pairs"][0]
    assert {pair["better"], pair["worse"]} == {"clean", "garbled"} and len(pair["gap_ci95"]) == 2
    assert rep["proxy"]["params"] <= 2_000_000 and rep["target"]["removed_overlap"] == 0
    assert isinstance(rep["verdict"], str) and progress[-1][1] == progress[-1][2]
    # a rerun trains nothing: every (selection, seed) comes from DuckDB
    code, progress = _run(ws, "--selections", "clean,garbled", "--target", str(target), "--seeds", "2",
                          "--tokens", "4096", *FAST, "--json")
    assert code == 0 and json.loads(capsys.readouterr().out)["entries"] == rep["entries"]
    assert [p for p in progress if p[0] == "proxy: training (tokens)"] == [("proxy: training (tokens)", 1, 1)]


def test_bad_input_one_line_exit_2(tiny, capsys, tmp_path):
    ws, target = tiny
    assert _run(ws, "--selections", "clean,nope", "--target", str(target), *FAST)[0] == 2
    assert "unknown selection 'nope'" in capsys.readouterr().err
    assert _run(ws, "--selections", "clean,garbled", "--target", str(target), "--tokens", "1000", "--seq-len",
                "4096", "--batch", "64", "--device", "cpu")[0] == 2
    assert "needs at least 262,208" in capsys.readouterr().err
    overlap = tmp_path / "overlap.jsonl"  # the target IS the training data: nothing left to score
    with ws.connect() as con:
        texts = con.execute("SELECT text FROM documents WHERE corpus = 'tiny'").fetchall()
    overlap.write_text("\n".join(json.dumps({"text": t}) for (t,) in texts))
    assert _run(ws, "--selections", "clean,garbled", "--target", str(overlap), *FAST)[0] == 2
    assert "no documents left outside the training data (90 overlapping removed)" in capsys.readouterr().err
    assert _run(ws, "--selections", "clean,garbled", "--target", str(target), "--size", "large", "--batch",
                "100000", "--device", "cpu")[0] == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    with ws.connect() as con:
        assert con.execute("SELECT count(*) FROM proxy_runs").fetchone()[0] == 0


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared, busy 2-core machine two spinning threads per process cost more
    than they give to a 0.4M-parameter model."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_clean_beats_garbled_with_interval_above_zero(tiny, capsys):
    ws, target = tiny
    code, _ = _run(ws, "--selections", "clean,garbled", "--target", str(target), "--seeds", "3",
                   "--tokens", "16384", *FAST[:-1], "512", "--json")
    assert code == 0
    pair = json.loads(capsys.readouterr().out)["pairs"][0]
    assert pair["better"] == "clean" and pair["gap_ci95"][0] > 0 and not pair["includes_zero"]


@pytest.mark.slow
def test_resume_after_kill_9_gives_the_same_final_loss(tiny, tmp_path):
    ws, target = tiny
    argv = [sys.executable, "-m", "engine", "--db", ws.path, "proxy", "--corpus", "tiny", "--selections",
            "clean,garbled", "--target", str(target), "--seeds", "1", "--tokens", "60000", *FAST,
            "--checkpoint-s", "0.5", "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}  # see one_thread
    log = open(tmp_path / "first.log", "wb")
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=log)
    ckpt = Path(ws.path).parent / "proxy" / "ckpt"
    deadline = time.monotonic() + 600  # the import and tokenising alone take minutes on a busy machine
    while not (ckpt.exists() and any(ckpt.glob("*.pt"))) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert any(ckpt.glob("*.pt")), "no checkpoint was written before the kill"
    resumed = json.loads(subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, check=True).stdout)
    fresh_db = tmp_path / "fresh.duckdb"
    subprocess.run([sys.executable, "-c", "import shutil,sys; shutil.copy(sys.argv[1], sys.argv[2])", ws.path,
                    str(fresh_db)], check=True)
    with __import__("duckdb").connect(str(fresh_db)) as con:
        con.execute("DELETE FROM proxy_runs")
    argv_fresh = [a if a != ws.path else str(fresh_db) for a in argv]
    argv_fresh[argv_fresh.index("--checkpoint-s") + 1] = "1000"
    fresh = json.loads(subprocess.run(argv_fresh, cwd=tmp_path, env=env, capture_output=True, check=True).stdout)
    assert [e["losses"] for e in resumed["entries"]] == [e["losses"] for e in fresh["entries"]]
    assert not any(ckpt.glob("*.pt"))  # a finished run removes its checkpoint
