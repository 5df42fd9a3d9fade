"""LLM2LLM: pick a run (running or finished) and watch, live, what the student gets wrong and what
the teacher wrote about it; reject synthetic examples before the next iteration trains on them."""
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import ui
from engine import explain, jobs
from engine.llm2llm import records, view
from engine.user_text import escape_markdown

ui.setup_page("LLM2LLM · Seedbed", ":material/model_training:")
st.title("LLM2LLM")
st.sidebar.caption(f"Workspace: `{ui.db()}`")


@st.cache_data(ttl=600, show_spinner="Embedding and mapping seeds and synthetic examples ...", max_entries=4)
def example_map(db: str, run: str, n_rows: int) -> pd.DataFrame:  # n_rows: new examples invalidate the map
    return view.example_map(ui.workspace(), run)


def experiments_view() -> None:
    """Arms over seeds: accuracy curves with ± std error bars, lift over plain, rejection reasons."""
    name = st.sidebar.selectbox("Experiment", view.experiments(ui.workspace())["name"].tolist(), key="l2l_experiment")
    report = view.experiment(ui.workspace(), name)
    summary = report["summary"]
    st.caption(f"Experiment {escape_markdown(name)} · {report['experiment']['status']}")
    if summary.empty:
        st.info("No cell has been evaluated yet.")
        return
    sizes = sorted(summary["seed_size"].unique())
    fig = px.line(summary, x="iteration", y="acc_mean", error_y="acc_std", color="arm", facet_col="seed_size",
                  markers=True, category_orders={"seed_size": sizes},
                  labels={"acc_mean": "test accuracy (mean ± std over seeds)", "seed_size": "seeds"})
    band = view.noise_band(summary)
    for col, size in enumerate(sizes, start=1):  # the noise floor around plain: a gain must leave it
        part = band[band["seed_size"] == size]
        if len(part):
            fig.add_trace(go.Scatter(x=list(part["iteration"]) + list(part["iteration"])[::-1],
                                     y=list(part["high"]) + list(part["low"])[::-1], fill="toself",
                                     fillcolor="rgba(128,128,128,0.2)", line={"width": 0}, hoverinfo="skip",
                                     name="noise floor around plain", showlegend=col == 1), row=1, col=col)
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis={"dtick": 1})
    st.plotly_chart(fig, key="l2l_exp_curves")
    st.caption("Grey band: plain's accuracy ± the noise floor (2 standard errors of a difference, from the seed "
               "set retrained with other training seeds). Inside it: no measured gain.")
    st.info(escape_markdown("Verdict: " + report["verdict"]))
    for level, note in report["notes"]:  # next to the result: no gain implied within the seed spread
        (st.success if level == "success" else st.warning)(escape_markdown(note))
    st.markdown("**Lift over plain** (paired by seed: same seeds, same iteration-0 student)")
    st.dataframe(summary.rename(columns={"acc_mean": "test acc", "acc_std": "± std", "lift_mean": "lift vs plain",
                                         "lift_std": "lift ± std", "noise_floor": "noise floor",
                                         "acc_gen_mean": "test acc (generation)", "accepted_mean": "accepted per run",
                                         "judge_acc_mean": "relabel judge acc on seeds"}), hide_index=True)
    rejections = report["rejections"]
    if len(rejections):
        fig = px.bar(rejections, x="iteration", y="n", color="outcome", facet_col="arm",
                     labels={"n": "teacher candidates", "outcome": "outcome (rejection rule)"})
        fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis={"dtick": 1})
        st.plotly_chart(fig, key="l2l_exp_rejections")


if len(view.experiments(ui.workspace())) and st.sidebar.radio(
        "Show", ["Runs", "Experiments"], horizontal=True, key="l2l_view") == "Experiments":
    experiments_view()
    st.stop()

l2l_runs = view.runs(ui.workspace())


