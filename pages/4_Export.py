"""Export: download a saved selection minus rejected documents (plus accepted ones), with scores,
decisions, notes and the selection's parameters, as JSON Lines or Parquet."""
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import streamlit as st

import ui
from engine.export import METADATA_KEY

st.set_page_config(page_title="Export · Seedbed", page_icon=":material/download:", layout="wide")
corpus = ui.need_corpus("export")
st.title("Export")
saved = ui.selections(ui.db(), corpus)
if saved.empty:
    st.info(f"No saved selection for '{corpus}' yet: choose one on **Explore and select** and press "
            f"*Save selection*, or `python -m engine select --corpus {corpus} --strategy combined --weight 0.5 "
            "--budget 0.2 --name mine`.")
    st.stop()

c1, c2 = st.columns([3, 1])
name = c1.selectbox("Selection", saved["name"].tolist(), key="export_selection")
fmt = c2.radio("Format", ["jsonl", "parquet"], horizontal=True, key="export_format")
row = saved.set_index("name").loc[name]
st.caption(f"strategy **{row['strategy']}**, {row['n_selected']} documents, parameters `{row['params']}`. "
           "Rejected documents are left out; accepted ones are kept.")

if st.button("Prepare the export", key="export_prepare", type="primary"):
    from engine import pipeline  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{name.replace('/', '_')}.{fmt}"
        result = ui.attempt(pipeline.export, ui.workspace(), name, str(out), fmt=fmt)
        if result is not None:
            data = out.read_bytes()
            table = pd.read_json(out, lines=True) if fmt == "jsonl" else pd.read_parquet(out)
            params = (Path(result.sidecar).read_text() if result.sidecar
                      else pq.read_schema(out).metadata[METADATA_KEY].decode())
            st.session_state["export_ready"] = {"name": out.name, "data": data, "preview": table.head(20),
                                                "n": len(table), "fmt": fmt, "params": params,
                                                "selection": name, "corpus": corpus}
ready = st.session_state.get("export_ready")
if ready and (ready.get("selection"), ready["fmt"], ready.get("corpus")) != (name, fmt, corpus):
    st.info(f"The file prepared before was '{ready['selection']}' as {ready['fmt']}; press **Prepare the export** "
            f"for '{name}' as {fmt}.")
    ready = None
if ready:
    st.success(f"{ready['n']} documents ready in `{ready['name']}`.")
    mime = "application/jsonl" if ready["fmt"] == "jsonl" else "application/octet-stream"
    st.download_button(f"Download {ready['name']}", ready["data"], file_name=ready["name"], mime=mime,
                       key="export_download", type="primary")
    if ready["fmt"] == "jsonl":
        st.download_button("Download the selection's parameters (.selection.json)", ready["params"],
                           file_name=ready["name"].rsplit(".", 1)[0] + ".selection.json",
                           mime="application/json", key="export_download_params")
    else:
        st.caption("The selection's parameters travel inside the Parquet file's metadata (`seedbed.selection`).")
    st.dataframe(ready["preview"], hide_index=True, width="stretch")
