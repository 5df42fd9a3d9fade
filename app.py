"""Seedbed dashboard: the page router (`st.navigation`, so the sidebar reads Home, Corpus, ...)
and the home page: what the workspace holds and a one-click demo corpus.

Run with `streamlit run app.py` (workspace: $SEEDBED_DB, else ./seedbed.duckdb).
"""
import pandas as pd
import streamlit as st

import ui
from engine import api, explain
from engine.user_text import escape_markdown


def load_demo() -> None:
    steps = st.empty()
    report = ui.attempt(api.load_demo, ui.workspace(), ui.progress_bar("Loading the demo corpus ..."),
                        lambda text: steps.caption(f"Demo corpus: {text} ..."))
    steps.empty()
    ui.refresh()
    if report is not None:
        ui.choose_corpus(report.corpus)
        done = st.info if report.already_loaded else st.success
        text = report.summary()
        done(f"{text[0].upper()}{text[1:]}. Next: open **Explore and select** to see it on the map.")


def corpora_table() -> pd.DataFrame:
    table = api.overview(ui.workspace())  # one read for every corpus
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        **{kind: st.column_config.CheckboxColumn(explain.label(kind), help=explain.score_help(kind))
           for kind in explain.SCORES},
        "embedded": st.column_config.NumberColumn("embedded", help="documents with a stored sentence embedding"),
        "map": st.column_config.CheckboxColumn("on the map", help="a 2-D UMAP map of the embeddings is stored"),
        "n_skipped": st.column_config.NumberColumn(explain.label("n_skipped"), help="rows left out at ingest "
                                                   "(bad JSON, no text, ...): listed on the Corpus page"),
        "n_duplicates": st.column_config.NumberColumn(explain.label("n_duplicates"),
                                                      help="rows whose text was already in the corpus")})
    return table


def jobs_section() -> None:
    st.subheader("Jobs")
    recent = api.recent_jobs(ui.workspace(), 10)  # after dead-process detection: a dead job never shows running
    if recent.empty:
        st.caption("No background job yet: heavy stages can be started as jobs from **Explore and select** "
                   "or the **Jobs** page, or `python -m engine jobs start score --corpus NAME`.")
        return
    active = int(recent["status"].isin(["queued", "running"]).sum())
    st.caption(f"{active} queued or running among the latest {len(recent)}; details on the **Jobs** page.")
    st.dataframe(recent[[c for c in ("id", "kind", "status", "created_at") if c in recent]],
                 hide_index=True, width="stretch")


def home() -> None:
    ui.setup_page("Seedbed", ":material/eco:")  # page config, then the login when the server is shared
    st.title("Seedbed")
    st.caption("A data studio for data-efficient LLM training: score documents with an LLM judge (Ask-LLM), "
               "measure coverage (Density), choose a training subset on the map, review it as a curator, export.")
    with st.container(border=True):
        left, right = st.columns([3, 1])
        left.markdown("**Demo corpus**: 400 web documents from C4 mixed with small, distinct sources (GSM8K maths "
                      "questions, TREC questions, SST-2 movie-review sentences) and labelled junk "
                      "(`demo/demo_mix.parquet`, a `source` field per document), with their Ask-LLM scores, density, "
                      "topic clusters and map bundled (`demo/demo_mix_signals.npz`): ready in seconds, nothing to "
                      "compute. Explore shows what each strategy keeps of each source.")
        if right.button("Load the demo corpus", key="home_load_demo", type="primary"):
            load_demo()
    names = ui.corpora(ui.db())
    if names.empty:
        st.info("**This workspace is empty.** Load the demo corpus above, upload your own file on the "
                "**Corpus** page, or from a shell: `python -m engine pipeline data.jsonl --corpus mine` "
                f"(workspace file: `{ui.db()}`).")
        return
    st.subheader("Corpora")
    table = corpora_table()
    for name in table.loc[(table["embedded"] < table["documents"]) | ~table["map"], "corpus"]:
        st.caption(f"'{escape_markdown(name)}': stages still to run. Start them on **Explore and select**, or "
                   f"`python -m engine pipeline --help` / `python -m engine embed --corpus {name}`.")
    st.subheader("Selections")
    sel = ui.selections(ui.db(), None)
    if sel.empty:
        st.caption("No saved selection yet: choose one on **Explore and select**.")
    else:
        st.dataframe(explain.plain_columns(sel), hide_index=True, width="stretch")
    jobs_section()


PAGES = [st.Page(home, title="Home", icon=":material/home:", default=True),
         st.Page("pages/1_Corpus.py", title="Corpus", icon=":material/description:", url_path="Corpus"),
         st.Page("pages/2_Explore_and_select.py", title="Explore and select", icon=":material/scatter_plot:",
                 url_path="Explore_and_select"),
         st.Page("pages/3_Review.py", title="Review", icon=":material/rate_review:", url_path="Review"),
         st.Page("pages/4_Export.py", title="Export", icon=":material/download:", url_path="Export"),
         st.Page("pages/5_Jobs.py", title="Jobs", icon=":material/work_history:", url_path="Jobs"),
         st.Page("pages/6_LLM2LLM.py", title="LLM2LLM", icon=":material/model_training:", url_path="LLM2LLM"),
         st.Page("pages/7_Judges.py", title="Judges", icon=":material/balance:", url_path="Judges")]
st.navigation(PAGES).run()
