"""Ingest: every format, every broken-row case, duplicates, re-ingest, decoding policy, upload names.

Fixtures in tests/data are small hand-made files whose line numbers the assertions name.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import UserError
from engine.ingest import doc_id, ingest, safe_upload_path
from engine.storage import corpus as store

DATA = Path(__file__).parents[1] / "data"


def stored(ws, corpus):
    with ws.connect() as con:
        docs = con.execute("SELECT text, meta, source, line FROM documents WHERE corpus = ? ORDER BY line",
                           [corpus]).fetchall()
        return docs, store.ingest_issues(con, corpus), store.list_corpora(con)


def problems(report):
    return {i.line: i.problem for i in report.issues}


def test_jsonl_broken_rows_are_reported_and_the_rest_lands(workspace):
    r = ingest(workspace, DATA / "ingest_broken.jsonl", "c")
    assert (r.n_read, r.n_new, r.n_duplicates, r.n_skipped) == (10, 3, 1, 6)
    p = problems(r)
    assert set(p) == {2, 3, 4, 5, 6, 10}
    assert p[2] == "invalid JSON (Unterminated string starting at column 10)"
    assert "an array, not a JSON object" in p[3]
    assert "no field 'text'" in p[4]
    assert "'text' is empty" in p[5]
    assert "'text' is a number, not a string" in p[6]
    assert "0xFF" in p[10] and "byte offset" in p[10] and "skipped" in p[10]
    assert str(r.issues[0]).startswith("ingest_broken.jsonl:2: invalid JSON")
    docs, issues, corpora = stored(workspace, "c")
    assert [(t, s, n) for t, _, s, n in docs] == [
        ("The first good document.", "ingest_broken.jsonl", 1),
        ("Second good document, café.", "ingest_broken.jsonl", 9),
        ("Third good document.", "ingest_broken.jsonl", 11)]
    assert json.loads(docs[1][1]) == {"url": "b", "n": 2}
    assert json.loads(docs[2][1]) == {"tags": ["x", "y"]}
    assert sorted(issues["line"]) == [2, 3, 4, 5, 6, 10]
    row = corpora.set_index("name").loc["c"]
    assert (row.n_docs, row.n_duplicates, row.n_skipped) == (3, 1, 6)


def test_lone_surrogate_escapes_are_skipped(workspace, tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text('{"text": "ok"}\n{"text": "bad \\ud800 half"}\n{"text": "ok too", "m": "\\udfff"}\n')
    r = ingest(workspace, f, "s")
    assert r.n_new == 1 and [i.line for i in r.issues] == [2, 3] and "unpaired surrogate" in r.issues[0].problem


def test_byte_offset_points_at_the_bad_byte(workspace):
    r = ingest(workspace, DATA / "ingest_broken.jsonl", "c")
    offset = int(problems(r)[10].split("byte offset ")[1].split()[0])
    assert (DATA / "ingest_broken.jsonl").read_bytes()[offset] == 0xFF


def test_reingest_is_idempotent_and_duplicates_are_counted(workspace, tmp_path):
    first = ingest(workspace, DATA / "c4_sample.jsonl", "c4")
    again = ingest(workspace, DATA / "c4_sample.jsonl", "c4")  # the same file: read to its end already
    assert (first.n_new, first.n_duplicates) == (60, 0)
    assert (again.n_read, again.n_new, again.n_duplicates, again.n_resumed) == (0, 0, 0, 60)
    assert "60 rows already stored by an earlier run" in again.summary()
    docs, _, corpora = stored(workspace, "c4")
    assert len(docs) == 60 and tuple(corpora.set_index("name").loc["c4", ["n_docs", "n_duplicates"]]) == (60, 0)
    assert all(json.loads(m).keys() == {"url"} for _, m, _, _ in docs)
    copy = tmp_path / "copy.jsonl"  # the same documents under another name are duplicates
    shutil.copy(DATA / "c4_sample.jsonl", copy)
    third = ingest(workspace, copy, "c4")
    assert (third.n_read, third.n_new, third.n_duplicates) == (60, 0, 60)
    assert tuple(stored(workspace, "c4")[2].set_index("name").loc["c4", ["n_docs", "n_duplicates"]]) == (60, 60)


def test_reingest_of_a_broken_file_does_not_repeat_its_issues(workspace):
    for _ in range(2):
        ingest(workspace, DATA / "ingest_broken.jsonl", "c")
    _, issues, corpora = stored(workspace, "c")
    assert sorted(issues["line"]) == [2, 3, 4, 5, 6, 10]
    assert tuple(corpora.set_index("name").loc["c", ["n_docs", "n_duplicates", "n_skipped"]]) == (3, 1, 6)


def test_doc_id_is_hash_of_stripped_text(workspace):
    ingest(workspace, DATA / "ingest_lines.txt", "t")
    with workspace.connect() as con:
        rows = con.execute("SELECT doc_id, text FROM documents WHERE corpus = 't' ORDER BY line").fetchall()
    assert [t for _, t in rows] == ["First line document.", "Second line document."]
    assert all(i == doc_id(t) and len(i) == 32 for i, t in rows)


def test_txt_one_document_per_line_blank_lines_ignored(workspace):
    r = ingest(workspace, DATA / "ingest_lines.txt", "t")
    assert (r.n_read, r.n_new, r.n_duplicates, r.n_skipped) == (3, 2, 1, 0)
    docs, _, _ = stored(workspace, "t")
    assert [(n, m) for _, m, _, n in docs] == [(1, "{}"), (3, "{}")]


def test_csv_wrong_field_counts_and_multiline_fields(workspace):
    r = ingest(workspace, DATA / "ingest_broken.csv", "c")
    p = problems(r)
    assert set(p) == {3, 6, 8}
    assert "expected 3 fields (text, url, lang), found 2" in p[3]
    assert "found 4" in p[8] and "'text' is empty" in p[6]
    assert (r.n_new, r.n_duplicates) == (3, 1)
    docs, _, _ = stored(workspace, "c")
    assert [(t, n) for t, _, _, n in docs] == [
        ("A first row, with a comma.", 2), ("A quoted field\r\nspanning two lines.", 4), ("Last row.", 9)]
    assert json.loads(docs[2][1]) == {"url": "http://e", "lang": "fr"}


def test_csv_quote_never_closed_costs_one_row(workspace, tmp_path):
    f = tmp_path / "q.csv"
    f.write_text('text,url\ngood row,u\n"never closed,u\nnext row,u\nlast row,u\n')
    r = ingest(workspace, f, "q")
    assert r.n_new == 3 and [str(i) for i in r.issues] == [
        "q.csv:3: malformed CSV (unexpected end of data); a quote opened here runs to line 5: an unclosed "
        "quote? lines 4-5 are read again as rows"]
    assert [t for t, *_ in stored(workspace, "q")[0]] == ["good row", "next row", "last row"]


def test_csv_quote_left_open_mid_file_is_reported_not_merged(workspace, tmp_path):
    """The quote closes on a later line, so a lenient parser merges the rows silently."""
    rows = [f"row {i},u{i}" for i in range(1000)]
    rows[500] = '"row 500 opens a quote,u500'
    rows[501] = '"row 501",u501'
    f = tmp_path / "open.csv"
    f.write_text("text,url\n" + "\n".join(rows) + "\n")
    r = ingest(workspace, f, "o")
    assert r.n_new == 999 and [i.line for i in r.issues] == [502]
    assert "a quote opened here runs to line 503" in r.issues[0].problem
    texts = {t for t, *_ in stored(workspace, "o")[0]}
    assert "row 501" in texts and not any("\n" in t for t in texts)


def test_tsv(workspace):
    r = ingest(workspace, DATA / "ingest_good.tsv", "t")
    docs, _, _ = stored(workspace, "t")
    assert r.n_new == 2 and docs[1][0] == 'Another one, with "quotes" inside.'
    assert json.loads(docs[0][1]) == {"id": "1"}


def test_json_array_elements_with_their_lines(workspace):
    r = ingest(workspace, DATA / "ingest_array.json", "j")
    assert problems(r) == {7: "row is a string, not a JSON object", 8: "no field 'text'"}
    docs, _, _ = stored(workspace, "j")
    assert [(t, n) for t, _, _, n in docs] == [
        ("Array element one.", 2), ("Array element two\nhas an escaped newline.", 3), ("Array element five.", 9)]
    assert json.loads(docs[2][1]) == {"id": 5, "score": None}


def test_json_array_syntax_error_keeps_what_came_before(workspace, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"text": "kept one"},\n {"text": "kept two"},\n {"text": oops},\n {"text": "lost"}]\n')
    r = ingest(workspace, bad, "j")
    assert r.n_new == 2 and r.issues[0].line == 3 and "invalid JSON" in r.issues[0].problem


def test_json_file_with_one_object_per_line_reads_as_jsonl(workspace, tmp_path):
    f = tmp_path / "lines.json"
    f.write_text('{"text": "one"}\n{"text": "two"}\n')
    assert ingest(workspace, f, "j").n_new == 2


def test_parquet_with_meta_types(workspace, tmp_path):
    f = tmp_path / "p.parquet"
    pq.write_table(pa.table({"text": ["alpha doc", None, "beta doc", "alpha doc"], "score": [1.5, 2.0, math.nan, 3.0],
                             "when": pa.array([0, 1, 2, 3], pa.timestamp("s"))}), f)
    calls = []
    r = ingest(workspace, f, "p", progress=lambda *a: calls.append(a))
    assert (r.n_read, r.n_new, r.n_duplicates) == (4, 2, 1)
    assert problems(r) == {2: "field 'text' is null, not a string"}
    docs, _, _ = stored(workspace, "p")
    assert json.loads(docs[1][1]) == {"score": None, "when": "1970-01-01 00:00:02"}
    assert calls and calls[-1][1] == calls[-1][2] == r.n_read == 4  # documents (rows), not bytes


def test_real_c4_parquet_and_demo_file(workspace):
    r = ingest(workspace, Path(__file__).parents[2] / "demo" / "c4_demo.parquet", "demo")
    assert (r.n_new, r.n_skipped) == (400, 0)
    docs, _, _ = stored(workspace, "demo")
    assert set(json.loads(docs[0][1])) == {"url"}
    assert sorted(len(t) for t, *_ in docs) != [len(t) for t, *_ in docs]  # a random sample, not length-sorted


def test_folder_txt_files_are_documents_other_formats_row_by_row(workspace, tmp_path):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("Document A\nstill document A.\n")
    (folder / "sub" / "b.txt").write_text("Document B.")
    (folder / ".hidden.txt").write_text("never read")
    (folder / "notes.md").write_text("not a corpus format")
    (folder / "empty.txt").write_text("")
    shutil.copy(DATA / "ingest_good.tsv", folder / "sub" / "t.tsv")
    r = ingest(workspace, folder, "f")
    docs, _, _ = stored(workspace, "f")
    assert sorted((s, t) for t, _, s, _ in docs) == [
        ("a.txt", "Document A\nstill document A."), ("sub/b.txt", "Document B."),
        ("sub/t.tsv", "A tab separated document."), ("sub/t.tsv", 'Another one, with "quotes" inside.')]
    assert [str(i) for i in r.issues] == ["empty.txt:0: empty file"]
    assert [i.source for i in r.notes] == ["notes.md"]


def test_folder_unusable_files_become_one_issue_each(workspace, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.csv").write_text("body\nhello\n")
    (folder / "b.jsonl").write_text('{"text": 1}\n{"text": ""}\n')
    (folder / "c.jsonl").write_text('{"text": "the only good row"}\n')
    r = ingest(workspace, folder, "m")
    assert [str(i) for i in r.issues] == [
        "a.csv:0: no column 'text'; columns are: body",
        "b.jsonl:0: no usable rows (2 skipped); first: b.jsonl:1: field 'text' is a number, not a string"]
    assert (r.n_new, r.n_skipped) == (1, 2)
    (folder / "c.jsonl").unlink()
    with pytest.raises(UserError, match="mixed: no usable rows in the folder; first: a.csv:0: no column"):
        ingest(workspace, folder, "other")


def test_a_file_that_starts_with_many_unusable_rows_is_refused_early(workspace, tmp_path, monkeypatch):
    monkeypatch.setattr("engine.ingest.MAX_LEADING_BAD", 3)  # the real limit is 10,000 rows
    f = tmp_path / "wrong.jsonl"
    f.write_text('{"body": "a"}\n' * 5 + '{"text": "late good row"}\n')
    with pytest.raises(UserError, match="wrong.jsonl: the first 3 rows are all unusable; first: wrong.jsonl:1: no"):
        ingest(workspace, f, "x")


def test_latin1_fallback_versus_report(workspace):
    reported = ingest(workspace, DATA / "trec_latin1.txt", "r")
    assert [(i.source, i.line) for i in reported.issues] == [("trec_latin1.txt", 7)]
    assert "0xF0" in reported.issues[0].problem and reported.n_new == 11
    kept = ingest(workspace, DATA / "trec_latin1.txt", "k", on_decode_error="latin-1")
    assert kept.n_new == 12 and not kept.issues and kept.notes[0].line == 7
    assert "decoded the line as Latin-1" in kept.notes[0].problem
    assert kept.summary().endswith("1 kept with a note, first: " + str(kept.notes[0]))
    docs, issues, corpora = stored(workspace, "k")
    assert "sister\u00f0city" in docs[6][0]
    assert list(issues["line"]) == [7] and corpora.set_index("name").loc["k"].n_skipped == 0


def test_explicit_latin1_encoding_never_fails(workspace):
    r = ingest(workspace, DATA / "trec_latin1.txt", "e", encoding="latin-1")
    assert r.n_new == 12 and not r.issues and not r.notes


@pytest.mark.parametrize("name, content, kwargs, message", [
    ("missing.jsonl", None, {}, "missing.jsonl: file not found"),
    ("empty.jsonl", "", {}, "empty.jsonl: empty file"),
    ("blank.txt", "\n \n", {}, "blank.txt: empty file (no rows)"),
    ("data.xml", "<a/>", {}, "data.xml: unknown format (suffix '.xml'); use .jsonl, .ndjson, .json"),
    ("a.csv", "text,url\nx,y\n", {"text_column": "body"}, "a.csv: no column 'body'; columns are: text, url"),
    ("a.jsonl", '{"text": "x", "url": "y"}\n', {"text_column": "body"},
     "a.jsonl: no column 'body'; columns are: text, url"),
    ("bad.jsonl", "{oops\n[1]\n", {}, "bad.jsonl: no usable rows (2 skipped); first: bad.jsonl:1: invalid JSON"),
    ("obj.json", '{"rows": [\n{"text": "x"}]}\n', {}, "obj.json: top level is one JSON object"),
    ("a.jsonl", '{"text": "x"}\n', {"on_decode_error": "ignore"}, "on_decode_error must be"),
    ("a.jsonl", "{\"text\": \"x\"}\n".encode("utf-16-le"), {}, "looks like UTF-16 without a byte-order mark"),
    ("a.jsonl", '{"text": "x"}\n', {"encoding": "klingon"}, "unknown encoding 'klingon'"),
])
def test_whole_file_problems_are_one_line_user_errors(workspace, tmp_path, name, content, kwargs, message):
    if isinstance(content, bytes):
        (tmp_path / name).write_bytes(content)
    elif content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(UserError) as err:
        ingest(workspace, tmp_path / name, "x", **kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)
    with workspace.connect() as con:
        assert not store.corpus_exists(con, "x")  # a rejected file leaves no empty corpus behind


def test_real_parquet_missing_column_names_the_columns(workspace, tmp_path):
    f = tmp_path / "c4.parquet"
    shutil.copy(Path(__file__).parents[2] / "demo" / "c4_demo.parquet", f)
    with pytest.raises(UserError, match=r"c4.parquet: no column 'body'; columns are: text, url$"):
        ingest(workspace, f, "x", text_column="body")


def test_fmt_override_reads_an_unknown_suffix(workspace, tmp_path):
    f = tmp_path / "train.label"
    f.write_bytes((DATA / "trec_latin1.txt").read_bytes())
    assert ingest(workspace, f, "x", fmt="txt", encoding="latin-1").n_new == 12


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd.jsonl", "passwd.jsonl"), ("/abs/path/corpus.CSV", "corpus.csv"),
    ("a/b/c.jsonl", "c.jsonl"), ("C:\\Users\\me\\data.parquet", "data.parquet"),
    ("my data (v2)!.tsv", "my data _v2_.tsv"),
])
def test_safe_upload_path_keeps_only_a_clean_base_name(tmp_path, name, expected):
    path = safe_upload_path(tmp_path / "up", name)
    assert path == (tmp_path / "up" / expected).resolve() and path.parent == (tmp_path / "up").resolve()


@pytest.mark.parametrize("name", ["", "   ", "..", ".", ".hidden.jsonl", "../../etc/passwd", "a/b/",
                                  "noext", "evil.sh", "..jsonl", "x/.."])
def test_safe_upload_path_rejects_bad_names(tmp_path, name):
    with pytest.raises(UserError):
        safe_upload_path(tmp_path, name)


def test_every_format_yields_the_same_documents_for_real_c4_text(workspace, tmp_path):
    """Real web text (quotes, commas, newlines, tabs) written by pandas in each format reads back identically."""
    import pandas as pd

    frame = pd.read_json(DATA / "c4_sample.jsonl", lines=True)
    writers = {"c.csv": lambda f: frame.to_csv(f, index=False),
               "c.tsv": lambda f: frame.to_csv(f, sep="\t", index=False),
               "c.json": lambda f: frame.to_json(f, orient="records", indent=1, force_ascii=False),
               "c.min.json": lambda f: frame.to_json(f, orient="records"),  # one line
               "c.ndjson": lambda f: frame.to_json(f, orient="records", lines=True),
               "c.parquet": lambda f: frame.to_parquet(f, index=False)}
    expected = {doc_id(t.strip()) for t in frame["text"]}
    for name, write in writers.items():
        write(tmp_path / name)
        r = ingest(workspace, tmp_path / name, name)
        with workspace.connect() as con:
            got = set(store.documents(con, name)["doc_id"])
        assert (r.n_new, r.n_skipped, got) == (len(expected), 0, expected), name


def test_parquet_text_column_of_numbers_is_refused(workspace, tmp_path):
    f = tmp_path / "n.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), f)
    with pytest.raises(UserError, match="n.parquet: column 'text' holds int64, not text"):
        ingest(workspace, f, "n")


def test_readers_leave_the_text_column_to_the_caller():
    """The upload preview reads a file before the user has named its text column."""
    from engine import ingest_formats as formats
    from engine import readers

    src = formats.Source(DATA / "ingest_good.tsv", "t.tsv", lambda *_: None, lambda *_: None)
    rows = list(readers.rows(src, "tsv", formats.ReadOptions(text_column="body")))
    assert rows[0] == (2, {"id": "1", "text": "A tab separated document."}) and not src.column_seen
