"""Counters equal what is stored: after a kill -9 mid-ingest and a re-run, after re-ingesting, and
reviews of unknown corpora or documents are refused."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine import review
from engine.errors import UserError
from engine.ingest import doc_id, ingest
from engine.storage import corpus as store
from engine.storage import selections as selection_store

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parents[1] / "data"

# Small commits so a kill lands between them; prints a line after each commit.
CHILD = r"""
import sys
import engine.ingest as ingest_module
from engine.storage import Workspace, ingest_log
ingest_module.COMMIT_CHARS, ingest_module.STAGE_ROWS = 200_000, 500
refresh = ingest_log.refresh_counters
def refresh_and_tell(con, corpus):
    refresh(con, corpus)
    print("commit", flush=True)
ingest_log.refresh_counters = refresh_and_tell
ingest_module.ingest(Workspace(sys.argv[1]), sys.argv[2], "k")
print("finished", flush=True)
"""


def corpus_file(path: Path, n: int = 40_000) -> tuple[int, int, int]:
    """JSONL of n rows: every 10th row repeats an earlier text, every 97th is broken.
    Returns (distinct documents, duplicate rows, broken rows)."""
    texts, broken = [], 0
    with open(path, "w") as f:
        for i in range(n):
            if i % 97 == 96:
                f.write('{"text": broken\n')
                broken += 1
                continue
            text = f"document {i // 10 * 10 if i % 10 == 9 else i} " + "word " * (i % 30)
            texts.append(text.strip())
            f.write(json.dumps({"text": text, "i": i}) + "\n")
    return len(set(texts)), len(texts) - len(set(texts)), broken


def counters(ws, corpus="k") -> dict:
    with ws.connect() as con:
        row = store.list_corpora(con).set_index("name").loc[corpus]
        stored = {"docs": con.execute("SELECT count(*) FROM documents WHERE corpus = ?", [corpus]).fetchone()[0],
                  "issues": con.execute("SELECT count(*) FROM ingest_issues WHERE corpus = ? AND NOT kept",
                                        [corpus]).fetchone()[0],
                  "good_rows": con.execute("SELECT sum(rows_good) FROM ingest_sources WHERE corpus = ?",
                                           [corpus]).fetchone()[0]}
    return {"n_docs": int(row.n_docs), "n_duplicates": int(row.n_duplicates), "n_skipped": int(row.n_skipped), **stored}


def consistent(c: dict) -> bool:
    return c["n_docs"] == c["docs"] and c["n_skipped"] == c["issues"] and c["n_duplicates"] == c["good_rows"] - c["docs"]


def test_kill_9_mid_ingest_then_rerun_counts_what_is_stored(workspace, tmp_path):
    path = tmp_path / "big.jsonl"
    distinct, duplicates, broken = corpus_file(path)
    child = subprocess.Popen([sys.executable, "-c", CHILD, workspace.path, str(path)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    lines = [child.stdout.readline().strip() for _ in range(3)]
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert lines == ["commit"] * 3  # killed between commits, well before the end
    killed = counters(workspace)
    assert consistent(killed) and 0 < killed["docs"] < distinct, killed
    report = ingest(workspace, path, "k")
    assert report.n_resumed > 0 and report.n_read + report.n_resumed == distinct + duplicates + broken
    final = counters(workspace)
    assert consistent(final)
    assert (final["n_docs"], final["n_duplicates"], final["n_skipped"]) == (distinct, duplicates, broken)
    again = ingest(workspace, path, "k")  # complete: nothing is read or counted again
    assert (again.n_read, again.n_new) == (0, 0) and counters(workspace) == final


def test_a_new_version_of_a_source_replaces_its_counts_and_issues(workspace):
    ingest(workspace, DATA / "trec_latin1.txt", "t")
    assert (counters(workspace, "t")["n_docs"], counters(workspace, "t")["n_skipped"]) == (11, 1)
    r = ingest(workspace, DATA / "trec_latin1.txt", "t", on_decode_error="latin-1")  # keeps the line skipped before
    c = counters(workspace, "t")
    assert (r.n_new, r.n_duplicates) == (1, 11)  # this run's view: 11 rows were stored already
    assert (c["n_docs"], c["n_duplicates"], c["n_skipped"]) == (12, 0, 0) and consistent(c)
    with workspace.connect() as con:
        issues = store.ingest_issues(con, "t")
    assert len(issues) == 1 and "decoded the line as Latin-1" in issues["problem"][0]


def test_reviews_of_unknown_corpora_or_documents_are_refused(workspace):
    ingest(workspace, DATA / "c4_sample.jsonl", "c4")
    with workspace.connect() as con:
        known = store.documents(con, "c4")["doc_id"].tolist()[:2]
    with pytest.raises(UserError, match="no corpus named 'nope'; nothing recorded"):
        review.record(workspace, "nope", known, "accept", "ana")
    with pytest.raises(UserError, match=r"corpus 'c4' has no document 'f+' \(and 1 more unknown ids\); nothing"):
        review.record(workspace, "c4", [*known, "f" * 32, doc_id("never ingested")], "accept", "ana")
    with workspace.connect() as con:
        assert selection_store.reviews(con, "c4").empty  # nothing of the refused batch was written
    assert review.record(workspace, "c4", known, "accept", "ana") == 2
