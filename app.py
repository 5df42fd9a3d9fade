"""Seedbed dashboard, home page: what the workspace holds and a one-click demo corpus.

Run with `streamlit run app.py` (workspace: $SEEDBED_DB, else ./seedbed.duckdb).
"""
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from engine import api

DEMO = Path(__file__).parent / "demo" / "c4_demo.parquet"
DEMO_CORPUS = "c4-demo"

st.set_page_config(page_title="Seedbed", page_icon="🌱", layout="wide")
st.title("Seedbed")
st.caption("A data studio for data-efficient LLM training: score documents with an LLM judge (Ask-LLM), "
           "measure coverage (Density), choose a training subset on the map, review it as a curator, export.")


def load_demo() -> None:
    report = ui.attempt(api.ingest, ui.workspace(), str(DEMO), DEMO_CORPUS,
                        progress=ui.progress_bar("Loading the demo corpus ..."))
    ui.refresh()
    if report is not None:
        ui.choose_corpus(DEMO_CORPUS)
        st.success(f"Loaded the demo corpus '{DEMO_CORPUS}': {report.n_new} new documents "
                   f"({report.n_duplicates} duplicates, {len(report.issues)} rows skipped). "
                   "Next: open **Explore and select** to score and map it.")


with st.container(border=True):
    left, right = st.columns([3, 1])
    left.markdown(f"**Demo corpus**: 400 web documents from C4 (`{DEMO.relative_to(DEMO.parent.parent)}`), "
                  "a real mix of good text, boilerplate and spam.")
    if right.button("Load the demo corpus", key="home_load_demo", type="primary", disabled=not DEMO.exists()):
        load_demo()

names = ui.corpora(ui.db())
if names.empty:
    st.info("**This workspace is empty.** Load the demo corpus above, upload your own file on the "
            "**Corpus** page, or from a shell: `python -m engine pipeline data.jsonl --corpus mine` "
            f"(workspace file: `{ui.db()}`).")
    st.stop()

st.subheader("Corpora")
table = api.overview(ui.workspace())  # one read for every corpus
st.dataframe(table, hide_index=True, width="stretch")
missing = table[(table["embedded"] < table["documents"]) | ~table["map"]]
for name in missing["corpus"]:
    st.caption(f"'{name}': stages still to run. Start them on **Explore and select**, or "
               f"`python -m engine pipeline --help` / `python -m engine embed --corpus {name}`.")

st.subheader("Selections")
sel = ui.selections(ui.db(), None)
if sel.empty:
    st.caption("No saved selection yet: choose one on **Explore and select**.")
else:
    st.dataframe(sel, hide_index=True, width="stretch")

st.subheader("Jobs")
recent = api.recent_jobs(ui.workspace(), 10)  # after dead-process detection: a dead job never shows running
if recent.empty:
    st.caption("No background job yet: heavy stages can be started as jobs from **Explore and select** "
               "or the **Jobs** page, or `python -m engine jobs start score --corpus NAME`.")
else:
    active = int(recent["status"].isin(["queued", "running"]).sum())
    st.caption(f"{active} queued or running among the latest {len(recent)}; details on the **Jobs** page.")
    st.dataframe(recent[[c for c in ("id", "kind", "status", "created_at") if c in recent]],
                 hide_index=True, width="stretch")
