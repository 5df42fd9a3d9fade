"""Corpus: upload a file (preview, choose the text column, see skipped rows), browse and search."""
from pathlib import Path

import streamlit as st

import ui
from ui import processing
from engine import api, explore
from engine.ingest import safe_upload_path
from engine.user_text import escape_markdown

ui.setup_page("Corpus · Seedbed", ":material/description:")
st.title("Corpus")


def save_upload(upload) -> Path:
    """Write the upload once (per file id) under the workspace's upload folder, never by its raw name."""
    target = safe_upload_path(Path(ui.db()).parent / "uploads", upload.name, owner=ui.upload_owner())
    if st.session_state.get("corpus_saved") != (upload.file_id, str(target)):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(upload.getbuffer())
        st.session_state["corpus_saved"] = (upload.file_id, str(target))
    return target


def show_report(report) -> None:
    st.success(escape_markdown(report.summary()))
    if report.issues:
        lines = "\n".join(f"- {escape_markdown(i.source)} line {i.line}: {escape_markdown(i.problem)}"
                          for i in report.issues[:50])
        more = f"\n- ... and {len(report.issues) - 50} more" if len(report.issues) > 50 else ""
        st.warning(f"Skipped {report.n_skipped} row(s); the good rows were kept:\n{lines}{more}")


# --- upload -----------------------------------------------------------------------------------
st.subheader("Add documents")
limit = st.get_option("server.maxUploadSize")
st.caption(f"JSON Lines, JSON, CSV/TSV, Parquet or plain text (one document per line); up to **{limit} MB** per "
           "file (`server.maxUploadSize` in `.streamlit/config.toml`). Broken rows are skipped and listed with "
           "their line; the good rows are kept. Larger files: `python -m engine ingest FILE --corpus NAME`.")
upload = st.file_uploader("Upload a file", type=api.UPLOAD_TYPES, key="corpus_upload")
if upload is not None:
    path = ui.attempt(save_upload, upload)
    shown = ui.attempt(explore.preview, path) if path else None
    if shown is not None:
        table, text_like = shown
        st.dataframe(table, hide_index=True, width="stretch", height=180)
        if not text_like:
            st.error(f"{escape_markdown(upload.name)}: no column holds text in the first rows; check the file.")
        else:
            c1, c2, c3 = st.columns(3)
            column = c1.selectbox("Text column", text_like, key="corpus_text_column")
            # keyed by the upload: a second file gets its own default name, not the first one's
            name = c2.text_input("Corpus name", Path(path).stem, key=f"corpus_name_{upload.file_id}").strip()
            fallback = c3.selectbox("Undecodable bytes", ["report", "latin-1"], key="corpus_decode",
                                    help="report: skip such rows and list them; latin-1: decode them as Latin-1")
            existing = ui.corpora(ui.db())["name"].tolist()
            if name in existing:  # never merge silently: a second upload asks
                where = st.radio(f"A corpus named '{escape_markdown(name)}' exists", ["new", "append"],
                                 key="corpus_append", horizontal=True, format_func={
                                     "new": "Create a new corpus", "append": f"Add to '{name}'"}.get)
                if where == "new":
                    name = st.text_input("New corpus name", api.free_corpus_name(name, existing),
                                         key=f"corpus_new_name_{name}").strip()
            if st.button("Ingest", key="corpus_ingest", type="primary"):
                report = ui.attempt(api.ingest, ui.workspace(), path, name.strip(), text_column=column,
                                    on_decode_error=fallback, progress=ui.progress_bar(f"Reading {upload.name} ..."))
                ui.refresh()
                if report is not None:
                    ui.choose_corpus(report.corpus)
                    st.session_state["corpus_report"] = report
if st.session_state.get("corpus_report") is not None:
    show_report(st.session_state["corpus_report"])

# --- browse -----------------------------------------------------------------------------------
corpus = ui.pick_corpus("corpus")
if corpus is None:
    st.info("No corpus yet: upload a file above or load the demo corpus on the **Home** page.")
    st.stop()
processing.process_panel(corpus, "corpus")
st.subheader(f"Browse '{escape_markdown(corpus)}'")
c1, c2, c3, c4 = st.columns([3, 2, 1, 1])
query = c1.text_input("Search text", key="corpus_query")
meta_query = c2.text_input("Metadata contains", key="corpus_meta", help="e.g. a URL fragment or a label")
lo = int(c3.number_input("Min chars", 0, value=0, key="corpus_min_chars"))
hi = int(c4.number_input("Max chars (0 = any)", 0, value=0, key="corpus_max_chars"))
page = int(st.session_state.get("corpus_page", 1))
found = api.browse(ui.workspace(), corpus, query, lo, hi or None, meta_query, page, page_size=20)  # one read
if page > found.pages:  # the filters narrowed the results: show their last page
    st.session_state["corpus_page"] = found.pages
st.number_input(f"Page (of {found.pages}; {found.total} matching documents)", 1, found.pages, key="corpus_page")
docs, issues = found.docs, found.issues
st.dataframe(docs.assign(text=docs["text"].str.slice(0, 300)), hide_index=True, width="stretch",
             column_config={"text": st.column_config.TextColumn(width="large")})

with st.expander(f"Skipped rows ({len(issues)})", expanded=False):
    if issues.empty:
        st.caption("No row of this corpus was skipped.")
    else:
        st.dataframe(issues, hide_index=True, width="stretch")
