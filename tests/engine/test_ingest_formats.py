"""Ingest formats users ask for, and encodings: byte-order marks, compressed files, Parquet codecs,
Arrow and Hugging Face `datasets` folders, hub ids; the JSON array parse is linear."""
from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from engine import ingest_formats as formats
from engine import readers
from engine.errors import UserError
from engine.ingest import ingest
from engine.storage import corpus as store

DATA = Path(__file__).parents[1] / "data"
DOCS = ["Première ligne, café.", "Second document — with a dash.", "Third: 日本語のテキスト."]


def texts(ws, corpus):
    with ws.connect() as con:
        return sorted(store.documents(con, corpus)["text"])


def jsonl(docs=DOCS) -> str:
    return "".join(json.dumps({"text": t, "n": i}, ensure_ascii=False) + "\n" for i, t in enumerate(docs))


def csv_text(docs=DOCS) -> str:
    return "text,n\n" + "".join(f'"{t}",{i}\n' for i, t in enumerate(docs))


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
                                      "utf-32-be"])
@pytest.mark.parametrize("name, content", [("a.jsonl", jsonl()), ("a.csv", csv_text()),
                                           ("a.txt", "\n".join(DOCS) + "\n")])
def test_byte_order_marks_pick_the_encoding(workspace, tmp_path, encoding, name, content):
    bom = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff", "utf-32-le": b"\xff\xfe\x00\x00",
           "utf-32-be": b"\x00\x00\xfe\xff"}.get(encoding, b"")
    (tmp_path / name).write_bytes(bom + content.encode(encoding))
    r = ingest(workspace, tmp_path / name, "c")
    assert (r.n_new, r.n_skipped) == (3, 0) and texts(workspace, "c") == sorted(DOCS)


def test_utf16_line_with_a_lone_surrogate_is_skipped_alone(workspace, tmp_path):
    good = jsonl(DOCS[:1]).encode("utf-16-le"), jsonl(DOCS[1:]).encode("utf-16-le")
    bad = '{"text": "broken '.encode("utf-16-le") + b"\x00\xd8" + '"}\n'.encode("utf-16-le")  # U+D800 alone
    (tmp_path / "u.jsonl").write_bytes(b"\xff\xfe" + good[0] + bad + good[1])
    r = ingest(workspace, tmp_path / "u.jsonl", "u")
    assert r.n_new == 3 and [(i.line, "not valid utf-16-le" in i.problem) for i in r.issues] == [(2, True)]


def compress(codec: str, data: bytes) -> bytes:
    return gzip.compress(data) if codec == "gz" else zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize("codec", ["gz", "zst"])
@pytest.mark.parametrize("suffix, content", [(".jsonl", jsonl()), (".json", json.dumps([{"text": t} for t in DOCS])),
                                             (".csv", csv_text()), (".txt", "\n".join(DOCS))])
def test_compressed_files(workspace, tmp_path, codec, suffix, content):
    f = tmp_path / f"a{suffix}.{codec}"
    f.write_bytes(compress(codec, content.encode()))
    calls = []
    r = ingest(workspace, f, "c", progress=lambda *a: calls.append(a))
    assert (r.n_new, r.n_skipped) == (3, 0) and texts(workspace, "c") == sorted(DOCS)
    assert calls[-1] == (f"ingest {f.name}", 3, 3)  # documents, not bytes


