"""Jobs: heavy work (scoring a corpus, the pipeline, an LLM2LLM run) as background processes that
outlive this page and the server; live status and progress, logs, parameters, cancel and resume."""
import shlex

import pandas as pd
import streamlit as st

import ui
from engine import api, jobs
from engine.llm2llm.tasks import BUILTIN_TASKS

st.set_page_config(page_title="Jobs · Seedbed", page_icon="🏃", layout="wide")
st.title("Jobs")
st.caption("Each job is one `python -m engine ...` process with its own record: it keeps going when you close "
           "the tab. Jobs that need the GPU (or the CPU, without one) wait in a queue, one at a time by default.")
st.sidebar.caption(f"Workspace: `{ui.db()}`")

def launch(argvs: list[list[str]]) -> None:
    """Start each command as a job (in order: the queue starts them one after another)."""
    for argv in argvs:
        run_id = ui.attempt(ui.start_job, argv)
        if run_id is None:
            return
        st.session_state["runs_pick"] = run_id
        st.toast(f"started job {run_id}: {' '.join(argv)}")


def launcher_forms() -> None:
    corpora = ui.corpora(ui.db())["name"].tolist()
    score, pipe, l2l, raw = st.tabs(["Scoring stages", "Pipeline", "LLM2LLM", "Any command"])
    with score.form("runs_form_score"):
        corpus = st.selectbox("Corpus", corpora, key="runs_score_corpus")
        stages = st.multiselect("Stages (run in this order)", ui.STAGES, default=["embed", "askllm"],
                                format_func=ui.stage_label, key="runs_score_stages")
        c1, c2, c3 = st.columns(3)
        on_ray = c1.radio("Backend", ["in-process", "Ray"], horizontal=True, key="runs_score_backend") == "Ray"
        address = c2.text_input("Ray address", placeholder="empty: a local Ray on this machine",
                                key="runs_score_ray_address", help="e.g. auto, or ray://head:10001")
        actors = c3.number_input("Ray model replicas", 0, 4096, 0, key="runs_score_ray_actors",
                                 help="0: one per GPU of the cluster (1 without GPUs)")
        st.caption("On Ray each stage's shards run on an actor pool (one model per GPU); the map projection "
                   "stays in-process. See the README's 'Scaling out on Ray'.")
        if st.form_submit_button("Start", type="primary", disabled=not corpora, key="runs_submit_score"):
            launch([api.stage_command(s, corpus, address.strip() if on_ray else None, actors) for s in stages])
    with pipe.form("runs_form_pipeline"):
        path = st.text_input("Data file (JSONL, CSV or Parquet)", key="runs_pipe_path")
        name = st.text_input("Corpus name", key="runs_pipe_corpus")
        if st.form_submit_button("Start", type="primary", key="runs_submit_pipeline"):
            launch([["pipeline", path.strip(), "--corpus", name.strip()]])
    with l2l.form("runs_form_llm2llm"):
        c1, c2, c3 = st.columns(3)
        task = c1.selectbox("Task", [t for t in BUILTIN_TASKS if t != "jsonl"], key="runs_l2l_task")
        seed_size = c2.number_input("Seed examples", 10, 100000, 100, key="runs_l2l_seed_size")
        iterations = c3.number_input("Iterations", 1, 20, 3, key="runs_l2l_iterations")
        name = c1.text_input("Run name", key="runs_l2l_name")
        student = c2.text_input("Student (optional)", key="runs_l2l_student")
        teacher = c3.text_input("Teacher (optional: model or URL)", key="runs_l2l_teacher")
        test_size = c1.number_input("Test examples (0 = the whole test set)", 0, 100000, 0, key="runs_l2l_test_size")
        lora = st.checkbox("LoRA instead of full fine-tuning", key="runs_l2l_lora")
        if st.form_submit_button("Start", type="primary", key="runs_submit_llm2llm"):
            argv = ["llm2llm", "run", "--task", task, "--seed-size", str(seed_size), "--iterations", str(iterations),
                    "--name", name.strip() or f"{task}-{seed_size}x{iterations}"]
            argv += ["--student", student.strip()] if student.strip() else []
            argv += ["--teacher", teacher.strip()] if teacher.strip() else []
            argv += ["--test-size", str(test_size)] if test_size else []
            launch([argv + (["--lora"] if lora else [])])
    with raw.form("runs_form_raw"):
        command = st.text_input("Engine command", placeholder="score --corpus c4-demo --signal perplexity",
                                key="runs_raw_command")
        if st.form_submit_button("Start", type="primary", key="runs_submit_raw") and command.strip():
            launch([shlex.split(command)])


def progress_text(rec) -> str:
    """'stage: done/total', plus rate and ETA while running."""
    if pd.isna(rec["total"]) or not rec["total"]:
        return ""
    text = f"{rec['stage']}: {int(rec['done'])}/{int(rec['total'])}"
    if rec["status"] != "running":
        return text
    if pd.notna(rec["rate"]):
        text += f" · {rec['rate']:.2f}/s"
    if pd.notna(rec["eta_s"]):
        text += f" · ETA {int(rec['eta_s']) // 60}m{int(rec['eta_s']) % 60:02d}s"
    return text


def details(run_id: str) -> None:
    rec = jobs.get_job(ui.workspace(), run_id)
    left, mid, right = st.columns([2, 1, 1])
    left.markdown(f"**{rec['id']}** · `{' '.join(rec['argv'])}` · **{rec['status']}**"
                  + (f" · pid {rec['pid']} on {rec['host']}" if rec["status"] == "running" else ""))
    # Callbacks run before the rerun, so the record below already shows their effect.
    mid.button("Cancel", key="runs_cancel", disabled=rec["status"] not in ("queued", "running"),
               on_click=ui.attempt, args=(jobs.cancel_job, ui.workspace(), run_id))
    right.button("Resume", key="runs_resume", disabled=rec["status"] not in ("failed", "cancelled"),
                 on_click=ui.attempt, args=(jobs.resume_job, ui.workspace(), run_id))
    if rec["total"]:
        st.progress(min(1.0, (rec["done"] or 0) / rec["total"]), text=progress_text(pd.Series(rec)) or rec["stage"])
    if rec["error"]:
        st.error(rec["error"])
    cols = st.columns(2)
    cols[0].json({"kind": rec["kind"], "parameters": rec["params"], "device": rec["device"],
                  "created": str(rec["created_at"]), "started": str(rec["started_at"]),
                  "ended": str(rec["ended_at"]), "attempts": rec["attempts"], "log": rec["log_path"]})
    cols[1].code(jobs.log_tail(rec, 3000) or "(no output yet)", language=None)


@st.fragment(run_every=2)
def live() -> None:
    frame = jobs.list_jobs(ui.workspace())
    if frame.empty:
        st.info("No jobs yet: start one above, or from a shell: `python -m engine jobs start score --corpus NAME`.")
        return
    frame["progress"] = [progress_text(r) for _, r in frame.iterrows()]
    st.dataframe(frame[["id", "kind", "status", "progress", "device", "created_at", "ended_at", "error"]],
                 hide_index=True, width="stretch")
    labels = {r["id"]: f"{r['id']} · {r['kind']} · {r['status']}" for _, r in frame.iterrows()}
    if st.session_state.get("runs_pick") not in labels:
        st.session_state.pop("runs_pick", None)
    details(st.selectbox("Job", list(labels), key="runs_pick", format_func=labels.get))


with st.expander("Start a job", expanded=False):
    launcher_forms()
live()
