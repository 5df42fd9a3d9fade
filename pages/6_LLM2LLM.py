"""LLM2LLM: pick a run (running or finished) and watch, live, what the student gets wrong and what
the teacher wrote about it; reject synthetic examples before the next iteration trains on them."""
import pandas as pd
import plotly.express as px
import streamlit as st

import ui
from engine import jobs
from engine.llm2llm import view

st.set_page_config(page_title="LLM2LLM · Seedbed", page_icon="🔁", layout="wide")
st.title("LLM2LLM")
st.sidebar.caption(f"Workspace: `{ui.db()}`")


@st.cache_data(ttl=600, show_spinner="Embedding and mapping seeds and synthetic examples ...", max_entries=4)
def example_map(db: str, run: str, n_rows: int) -> pd.DataFrame:  # n_rows: new examples invalidate the map
    return view.example_map(ui.workspace(), run)


l2l_runs = view.runs(ui.workspace())
if l2l_runs.empty:
    st.info("No LLM2LLM run in this workspace yet. Start one on the **Jobs** page, or from a shell: "
            "`python -m engine llm2llm run --task trec --seed-size 100 --iterations 3 --name trec-100`.")
    st.stop()
status = dict(zip(l2l_runs["name"], l2l_runs["status"]))
run = st.sidebar.selectbox("Run", list(status), key="l2l_run", format_func=lambda n: f"{n} · {status[n]}")
record, process = view.run_header(ui.workspace(), run)  # and the job behind it, when started as one
stopped = process is not None and process["status"] in ("failed", "cancelled")
live = record["status"] == "running" and not stopped
st.caption(f"**{run}** · task `{record['task']}` · seed {record['seed']} · **{record['status']}**"
           + (f" · {record['error']}" if record.get("error") else "")
           + (f" · {process['stage']}: {process['done']}/{process['total']}"
              if live and process is not None and pd.notna(process["total"]) else "")
           + (" · updating every 5 s" if live else ""))
if stopped and record["status"] != "done":
    st.warning(f"The process of this run stopped ({process['status']}: {process['error']}); stored work is kept.")
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
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis={"dtick": 1})
    st.plotly_chart(fig, key="l2l_accuracy")
    st.dataframe(summary.drop(columns=["run"], errors="ignore"), hide_index=True)


def wrong_seeds(iteration: int) -> None:
    wrong = view.wrong_seeds(ui.workspace(), run, iteration)
    st.markdown(f"**{len(wrong)} seeds wrong** after iteration {iteration} (these get augmented).")
    st.dataframe(wrong[["example_id", "input", "gold", "prediction"]], hide_index=True, key="l2l_wrong")


def grid_section() -> None:
    grid = view.seed_grid(ui.workspace(), run)
    if grid.empty:
        st.info("No seed has been evaluated yet.")
        return
    streak = view.persistent_failures(grid)
    stubborn = int((streak == grid.shape[1]).sum())
    st.markdown(f"{stubborn} of {len(grid)} seeds were wrong in every evaluated iteration.")
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
    st.markdown(f"**Seed** `{seed}`: {tree.iloc[0]['input']}  \n**gold**: `{tree.iloc[0]['output']}`")
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
    tabs = st.tabs(["Wrong seeds", "Seeds × iterations", "Confusion matrix", "Families", "Map"])
    with tabs[0]:
        wrong_seeds(iteration)
    with tabs[1]:
        grid_section()
    with tabs[2]:
        confusion_section(iteration)
    with tabs[3]:
        families_section(iteration)
    with tabs[4]:
        map_section(summary)


body()
