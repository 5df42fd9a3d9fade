"""The weak spots of issue 25, each on real parts: teacher URL paths with `..` get no key and an
endpoint echoing the key gets it redacted (a real local HTTP server); selection names from the
CLI are checked; look-alike names are one name or refused; two sessions uploading one file name
get two files; a page hit by a truncated workspace shows one line (AppTest)."""
from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from chat_server import ChatHandler

from engine import teacher_endpoints
from engine.cli import main
from engine.errors import UserError
from engine.ingest_inputs import safe_upload_path
from engine.llm2llm.teacher import EndpointTeacher, TeacherSettings
from engine.user_text import check_name

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data"


class _Echo(ChatHandler):
    """Records each request's path and Authorization; echoes the header back (401 on /v1/deny)."""

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization")
        self.server.seen.append((self.path, auth))
        if self.path.startswith("/v1/deny"):
            self.reply_json(json.dumps({"error": f"bad header {auth}"}).encode(), status=401)
            return
        self.reply_json(json.dumps({"choices": [{"message": {"content": f"Text: you sent {auth}"}}]}).encode())


@pytest.fixture
def echo():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def _ask(url: str):
    teacher = EndpointTeacher(TeacherSettings(model=url, endpoint_model="m", retries=0, timeout_s=5))
    return teacher.generate([[{"role": "user", "content": "q"}]], seed=0)[0]


def test_dot_segments_get_no_key_and_echoed_keys_are_redacted(echo, monkeypatch):
    base = f"http://127.0.0.1:{echo.server_port}"
    monkeypatch.setenv("SEEDBED_TEST_KEY", "sk-secret-123")
    monkeypatch.setenv(teacher_endpoints.ENV, f"{base}/v1=SEEDBED_TEST_KEY")
    for url in (f"{base}/v1/../admin", f"{base}/v1/%2e%2e/admin", f"{base}/v1/./../admin", f"{base}/v1/..\\admin"):
        assert teacher_endpoints.match(url) is None, url
        _ask(url)
    assert echo.seen and {auth for _, auth in echo.seen} == {None}
    assert teacher_endpoints.match(f"{base}/v1/./x/../y") is not None  # still under /v1
    echo.seen.clear()
    ok, denied = _ask(f"{base}/v1"), _ask(f"{base}/v1/deny")
    assert [auth for _, auth in echo.seen] == ["Bearer sk-secret-123"] * 2  # the key was sent to its endpoint ...
    assert "sk-secret" not in (ok.raw or "") and "[redacted key]" in ok.raw  # ... and is not kept from a reply
    assert "sk-secret" not in denied.error and "[redacted key]" in denied.error


def test_selection_names_from_the_cli_are_checked(tmp_path, capsys):
    db = ["--db", str(tmp_path / "ws.duckdb")]
    assert main([*db, "ingest", str(DATA / "c4_sample.jsonl"), "--corpus", "c4"]) == 0
    capsys.readouterr()
    for bad in ("a\x1b]52;c;aGk=\x07b", "![x](http://h/i.png)", "x" * 101, "с4-sel"):
        assert main([*db, "select", "--corpus", "c4", "--strategy", "random", "--budget", "3", "--name", bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: selection name") and err.count("\n") == 1 and "\x1b" not in err, err
    from engine.storage import Workspace
    from engine.storage import selections

    with Workspace(tmp_path / "ws.duckdb").connect() as con:
        assert selections.list_selections(con).empty


def test_look_alike_names_are_one_corpus_or_refused(tmp_path, capsys):
    assert check_name("corpus name", "cafe\u0301") == check_name("corpus name", "caf\u00e9") == "caf\u00e9"
    assert check_name("corpus name", "\uff43\uff14-demo") == "c4-demo"  # fullwidth
    for bad in ("\u04414-demo", "\u0441\u0664", "p\u0430ypal"):  # Cyrillic с / а among Latin letters
        with pytest.raises(UserError, match="Latin"):
            check_name("corpus name", bad)
    assert check_name("corpus name", "корпус") == "корпус" and check_name("corpus name", "日本語") == "日本語"
    db = ["--db", str(tmp_path / "ws.duckdb")]
    for name in ("cafe\u0301", "caf\u00e9"):
        assert main([*db, "ingest", str(DATA / "c4_sample.jsonl"), "--corpus", name]) == 0
    assert main([*db, "ingest", str(DATA / "c4_sample.jsonl"), "--corpus", "\u04414-demo"]) == 2
    capsys.readouterr()
    assert main([*db, "corpora"]) == 0
    listed = capsys.readouterr().out
    assert listed.count("caf\u00e9") == 1 and "\u0441" not in listed


def test_two_sessions_uploading_one_name_get_two_files(tmp_path):
    a = safe_upload_path(tmp_path / "uploads", "data.csv", owner="ownerA1")
    b = safe_upload_path(tmp_path / "uploads", "data.csv", owner="ownerB2")
    assert a != b and a.name == b.name == "data.csv" and "ownerA1" not in str(a)  # the id itself is not shown
    long = safe_upload_path(tmp_path / "uploads", "x" * 300 + ".JSONL.GZ", owner="ownerA1")
    assert long.name == "x" * 100 + ".jsonl.gz" and len(str(long)) < 400


def test_a_truncated_workspace_is_one_line_on_a_page(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from engine.storage import Workspace
    from engine.ingest import ingest

    good = tmp_path / "ws.duckdb"
    ingest(Workspace(good), DATA / "c4_sample.jsonl", "c4")
    cut = tmp_path / "cut.duckdb"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) // 5])
    monkeypatch.setenv("SEEDBED_DB", str(cut))
    monkeypatch.setenv("SEEDBED_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "\n" not in at.error[0].value
    assert "truncated" in at.error[0].value or "corrupt" in at.error[0].value, at.error[0].value