def pending_runs(known: set[str]) -> pd.DataFrame:
    """LLM2LLM jobs queued or running whose run is not recorded yet (its process is still starting)."""
    listing = jobs.list_jobs(ui.workspace(), 20)
    return listing[listing["status"].isin(["queued", "running"]) & listing["llm2llm_run"].notna()
                   & ~listing["llm2llm_run"].isin(known)]


@st.fragment(run_every=3)
def starting_runs(known: set[str]) -> None:
    """Say which launched runs are still starting, and redraw the page once one is recorded, so a
    user who just pressed Start on the Jobs page does not read "no run"."""
    pending = pending_runs(known)
    if set(view.runs(ui.workspace())["name"]) - known or pending.empty:  # recorded, or its job stopped first
        st.rerun(scope="app")
    else:
        st.info("Starting: " + ", ".join(f"'{escape_markdown(name)}' (job {status})" for name, status in
                                         zip(pending["llm2llm_run"], pending["status"]))
                + ". It shows here once its process has loaded the task (checked every 3 s).")


if len(pending := pending_runs(set(l2l_runs["name"]))):
    starting_runs(set(l2l_runs["name"]))
if l2l_runs.empty:
    if len(pending) == 0:
        st.info("No LLM2LLM run in this workspace yet. Start one on the **Jobs** page, or from a shell: "
                "`python -m engine llm2llm run --task trec --seed-size 100 --iterations 3 --name trec-100`.")
    st.stop()
status = dict(zip(l2l_runs["name"], l2l_runs["status"]))
run = st.sidebar.selectbox("Run", list(status), key="l2l_run", format_func=lambda n: f"{n} · {status[n]}")
record, process = view.run_header(ui.workspace(), run)  # and the job behind it, when started as one
stopped = process is not None and process["status"] in ("failed", "cancelled")
live = record["status"] == "running" and not stopped
st.caption(f"**{escape_markdown(run)}** · task {escape_markdown(record['task'])} · seed {record['seed']} · "
           f"**{record['status']}**"
           + (f" · {escape_markdown(record['error'])}" if record.get("error") else "")
           + (f" · {escape_markdown(process['stage'])}: {process['done']}/{process['total']}"
              if live and process is not None and pd.notna(process["total"]) else "")
           + (" · updating every 5 s" if live else ""))
if stopped and record["status"] != "done":
    st.warning(f"The process of this run stopped ({process['status']}: {escape_markdown(process['error'])}); "
               "stored work is kept.")
    st.button("Resume it", key="l2l_resume", on_click=ui.attempt,
              args=(jobs.resume_job, ui.workspace(), process["id"]))
with st.sidebar.expander("Run configuration"):
    st.json(record["config"])


def accuracy_section(summary: pd.DataFrame) -> None:
    long = view.accuracy_long(summary)
    if long.empty:
        st.info("No iteration has been evaluated yet.")
        return
    fig = px.line(long, x="iteration", y="accuracy", color="split", markers=True, range_y=[0, 1.02])
    fig.add_vline(x=0, line_dash="dot", annotation_text="iteration 0: plain fine-tuning")
    figures = records.run_figures(ui.workspace(), run)
    base, floor = figures["iterations"][0]["test_acc"], figures["noise"]["floor"]
    if base is not None and floor is not None:  # the test curve must leave this band to show a gain
        fig.add_hrect(y0=base - floor, y1=base + floor, fillcolor="grey", opacity=0.2, line_width=0,
                      annotation_text=f"noise floor ±{floor:.3f}", annotation_position="top left")
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis={"dtick": 1})
    st.plotly_chart(fig, key="l2l_accuracy")
    level, note = records.outcome_note(summary, (record["config"].get("teacher") or {}).get("model", ""))
    (st.warning if level == "warning" else st.info)(escape_markdown(note))
    st.dataframe(explain.plain_columns(summary.drop(columns=["run"], errors="ignore")), hide_index=True)
    verdicts = [(r["iteration"], r["n_added"], r["verdict"]) for r in figures["iterations"][1:] if r["verdict"]]
    if verdicts:
        st.caption("Against the noise floor: " + "; ".join(f"iteration {i} (+{a} examples): {v}"
                                                           for i, a, v in verdicts))
    if figures["readiness"]:
        readiness_block(figures["readiness"])


