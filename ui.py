"""Streamlit helpers shared by the dashboard pages (not a page: Streamlit treats every file in
pages/ as one). Every read and write goes through `engine.api` (one short read transaction per
widget group; no connection is held, no page imports `engine.storage`), so background jobs and
other browser sessions can use the file; query results are cached briefly with `st.cache_data`
and cleared after every write made here."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import streamlit as st

from engine import api, explore, stages
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


def map_figure(points: pd.DataFrame, colour: pd.Series, continuous: bool, hover: list[str]):
    """A WebGL scatter of the projection: one trace for scores (colour bar), one per category
    otherwise; `customdata` carries the doc_id so box/lasso selections map back to documents."""
    import plotly.graph_objects as go  # noqa: PLC0415

    fig = go.Figure()
    if continuous:
        fig.add_trace(go.Scattergl(  # named and out of the legend: the colour bar says it (no "trace 0")
            x=points["x"], y=points["y"], mode="markers", customdata=points["doc_id"], text=hover,
            name=str(colour.name), showlegend=False, hovertemplate="%{text}<extra></extra>",
            marker={"size": 6, "color": colour, "colorscale": "Viridis", "showscale": True,
                    "colorbar": {"title": colour.name}}))
    else:
        palette = {"selected": "#2f7d4f", "not selected": "#c9ccd1", "accept": "#2f7d4f",
                   "reject": "#c0392b", "unreviewed": "#c9ccd1"}
        for value in sorted(colour.unique(), key=lambda v: v != "not selected" and v != "unreviewed"):
            rows = (colour == value).to_numpy()
            fig.add_trace(go.Scattergl(
                x=points["x"][rows], y=points["y"][rows], mode="markers", name=str(value),
                customdata=points["doc_id"][rows], text=[h for h, r in zip(hover, rows) if r],
                hovertemplate="%{text}<extra></extra>",
                marker={"size": 6, "color": palette.get(value)}))
    fig.update_layout(height=560, margin={"l": 10, "r": 10, "t": 10, "b": 10}, dragmode="lasso",
                      legend={"orientation": "h", "y": 1.02}, xaxis={"visible": False},
                      yaxis={"visible": False})
    return fig


def add_cluster_labels(fig, positions: pd.DataFrame) -> None:
    """Each cluster's label written at its median position on the map (plain text, no hover)."""
    import plotly.graph_objects as go  # noqa: PLC0415

    fig.add_trace(go.Scatter(x=positions["x"], y=positions["y"], mode="text", name="cluster labels",
                             text=[str(t).replace("<", "&lt;") for t in positions["label"]],
                             textfont={"size": 13, "color": "#1f2933"}, hoverinfo="skip", showlegend=False))


def add_highlight(fig, points: pd.DataFrame, query: str) -> None:
    """Rings around the documents matching a search, on top of the map."""
    import plotly.graph_objects as go  # noqa: PLC0415

    fig.add_trace(go.Scattergl(x=points["x"], y=points["y"], mode="markers", hoverinfo="skip",
                               name=f"contains '{query[:30]}'".replace("<", "&lt;"),
                               marker={"size": 12, "color": "rgba(0,0,0,0)", "line": {"color": "#d62728", "width": 2}}))


def audit_figure(audit: pd.DataFrame):
    """Bars per cluster: share of the corpus vs share of the selection (the most dropped first)."""
    import plotly.graph_objects as go  # noqa: PLC0415

    names = [f"{c}: {label}"[:40] for c, label in zip(audit["cluster"], audit["label"])]
    fig = go.Figure([go.Bar(name="share of corpus", x=names, y=audit["share_corpus"], marker_color="#c9ccd1"),
                     go.Bar(name="share of selection", x=names, y=audit["share_selection"], marker_color="#2f7d4f")])
    fig.update_layout(barmode="group", height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      legend={"orientation": "h", "y": 1.1}, yaxis={"tickformat": ".0%"})
    return fig


def histogram_figure(name: str, hist: pd.DataFrame):
    """Overlaid bars: every document vs the selected ones, on the same bins."""
    import plotly.graph_objects as go  # noqa: PLC0415

    fig = go.Figure([go.Bar(x=hist["value"], y=hist["all"], name="all", marker_color="#c9ccd1"),
                     go.Bar(x=hist["value"], y=hist["selected"], name="selected", marker_color="#2f7d4f")])
    fig.update_layout(barmode="overlay", height=220, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title={"text": name, "font": {"size": 14}}, showlegend=False, bargap=0.02)
    return fig


# what a page can run
STAGES = ("embed", *(s.name for s in stages.computed_signals()), "density", "clusters", "project")


def stage_label(name: str) -> str:
    """'askllm' -> 'askllm · Ask-LLM quality': the registry's label beside the name."""
    return f"{name} · {stages.stage(name).label}"