@pytest.mark.parametrize("codec", ["gz", "zst"])
def test_truncated_compressed_file_keeps_the_rows_before_the_cut(workspace, tmp_path, codec):
    rows = [f"document number {i} " * 5 for i in range(2000)]
    data = compress(codec, jsonl(rows).encode())
    f = tmp_path / f"cut.jsonl.{codec}"
    f.write_bytes(data[:len(data) * 2 // 3])
    r = ingest(workspace, f, "c")
    assert 0 < r.n_new < 2000 and len(r.issues) == 1
    assert "cut short or corrupt" in r.issues[0].problem and r.issues[0].line == r.n_new + 1


def test_gzip_is_recognised_by_its_magic_bytes(workspace, tmp_path):
    (tmp_path / "misnamed.jsonl").write_bytes(gzip.compress(jsonl().encode()))
    assert ingest(workspace, tmp_path / "misnamed.jsonl", "c").n_new == 3


@pytest.mark.parametrize("codec", ["none", "snappy", "gzip", "brotli", "zstd", "lz4"])
def test_parquet_any_compression(workspace, tmp_path, codec):
    f = tmp_path / "p.parquet"
    pq.write_table(pa.table({"text": DOCS, "n": [1, 2, 3]}), f, compression=codec)
    assert ingest(workspace, f, "p").n_new == 3 and texts(workspace, "p") == sorted(DOCS)


def save_dataset(folder: Path, docs: list[str], shards: int = 2) -> None:
    """The layout `datasets.Dataset.save_to_disk` writes: Arrow IPC stream shards, state.json, dataset_info.json."""
    folder.mkdir(parents=True)
    table = pa.table({"text": docs, "label": list(range(len(docs)))})
    names = [f"data-{i:05d}-of-{shards:05d}.arrow" for i in range(shards)]
    step = -(-len(docs) // shards)
    for i, name in enumerate(names):
        with pa.ipc.new_stream(folder / name, table.schema) as writer:
            writer.write_table(table.slice(i * step, step))
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": n} for n in names],
                                                   "_fingerprint": "x", "_split": None}))
    (folder / "dataset_info.json").write_text(json.dumps({"features": {"text": {"dtype": "string", "_type": "Value"}}}))


def test_saved_datasets_folder_and_dataset_dict(workspace, tmp_path):
    save_dataset(tmp_path / "ds", DOCS)
    r = ingest(workspace, tmp_path / "ds", "d")
    assert r.n_new == 3 and r.sources == ["data-00000-of-00002.arrow", "data-00001-of-00002.arrow"]
    assert not r.skipped_files  # state.json and dataset_info.json are the dataset's, not skipped files
    root = tmp_path / "dd"
    save_dataset(root / "train", DOCS[:2], shards=1)
    save_dataset(root / "test", DOCS[2:], shards=1)
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    r = ingest(workspace, root, "dd")
    assert r.n_new == 3 and r.sources == ["train/data-00000-of-00001.arrow", "test/data-00000-of-00001.arrow"]
    with workspace.connect() as con:
        assert json.loads(store.documents(con, "dd")["meta"].iloc[0]).keys() == {"label"}


