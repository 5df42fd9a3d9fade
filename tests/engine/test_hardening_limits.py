"""Bounded memory for any input (engine.read_limits), with small limits so the files stay tiny:
an over-long line (also inside gzip) is skipped in one issue, a too-wide CSV or Parquet is
refused in one line, a decompression bomb stops at the cap, a minified JSON array is read in
pieces (UTF-8 characters intact), an over-large array element or folder document is one issue."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine import ingest_formats as formats
from engine.errors import UserError
from engine.ingest import ingest
from engine.read_limits import Limits, bounded_lines

MIB = 1 << 20


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setenv("SEEDBED_MAX_LINE_MB", "1")
    monkeypatch.setenv("SEEDBED_MAX_COLUMNS", "50")


def test_an_over_long_gzip_line_is_skipped_in_one_issue(workspace, tmp_path, small):
    data = tmp_path / "bomb.jsonl.gz"
    with gzip.open(data, "wt") as f:
        f.write(json.dumps({"text": "a" * (3 * MIB)}) + "\n")
        f.write(json.dumps({"text": "a good short document"}) + "\n")
    report = ingest(workspace, data, "c")
    assert report.n_new == 1 and report.n_skipped == 1
    assert "line is 3.0 MB long (more than the 1.0 MB of SEEDBED_MAX_LINE_MB); skipped" in report.issues[0].problem
    assert report.issues[0].line == 1


def test_a_wide_csv_and_parquet_are_refused_in_one_line(workspace, tmp_path, small):
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(60)) + ",text\n" + ",".join("1" * 60) + ",hello\n")
    with pytest.raises(UserError, match=r"wide.csv:1: the header has: 61 columns \(more than the 50 of "
                                        r"SEEDBED_MAX_COLUMNS\)"):
        ingest(workspace, wide, "c")
    pq.write_table(pa.table({f"c{i}": ["x"] for i in range(60)}), tmp_path / "wide.parquet")
    with pytest.raises(UserError, match="the schema has: 60 columns"):
        ingest(workspace, tmp_path / "wide.parquet", "c")


def test_a_decompression_bomb_stops_at_the_cap(tmp_path):
    data = tmp_path / "bomb.jsonl.gz"
    with gzip.open(data, "wt") as f:
        for _ in range(20_000):
            f.write('{"text": "the same short line again and again"}\n')
    src = formats.Source(data, data.name, lambda *_: None, lambda *_: None)
    opts = formats.ReadOptions(limits=Limits(max_expansion=10, min_decompressed=100_000))
    with pytest.raises(UserError, match=r"bomb.jsonl.gz: decompresses to more than .* a decompression bomb"):
        for _ in formats.lines(src, opts):
            pass


def test_a_minified_json_array_is_read_in_pieces(workspace, tmp_path, small):
    docs = [{"text": f"document {i} é—€ " + "ü" * 300} for i in range(6000)]  # ~4 MB on one line
    data = tmp_path / "minified.json"
    data.write_text(json.dumps(docs, ensure_ascii=False))
    assert data.stat().st_size > 3 * MIB and data.read_text().count("\n") == 0
    report = ingest(workspace, data, "c")
    assert report.n_new == 6000 and report.n_skipped == 0


def test_an_over_large_array_element_and_folder_document_are_one_issue(workspace, tmp_path, small):
    data = tmp_path / "big.json"
    data.write_text(json.dumps([{"text": "first"}, {"text": "x" * (2 * MIB)}, {"text": "never read"}]))
    report = ingest(workspace, data, "c")
    assert report.n_new == 1 and "array element is over 1 MB" in report.issues[0].problem
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("a small document")
    (folder / "b.txt").write_text("y" * (2 * MIB))
    report = ingest(workspace, folder, "d")
    assert report.n_new == 1 and "document is over 1 MB" in report.issues[0].problem


def test_bounded_lines_never_hold_a_long_line():
    import io

    buf = io.BufferedReader(io.BytesIO(b"short\n" + b"z" * 5000 + b"\nlast"), 64)
    assert list(bounded_lines(buf, 100)) == [b"short\n", 5001, b"last"]
    text = ("é" * 60 + "\n").encode()
    pieces = list(bounded_lines(io.BufferedReader(io.BytesIO(text)), 25, pieces=True))
    assert all(len(p) <= 25 for p in pieces) and b"".join(pieces) == text
    assert "".join(p.decode() for p in pieces) == text.decode()  # no character cut in two


def test_bad_settings_are_one_line(monkeypatch):
    monkeypatch.setenv("SEEDBED_MAX_LINE_MB", "lots")
    with pytest.raises(UserError, match=r"\$SEEDBED_MAX_LINE_MB = 'lots' is not a number"):
        Limits.from_env()


@pytest.mark.parametrize("piece", [3, 7, 11, 64])
def test_json_values_cut_anywhere_by_pieces_decode_the_same(tmp_path, piece):
    docs = [{"text": f"doc {i} ünï", "n": 123456789 + i, "x": 1.5e-7 * i, "ok": i % 2 == 0, "none": None}
            for i in range(40)]
    data = tmp_path / "a.json"
    data.write_text(json.dumps(docs, ensure_ascii=False))
    src = formats.Source(data, data.name, lambda *_: None, lambda *_: None)
    opts = formats.ReadOptions(limits=Limits(max_line_bytes=piece))
    from engine.readers import _JsonBuffer

    buf = _JsonBuffer(formats.lines(src, opts, pieces=True))
    assert buf.peek() == "["
    buf.pos += 1
    got = []
    while buf.peek() != "]":
        got.append(buf.decode())
        if buf.peek() == ",":
            buf.pos += 1
    assert got == docs


def test_staging_is_bounded_by_characters_not_only_rows(workspace, tmp_path, monkeypatch):
    """Rows under the line limit but large: the writer stages by characters too (engine.ingest
    STAGE_CHARS), so 10,000 rows of 16 MB are never held at once; checked by counting stagings."""
    from engine import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "STAGE_CHARS", 50_000)
    stages = []
    original = ingest_module._Writer.stage
    monkeypatch.setattr(ingest_module._Writer, "stage", lambda self: (stages.append(self.pending_chars), original(self)))
    data = tmp_path / "big_rows.jsonl"
    data.write_text("".join(json.dumps({"text": f"{i} " + "b" * 20_000}) + "\n" for i in range(20)))
    report = ingest(workspace, data, "c")
    assert report.n_new == 20 and len(stages) >= 6 and max(stages) <= 50_000 + 20_100
