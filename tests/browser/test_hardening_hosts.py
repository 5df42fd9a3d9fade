"""DNS rebinding and the launcher, on real servers: a websocket (and a real Chromium) reaching the
dashboard under a foreign host name is refused, the real name is served; `scripts/dashboard.py`
refuses a shared server without a login before it listens, and lists the bound address."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from page_helpers import CHROMIUM, start_dashboard

from engine import hosts

ROOT = Path(__file__).resolve().parents[2]


class Server:
    """A dashboard on a free loopback port: `streamlit run app.py`, or the launcher with `launcher=True`."""

    def __init__(self, tmp_path: Path, flags: list[str], launcher: bool = False):
        self.proc, self.port, self.log = start_dashboard(tmp_path, flags, launcher=launcher)

    def websocket(self, host: str):
        """A websocket to the server whose Host and Origin headers name `host` (a rebinding page's view)."""
        from websockets.sync.client import connect

        sock = socket.create_connection(("127.0.0.1", self.port))
        return connect(f"ws://{host}:{self.port}/_stcore/stream", sock=sock, subprotocols=["streamlit"],
                       origin=f"http://{host}:{self.port}", open_timeout=20)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def rerun(ws, seconds: float = 30) -> bytes:
    """Ask the session to run the app (what a browser sends first); the raw ForwardMsg bytes it
    answers with until the run finishes (protobuf strings appear verbatim in them)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    msg = BackMsg()
    msg.rerun_script.query_string = ""
    ws.send(msg.SerializeToString())
    received, deadline = b"", time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            break
        received += data
        if ForwardMsg.FromString(data).WhichOneof("type") == "script_finished":
            break
    return received


@pytest.fixture
def servers():
    made: list[Server] = []
    yield made
    for server in made:
        server.stop()


def test_host_list_and_check():
    assert hosts.allowed_hosts("127.0.0.1")[:3] == ["localhost", "127.0.0.1", "::1"]
    shared = hosts.allowed_hosts("192.0.2.7", ["proxy.example.org"])
    assert "192.0.2.7" in shared and "proxy.example.org" in shared and socket.gethostname().lower() in shared
    assert hosts.host_allowed("127.0.0.1:8501", ["127.0.0.1"]) and hosts.host_allowed("[::1]:8501", ["::1"])
    assert hosts.host_allowed("a.example.org", ["*.example.org"])
    for bad in ("evil.example:8501", "127.0.0.1.evil.example", "127.0.0.1@evil", "127.0.0.1:x", "", None):
        assert not hosts.host_allowed(bad, ["localhost", "127.0.0.1"]), bad


def test_a_foreign_host_name_gets_no_websocket(tmp_path, servers):
    from websockets.exceptions import InvalidStatus

    server = Server(tmp_path, [])  # plain `streamlit run app.py`: .streamlit/config.toml's list
    servers.append(server)
    with server.websocket("127.0.0.1") as ws:  # the real name: a session starts and the app runs
        assert b"Seedbed" in rerun(ws)
    with pytest.raises(InvalidStatus) as refused:
        server.websocket("rebind.evil.example")
    assert refused.value.response.status_code == 403


def test_launcher_refuses_a_shared_server_without_a_login_before_listening(tmp_path):
    run = subprocess.run([sys.executable, "scripts/dashboard.py", "--server.address", "192.0.2.2",
                          "--secrets.files", str(tmp_path / "none.toml")], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env={**os.environ, "SEEDBED_REQUIRE_LOGIN": ""})
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "refusing to serve the dashboard on 192.0.2.2 without a login" in run.stderr


def test_launcher_lists_the_shared_address(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    import dashboard

    secrets = tmp_path / "s.toml"
    secrets.write_text('[seedbed.users]\n"ann" = "scrypt$16384$8$1$AAAA$AAAA"\n')
    command = dashboard.plan(["--server.address=192.0.2.2", "--secrets.files", str(secrets),
                              "--server.allowedHosts", "proxy.example.org"])
    assert "--server.allowedHosts=192.0.2.2" in command and "--server.allowedHosts=proxy.example.org" in command
    assert "--server.allowedHosts=127.0.0.1" in command and "--server.address=192.0.2.2" in command


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium package")
def test_a_rebinding_page_in_a_real_browser_sees_nothing(tmp_path, servers, workspace):
    """Chromium resolves rebind.evil.example to 127.0.0.1 (what a rebinding DNS server does): the
    dashboard started by the launcher serves 127.0.0.1 and shows nothing of the workspace there."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    from engine.ingest import ingest

    data = tmp_path / "docs.jsonl"
    data.write_text('{"text": "a private document about the secret plan"}\n')
    ingest(workspace, data, "private-corpus")
    server = Server(tmp_path, [], launcher=True)
    servers.append(server)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP rebind.evil.example 127.0.0.1"])
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.get_by_text("private-corpus").first.wait_for(timeout=120_000)  # the real name works
        page.goto(f"http://rebind.evil.example:{server.port}/")
        page.wait_for_timeout(8000)
        assert "private-corpus" not in page.content() and "secret plan" not in page.content()
        browser.close()
