"""Jobs: heavy work (scoring a corpus, the pipeline, an LLM2LLM run) as background processes that
outlive this page and the server; live status and progress, logs, parameters, cancel and resume."""
import pandas as pd
import streamlit as st

import ui
from ui import processing
from engine import api, forms, jobs, job_summary
from engine.progress import format_seconds
from engine.llm2llm.tasks import BUILTIN_TASKS
from engine.user_text import escape_markdown

ui.setup_page("Jobs · Seedbed", ":material/work_history:")
st.title("Jobs")
st.caption("Each job is one `python -m engine ...` process with its own record: it keeps going when you close "
           "the tab. Jobs that need the GPU (or the CPU, without one) wait in a queue, one at a time by default.")
st.sidebar.caption(f"Workspace: `{ui.db()}`")

def launch(build, *args) -> None:
    """Start the commands `build(*args)` makes from the form's fields (engine.forms validates them)
    as jobs, in order: the queue starts them one after another."""
    for argv in ui.attempt(build, *args) or []:
        run_id = ui.attempt(processing.start_job, argv)
        if run_id is None:
            return
        st.session_state["runs_pick_id"] = run_id
        st.toast(f"started job {run_id}: {escape_markdown(' '.join(argv))}")


def l2l_command(task, train, test, labels, seed_size, iterations, name, *fields) -> list[list[str]]:
    """The LLM2LLM form's command; for 'my files' the user's uploads become `--task jsonl --train --test`.
    The last field `check` asks for the teacher readiness check only."""
    if task != "my files":
        return [forms.llm2llm_argv(ui.db(), task, seed_size, iterations, name, *fields)]
    files = l2l_files(train, test, labels, seed_size)
    argv = forms.llm2llm_argv(ui.db(), "trec", seed_size, iterations, name or f"my-files-{seed_size}x{iterations}",
                              *fields)  # the form's other fields, validated as for a bundled task
    argv[argv.index("--task") + 1] = "jsonl"
    return [argv + files]


def l2l_files(train, test, labels: str, seed_size: int) -> list[str]:
    """CLI arguments for the user's own task files: stored beside the workspace and checked now."""
    from engine.errors import UserError
    from engine.llm2llm.userdata import check_task_files, store_upload

    if train is None or test is None:
        raise UserError("task 'my files' needs a train file and a test file")
    paths = [str(store_upload(ui.db(), f.name, f.getvalue())) for f in (train, test)]
    label_set = tuple(x.strip() for x in labels.split(",") if x.strip())
    check_task_files(*paths, label_set, seed_size)
    return ["--train", paths[0], "--test", paths[1]] + (["--labels", ",".join(label_set)] if label_set else [])


