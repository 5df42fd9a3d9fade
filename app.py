"""Seedbed dashboard, home page: what the workspace holds and a one-click demo corpus.

Run with `streamlit run app.py` (workspace: $SEEDBED_DB, else ./seedbed.duckdb).
"""
import pandas as pd
import streamlit as st

import ui
from engine.storage import runs as runs_store

st.set_page_config(page_title="Seedbed", page_icon="🌱", layout="wide")
st.title("Seedbed")
st.caption("A data studio for data-efficient LLM training: score documents with an LLM judge (Ask-LLM), "
           "measure coverage (Density), choose a training subset on the map, review it as a curator, export.")


def load_demo() -> None:
    from engine import demo_bundle  # noqa: PLC0415 (heavy import only when asked)

    steps = st.empty()
    report = ui.attempt(demo_bundle.load_demo, ui.workspace(), ui.progress_bar("Loading the demo corpus ..."),
                        lambda text: steps.caption(f"Demo corpus: {text} ..."))
    steps.empty()
    ui.refresh()
    if report is not None:
        ui.choose_corpus(report.corpus)
        done = st.info if report.already_loaded else st.success
        text = report.summary()
        done(f"{text[0].upper()}{text[1:]}. Next: open **Explore and select** to see it on the map.")


with st.container(border=True):
    left, right = st.columns([3, 1])
    left.markdown("**Demo corpus**: 400 web documents from C4 (`demo/c4_demo.parquet`), a real mix of good "
                  "text, boilerplate and spam, with their Ask-LLM scores, density and map bundled "
                  "(`demo/c4_demo_signals.npz`): ready in seconds, nothing to compute.")
    if right.button("Load the demo corpus", key="home_load_demo", type="primary"):
        load_demo()

names = ui.corpora(ui.db())
if names.empty:
    st.info("**This workspace is empty.** Load the demo corpus above, upload your own file on the "
            "**Corpus** page, or from a shell: `python -m engine pipeline data.jsonl --corpus mine` "
            f"(workspace file: `{ui.db()}`).")
    st.stop()

st.subheader("Corpora")
rows = []
for name in names["name"]:
    status = ui.stage_status(ui.db(), name)
    signals = status.get("signals") or []
    rows.append({"corpus": name, "documents": status.get("n_docs", 0), "embedded": ui.embedded(status),
                 **{kind: kind in signals for kind in ("askllm", "perplexity", "density", "curator")},
                 "map": status.get("projected", 0) > 0, "selections": len(status.get("selections") or [])})
table = pd.DataFrame(rows).merge(names[["name", "n_skipped", "n_duplicates"]].rename(columns={"name": "corpus"}))
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

st.subheader("Runs")
with ui.workspace().connect() as con:
    recent = runs_store.list_runs(con, 10)
if recent.empty:
    st.caption("No background run yet: heavy stages can be started as runs from **Explore and select** "
               "or the **Runs** page, or `python -m engine runs start score --corpus NAME`.")
else:
    active = int(recent["status"].isin(["queued", "running"]).sum())
    st.caption(f"{active} queued or running among the latest {len(recent)}; details on the **Runs** page.")
    st.dataframe(recent[[c for c in ("id", "kind", "status", "created_at") if c in recent]],
                 hide_index=True, width="stretch")
