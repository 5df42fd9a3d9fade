"""Streamlit helpers shared by the dashboard pages (a package beside pages/, whose every file
Streamlit treats as a page): here the workspace, cached reads, remembered choices, progress and
error lines; `figures` (Plotly), `processing` (stages and jobs from a page), `filter_panels`,
`guard` (host check, login) and `serve` (limits inside Streamlit) beside it. Every read and write
goes through `engine.api` (one short read transaction per widget group; no connection is held, no
page imports `engine.storage`), so background jobs and other browser sessions can use the file;
query results are cached briefly with `st.cache_data` and cleared after every write made here."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import streamlit as st

from engine import api, explore
from engine.errors import UserError
from engine.progress import ProgressFn
from engine.user_text import escape_markdown

TTL_S = 10  # other sessions' and background jobs' writes show up within this many seconds


def workspace():
    """The workspace named by $SEEDBED_DB (else ./seedbed.duckdb)."""
    return api.workspace()


def refresh() -> None:
    """Forget cached query results (call after any write)."""
    st.cache_data.clear()


@st.cache_data(ttl=TTL_S, show_spinner=False)
def corpora(db: str) -> pd.DataFrame:
    return api.corpora(workspace())


@st.cache_data(ttl=TTL_S, show_spinner="Reading the corpus ...")
def frame(db: str, corpus: str) -> pd.DataFrame:
    """`corpus_frame` of the corpus (doc_id, snippet, n_chars, scores, x, y, decision)."""
    return api.corpus_frame(workspace(), corpus)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def selections(db: str, corpus: str | None) -> pd.DataFrame:
    return api.selections(workspace(), corpus)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def stage_status(db: str, corpus: str) -> dict:
    return api.stage_status(workspace(), corpus)


@st.cache_data(ttl=300, show_spinner="Loading embeddings ...", max_entries=2)
def embeddings(db: str, corpus: str):
    return api.embeddings(workspace(), corpus)


def db() -> str:
    """Cache key for the current workspace (so tests with different files never share results)."""
    return workspace().path


# --- choices that survive a reload, a new tab and a sidebar navigation, per browser -------------
COOKIE_PREFIX = "seedbed_"


def recall(name: str, default: str | None = None) -> str | None:
    """A remembered choice: this tab's URL query parameter first, else this browser's cookie (a
    new tab, a reload after a sidebar navigation, which drops the query string), else `default`.
    Per browser, never server-global: two people on one server keep their own."""
    from urllib.parse import unquote  # noqa: PLC0415

    if name in st.query_params:
        return st.query_params[name]
    try:
        cookie = st.context.cookies.get(COOKIE_PREFIX + name)
    except Exception:  # noqa: BLE001 (no browser request behind this session, e.g. AppTest)
        cookie = None
    return unquote(cookie) if isinstance(cookie, str) and cookie else default  # AppTest: a mock, not text


def remember(name: str, value: str | None) -> None:
    """Keep a choice in this tab's URL (reload, bookmark) and in a cookie of this browser (other
    tabs, navigation). The cookie is written by a line of JavaScript in the page, only when the
    value changed in this session; the value is a JSON string literal (user text is data)."""
    import json  # noqa: PLC0415

    value = "" if value is None else str(value)
    if value:
        if st.query_params.get(name) != value:
            st.query_params[name] = value
    else:
        st.query_params.pop(name, None)
    if st.session_state.get(f"_remembered_{name}") == value:
        return
    st.session_state[f"_remembered_{name}"] = value
    literal = json.dumps(value).replace("<", "\\u003c")  # never closes the script tag
    st.html(f"<script>document.cookie = {json.dumps(COOKIE_PREFIX + name)} + '=' + encodeURIComponent({literal}) + "
            "'; path=/; max-age=31536000; SameSite=Lax';</script>", unsafe_allow_javascript=True, width=1)


def pick_corpus(page: str) -> str | None:
    """Sidebar corpus picker shared by every page (the choice is remembered across pages). The
    widget's value is set from the shared choice before it is drawn, so a corpus chosen elsewhere
    (an upload, the demo) is what the browser shows and sends back on the next interaction."""
    names = corpora(db())["name"].tolist()
    st.sidebar.caption(f"Workspace: `{db()}`")
    if not names:
        return None
    key = f"{page}_corpus"
    pinned = st.session_state.get("corpus_pinned")  # chosen by the app (an upload) in this or the last run:
    if pinned:  # it wins over a stale value the browser may still send for the old picker
        st.session_state["corpus"] = pinned[0]
        if pinned[1] <= 1:
            del st.session_state["corpus_pinned"]
        else:
            st.session_state["corpus_pinned"] = (pinned[0], pinned[1] - 1)
    current = st.session_state.get("corpus") or recall("corpus")  # a reload or new tab: this browser's
    current = current if current in names else names[-1]
    if st.session_state.get(key) != current:
        st.session_state[key] = current
    choice = st.sidebar.selectbox("Corpus", names, key=key,
                                  on_change=lambda: st.session_state.update(corpus=st.session_state[key]))
    st.session_state["corpus"] = choice
    remember("corpus", choice)
    return choice


def choose_corpus(name: str) -> None:
    """Make `name` the current corpus on every page (after an ingest or loading the demo)."""
    st.session_state["corpus"], st.session_state["corpus_pinned"] = name, (name, 2)
    remember("corpus", name)


def need_corpus(page: str) -> str:
    """The chosen corpus, or stop the page with what to do next."""
    corpus = pick_corpus(page)
    if corpus is None:
        st.info("This workspace holds no corpus yet. Load the demo corpus on the **Home** page, upload a "
                "file on the **Corpus** page, or run `python -m engine ingest data.jsonl --corpus mine`.")
        st.stop()
    return corpus


def progress_bar(label: str = "Working ...") -> ProgressFn:
    """A ProgressFn driving one `st.progress` bar with rate and time left (the engine calls it after
    each step, every few seconds)."""
    from engine.progress import RateMeter  # noqa: PLC0415

    # A label renders Markdown and names files and stages: escaped, so a file name cannot fetch anything
    bar, meter = st.progress(0.0, text=escape_markdown(label)), RateMeter()

    def update(stage: str, done: int, total: int) -> None:
        bar.progress(min(1.0, done / total) if total else 1.0,
                     text=escape_markdown(meter.describe(stage, done, total)))

    return update


def attempt(fn: Callable, *args, **kwargs):
    """Run an engine call; a UserError, or an OS/DuckDB failure (full disk, a name too long, a
    read-only folder: its traceback goes to the error log, engine.failures), becomes a one-line
    error on the page, not a traceback."""
    from engine import failures  # noqa: PLC0415

    try:
        return fn(*args, **kwargs)
    except UserError as exc:
        st.error(escape_markdown(str(exc)))  # messages quote user data: plain text, never Markdown
        return None
    except failures.BOUNDARY as exc:
        st.error(escape_markdown(failures.report(exc, f"dashboard: {getattr(fn, '__name__', fn)}")))
        return None


MAP_MAX_POINTS = 10_000  # the figure is re-sent on every rerun: more points make the slider sluggish


@st.cache_data(ttl=TTL_S, show_spinner=False)
def map_points(db: str, corpus: str, n_rows: int) -> tuple[np.ndarray, list[str]]:
    """Row positions (in `frame` order) of the points drawn on the map - every projected document,
    or a seeded sample of MAP_MAX_POINTS of them - and their hover labels (cached: they do not
    change with the slider). `n_rows` (the frame's length) keys the cache so it follows the frame."""
    data = frame(db, corpus)
    rows = np.flatnonzero(data["x"].notna().to_numpy()) if "x" in data else np.zeros(0, np.int64)
    if len(rows) > MAP_MAX_POINTS:
        rows = np.sort(np.random.default_rng(0).choice(rows, MAP_MAX_POINTS, replace=False))
    return rows, explore.hover_text(data.iloc[rows])


# --- page setup and login (engine.auth and engine.hosts decide; ui.guard draws and enforces) ----

def setup_page(title: str, icon: str, layout: str = "wide") -> None:
    """Every page's first call: the page config, then the host check and the login (ui.guard)."""
    from ui import guard  # noqa: PLC0415

    _leave_pages_folder_mode()
    st.set_page_config(page_title=title, page_icon=icon, layout=layout)
    guard.guard_page()


def _leave_pages_folder_mode() -> None:
    """When a server's first run is a link to a page (a bookmark, a reload, a click before Home
    finished), Streamlit runs pages/<file>.py through its old pages-folder mode, whose sidebar
    reads "app" and lacks the router's pages; app.py's st.navigation ends that mode, so rerun
    through it. (Streamlit 1.67: `PagesManager.uses_pages_directory` stays True until
    st.navigation is first called.)"""
    from streamlit.runtime.pages_manager import PagesManager  # noqa: PLC0415

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def upload_owner() -> str:
    """Who an upload belongs to (this browser session): each gets its own upload folder."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx  # noqa: PLC0415

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "local"


def current_user() -> str | None:
    """The logged-in user's name (a verified password login, or the OIDC name/email), else None."""
    from ui import guard  # noqa: PLC0415

    return guard.current_user()