def start_job(argv: list[str]) -> str:
    """Queue `python -m engine ARGV` as a background job, checked against the CLI's parser first."""
    from engine import jobs  # noqa: PLC0415
    from engine.cli import build_parser  # noqa: PLC0415 (ui is not an engine module: it may)

    return jobs.start_job(workspace(), argv, parser=build_parser())


def start_background(corpus: str, names: list[str]) -> list[str]:
    """Queue the stages as ONE background `process` job (it outlives this page; a stage that
    cannot run is skipped with its reason, the others still run)."""
    run_id = attempt(start_job, api.process_command(corpus, names))
    return [run_id] if run_id else []


def active_work(corpus: str) -> set[str]:
    """Show the queued and running jobs computing stages of `corpus` (with their progress and a
    link to the Jobs page); returns the stages they cover, which a page must not offer again."""
    from engine.progress import format_seconds  # noqa: PLC0415

    active = api.active_jobs(workspace(), corpus)
    for r in active.itertuples():
        text = f"Job {r.id} ({r.kind}: {', '.join(r.stages)}) is {r.status}"
        if r.status == "running" and isinstance(r.stage, str) and r.total and r.total == r.total:
            text += f": {r.stage} {int(r.done or 0)}/{int(r.total)}"
            text += f", {r.rate:.2g}/s" if r.rate == r.rate and r.rate else ""
            text += f", about {format_seconds(r.eta_s)} left" if r.eta_s == r.eta_s and r.eta_s is not None else ""
        st.info(escape_markdown(text) + ".", icon=":material/hourglass_top:")
    if len(active):
        st.caption("Follow it on the **Jobs** page.")
    return {name for names in active["stages"] for name in names}


def process_panel(corpus: str, key: str) -> None:
    """'Process this corpus': the plan (skips with reasons, one-time model conversions, the time
    estimate from this machine's measured rates) and one button queueing it as ONE job. While a
    job already computes this corpus's stages, that job is shown instead."""
    if active_work(corpus):
        return
    plan = attempt(api.process_plan, workspace(), corpus)
    if plan is None or not plan.stages:
        return
    with st.container(border=True):
        st.markdown(f"**Process this corpus** — {escape_markdown(plan.estimate())}")
        st.caption("\n".join(f"- {escape_markdown(line)}" for line in plan.lines))
        if st.button("Process this corpus", key=f"{key}_process", type="primary",
                     help="Queues embed, Ask-LLM, density, clusters and the map as one background job."):
            run_id = attempt(start_job, api.process_command(corpus))
            if run_id:
                refresh()
                st.session_state["runs_pick_id"] = run_id
                st.rerun()


def run_stages(corpus: str, names: list[str]) -> bool:
    """Run the chosen stages in order in this process, each with its own progress bar; a stage
    computes only what is missing, so re-running is cheap. Returns False after a UserError."""
    # Any click reruns the page, which stops this run at its next progress update; stored steps stay.
    st.button("Stop", key="stages_stop", help="Stops after the current step; what is computed stays stored.")
    st.session_state["stages_running"] = names
    result = None
    for label in names:
        result = attempt(api.run_stage, workspace(), corpus, label, progress=progress_bar(f"{label} ..."))
        if result is None:
            break
        st.caption(f"✓ {label}: {escape_markdown(getattr(result, 'message', '') or 'done')}")
    st.session_state.pop("stages_running", None)
    refresh()
    return result is not None


def stopped_stages_notice() -> None:
    """After a run of stages was stopped (the page reran mid-way), say what happened once."""
    stopped = st.session_state.pop("stages_running", None)
    if stopped:
        refresh()
        st.info(f"Stopped ({', '.join(stopped)}). Every finished step is stored: run the stages again to continue "
                "where they stopped.")


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


# --- page setup and login (engine.auth and engine.hosts decide; ui_guard draws and enforces) ----

def setup_page(title: str, icon: str, layout: str = "wide") -> None:
    """Every page's first call: the page config, then the host check and the login (ui_guard)."""
    import ui_guard  # noqa: PLC0415

    _leave_pages_folder_mode()
    st.set_page_config(page_title=title, page_icon=icon, layout=layout)
    ui_guard.guard_page()


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
    import ui_guard  # noqa: PLC0415

    return ui_guard.current_user()


def proxy_figure(curves: pd.DataFrame):
    """Held-out loss against training tokens, one line per selection with its 95% band over seeds."""
    import plotly.graph_objects as go  # noqa: PLC0415

    fig = go.Figure()
    for name, c in curves.groupby("selection", sort=False):
        fig.add_trace(go.Scatter(x=list(c["tokens"]) + list(c["tokens"])[::-1], y=list(c["hi"]) + list(c["lo"])[::-1],
                                 fill="toself", opacity=0.2, line={"width": 0}, showlegend=False, hoverinfo="skip",
                                 name=str(name)))
        fig.add_trace(go.Scatter(x=c["tokens"], y=c["mean"], mode="lines+markers", name=str(name)))
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title="training tokens",
                      yaxis_title="held-out loss (nats/token)", legend={"orientation": "h", "y": 1.1})
    return fig
