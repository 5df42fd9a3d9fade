"""Who and what may reach the dashboard (Streamlit side; the rules are in engine.auth and
engine.hosts). `ui.setup_page` calls `guard_page` first on every page:

- a browser that reached the server under a host name not in `server.allowedHosts` sees one line;
- a shared server asks for a login; a password login is a signed, expiring token bound to the
  browser's XSRF cookie (`engine.auth.LoginTokens`), not the session id, throttled per account
  and client address with a lockout, every attempt audited beside the workspace file;
- before a login, the session learns nothing of the server (script path, Streamlit and Python
  versions, git repository are blanked from the session messages) and may upload nothing;
  after it, at most MAX_UPLOADS files are held per session.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import streamlit as st

from engine import auth, hosts
from engine.errors import UserError
from engine.user_text import escape_markdown

from ui import serve

TOKENS = auth.LoginTokens()  # one secret per server process
THROTTLE = auth.Throttle()
_XSRF_COOKIE = "_streamlit_xsrf"


def guard_page() -> None:
    """Host check, session-detail hiding and upload limits (installed once), the page's error
    boundary, then the login."""
    serve.install_once(_shared)
    _error_boundary()
    require_known_host()
    require_login()


def _error_boundary() -> None:
    """An OS or DuckDB failure anywhere in this page run (a full disk, a truncated workspace)
    shows one line, its traceback in the error log (engine.failures); other exceptions are bugs
    and keep Streamlit's own display."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx  # noqa: PLC0415

    ctx = get_script_run_ctx()
    if ctx is not None and getattr(ctx, "on_script_error", None) is None:
        ctx.on_script_error = _one_line_failure


def _one_line_failure(exc: Exception) -> bool:
    from engine import failures  # noqa: PLC0415

    if isinstance(exc, UserError):  # e.g. a workspace file that cannot be opened, outside ui.attempt
        st.error(escape_markdown(str(exc)))
        return True
    if not isinstance(exc, failures.BOUNDARY):
        return False
    st.error(escape_markdown(failures.report(exc, "dashboard page")))
    return True  # handled: no traceback on the page


def require_known_host() -> None:
    """Stop the page, with one clear line, when the browser reached it under a host name not in
    `server.allowedHosts` (a DNS-rebinding page). Streamlit refuses such a websocket itself; this
    also holds when the list was emptied (then: loopback names and the bound address)."""
    host = st.context.headers.get("Host") if st.context.headers else None
    if host is None:
        return  # no HTTP request behind this run (AppTest)
    allowed = st.get_option("server.allowedHosts") or hosts.allowed_hosts(st.get_option("server.address"))
    if not hosts.host_allowed(host, allowed):
        st.error(escape_markdown(hosts.refusal(host, allowed)))
        st.stop()


def _secrets() -> dict:
    return st.secrets.to_dict() if st.secrets.load_if_toml_exists() else {}


def login_plan() -> auth.LoginPlan:
    return auth.login_plan(st.get_option("server.address"), _secrets(), auth.login_forced())


def _shared() -> bool:
    """Whether this server asks for a login (a refusal counts as yes: tell nothing)."""
    try:
        return login_plan().mode != "none"
    except UserError:
        return True


def require_login() -> None:
    """Return when this browser session may use the dashboard; otherwise draw the login (or the
    refusal) and stop the page. Loopback servers need no login (see engine.auth)."""
    try:
        plan = login_plan()
    except UserError as exc:
        _refuse(str(exc))
    user = current_user(plan.mode)
    serve.admit(plan.mode == "none" or user is not None)
    if plan.mode == "none" or user:
        if plan.mode != "none":
            st.sidebar.caption(f"Signed in as {escape_markdown(user)}")
            st.sidebar.button("Log out", key="auth_logout", on_click=_logout, args=(plan.mode,))
        return
    st.title("Seedbed")
    if plan.mode == "oidc":
        for provider in plan.providers:
            st.button("Log in" + (f" with {provider}" if provider else ""), key=f"auth_login_{provider}",
                      type="primary", on_click=st.login, args=(provider,) if provider else ())
        st.stop()
    with st.form("auth_login"):
        name = st.text_input("Name")
        password = st.text_input("Password", type="password")
        if st.form_submit_button("Log in", type="primary"):
            _try_password(plan, name, password)
    st.stop()


