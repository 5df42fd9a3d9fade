"""Start the dashboard: `python scripts/dashboard.py [streamlit options ...]` (scripts/demo.sh ends here).

Before anything listens it checks what `streamlit run app.py` would only find out on the first page
view: a server bound to a shared address with no login configured is refused in one line (exit 2).
It then sets `server.allowedHosts` for the address (engine.hosts: loopback names, the bound
address, this machine's names, $SEEDBED_ALLOWED_HOSTS, any --server.allowedHosts given), so a web
page that renames 127.0.0.1 (DNS rebinding) cannot drive the dashboard, and starts Streamlit in
this process with the upload route and session messages hardened first (ui.serve.harden_server).
"""
from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import auth, hosts  # noqa: E402
from engine.errors import UserError  # noqa: E402


def _options(argv: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """(--section.name values, the other arguments), for `--opt value` and `--opt=value`."""
    found: dict[str, list[str]] = {}
    rest, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and "." in arg:
            name, eq, value = arg[2:].partition("=")
            if not eq and i + 1 < len(argv):
                value, i = argv[i + 1], i + 1
            found.setdefault(name, []).append(value)
        else:
            rest.append(arg)
        i += 1
    return found, rest


def _toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text()) if path.is_file() else {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: not readable TOML ({exc})") from None


def plan(argv: list[str]) -> list[str]:
    """The `streamlit run` command for `argv`; UserError when the server must not start."""
    found, rest = _options(argv)
    config = _toml(ROOT / ".streamlit" / "config.toml").get("server", {})
    address = (found.get("server.address") or [config.get("address", "")])[-1]
    secret_files = [Path(p) for p in found.get("secrets.files", [])] or [
        Path.home() / ".streamlit" / "secrets.toml", ROOT / ".streamlit" / "secrets.toml"]
    secrets: dict = {}
    for path in secret_files:
        secrets.update(_toml(path))
    auth.login_plan(address, secrets, auth.login_forced())  # raises when shared without a login
    names = hosts.allowed_hosts(address, found.pop("server.allowedHosts", []))
    flags = [f"--{name}={value}" for name, values in found.items() for value in values]
    flags += [f"--server.allowedHosts={name}" for name in names]
    return [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), *flags, *rest]


def _ui_serve():
    """`ui.serve`, imported once the checks passed (it imports Streamlit). The `ui` package declares
    its `st.cache_data` functions on import, before any runtime exists, and Streamlit then logs "No
    runtime found" once per function although the caches are made later, inside the runtime: those
    lines alone are silenced."""
    import logging  # noqa: PLC0415

    from streamlit.runtime.caching import cache_data_api  # noqa: PLC0415

    log = logging.getLogger(cache_data_api.__name__)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        from ui import serve  # noqa: PLC0415
    finally:
        log.setLevel(level)
    return serve


def main(argv: list[str]) -> int:
    try:
        command = plan(argv)
    except UserError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    os.chdir(ROOT)
    serve = _ui_serve()
    from streamlit.web import cli as streamlit_cli  # noqa: PLC0415

    serve.harden_server()  # upload route and session messages, before the server starts
    sys.argv = ["streamlit", *command[3:]]
    return streamlit_cli.main(prog_name="streamlit")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
