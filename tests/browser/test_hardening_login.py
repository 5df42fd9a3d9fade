"""The login is not the session id: signed, expiring tokens bound to the browser; throttling per
account and address with a lockout and an audit line; on a real server started by the launcher,
a session id replayed from another client finds the login form, a session that has not logged
in may upload nothing and learns no script path or versions, a logged-in one holds at most
MAX_UPLOADS files."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from page_helpers import CHROMIUM, launch, start_dashboard
from streamlit import config
from streamlit.testing.v1 import AppTest

from engine import auth

ROOT = Path(__file__).resolve().parents[2]


def test_tokens_are_bound_signed_and_expire():
    tokens = auth.LoginTokens(b"k" * 32, ttl_s=60)
    token = tokens.issue("ann", "xsrf:abc", now=1000)
    assert tokens.verify(token, "xsrf:abc", now=1059) == "ann"
    assert tokens.verify(token, "xsrf:other", now=1001) is None  # another browser
    assert tokens.verify(token, "", now=1001) is None  # a client with no cookie (a replayed session id)
    assert tokens.verify(token, "xsrf:abc", now=1061) is None  # expired
    name, expiry, sig = token.split(".")
    assert tokens.verify(f"{name}.{int(expiry) + 9999}.{sig}", "xsrf:abc", now=1001) is None  # tampered
    assert auth.LoginTokens(b"j" * 32).verify(token, "xsrf:abc", now=1001) is None  # another server's secret
    assert tokens.verify("garbage", "xsrf:abc") is None and tokens.verify(None, "") is None


def test_throttle_locks_an_account_and_an_address_across_sessions():
    throttle = auth.Throttle(account_limit=3, address_limit=5, window_s=60, lock_s=300)
    for i in range(3):
        assert throttle.wait_s(auth.throttle_keys("ann", "10.0.0.1"), now=i) == 0
        throttle.fail(auth.throttle_keys("ann", "10.0.0.1"), now=i)
    assert throttle.wait_s(auth.throttle_keys("ANN", "10.0.0.9"), now=10) == pytest.approx(292)  # the account
    assert throttle.wait_s(auth.throttle_keys("bob", "10.0.0.2"), now=10) == 0
    for i, name in enumerate(["bob", "cy", "di", "ed", "fay"]):  # one address trying many accounts
        throttle.fail(auth.throttle_keys(name, "10.0.0.2"), now=20 + i)
    assert throttle.wait_s(auth.throttle_keys("gus", "10.0.0.2"), now=30) > 0
    assert throttle.wait_s(auth.throttle_keys("ann", "10.0.0.1"), now=400) == 0  # the lock ends


def test_lockout_refuses_the_right_password_and_every_try_is_audited(app_workspace):
    from ui import guard as ui_guard

    before = config.get_option("server.address")
    config.set_option("server.address", "192.0.2.2")
    ui_guard.THROTTLE.failures.clear()
    ui_guard.THROTTLE.locked_until.clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.secrets["seedbed"] = {"users": {"ann": auth.hash_password("open sesame")}}
        at.run()
        for _ in range(ui_guard.THROTTLE.limits["account"]):
            at.text_input[0].input("ann")
            at.text_input[1].input("wrong")
            at.button[0].click().run()
        at.text_input[0].input("ann")
        at.text_input[1].input("open sesame")
        at.button[0].click().run()
        assert "Too many failed logins" in at.error[0].value and not at.dataframe
        assert "auth_token" not in at.session_state
    finally:
        config.set_option("server.address", before)
        ui_guard.THROTTLE.failures.clear()
        ui_guard.THROTTLE.locked_until.clear()
    log = (Path(app_workspace.path).parent / auth.AUDIT_LOG).read_text().splitlines()
    assert len(log) == 6 and all(" user='ann' " in line for line in log)
    assert [line.split()[1] for line in log] == ["login-failed"] * 5 + ["login-locked"]


# --- a real server started by the launcher ---------------------------------------------------

class Server:
    def __init__(self, tmp_path: Path, workspace):
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(f'[seedbed.users]\n"ann" = "{auth.hash_password("open sesame")}"\n')
        self.proc, self.port, self.log = start_dashboard(
            tmp_path, ["--secrets.files", str(secrets)], db=workspace.path, launcher=True,
            env={"SEEDBED_REQUIRE_LOGIN": "1"})
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _frames_to_session_id(frames: list[bytes]) -> str | None:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    for data in frames:
        msg = ForwardMsg.FromString(data)
        if msg.WhichOneof("type") == "new_session" and msg.new_session.initialize.session_id:
            return msg.new_session.initialize.session_id
    return None


def _attach(port: int, session_id: str | None = None, cookie: str | None = None):
    """A raw websocket client (what a script would use), re-attaching to `session_id` when given."""
    from websockets.sync.client import connect

    protocols = ["streamlit", cookie or "x", *([session_id] if session_id else [])]
    headers = {"Cookie": f"_streamlit_xsrf={cookie}"} if cookie else None
    return connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=protocols, origin=f"http://127.0.0.1:{port}",
                   additional_headers=headers, open_timeout=20)


def _rerun(ws, seconds: float = 40) -> list[bytes]:
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    msg = BackMsg()
    msg.rerun_script.query_string = ""
    ws.send(msg.SerializeToString())
    frames, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            break
        frames.append(data)
        if ForwardMsg.FromString(data).WhichOneof("type") == "script_finished":
            break
    return frames


def _upload(port: int, session_id: str, cookie: str, file_id: str) -> int:
    import requests

    response = requests.put(f"http://127.0.0.1:{port}/_stcore/upload_file/{session_id}/{file_id}",
                            files={"file": ("a.jsonl", b'{"text": "x"}\n' * 1000)},
                            headers={"X-Xsrftoken": cookie, "Origin": f"http://127.0.0.1:{port}"},
                            cookies={"_streamlit_xsrf": cookie}, timeout=30)
    return response.status_code


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium package")
def test_a_session_id_alone_does_not_reattach_a_login_and_uploads_need_one(tmp_path, workspace):
    playwright_api = pytest.importorskip("playwright.sync_api")
    import requests

    server = Server(tmp_path, workspace)
    try:
        # an anonymous client: a cookie from the page, a session of its own, no login
        cookie = requests.get(server.url + "/_stcore/health", timeout=30).cookies.get("_streamlit_xsrf")
        assert cookie
        with _attach(server.port, cookie=cookie) as ws:
            frames = _rerun(ws)
            anonymous = _frames_to_session_id(frames)
            raw = b"".join(frames)
            assert b"Password" in raw and b"app.py" not in raw and b"1.67" not in raw  # no script path, no version
            assert _upload(server.port, anonymous, cookie, "f1") == 403  # before a login: nothing
        with playwright_api.sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page()
            page.set_default_timeout(120_000)
            frames: list[bytes] = []
            page.on("websocket", lambda ws: ws.on("framereceived",
                                                  lambda payload: frames.append(payload) if isinstance(payload, bytes)
                                                  else None))
            page.goto(server.url)
            page.get_by_label("Password", exact=True).wait_for()
            page.get_by_label("Name", exact=True).fill("ann")
            page.get_by_label("Password", exact=True).fill("open sesame")
            page.get_by_role("button", name="Log in").click()
            page.get_by_text("Signed in as ann").wait_for()
            victim = _frames_to_session_id(frames)
            victim_cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "_streamlit_xsrf")
            assert victim
            # the victim's own browser identity may upload, up to the per-session cap
            codes = [_upload(server.port, victim, victim_cookie, f"v{i}") for i in range(4)]
            assert codes == [204, 204, 204, 429], codes
            # another client with only the session id (as leaked in an upload URL): the login form
            with _attach(server.port, session_id=victim, cookie=cookie) as ws:
                raw = b"".join(_rerun(ws))
            assert b"Signed in as" not in raw and b"Password" in raw
            browser.close()
    finally:
        server.stop()
    audit = (Path(workspace.path).parent / auth.AUDIT_LOG).read_text()
    assert "login-ok user='ann' address=127.0.0.1" in audit


def test_plain_streamlit_run_caps_uploads_per_session_too(tmp_path, workspace):
    """Without the launcher the limits arrive with the first page view (ui.serve.install_once):
    a loopback session may upload, at most ui_serve.MAX_UPLOADS files at once."""
    import requests

    from ui import serve as ui_serve

    proc, port, _ = start_dashboard(tmp_path, db=workspace.path)
    try:
        cookie = requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=30).cookies.get("_streamlit_xsrf")
        with _attach(port, cookie=cookie) as ws:
            session = _frames_to_session_id(_rerun(ws))
            codes = [_upload(port, session, cookie, f"f{i}") for i in range(ui_serve.MAX_UPLOADS + 1)]
        assert codes[:-1] == [204] * ui_serve.MAX_UPLOADS and codes[-1] >= 400, codes
    finally:
        proc.terminate()
        proc.wait(timeout=30)