def readiness_block(report: dict) -> None:
    """The teacher readiness check: its sentence (a warning when the teacher cannot label the task)."""
    (st.warning if report["level"] == "warning" else st.info)(escape_markdown(report["sentence"]))
    st.dataframe(view.readiness_rows(report), hide_index=True)


def teacher_section() -> None:
    outcomes = view.teacher_outcomes(ui.workspace(), run)
    if outcomes.empty:
        st.info("The teacher has not been asked yet.")
        return
    fig = px.bar(outcomes, x="iteration", y="n", color="outcome",
                 labels={"n": "teacher candidates", "outcome": "outcome (rejection rule)"})
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis={"dtick": 1})
    st.plotly_chart(fig, key="l2l_outcomes")
    st.caption("request_failed / parse_failure: no usable reply · label_mismatch: relabelled differently · "
               "off_topic: nearer to a seed of another label than to its own · near_duplicate: ROUGE-L ≥ 0.95 "
               "to text already in the data.")


def wrong_seeds(iteration: int) -> None:
    wrong = view.wrong_seeds(ui.workspace(), run, iteration)
    last = int(record["config"].get("iterations") or 0)
    fate = ("the run's last iteration: nothing is augmented after it" if iteration >= last
            else f"the teacher writes new examples like these for iteration {iteration + 1}")
    st.markdown(f"**{len(wrong)} seeds wrong** after iteration {iteration} ({fate}).")
    st.dataframe(wrong[["example_id", "input", "gold", "prediction"]], hide_index=True, key="l2l_wrong")


