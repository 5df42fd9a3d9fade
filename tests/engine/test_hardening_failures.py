"""One line (exit 2) for every OS or DuckDB failure, the traceback in the error log: export names
too long, a file where a folder should be, a truncated workspace, a read-only folder and a full
disk (a real tmpfs of a few MB, mounted where the tests run as root; skipped elsewhere); no
terminal escape codes from user text; export locking and stale temporary files."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.terminal import safe

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def selected(tmp_path, monkeypatch):
    """A workspace with corpus c4 (the committed 60-document sample) and selection 'five'."""
    monkeypatch.setenv("SEEDBED_CACHE", str(tmp_path / "cache"))
    db = ["--db", str(tmp_path / "ws.duckdb")]
    assert main([*db, "ingest", str(DATA / "c4_sample.jsonl"), "--corpus", "c4"]) == 0
    assert main([*db, "select", "--corpus", "c4", "--strategy", "random", "--budget", "5", "--name", "five"]) == 0
    return db


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *options: str):
    """A real tmpfs of `size` at `path` (skips the test where mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    opts = ",".join([f"size={size}", *options])
    if subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True).returncode:
        pytest.skip("needs permission to mount a tmpfs (root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_export_names_and_parents(selected, tmp_path, capsys):
    capsys.readouterr()
    long_ok = tmp_path / ("x" * 239 + ".jsonl")  # 245 characters: its sidecar still fits in 255 bytes
    assert main([*selected, "export", "--selection", "five", "--out", str(long_ok)]) == 0 and long_ok.exists()
    capsys.readouterr()
    assert main([*selected, "export", "--selection", "five", "--out", str(tmp_path / ("y" * 245 + ".jsonl"))]) == 2
    assert "bytes long (max 255" in one_error_line(capsys)
    (tmp_path / "afile").write_text("x")
    assert main([*selected, "export", "--selection", "five", "--out", str(tmp_path / "afile" / "o.jsonl")]) == 2
    assert "afile is a file, not a folder" in one_error_line(capsys)
    assert not list(tmp_path.glob(".seedbed-*.tmp"))


def test_a_truncated_workspace_is_one_line(selected, tmp_path, capsys):
    data = (tmp_path / "ws.duckdb").read_bytes()
    failed = 0
    for part in (2, 3, 5, 10, 50):  # wherever the cut falls: either it still reads, or one line
        cut = tmp_path / f"cut{part}.duckdb"
        cut.write_bytes(data[: len(data) // part])
        capsys.readouterr()
        code = main(["--db", str(cut), "corpora"])
        if code:
            line = one_error_line(capsys)
            assert code == 2 and ("truncated" in line or "corrupt" in line or "not a DuckDB" in line), line
            failed += 1
    assert failed


def test_a_read_only_folder_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEEDBED_CACHE", str(tmp_path / "cache"))
    with tmpfs(tmp_path / "ro", "1m", "ro") as ro:
        assert main(["--db", str(ro / "ws.duckdb"), "ingest", str(DATA / "c4_sample.jsonl"), "--corpus", "c4"]) == 2
        line = one_error_line(capsys)
        assert "read-only" in line.lower(), line


def test_a_full_disk_during_ingest_and_export_is_one_line(selected, tmp_path, capsys, monkeypatch):
    big = tmp_path / "big.jsonl"
    big.write_text("".join(f'{{"text": "document {i} {os.urandom(1500).hex()}"}}\n' for i in range(3000)))
    with tmpfs(tmp_path / "full", "3m") as full:
        capsys.readouterr()
        code = main(["--db", str(full / "ws.duckdb"), "ingest", str(big), "--corpus", "big"])
        line = one_error_line(capsys)
        assert code == 2 and ("disk is full" in line or "No space" in line), line
        shutil.rmtree(full / "ws.duckdb", ignore_errors=True)
        for leftover in full.iterdir():
            leftover.unlink()
        with open(full / "filler", "wb", buffering=0) as filler, contextlib.suppress(OSError):
            while True:  # fill the disk to the last byte
                filler.write(b"\0" * 4096)
        assert main([*selected, "export", "--selection", "five", "--out", str(full / "five.jsonl")]) == 2
        line = one_error_line(capsys)
        assert "disk is full" in line and "details:" in line, line
        assert [p.name for p in full.iterdir()] == ["filler"]  # no temporary file, no half export
    log = Path(os.environ["SEEDBED_CACHE"]) / "errors.log"
    assert "Traceback" in log.read_text()


def test_terminal_escapes_from_a_csv_header_are_shown_escaped(tmp_path, capsys):
    osc52 = "\x1b]52;c;ZWNobyBoaQ==\x07"
    data = tmp_path / "h.csv"
    data.write_text(f"body,{osc52}x\n\"a row\",1\n")
    code = main(["--db", str(tmp_path / "ws.duckdb"), "ingest", str(data), "--corpus", "c"])
    out = capsys.readouterr()
    assert code == 2 and "\x1b" not in out.err + out.out and "\\x1b]52" in out.err, out
    assert safe("a\x1b[31mb\u202ec\x9bd\te\n") == "a\\x1b[31mb\\u202ec\\x9bd\te\n"


def test_argparse_errors_are_terminal_safe(capsys):
    assert main(["select", "--corpus", "x", "--strategy", "\x1b]52;c;aGk=\x07"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b" in err


def test_a_second_export_to_the_same_path_is_refused_and_stale_temp_files_go(selected, tmp_path, capsys):
    from engine.export import _tmp_prefix, exclusive

    out = tmp_path / "five.jsonl"
    stale = out.with_name(f"{_tmp_prefix(out)}deadbeef.tmp")
    stale.write_text("left by an export killed with -9")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from engine.export import exclusive\n"
        "with exclusive(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)"), str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "held"
        assert not stale.exists()  # the running export removed the stale one first
        capsys.readouterr()
        assert main([*selected, "export", "--selection", "five", "--out", str(out)]) == 2
        assert "another export to this path is running" in one_error_line(capsys)
    finally:
        holder.send_signal(signal.SIGKILL)  # kill -9: the OS lock goes with the process
        holder.wait()
    assert main([*selected, "export", "--selection", "five", "--out", str(out)]) == 0
    with exclusive(out):
        pass


def test_kill_9_of_an_export_leaves_no_temp_file_after_the_next_one(selected, tmp_path):
    out = tmp_path / "big.parquet"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nimport pyarrow.parquet as pq\n"
        "def slow(table, where, **kw):\n    open(where, 'wb').write(b'partial'); print('writing', flush=True); time.sleep(60)\n"
        "pq.write_table = slow\nfrom engine.cli import main\n"
        f"main({[*selected, 'export', '--selection', 'five', '--out', str(out)]!r})")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(tmp_path.glob(".seedbed-*.tmp"))  # kill -9 left its temporary file
    assert main([*selected, "export", "--selection", "five", "--out", str(out)]) == 0
    assert not list(tmp_path.glob(".seedbed-*.tmp")) and out.exists()


def test_an_unexpected_error_is_one_line_from_the_shell(tmp_path):
    run = subprocess.run([sys.executable, "-c", "import runpy, engine.cli\n"
                          "def boom(argv=None, progress=None): raise RuntimeError('bug')\n"
                          "engine.cli.main = boom\nrunpy.run_module('engine', run_name='__main__')"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "SEEDBED_CACHE": str(tmp_path)})
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().startswith("error: internal error (RuntimeError)") and run.stderr.count("\n") == 1
    assert "RuntimeError: bug" in (tmp_path / "errors.log").read_text()
    time.sleep(0)


def test_one_line_blames_the_database_only_for_database_errors():
    import duckdb

    from engine.failures import one_line

    class OutOfMemoryError(RuntimeError):  # torch.cuda.OutOfMemoryError's name; torch is not needed
        pass

    assert one_line(OutOfMemoryError("CUDA out of memory. Tried to allocate 450 MiB")).startswith(
        "the GPU is out of memory; run fewer workers at once")  # seen: 10 LLM2LLM workers on one 80 GB card
    assert one_line(RuntimeError("bug")) == "RuntimeError: bug"
    assert one_line(duckdb.IOException("disk I/O")).startswith("the workspace database failed")


def test_a_foreign_program_naming_the_workspace_is_not_waited_for(tmp_path, capsys):
    from engine.storage import Workspace

    path = tmp_path / "seedbed.duckdb"  # the default name: a DuckDB shell or notebook names it
    Workspace(path)
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(120)", str(path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        code = main(["--db", str(path), "corpora"])
        waited = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait()
    line = one_error_line(capsys)
    assert code == 2 and waited < 10 and f"(PID {holder.pid})" in line and "locked" in line