def launcher_forms() -> None:
    corpora = ui.corpora(ui.db())["name"].tolist()
    score, pipe, l2l, exp = st.tabs(["Scoring stages", "Pipeline", "LLM2LLM", "LLM2LLM experiment"])  # argv from fields
    # Outside the form, so choosing a backend redraws the form: Ray's fields only show for Ray.
    on_ray = score.radio("Backend", ["in-process", "Ray"], horizontal=True, key="runs_score_backend",
                         help="in-process: this machine, one stage after another; Ray: shards on an actor "
                              "pool (one model per GPU)") == "Ray"
    with score.form("runs_form_score"):
        corpus = st.selectbox("Corpus", corpora, key="runs_score_corpus")
        stages = st.multiselect("Stages (run in this order)", processing.STAGES, default=["embed", "askllm"],
                                format_func=processing.stage_label, key="runs_score_stages",
                                help="Ask-LLM uses this machine's default judge: see the Judges page")
        address, actors = "", 0
        if on_ray:
            c1, c2 = st.columns(2)
            address = c1.text_input("Ray address", placeholder="empty: a local Ray on this machine",
                                    key="runs_score_ray_address", help="e.g. auto, or ray://head:10001")
            actors = c2.number_input("Ray model replicas", 0, 4096, 0, key="runs_score_ray_actors",
                                     help="0: one per GPU of the cluster (1 without GPUs)")
            st.caption("On Ray each stage's shards run on an actor pool (one model per GPU); the map projection "
                       "stays in-process. See the README's 'Scaling out on Ray'.")
        if st.form_submit_button("Start", type="primary", disabled=not corpora, key="runs_submit_score"):
            launch(lambda: [api.stage_command(s, corpus, forms.ray_address(address) if on_ray else None, actors)
                            for s in stages])
    with pipe.form("runs_form_pipeline"):
        path = st.text_input("Data file (JSONL, CSV or Parquet)", key="runs_pipe_path",
                             help="inside the data roots: uploads/, exports/ or demo/ (SEEDBED_DATA_ROOTS)")
        name = st.text_input("Corpus name", key="runs_pipe_corpus")
        if st.form_submit_button("Start", type="primary", key="runs_submit_pipeline"):
            launch(lambda: [forms.pipeline_argv(path, name, ui.db())])
    with l2l.form("runs_form_llm2llm"):
        c1, c2, c3 = st.columns(3)
        task = c1.selectbox("Task", [t for t in BUILTIN_TASKS if t != "jsonl"] + ["my files"], key="runs_l2l_task",
                            help="TREC, SST-2 and GSM8K are bundled; 'my files': your own labelled data")
        seed_size = c2.number_input("Seed examples", 10, 100000, 100, key="runs_l2l_seed_size")
        iterations = c3.number_input("Iterations", 1, 20, 3, key="runs_l2l_iterations")
        name = c1.text_input("Run name", key="runs_l2l_name")
        student = c2.text_input("Student (optional)", key="runs_l2l_student")
        teacher = c3.text_input("Teacher (optional: model or a configured endpoint URL)", key="runs_l2l_teacher")
        teacher_model = c3.text_input("Model at the endpoint", key="runs_l2l_teacher_model")
        test_size = c1.number_input("Test examples (0 = the whole test set)", 0, 100000, 0, key="runs_l2l_test_size")
        lora = st.checkbox("LoRA instead of full fine-tuning", key="runs_l2l_lora")
        own = st.columns(3)  # task 'my files': JSONL/CSV with 'input' and 'output' columns
        own_train = own[0].file_uploader("My train file (.jsonl/.csv)", type=["jsonl", "csv"], key="runs_l2l_train")
        own_test = own[1].file_uploader("My test file (.jsonl/.csv)", type=["jsonl", "csv"], key="runs_l2l_test")
        own_labels = own[2].text_input("Labels (comma-separated; empty: the train file's)", key="runs_l2l_labels")
        start, check = st.columns(2)
        if start.form_submit_button("Start", type="primary", key="runs_submit_llm2llm"):
            launch(l2l_command, task, own_train, own_test, own_labels, seed_size, iterations, name, student,
                   teacher, teacher_model, test_size, lora)
        if check.form_submit_button("Check the teacher first", key="runs_check_llm2llm",
                                    help="a job: the teacher labels 16 seeds and writes one example each"):
            launch(l2l_command, task, own_train, own_test, own_labels, seed_size, iterations, name, student,
                   teacher, teacher_model, test_size, lora, True)
    with l2l:
        l2l_readiness(name or f"{task}-{seed_size}x{iterations}")
    experiment_form(exp)


def l2l_readiness(run: str) -> None:
    """The teacher readiness block for the run name in the form (from `llm2llm run --check`)."""
    from engine.llm2llm import view

    report = view.readiness(ui.workspace(), run)
    if report is None:
        st.caption("No teacher check for this run name yet: 'Check the teacher first' runs one as a job.")
        return
    (st.warning if report["level"] == "warning" else st.info)(escape_markdown(report["sentence"]))
    st.dataframe(view.readiness_rows(report), hide_index=True)


