"""Engine side of sharing the dashboard: login decisions and password hashes, data roots
(symlinks included), name validation and Markdown escaping, and teacher keys that go only to
configured endpoints (checked against real local HTTP servers)."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from chat_server import ChatHandler
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import auth, data_roots, teacher_endpoints
from engine.errors import UserError
from engine.llm2llm.teacher import EndpointTeacher, TeacherSettings
from engine.user_text import check_name, escape_markdown

ROOT = Path(__file__).resolve().parents[2]


# --- login -----------------------------------------------------------------------------------

@pytest.mark.parametrize("address,local", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                           ("[::1]", True), ("localhost", True), ("", False), (None, False),
                                           ("0.0.0.0", False), ("::", False), ("192.0.2.2", False),
                                           ("seedbed.example.org", False), ("localhost.evil.test", False)])
def test_loopback_addresses_need_no_login_and_others_do(address, local):
    assert auth.is_loopback(address) is local
    if local:
        assert auth.login_plan(address, {}).mode == "none"
    else:
        with pytest.raises(UserError, match="refusing to serve the dashboard .* without a login"):
            auth.login_plan(address, {})


def test_login_plan_prefers_oidc_then_passwords_and_can_be_forced_on_loopback():
    users = {"seedbed": {"users": {"ann": auth.hash_password("pw")}}}
    assert auth.login_plan("127.0.0.1", users, forced=True).mode == "password"
    oidc = {"auth": {"redirect_uri": "https://x/oauth2callback", "cookie_secret": "s", "client_id": "c"}, **users}
    named = {"auth": {"redirect_uri": "r", "cookie_secret": "s", "google": {"client_id": "c"}}}
    if importlib.util.find_spec("authlib") is None:  # Streamlit's st.login needs it: refuse in one line
        with pytest.raises(UserError, match="needs Authlib"):
            auth.login_plan("0.0.0.0", oidc)
    else:
        assert auth.login_plan("0.0.0.0", oidc).providers == (None,)
        assert auth.login_plan("0.0.0.0", named).providers == ("google",)
    with pytest.raises(UserError, match=r"\[seedbed.users\] bob: not a hash"):
        auth.login_plan("0.0.0.0", {"seedbed": {"users": {"bob": "plaintext-password"}}})


def test_password_hashes_are_salted_and_checked_in_constant_time():
    one, two = auth.hash_password("correct horse"), auth.hash_password("correct horse")
    assert one != two and "correct horse" not in one  # a fresh salt each time, no plain text
    assert auth.verify_password("correct horse", one) and not auth.verify_password("correct hors", one)
    plan = auth.LoginPlan("password", users={"ann": one})
    assert auth.check_login(plan, " ann ", "correct horse") == "ann"
    assert auth.check_login(plan, "ann", "wrong") is None
    assert auth.check_login(plan, "nobody", "correct horse") is None


def test_hash_command_prints_a_secrets_line_that_verifies():
    out = subprocess.run([sys.executable, "-m", "engine.auth", "ann"], input="s3cret\n", capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout.strip()
    name, _, value = out.partition(" = ")
    assert name == '"ann"' and auth.verify_password("s3cret", value.strip('"'))
    bad = subprocess.run([sys.executable, "-m", "engine.auth", "a\nb"], input="x\n", capture_output=True,
                         text=True, cwd=ROOT)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


# --- data roots ------------------------------------------------------------------------------

def test_paths_are_confined_to_the_data_roots_symlinks_resolved(tmp_path, monkeypatch):
    monkeypatch.delenv(data_roots.ENV, raising=False)
    db = tmp_path / "ws.duckdb"
    uploads = data_roots.uploads_dir(db)
    uploads.mkdir()
    (uploads / "ok.jsonl").write_text("{}\n")
    secret = tmp_path / "secret" / "keys.txt"
    secret.parent.mkdir()
    secret.write_text("private")
    (uploads / "escape.jsonl").symlink_to(secret)
    (uploads / "escape_dir").symlink_to(secret.parent, target_is_directory=True)
    (uploads / "inside.jsonl").symlink_to(uploads / "ok.jsonl")

    assert data_roots.confine(uploads / "ok.jsonl", db) == (uploads / "ok.jsonl").resolve()
    assert data_roots.confine("ok.jsonl", db) == (uploads / "ok.jsonl").resolve()  # relative: the uploads folder
    assert data_roots.confine(uploads / "inside.jsonl", db) == (uploads / "ok.jsonl").resolve()
    assert data_roots.confine(data_roots.BUNDLED / "c4_demo.parquet", db).name == "c4_demo.parquet"
    for outside in (secret, "/etc/passwd", uploads / "escape.jsonl", uploads / "escape_dir" / "keys.txt",
                    uploads / ".." / "secret" / "keys.txt", "../secret/keys.txt", "~/.ssh/id_rsa", tmp_path):
        with pytest.raises(UserError, match="outside the dashboard's data roots"):
            data_roots.confine(outside, db)
    exports = data_roots.confine(data_roots.exports_dir(db) / "new.jsonl", db, must_exist=False)
    assert exports.parent == data_roots.exports_dir(db)

    monkeypatch.setenv(data_roots.ENV, os.pathsep.join([str(secret.parent), str(tmp_path / "other")]))
    assert data_roots.confine(secret, db) == secret.resolve()
    with pytest.raises(UserError, match="outside"):
        data_roots.confine(uploads / "ok.jsonl", db)


# --- names and Markdown ----------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["two\nlines", "ansi\x1b[31mred", "x" * 10_000, "bidi\u202egnp.exe", "tab\there",
                                 "![x](http://h/t.png)", "`code`", "", "   ", "-starts-with-dash", "a/b", "nul\0"])
def test_bad_names_are_refused_in_one_line(bad):
    with pytest.raises(UserError) as err:
        check_name("corpus name", bad)
    message = str(err.value)
    assert "\n" not in message and "\x1b" not in message and len(message) < 300


@pytest.mark.parametrize("good", ["c4-demo", "e2e_upload", "données 2024", "日本語コーパス", "v1.2+extra",
                                  "ann@lab"])
def test_ordinary_names_pass(good):
    assert check_name("corpus name", f" {good} ") == good


def test_ingest_refuses_a_bad_corpus_name_and_stores_nothing(workspace, tmp_path):
    from engine.ingest import ingest
    from engine.storage import corpus as store

    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "hello world"}\n')
    for name in ("evil\nname", "\x1b[2Jclear", "n" * 10_000):
        with pytest.raises(UserError, match="corpus name"):
            ingest(workspace, data, name)
    with workspace.connect() as con:
        assert store.list_corpora(con).empty


def test_cli_refuses_a_bad_corpus_name_with_one_line_and_exit_2(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "hello world"}\n')
    res = subprocess.run([sys.executable, "-m", "engine", "--db", str(tmp_path / "ws.duckdb"), "ingest", str(data),
                          "--corpus", "bad\x1b[31mname"], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "\x1b" not in res.stderr


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_escaped_markdown_has_no_unescaped_markup(text):
    out = escape_markdown(text)
    i = 0
    while i < len(out):  # every special character is preceded by a backslash that escapes it
        if out[i] == "\\":
            i += 2
            continue
        assert out[i] not in "![]<>`*_#|~:$", (text, out)
        i += 1


# --- teacher keys ----------------------------------------------------------------------------

class _Recorder(ChatHandler):
    """A real local HTTP server standing in for a chat endpoint; records every request's
    path and Authorization header; `/redirect/...` answers 307 to another server."""
    redirect_to = ""

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        if self.path.startswith("/redirect") and self.server.redirect_to:
            self.send_response(307)
            self.send_header("Location", self.server.redirect_to + "/v1/chat/completions")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.reply_json(b'{"choices": [{"message": {"content": "Text: a new question here"}}]}')


@pytest.fixture
def servers():
    made = []
    for _ in range(2):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        server.seen = []
        server.redirect_to = ""
        threading.Thread(target=server.serve_forever, daemon=True).start()
        made.append(server)
    yield made
    for server in made:
        server.shutdown()


def _ask(url: str, key_env: str = "") -> None:
    teacher = EndpointTeacher(TeacherSettings(model=url, endpoint_model="m", api_key_env=key_env, retries=0,
                                              timeout_s=5))
    teacher.generate([[{"role": "user", "content": "q"}]], seed=0)


def test_a_configured_key_is_never_sent_to_another_url(servers, monkeypatch):
    good, other = servers
    base, elsewhere = f"http://127.0.0.1:{good.server_port}", f"http://127.0.0.1:{other.server_port}"
    other.redirect_to = base
    good.redirect_to = elsewhere
    monkeypatch.setenv("SEEDBED_TEST_KEY", "sk-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv(teacher_endpoints.ENV, f"{base}/v1=SEEDBED_TEST_KEY;{base}/redirect=SEEDBED_TEST_KEY")

    _ask(f"{base}/v1")  # configured: its key goes with it
    _ask(f"{base}/v1/")
    assert good.seen == [("/v1/chat/completions", "Bearer sk-secret")] * 2
    good.seen.clear()

    for url in (f"{elsewhere}/v1", f"{base}/v1evil", f"{base}/other", f"http://localhost:{good.server_port}/v1"):
        _ask(url)  # not configured: no key, not even the OPENAI_API_KEY of old
    assert {auth_header for _, auth_header in good.seen + other.seen} == {None}
    good.seen.clear(), other.seen.clear()

    _ask(f"{base}/redirect")  # a configured endpoint that redirects: the key does not follow
    assert good.seen == [("/redirect/chat/completions", "Bearer sk-secret")] and other.seen == []

    for url, env in ((f"{elsewhere}/v1", "SEEDBED_TEST_KEY"), (f"{elsewhere}/v1", "OPENAI_API_KEY"),
                     (f"{base}/v1", "OPENAI_API_KEY")):
        with pytest.raises(UserError, match="not a configured endpoint|is configured with key"):
            _ask(url, env)
    with pytest.raises(UserError, match="without a user name"):
        _ask(f"http://127.0.0.1:{good.server_port}@127.0.0.1:{other.server_port}/v1")
    assert other.seen == [] and len(good.seen) == 1


@settings(max_examples=100, deadline=None)
@given(host=st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,8}){0,3}", fullmatch=True),
       path=st.from_regex(r"(/[a-zA-Z0-9._-]{1,8}){0,3}", fullmatch=True))
def test_only_the_configured_origin_and_path_prefix_match(host, path):
    os.environ[teacher_endpoints.ENV] = "https://api.example.org/v1=K"
    try:
        hit = teacher_endpoints.match(f"https://{host}{path}")
        assert (hit is not None) == (host == "api.example.org" and (path + "/").startswith("/v1/"))
    finally:
        del os.environ[teacher_endpoints.ENV]


def test_cli_refuses_a_key_for_an_unlisted_teacher_url_before_any_work(tmp_path):
    env = {**os.environ, "SEEDBED_TEST_KEY": "sk-secret"}
    env.pop(teacher_endpoints.ENV, None)
    res = subprocess.run([sys.executable, "-m", "engine", "--db", str(tmp_path / "ws.duckdb"), "llm2llm", "run",
                          "--name", "x", "--teacher", "http://127.0.0.1:9/v1", "--teacher-model", "m",
                          "--api-key-env", "SEEDBED_TEST_KEY"], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "not a configured endpoint" in res.stderr