def test_hub_id_when_the_hub_is_unreachable_is_one_line(workspace, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.monotonic()
    with pytest.raises(UserError) as err:
        ingest(workspace, "hf://datasets/allenai/c4", "x")
    message = str(err.value)
    assert message.startswith("allenai/c4: not a local file, and the Hugging Face hub is not reachable (HF_HUB_OFFLINE")
    assert "\n" not in message and time.monotonic() - t0 < 30
    with pytest.raises(UserError, match="missing/file.jsonl: file not found"):
        ingest(workspace, "missing/file.jsonl", "x")  # a path with a known suffix is never a hub id


def test_folder_reads_compressed_files_and_names_every_skipped_file(workspace, tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.jsonl.gz").write_bytes(gzip.compress(jsonl(DOCS[:2]).encode()))
    (folder / "b.csv.zst").write_bytes(compress("zst", csv_text(DOCS[2:]).encode()))
    (folder / "notes.md").write_text("not a corpus")
    (folder / "table.parquet.gz").write_bytes(b"x")
    (folder / "bad.jsonl").write_text("{oops\n")
    r = ingest(workspace, folder, "f")
    assert r.n_new == 3 and texts(workspace, "f") == sorted(DOCS)
    assert [(i.source, i.problem.split(";")[0]) for i in r.skipped_files] == [
        ("bad.jsonl", "no usable rows (1 skipped)"), ("notes.md", "not a known format (.md)"),
        ("table.parquet.gz", "not a known format (.parquet.gz)")]
    summary = r.summary()
    assert all(f"file not read: {name}" in summary for name in ("bad.jsonl", "notes.md", "table.parquet.gz"))


def test_json_array_parse_is_linear(tmp_path, monkeypatch):
    """Pretty-printed elements of many lines each: the decoder scans O(file size) characters in
    all (it used to re-parse each element once per line: 39 KB took 3.6 s, 349 KB 70 s)."""
    scanned = []
    real = json.JSONDecoder.raw_decode
    monkeypatch.setattr(json.JSONDecoder, "raw_decode",
                        lambda self, s, idx=0: scanned.append(len(s) - idx) or real(self, s, idx))
    for n_keys in (1000, 8000):
        f = tmp_path / f"a{n_keys}.json"
        f.write_text(json.dumps([{"text": f"doc {i}", "meta": {f"k{j}": j for j in range(n_keys)}}
                                 for i in range(4)], indent=2))
        scanned.clear()
        src = formats.Source(f, f.name, lambda *_: None, lambda *_: None)
        rows = list(readers.rows(src, "json", formats.ReadOptions()))
        assert [v["text"] for _, v in rows] == [f"doc {i}" for i in range(4)]
        assert sum(scanned) < 6 * f.stat().st_size, (n_keys, sum(scanned), f.stat().st_size)


def test_upload_preview_reads_compressed_and_pretty_json(tmp_path):
    from engine.explore import preview

    (tmp_path / "p.json").write_text(json.dumps([{"text": t, "id": i} for i, t in enumerate(DOCS)], indent=2))
    (tmp_path / "p.jsonl.gz").write_bytes(gzip.compress(jsonl().encode()))
    for name in ("p.json", "p.jsonl.gz"):
        table, text_like = preview(tmp_path / name)
        assert list(table["text"]) == DOCS and text_like[0] == "text"


def test_tqdm_bar_of_an_ingest_counts_bytes(monkeypatch):
    import tqdm.auto

    from engine.progress import tqdm_progress

    bars, real = [], tqdm.auto.tqdm
    monkeypatch.setattr(tqdm.auto, "tqdm", lambda *a, **k: bars.append(k) or real(*a, **k))
    update = tqdm_progress(disable=True)
    update("ingest x.jsonl (bytes)", 10, 2_000_000)
    update("embed", 1, 10)
    assert bars[0]["unit"] == "B" and bars[0]["unit_scale"] and bars[1]["unit"] == "doc"


def test_no_spill_file_is_left_behind_on_success_or_failure(workspace, tmp_path, monkeypatch):
    folder = Path(workspace.path).parent
    ingest(workspace, DATA / "c4_sample.jsonl", "c4")
    monkeypatch.setattr("engine.ingest.STAGE_ROWS", 10)
    monkeypatch.setattr("engine.storage.ingest_log.insert_documents",
                        lambda *a: (_ for _ in ()).throw(RuntimeError("disk full")))
    shutil.copy(DATA / "c4_sample.jsonl", tmp_path / "other.jsonl")
    with pytest.raises(RuntimeError, match="disk full"):
        ingest(workspace, tmp_path / "other.jsonl", "c4b")
    assert not list(folder.glob(".seedbed-ingest-*"))


def test_a_broken_first_line_that_starts_like_a_bom_is_not_taken_for_utf16(workspace, tmp_path):
    (tmp_path / "j.jsonl").write_bytes(b"\xff\xfe\x00junk\n" + jsonl().encode())
    r = ingest(workspace, tmp_path / "j.jsonl", "j")
    assert r.n_new == 3 and [i.line for i in r.issues] == [1] and "0xFF" in r.issues[0].problem


@pytest.mark.parametrize("name, ok", [("c.jsonl.gz", True), ("c.CSV.ZST", True), ("c.arrow", True),
                                      ("c.gz", False), ("c.parquet.gz", False), ("c.tar.gz", False)])
def test_upload_names_with_compression_suffixes(tmp_path, name, ok):
    from engine.ingest import safe_upload_path

    if ok:
        assert safe_upload_path(tmp_path, name).name.lower() == name.lower()
    else:
        with pytest.raises(UserError, match="unknown format"):
            safe_upload_path(tmp_path, name)


def test_hub_id_without_a_network_answers_in_seconds(monkeypatch):
    from engine.ingest_inputs import resolve

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")  # a name that never resolves
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "https://hub.invalid")
    t0 = time.monotonic()
    with pytest.raises(UserError, match=r"^owner/name: not a local file, and the Hugging Face hub is not reachable "
                                        r"\(hub.invalid: "):
        resolve("owner/name")
    assert time.monotonic() - t0 < 10
