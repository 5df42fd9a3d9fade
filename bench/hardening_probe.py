"""Issue 25's adversarial probe, rerun against this checkout as an attacker would: the dashboard
over HTTP and raw websockets (a real server started by scripts/dashboard.py), the CLI as a
subprocess, hostile files. Each case is pass/fail with what was observed; writes
bench/results/hardening_probe.json and .md. (Browser-as-victim cases: tests/browser/test_hardening_*.py.)

    python bench/hardening_probe.py
"""
from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable
RESULTS: list[dict] = []


def case(entry: str, name: str, ok: bool, seen: str) -> None:
    RESULTS.append({"entry": entry, "case": name, "pass": bool(ok), "observed": " ".join(str(seen).split())[:220]})
    print(("PASS" if ok else "FAIL"), entry, name, "|", RESULTS[-1]["observed"], flush=True)


def cli(tmp: Path, *args: str, env: dict | None = None, timeout: float = 300) -> tuple[int, str, str, float]:
    t0 = time.monotonic()
    run = subprocess.run([PY, "-m", "engine", "--db", str(tmp / "ws.duckdb"), *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    return run.returncode, run.stdout, run.stderr, time.monotonic() - t0


def one_line(rc: int, err: str) -> bool:
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip() and "%|" not in line]
    return rc == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err


def peak_rss(tmp: Path, *args: str) -> tuple[int, float, str]:
    proc = subprocess.Popen([PY, "-m", "engine", "--db", str(tmp / f"p{time.monotonic_ns()}.duckdb"), *args], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    text = proc.stderr.read().decode().replace("\r", "\n")  # a bar's redraws end in \r, not \n
    lines = [line for line in text.splitlines() if line.strip() and "%|" not in line]
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, lines[-1] if lines else ""  # not progress bars


def files_and_cli(tmp: Path) -> None:
    data = ROOT / "tests" / "data" / "c4_sample.jsonl"
    cli(tmp, "ingest", str(data), "--corpus", "c4")
    cli(tmp, "select", "--corpus", "c4", "--strategy", "random", "--budget", "5", "--name", "five")
    # memory
    line = tmp / "line.jsonl"
    line.write_text(json.dumps({"text": "a" * (50 << 20)}) + "\n" + json.dumps({"text": "fine"}) + "\n")
    rc, rss, said = peak_rss(tmp, "ingest", str(line), "--corpus", "line")
    case("files", "a 50 MB line", rc == 0 and rss < 1024, f"exit {rc}, peak {rss:.0f} MB; {said}")
    array = tmp / "minified.json"
    with open(array, "w") as f:
        f.write("[" + ",".join(json.dumps({"text": f"document {i} " + "w" * 2000}) for i in range(30_000)) + "]")
    rc, rss, said = peak_rss(tmp, "ingest", str(array), "--corpus", "minified")
    case("files", f"a {array.stat().st_size >> 20} MB minified JSON array on one line", rc == 0 and rss < 1024,
         f"exit {rc}, peak {rss:.0f} MB; {said}")
    bomb = tmp / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb", 9) as f:
        line = b'{"text": "' + b"s" * (1 << 20) + b'"}\n'
        for _ in range(1300):
            f.write(line)
    rc, rss, said = peak_rss(tmp, "ingest", str(bomb), "--corpus", "bomb")
    case("files", f"a {bomb.stat().st_size >> 10} KB gzip of 1.3 GB (1 MB lines)", one_line(rc, said) and rss < 1024,
         f"exit {rc}, peak {rss:.0f} MB; {said}")
    # terminal escapes
    header = tmp / "osc.csv"
    header.write_text("\x1b]52;c;ZWNobyBoaQ==\x07,body\n1,a row\n")
    rc, out, err, _ = cli(tmp, "ingest", str(header), "--corpus", "osc")
    case("cli", "OSC 52 in a CSV header", "\x1b" not in out + err and "\\x1b" in err, f"exit {rc}: {err.strip()[:150]!r}")
    odd = tmp / "na\x1b[31mme.jsonl"
    odd.write_text('{"text": "x"}\n')
    rc, out, err, _ = cli(tmp, "ingest", str(odd), "--corpus", "odd")
    case("cli", "escape code in a file name", "\x1b" not in out + err, f"exit {rc}: {(out + err).strip()[-150:]!r}")
    # one line for every failure
    rc, out, err, _ = cli(tmp, "export", "--selection", "five", "--out", str(tmp / ("x" * 239 + ".jsonl")))
    case("cli", "245-character export name", rc == 0, f"exit {rc} {err.strip()[:120]}")
    rc, out, err, _ = cli(tmp, "export", "--selection", "five", "--out", str(tmp / ("y" * 260 + ".jsonl")))
    case("cli", "266-character export name", one_line(rc, err), f"exit {rc} {err.strip()[:160]}")
    (tmp / "plain").write_text("x")
    rc, out, err, _ = cli(tmp, "export", "--selection", "five", "--out", str(tmp / "plain" / "o.jsonl"))
    case("cli", "a file as the parent folder", one_line(rc, err), f"exit {rc} {err.strip()[:160]}")
    whole = (tmp / "ws.duckdb").read_bytes()
    results = []
    for part in (2, 3, 5, 10):
        (tmp / "cut.duckdb").write_bytes(whole[: len(whole) // part])
        run = subprocess.run([PY, "-m", "engine", "--db", str(tmp / "cut.duckdb"), "corpora"], cwd=ROOT, text=True,
                             capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        results.append(run.returncode == 0 or one_line(run.returncode, run.stderr))
    case("cli", "truncated workspace (cut at 1/2, 1/3, 1/5, 1/10)", all(results), f"clean at each cut: {results}")
    rc, out, err, _ = cli(tmp, "select", "--corpus", "c4", "--strategy", "random", "--name", "s\x1b]0;x\x07")
    case("cli", "selection name with an escape code", one_line(rc, err) and "\x1b" not in err, err.strip()[:160])
    rc, out, err, _ = cli(tmp, "ingest", str(data), "--corpus", "\u04414-demo")
    case("cli", "look-alike corpus name (Cyrillic с4-demo)", one_line(rc, err), err.strip()[:160])
    rc1 = cli(tmp, "ingest", str(data), "--corpus", "cafe\u0301")[0]
    rc2 = cli(tmp, "ingest", str(data), "--corpus", "\uff43\uff41\uff46\u00e9")[0]
    listed = cli(tmp, "corpora")[1]
    case("cli", "NFD café and fullwidth ｃａｆé", rc1 == rc2 == 0 and listed.count("caf\u00e9") == 1,
         f"corpora named café: {listed.count('café')}")
    mounted = tmp / "ro"
    mounted.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(mounted)]).returncode == 0:
        run = subprocess.run([PY, "-m", "engine", "--db", str(mounted / "ws.duckdb"), "ingest", str(data), "--corpus",
                              "c"], cwd=ROOT, text=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        case("cli", "read-only workspace folder", one_line(run.returncode, run.stderr), run.stderr.strip()[:160])
        subprocess.run(["umount", "-l", str(mounted)])
        full = tmp / "full"
        full.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(full)])
        big = tmp / "big.jsonl"
        big.write_text("".join(f'{{"text": "doc {i} {os.urandom(1500).hex()}"}}\n' for i in range(3000)))
        run = subprocess.run([PY, "-m", "engine", "--db", str(full / "ws.duckdb"), "ingest", str(big), "--corpus", "b"],
                             cwd=ROOT, text=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        case("cli", "full disk during ingest", one_line(run.returncode, run.stderr), run.stderr.strip()[-160:])
        for p in full.iterdir():
            p.unlink()
        with open(full / "filler", "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        rc, out, err, _ = cli(tmp, "export", "--selection", "five", "--out", str(full / "five.jsonl"))
        case("cli", "full disk during export", one_line(rc, err) and sorted(p.name for p in full.iterdir()) == ["filler"],
             f"{err.strip()[:140]}; left: {sorted(p.name for p in full.iterdir())}")
        subprocess.run(["umount", "-l", str(full)])
    # exports: concurrency and kill -9
    slow = ("import sys, time\nimport pyarrow.parquet as pq\n"
            "def slow(t, where, **kw):\n    open(where, 'wb').write(b'x'); print('writing', flush=True); time.sleep(30)\n"
            "pq.write_table = slow\nfrom engine.cli import main\n"
            f"main(['--db', {str(tmp / 'ws.duckdb')!r}, 'export', '--selection', 'five', '--out', sys.argv[1]])")
    out_path = tmp / "race.parquet"
    first = subprocess.Popen([PY, "-c", slow, str(out_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    first.stdout.readline()
    rc, out, err, _ = cli(tmp, "export", "--selection", "five", "--out", str(out_path))
    case("cli", "two concurrent exports to one path", one_line(rc, err) and "another export" in err, err.strip()[:140])
    first.send_signal(signal.SIGKILL)
    first.wait()
    left = [p.name for p in tmp.glob(".seedbed-*.tmp")]
    rc, out, err, _ = cli(tmp, "export", "--selection", "five", "--out", str(out_path))
    case("cli", "kill -9 of an export, then export again", rc == 0 and not list(tmp.glob(".seedbed-*.tmp")),
         f"temp after kill: {len(left)}; after the next export: {len(list(tmp.glob('.seedbed-*.tmp')))}")
    # a foreign lock
    holder = subprocess.Popen([PY, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', "
                               "flush=True); time.sleep(60)", str(tmp / "ws.duckdb")], stdout=subprocess.PIPE, text=True)
    holder.stdout.readline()
    rc, out, err, took = cli(tmp, "corpora")
    holder.kill()
    holder.wait()
    case("cli", "a foreign program holds the workspace lock", one_line(rc, err) and took < 15,
         f"{took:.1f} s: {err.strip()[:120]}")
    teacher(tmp)


def teacher(tmp: Path) -> None:
    from engine import teacher_endpoints
    from engine.llm2llm.teacher import EndpointTeacher, TeacherSettings

    seen = []

    class Echo(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append((self.path, self.headers.get("Authorization")))
            body = json.dumps({"error": f"you sent {self.headers.get('Authorization')}"}).encode()
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    os.environ["PROBE_KEY"], os.environ[teacher_endpoints.ENV] = "sk-probe-secret", f"{base}/v1=PROBE_KEY"
    ask = lambda url: EndpointTeacher(TeacherSettings(model=url, endpoint_model="m", retries=0,  # noqa: E731
                                                      timeout_s=5)).generate([[{"role": "user", "content": "q"}]], 0)[0]
    ask(f"{base}/v1/../admin")
    case("teacher", "/v1/../admin gets no key", seen and seen[-1][1] is None, f"{seen[-1] if seen else None}")
    reply = ask(f"{base}/v1")
    case("teacher", "an endpoint echoing the key", "sk-probe" not in (reply.error or ""), (reply.error or "")[:140])
    server.shutdown()


def dashboard(tmp: Path) -> None:
    import requests
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    from engine import auth
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    rc = subprocess.run([PY, "scripts/dashboard.py", "--server.address", "192.0.2.9", "--secrets.files",
                         str(tmp / "none.toml")], cwd=ROOT, capture_output=True, text=True, timeout=60,
                        env={**os.environ, "SEEDBED_REQUIRE_LOGIN": ""})
    case("dashboard", "shared without a login", rc.returncode == 2 and rc.stderr.count("\n") == 1,
         f"exit {rc.returncode} before listening: {rc.stderr.strip()[:120]}")
    secrets = tmp / "secrets.toml"
    secrets.write_text(f'[seedbed.users]\n"ann" = "{auth.hash_password("pw")}"\n')
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SEEDBED_DB": str(tmp / "ws.duckdb"), "SEEDBED_REQUIRE_LOGIN": "1"}
    server = subprocess.Popen([PY, "scripts/dashboard.py", "--server.port", str(port), "--secrets.files", str(secrets)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(240):
            if socket.socket().connect_ex(("127.0.0.1", port)) == 0:
                break
            time.sleep(0.5)  # polling for the port

        def attach(host="127.0.0.1", origin=None, protocols=("streamlit",), cookie=None):
            sock = socket.create_connection(("127.0.0.1", port))
            return connect(f"ws://{host}:{port}/_stcore/stream", sock=sock, subprotocols=list(protocols),
                           origin=origin or f"http://{host}:{port}", open_timeout=20,
                           additional_headers={"Cookie": f"_streamlit_xsrf={cookie}"} if cookie else None)

        def run(ws) -> list[bytes]:
            msg = BackMsg()
            msg.rerun_script.query_string = ""
            ws.send(msg.SerializeToString())
            got = []
            for _ in range(400):
                data = ws.recv(timeout=60)
                got.append(data)
                if ForwardMsg.FromString(data).WhichOneof("type") == "script_finished":
                    break
            return got

        for label, kwargs in (("foreign Host and Origin (DNS rebinding)", {"host": "rebind.evil.example"}),
                              ("foreign Origin, real Host (cross-site websocket)", {"origin": "http://evil.example"})):
            try:
                attach(**kwargs).close()
                case("websocket", label, False, "accepted")
            except InvalidStatus as exc:
                case("websocket", label, True, f"refused with HTTP {exc.response.status_code}")
        cookie = requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=30).cookies.get("_streamlit_xsrf")
        with attach(protocols=("streamlit", cookie), cookie=cookie) as ws:
            frames = run(ws)
        raw = b"".join(frames)
        sid = next((m.new_session.initialize.session_id for m in map(ForwardMsg.FromString, frames)
                    if m.WhichOneof("type") == "new_session"), "")
        case("websocket", "script path and versions before login", b"app.py" not in raw and b"1.67" not in raw
             and b"Password" in raw, f"{len(raw)} bytes before login; login form shown: {b'Password' in raw}")
        codes = []
        for i in range(4):
            r = requests.put(f"http://127.0.0.1:{port}/_stcore/upload_file/{sid}/f{i}", timeout=60,
                             files={"file": ("a.jsonl", b"x" * (20 << 20))}, cookies={"_streamlit_xsrf": cookie},
                             headers={"X-Xsrftoken": cookie})
            codes.append(r.status_code)
        case("dashboard", "4 x 20 MB uploads before login", all(c == 403 for c in codes), f"HTTP {codes}")
        with attach(protocols=("streamlit", "x", sid or "none")) as ws:
            raw = b"".join(run(ws))
        case("websocket", "re-attach to another client's session id (anonymous; logged-in: test_hardening_login)", b"Signed in as" not in raw, "login form" if
             b"Password" in raw else "other")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEEDBED_CACHE"] = str(Path(tmp) / "cache")
        files_and_cli(Path(tmp))
        dashboard(Path(tmp))
    passed = sum(r["pass"] for r in RESULTS)
    (ROOT / "bench" / "results" / "hardening_probe.json").write_text(json.dumps(
        {"date": started, "uptime": uptime, "passed": passed, "cases": RESULTS}, indent=2) + "\n")
    rows = ["| entry | case | result | observed |", "|---|---|---|---|"]
    rows += [f"| {r['entry']} | {r['case']} | {'pass' if r['pass'] else '**fail**'} | "
             f"{r['observed'].replace('|', '/')} |" for r in RESULTS]
    (ROOT / "bench" / "results" / "hardening_probe.md").write_text(
        f"# Issue 25 probe, rerun\n\n{started}; load `{uptime}`. {passed} of {len(RESULTS)} pass. "
        "Made by `bench/hardening_probe.py` (raw: `bench/results/hardening_probe.json`); the browser-as-victim cases are "
        "tests/browser/test_hardening_markdown.py, test_hardening_hosts.py and test_hardening_login.py.\n\n"
        + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