def experiment_form(tab) -> None:
    """Arms x seed sizes x seeds as one `llm2llm experiment` job, with its time estimate; the
    result (mean ± spread per arm, verdict) shows on the LLM2LLM page, as `llm2llm status` prints it."""
    from engine.llm2llm.experiment import ARMS

    c1, c2, c3 = tab.columns(3)  # outside a form: the estimate follows every change
    task = c1.selectbox("Task", [t for t in BUILTIN_TASKS if t != "jsonl"], key="runs_exp_task")
    arms = c2.multiselect("Arms", list(ARMS), default=["plain", "llm2llm"], key="runs_exp_arms",
                          help="plain: the seeds only; llm2llm: augment what the student got wrong; random-seeds: "
                               "augment random seeds (the paper's control)")
    iterations = c3.number_input("Iterations", 1, 20, 2, key="runs_exp_iterations")
    sizes = c1.text_input("Seed sizes (comma-separated)", "27", key="runs_exp_sizes")
    seeds = c2.text_input("Seeds (comma-separated)", "0,1", key="runs_exp_seeds",
                          help="each seed is a repeat: the spread between them is the noise floor of the verdict")
    test_size = c3.number_input("Test examples (0 = the whole test set)", 0, 100000, 0, key="runs_exp_test_size")
    name = c1.text_input("Experiment name", key="runs_exp_name")
    student = c2.text_input("Student (optional)", key="runs_exp_student")
    teacher = c3.text_input("Teacher (optional)", key="runs_exp_teacher", help="a packaged alias or a model folder")
    argv = ui.attempt(forms.experiment_argv, task, arms, sizes, seeds, iterations, name, test_size, student, ui.db(),
                      teacher)
    if argv is None:
        return
    n_sizes, n_seeds = len(sizes.split(",")), len(seeds.split(","))
    tab.caption("Estimate: " + escape_markdown(api.experiment_estimate(ui.workspace(), arms, n_sizes, n_seeds,
                                                                       int(iterations))))
    if tab.button("Start the experiment", type="primary", key="runs_submit_experiment"):
        launch(lambda: [argv])


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
    left.markdown(f"**{escape_markdown(job_summary.job_label(rec))}**")
    # Callbacks run before the rerun, so the record below already shows their effect.
    mid.button("Cancel", key="runs_cancel", disabled=rec["status"] not in ("queued", "running"),
               on_click=ui.attempt, args=(jobs.cancel_job, ui.workspace(), run_id))
    right.button("Resume", key="runs_resume", disabled=rec["status"] not in ("failed", "cancelled"),
                 on_click=ui.attempt, args=(jobs.resume_job, ui.workspace(), run_id))
    if rec["total"]:
        label = progress_text(pd.Series(rec)) or rec["stage"]  # the stage names files: Markdown-escaped
        st.progress(min(1.0, (rec["done"] or 0) / rec["total"]), text=escape_markdown(label))
    if rec["error"]:
        st.error(escape_markdown(rec["error"]))
    cols = st.columns(2)
    cols[0].dataframe(pd.DataFrame(job_summary.job_fields(rec), columns=["", "value"]), hide_index=True,
                      width="stretch")
    cols[1].code(job_summary.clean_log(jobs.log_tail(rec, 6000))[-3000:] or "(no output yet)", language=None)


@st.fragment(run_every=2)
def live() -> None:
    frame = jobs.list_jobs(ui.workspace())
    if frame.empty:
        st.info("No jobs yet: start one above, or from a shell: `python -m engine jobs start score --corpus NAME`.")
        return
    frame["progress"] = [progress_text(r) for _, r in frame.iterrows()]
    frame["duration"] = [format_seconds(job_summary.duration_s(r)) if pd.notna(r["started_at"]) else ""
                         for _, r in frame.iterrows()]
    st.dataframe(frame[["id", "kind", "status", "duration", "progress", "device", "created_at", "error"]],
                 hide_index=True, width="stretch")
    # The label is the option itself (status and duration change the options, which resets the
    # widget), so the chosen job is kept by id and its index recomputed on every rerun.
    labels = {job_summary.job_label(r): r["id"] for _, r in frame.iterrows()}
    options, picked = list(labels), st.session_state.get("runs_pick_id")
    if picked not in labels.values():  # open on the job that is running, not the newest queued one
        picked = job_summary.default_job(frame)
    index = next((i for i, label in enumerate(options) if labels[label] == picked), 0)
    choice = st.selectbox("Job", options, index=index, key="runs_pick")
    st.session_state["runs_pick_id"] = labels[choice]
    details(labels[choice])


with st.expander("Start a job", expanded=bool(st.session_state.get("runs_exp_arms"))):
    launcher_forms()
live()