def _try_password(plan: auth.LoginPlan, name: str, password: str) -> None:
    address = _address()
    keys = auth.throttle_keys(name, address)
    wait = THROTTLE.wait_s(keys)
    if wait > 0:
        auth.audit(_audit_folder(), "login-locked", name, address)
        st.error(f"Too many failed logins: try again in {wait / 60:.0f} min.")
        return
    who = auth.check_login(plan, name, password)
    if who:
        THROTTLE.succeed(keys)
        auth.audit(_audit_folder(), "login-ok", who, address)
        st.session_state["auth_token"] = TOKENS.issue(who, _binding())
        st.session_state.pop("auth_user", None)
        st.rerun()
    THROTTLE.fail(keys)
    auth.audit(_audit_folder(), "login-failed", name, address)
    time.sleep(1.0)  # slows one session's guessing; the Throttle bounds all sessions together
    st.error("Wrong name or password.")


def current_user(mode: str | None = None) -> str | None:
    """The logged-in user's name (a password login whose token verifies for this browser, or the
    OIDC name/email), else None."""
    user = TOKENS.verify(st.session_state.get("auth_token"), _binding())
    if user:
        st.session_state["auth_user"] = user  # shown to the pages (the Review page's reviewer)
        return user
    st.session_state.pop("auth_user", None)
    if mode == "password":
        return None
    try:
        if st.user.is_logged_in:
            return str(st.user.get("name") or st.user.get("email") or "signed in")
    except Exception:  # noqa: BLE001 (no [auth] section: st.user has nothing to say)
        return None
    return None


def _binding() -> str:
    """What ties a login to this browser: its XSRF cookie (sent on the websocket, never in a URL);
    without one (XSRF protection off), the connection itself; "" where there is none (AppTest)."""
    cookie = st.context.cookies.get(_XSRF_COOKIE) if st.context.cookies else None
    if cookie:
        # The cookie is re-masked on every health check (a new value, the same token): bind the token
        from streamlit.web.server.starlette.starlette_app_utils import decode_xsrf_token_string  # noqa: PLC0415

        token, _ = decode_xsrf_token_string(cookie)
        if token:
            return f"xsrf:{token.hex()}"
    client = _client()
    return f"connection:{id(client)}" if client is not None else ""


def _client():
    from streamlit import runtime  # noqa: PLC0415
    from streamlit.runtime.scriptrunner import get_script_run_ctx  # noqa: PLC0415

    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return None
    getter = getattr(runtime.get_instance(), "get_client", None)
    return getter(ctx.session_id) if getter else None


def _address() -> str | None:
    """The client's address (loopback included, which st.context.ip_address hides as None)."""
    context = getattr(_client(), "client_context", None)
    return getattr(context, "remote_ip", None) or None


def _audit_folder() -> Path:
    from engine import api  # noqa: PLC0415

    return Path(api.workspace().path).resolve().parent


def _logout(mode: str) -> None:
    auth.audit(_audit_folder(), "logout", st.session_state.get("auth_user") or "", _address())
    st.session_state.pop("auth_token", None)
    st.session_state.pop("auth_user", None)
    serve.admit(False)
    if mode == "oidc":
        st.logout()


def _refuse(message: str) -> None:
    """Shared with no login configured: say so in one line (page and server log), stop the server."""
    import os  # noqa: PLC0415
    import signal  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from streamlit import runtime  # noqa: PLC0415

    print(f"error: {message}", file=sys.stderr, flush=True)
    st.error(message)
    if runtime.exists() and type(runtime.get_instance()) is runtime.Runtime:  # a real server, not AppTest
        # Streamlit's own handler shuts the server down, once this page has shown the line
        threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    st.stop()
