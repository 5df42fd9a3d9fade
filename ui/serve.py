"""The dashboard server's own limits, installed into Streamlit once (ui.guard decides who is
logged in and calls `admit`): a session that has not logged in may upload nothing, a logged-in
one holds at most MAX_UPLOADS files, and while a login is asked no session message carries the
script path, the Streamlit/Python versions, the OS or the git repository.

`harden_server()` runs before the server starts (scripts/dashboard.py): the upload route then
refuses before it reads a byte of the body. Under plain `streamlit run app.py`, `install_once()`
adds the same limits on the first page view, checked after the body is read."""
from __future__ import annotations

import threading
from typing import Callable

MAX_UPLOADS = 3  # files one session may hold at once (each up to server.maxUploadSize MB)
_ADMITTED: set[str] = set()  # session ids whose login was verified on their latest run
_ADMITTED_LOCK = threading.Lock()
_SHARED: list[Callable[[], bool]] = [lambda: True]  # whether a login is asked (set by ui.guard)


def admitted(session_id: str) -> bool:
    with _ADMITTED_LOCK:
        return session_id in _ADMITTED


def admit(yes: bool) -> None:
    """Record whether this run's session may upload (its login verified, or no login asked)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx  # noqa: PLC0415

    ctx = get_script_run_ctx()
    if ctx is None:
        return
    with _ADMITTED_LOCK:
        (_ADMITTED.add if yes else _ADMITTED.discard)(ctx.session_id)


_INSTALLED = threading.Event()
_HIDDEN = threading.Event()


def harden_server() -> None:
    """Before the server starts (scripts/dashboard.py): the upload route refuses a session that
    has not logged in, or holds MAX_UPLOADS files, before it reads a byte of the body, and even
    the first session message carries no server details. `streamlit run app.py` gets the same
    limits from the first page view on (`install_once`), checked after the body is read."""
    from streamlit.web.server.starlette import starlette_app  # noqa: PLC0415

    create = starlette_app.create_upload_routes

    def create_guarded(*args, **kwargs):
        return [_guarded_route(route) for route in create(*args, **kwargs)]

    starlette_app.create_upload_routes = create_guarded
    _hide_server_details()


def _guarded_route(route):
    from starlette.responses import PlainTextResponse  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    if "PUT" not in (getattr(route, "methods", None) or ()):
        return route
    endpoint = route.endpoint

    async def guarded(request):
        from streamlit import runtime  # noqa: PLC0415

        session_id = request.path_params.get("session_id", "")
        if not admitted(session_id):
            return PlainTextResponse("upload refused: log in first", status_code=403)
        manager = runtime.get_instance().uploaded_file_mgr
        held = getattr(manager, "file_storage", {}).get(session_id, {})
        if request.path_params.get("file_id") not in held and len(held) >= MAX_UPLOADS:
            return PlainTextResponse(f"upload refused: a session holds at most {MAX_UPLOADS} files", status_code=429)
        return await endpoint(request)

    return Route(route.path, guarded, methods=list(route.methods), name=route.name)


def install_once(shared: Callable[[], bool]) -> None:
    """Upload limits and hidden server details in a running server (once); `shared()` says
    whether a login is asked."""
    from streamlit import runtime  # noqa: PLC0415

    _SHARED[0] = shared
    if _INSTALLED.is_set() or not runtime.exists() or type(runtime.get_instance()) is not runtime.Runtime:
        return
    _INSTALLED.set()
    _limit_uploads(runtime.get_instance().uploaded_file_mgr)
    _hide_server_details()


class UploadRefused(Exception):
    """An upload from a session that is not logged in, or over the per-session count."""


def _limit_uploads(manager) -> None:
    """Streamlit accepts any number of uploads from any live session (the file id is the
    client's); only admitted sessions may upload, at most MAX_UPLOADS files each."""
    add_file = manager.add_file

    def limited_add_file(session_id: str, file) -> None:
        if not admitted(session_id):
            raise UploadRefused("upload refused: this session has not logged in")
        held = getattr(manager, "file_storage", {}).get(session_id, {})
        if file.file_id not in held and len(held) >= MAX_UPLOADS:
            raise UploadRefused(f"upload refused: a session holds at most {MAX_UPLOADS} files")
        add_file(session_id, file)

    manager.add_file = limited_add_file


def _hide_server_details() -> None:
    """Blank the script path, versions and OS from every new-session message while the dashboard
    asks for a login, and answer no git-information request (repository and branch)."""
    from streamlit.runtime.app_session import AppSession  # noqa: PLC0415

    if _HIDDEN.is_set():
        return
    _HIDDEN.set()
    create = AppSession._create_new_session_message

    def create_without_details(self, *args, **kwargs):
        msg = create(self, *args, **kwargs)
        if _SHARED[0]():
            msg.new_session.main_script_path = ""
            info = msg.new_session.initialize.environment_info
            info.streamlit_version, info.python_version, info.server_os = "", "", ""
        return msg

    AppSession._create_new_session_message = create_without_details
    handle_git = AppSession._handle_git_information_request

    def no_git_when_shared(self):
        return None if _SHARED[0]() else handle_git(self)

    AppSession._handle_git_information_request = no_git_when_shared
