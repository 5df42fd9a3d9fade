"""Property-based tests of the readers and of ingest (hypothesis): random bytes, random encodings,
truncations and random quoting never raise anything but a one-line UserError, and every good row of
a mixed file lands."""
from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import ingest_formats as formats
from engine import readers
from engine.errors import UserError
from engine.ingest import ingest
from engine.storage import corpus as store

# Derandomised so CI is reproducible; run with HYPOTHESIS_EXAMPLES=500 to explore further.
SETTINGS = settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 20)), deadline=None,
                    derandomize="HYPOTHESIS_EXAMPLES" not in os.environ,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
KINDS = {"a.jsonl": "jsonl", "a.json": "json", "a.csv": "csv", "a.tsv": "tsv", "a.txt": "txt",
         "a.jsonl.gz": "jsonl", "a.csv.zst": "csv", "a.parquet": "parquet", "a.arrow": "arrow"}
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-32"]  # the last three write a byte-order mark
_names = itertools.count()
# Documents: any text that survives strip() (no lone surrogates: UTF-8 cannot store them).
doc_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60).filter(lambda t: t.strip())


def read_all(path, kind) -> tuple[list, list]:
    """Every (line, value) of a file plus the reader's own skips; only UserError may escape."""
    skips = []
    src = formats.Source(path, path.name, lambda *_: None, lambda line, problem: skips.append((line, problem)))
    try:
        return list(readers.rows(src, kind, formats.ReadOptions())), skips
    except UserError as exc:
        assert "\n" not in str(exc)
        return [], skips


@SETTINGS
@given(name=st.sampled_from(sorted(KINDS)), data=st.binary(max_size=3000))
def test_random_bytes_never_crash_a_reader(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    read_all(path, KINDS[name])


@SETTINGS
@given(name=st.sampled_from(sorted(KINDS)), docs=st.lists(doc_text, min_size=1, max_size=8),
       cut=st.floats(0, 1), encoding=st.sampled_from(ENCODINGS))
def test_truncated_files_never_crash_a_reader(tmp_path, name, docs, cut, encoding):
    path = tmp_path / name
    path.write_bytes(encode(name, docs, encoding))
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * cut)])
    read_all(path, KINDS[name])


def encode(name: str, docs: list[str], encoding: str = "utf-8") -> bytes:
    """`docs` as a well-formed file of the format `name` names."""
    kind = KINDS[name]
    if kind in ("parquet", "arrow"):
        table, sink = pa.table({"text": docs}), io.BytesIO()
        if kind == "parquet":
            pq.write_table(table, sink)
        else:
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
        return sink.getvalue()
    if kind == "json":
        text = json.dumps([{"text": d} for d in docs], indent=1, ensure_ascii=False)
    elif kind in ("csv", "tsv"):
        out = io.StringIO()
        writer = csv.writer(out, delimiter="\t" if kind == "tsv" else ",", lineterminator="\r\n")  # quotes a bare CR too (valid CSV)
        writer.writerows([["text"], *[[d] for d in docs]])
        text = out.getvalue()
    elif kind == "txt":
        text = "\n".join(d.replace("\n", " ").replace("\r", " ") for d in docs)
    else:
        text = "".join(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in docs)
    data = text.encode(encoding)
    return gzip.compress(data) if name.endswith(".gz") else \
        zstandard.ZstdCompressor().compress(data) if name.endswith(".zst") else data


def stored_texts(ws, corpus) -> set[str]:
    with ws.connect() as con:
        return set(store.documents(con, corpus)["text"])


def expected(docs: list[str], kind: str) -> set[str]:
    if kind == "txt":
        return {" ".join(d.replace("\r", " ").split("\n")).strip() for d in docs}
    return {d.strip() for d in docs}


@SETTINGS
@given(name=st.sampled_from(sorted(KINDS)), docs=st.lists(doc_text, min_size=1, max_size=10),
       encoding=st.sampled_from(ENCODINGS))
def test_every_good_row_lands_in_any_encoding(workspace, tmp_path, name, docs, encoding):
    if KINDS[name] == "txt":
        docs = [d for d in docs if d.replace("\n", " ").replace("\r", " ").strip()] or ["x"]
    path = tmp_path / name
    path.write_bytes(encode(name, docs, encoding))
    corpus = f"c{next(_names)}"
    ingest(workspace, path, corpus)
    assert stored_texts(workspace, corpus) == expected(docs, KINDS[name])


bad_jsonl_row = st.one_of(
    st.binary(min_size=1, max_size=30).map(lambda b: b"{" + b.replace(b"\n", b" ").replace(b"}", b" ")),  # cut off
    st.sampled_from([b"[1, 2]", b'{"text": 5}', b'{"body": "x"}', b'{"text": "   "}', b"\xff\xfe\x00junk",
                     b'{"text": "\\ud800"}', b"null"]))


@SETTINGS
@given(rows=st.lists(st.one_of(doc_text.map(lambda d: ("good", d)), bad_jsonl_row.map(lambda b: ("bad", b))),
                     min_size=1, max_size=25),
       compressed=st.sampled_from(["", ".gz", ".zst"]))
def test_mixed_jsonl_every_good_row_lands(workspace, tmp_path, rows, compressed):
    good = [d for k, d in rows if k == "good"]
    data = b"".join((json.dumps({"text": v}, ensure_ascii=False).encode() if k == "good" else v) + b"\n"
                    for k, v in rows)
    name = f"m.jsonl{compressed}"
    (tmp_path / name).write_bytes(gzip.compress(data) if compressed == ".gz" else
                                  zstandard.ZstdCompressor().compress(data) if compressed else data)
    corpus = f"m{next(_names)}"
    try:
        report = ingest(workspace, tmp_path / name, corpus)
    except UserError as exc:
        assert not good and "\n" not in str(exc)
        return
    assert stored_texts(workspace, corpus) == {d.strip() for d in good}
    assert report.n_read == len(rows) and report.n_skipped == len(rows) - len(good)


csv_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1,
                   max_size=40).filter(lambda t: t.strip() and not t.startswith(","))


@SETTINGS
@given(rows=st.lists(st.one_of(csv_text.map(lambda d: ("good", d)),
                               st.sampled_from(['"open quote never closed,1', 'too,many,fields,here',
                                                '"closed"junk,2', 'one field only']).map(lambda b: ("bad", b))),
                     min_size=1, max_size=20),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
def test_mixed_csv_with_random_quoting_every_good_row_lands(workspace, tmp_path, rows, quoting):
    out = io.StringIO()
    writer = csv.writer(out, quoting=quoting, lineterminator="\r\n")  # quotes a bare CR too (valid CSV)
    writer.writerow(["text", "n"])
    for i, (kind, value) in enumerate(rows):
        if kind == "good":
            writer.writerow([value, i])
        else:
            out.write(value + "\n")
    (tmp_path / "m.csv").write_text(out.getvalue(), encoding="utf-8")
    good = [d for k, d in rows if k == "good"]
    corpus = f"q{next(_names)}"
    try:
        ingest(workspace, tmp_path / "m.csv", corpus)
    except UserError as exc:
        assert not good and "\n" not in str(exc)
        return
    assert stored_texts(workspace, corpus) == {d.strip() for d in good}