def grid_section() -> None:
    grid = view.seed_grid(ui.workspace(), run)
    if grid.empty:
        st.info("No seed has been evaluated yet.")
        return
    streak = view.persistent_failures(grid)
    stubborn = int((streak == grid.shape[1]).sum())
    st.markdown(f"{stubborn} of {len(grid)} seeds were wrong in every evaluated iteration.")
    st.caption("One row per original seed, one column per iteration (0 = the student fine-tuned on the seeds "
               "alone). :green[Green]: the student answered that seed right after that iteration's training; "
               ":red[red]: wrong, so the teacher writes new examples like it for the next iteration; blank: "
               "not evaluated yet. Rows wrong the longest come first.")
    shown = grid.loc[streak.index].astype("float")  # 1 right, 0 wrong, blank not evaluated
    fig = px.imshow(shown, color_continuous_scale=[[0, "#c0392b"], [1, "#2f7d4f"]], zmin=0, zmax=1,
                    aspect="auto", labels={"x": "iteration", "y": "seed", "color": "right"})
    fig.update_layout(height=max(300, 12 * len(shown)), coloraxis_showscale=False, xaxis={"dtick": 1},
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    st.plotly_chart(fig, key="l2l_grid")


def confusion_section(iteration: int) -> None:
    if record["kind"] != "classification":
        st.info("Confusion matrices are for classification tasks.")
        return
    matrix = view.confusion(ui.workspace(), run, iteration)
    if matrix.empty:
        st.info(f"Iteration {iteration} has no test predictions yet.")
        return
    fig = px.imshow(matrix, text_auto=True, color_continuous_scale="Blues", aspect="auto",
                    labels={"x": "student answer", "y": "gold", "color": "n"})
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    st.plotly_chart(fig, key="l2l_confusion")


def families_section(iteration: int) -> None:
    syn, parents = view.families(ui.workspace(), run, iteration)
    if syn.empty:
        st.info("The teacher has not written any example yet.")
        return
    seed = st.selectbox("Wrong seed", parents, key="l2l_family_seed")
    tree, nxt = view.family(ui.workspace(), run, seed)
    st.markdown(f"**Seed** `{seed}`: {escape_markdown(tree.iloc[0]['input'])}  \n"
                f"**gold**: {escape_markdown(tree.iloc[0]['output'])}")
    kids = tree[tree["depth"] > 0].reset_index(drop=True)
    if kids.empty:
        st.info("No synthetic example for this seed yet.")
        return
    cols = ["example_id", "iteration", "input", "output", "accepted", "reason", "curator_rejected"]
    st.dataframe(kids[cols], hide_index=True, key="l2l_family_table")
    accepted = kids.loc[kids["accepted"].astype(bool), "example_id"].tolist()
    rejected = kids.loc[kids["curator_rejected"].astype(bool), "example_id"].tolist()
    chosen = st.multiselect("Curator: keep these accepted examples out of every later train set", accepted,
                            default=[r for r in rejected if r in accepted], key=f"l2l_reject_{seed}")
    nxt_it = int(kids["iteration"].max()) + 1
    if nxt:
        st.caption(f"Iteration {nxt_it} has {nxt} training already: a rejection applies from the next train set on.")
    changes = [(i, i in chosen) for i in accepted if (i in chosen) != (i in rejected)]
    if st.button(f"Save {len(changes)} curator decision(s)", key="l2l_family_save", disabled=not changes):
        view.set_curator_rejected(ui.workspace(), run, changes)
        st.toast(f"saved {len(changes)} decision(s)")
        st.rerun()


def map_section(summary: pd.DataFrame) -> None:
    n_rows = view.n_examples(ui.workspace(), run)
    if not st.toggle("Show the map (embeds every seed and synthetic example once)", key="l2l_map_on"):
        return
    points = example_map(ui.db(), run, n_rows)
    evaluated = [int(c.split("_")[1]) for c in points.columns if c.startswith("correct_")]
    options = ["iteration"] + [f"right/wrong after iteration {i}" for i in evaluated]
    colour_by = st.radio("Colour", options, horizontal=True, key="l2l_map_colour")
    if colour_by == "iteration":
        colour = points["iteration"].map(lambda i: "seed" if i < 0 else f"synthetic, iteration {i}")
    else:
        col = f"correct_{colour_by.rsplit(' ', 1)[-1]}"
        colour = points[col].map({True: "seed right", False: "seed wrong"}).fillna(points["kind"])
    fig = px.scatter(points.assign(colour=colour, text=points["input"].str.slice(0, 120)), x="x", y="y",
                     color="colour", symbol="kind", hover_data={"example_id": True, "text": True, "x": False,
                                                                "y": False})
    fig.update_layout(height=560, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis={"visible": False},
                      yaxis={"visible": False}, legend={"orientation": "h", "y": 1.02})
    st.plotly_chart(fig, key="l2l_map")


@st.fragment(run_every=5 if live else None)
def body() -> None:
    summary = view.summary(ui.workspace(), run)
    st.subheader("Accuracy per iteration")
    accuracy_section(summary)
    evaluated = summary.loc[summary["train_acc"].notna(), "iteration"].tolist() if len(summary) else []
    if not evaluated:
        return
    iteration = st.select_slider("Iteration", evaluated, value=evaluated[-1], key="l2l_iteration") \
        if len(evaluated) > 1 else evaluated[0]
    tabs = st.tabs(["Wrong seeds", "Seeds × iterations", "Confusion matrix", "Families", "Teacher", "Map"])
    with tabs[0]:
        wrong_seeds(iteration)
    with tabs[1]:
        grid_section()
    with tabs[2]:
        confusion_section(iteration)
    with tabs[3]:
        families_section(iteration)
    with tabs[4]:
        teacher_section()
    with tabs[5]:
        map_section(summary)


body()
