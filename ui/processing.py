"""Computing a corpus's stages from a page: the stages a page can run, one background `process`
job (or a single job from any CLI command), what is already queued, and stages run in this process
with a progress bar each."""
from __future__ import annotations

import streamlit as st

from engine import api
from engine import stages as registry
from engine.user_text import escape_markdown
from ui import attempt, progress_bar, refresh, workspace

# what a page can run
STAGES = ("embed", *(s.name for s in registry.computed_signals()), "density", "clusters", "project")


def stage_label(name: str) -> str:
    """'askllm' -> 'askllm · Ask-LLM quality': the registry's label beside the name."""
    return f"{name} · {registry.stage(name).label}"


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
