"""Export: download a saved selection minus rejected documents (plus accepted ones), with scores,
decisions, notes and the selection's parameters, as JSON Lines or Parquet."""
import streamlit as st

import ui
from ui import figures, processing
from engine import api
from engine.user_text import escape_markdown

ui.setup_page("Export · Seedbed", ":material/download:")


def llm2llm_section() -> None:
    """An LLM2LLM run's final training data (seeds + accepted synthetic examples), as the CLI's
    `llm2llm export` writes it."""
    from engine.llm2llm import view

    runs = view.runs(ui.workspace())
    if runs.empty:
        return
    with st.expander("LLM2LLM training data", expanded=False):
        c1, c2 = st.columns([3, 1])
        run = c1.selectbox("LLM2LLM run", runs["name"].tolist(), key="export_l2l_run")
        fmt = c2.radio("Format", ["jsonl", "csv", "parquet"], horizontal=True, key="export_l2l_format")
        if st.button("Prepare the training data", key="export_l2l_prepare"):
            made = ui.attempt(api.llm2llm_export, ui.workspace(), run, fmt)
            if made is not None:
                st.session_state["export_l2l_ready"] = (run, fmt, made)
        ready = st.session_state.get("export_l2l_ready")
        if ready and ready[:2] == (run, fmt):
            file_name, data, n = ready[2]
            st.download_button(f"Download {escape_markdown(file_name)} ({n} examples)", data, file_name=file_name,
                               key="export_l2l_download")


st.title("Export")
llm2llm_section()
corpus = ui.need_corpus("export")
saved = ui.selections(ui.db(), corpus)
if saved.empty:
    st.info(f"No saved selection for '{escape_markdown(corpus)}' yet: choose one on **Explore and select** and press "
            f"*Save selection*, or `python -m engine select --corpus {corpus} --strategy combined --weight 0.5 "
            "--budget 0.2 --name mine`.")
    st.stop()

c1, c2 = st.columns([3, 1])
name = c1.selectbox("Selection", saved["name"].tolist(), key="export_selection")
fmt = c2.radio("Format", ["jsonl", "parquet"], horizontal=True, key="export_format")
row = saved.set_index("name").loc[name]
st.caption(f"strategy **{row['strategy']}**, {row['n_selected']} documents, "
           f"parameters {escape_markdown(row['params'])}. "
           "Rejected documents are left out; accepted ones are kept.")

if st.button("Prepare the export", key="export_prepare", type="primary"):
    prepared = ui.attempt(api.export, ui.workspace(), name, fmt)
    if prepared is not None:
        st.session_state["export_ready"] = prepared
        st.session_state["export_ready_for"] = (corpus, name, fmt, api.review_state(ui.workspace(), corpus))
        st.session_state.pop("export_rebuilt", None)


@st.fragment(run_every=3)  # a decision made meanwhile (another tab, another curator) shows within seconds
def ready_export() -> None:
    """The prepared file, never out of date: after any review decision or note since it was
    prepared, it is rebuilt before it is offered again."""
    ready = st.session_state.get("export_ready")
    made_for = st.session_state.get("export_ready_for")
    if ready and made_for[:3] != (corpus, name, fmt):  # never offer the file of an earlier choice
        st.info(f"The file prepared before was '{escape_markdown(made_for[1])}' as {made_for[2]}; press "
                f"**Prepare the export** for '{escape_markdown(name)}' as {fmt}.")
        return
    if not ready:
        return
    state = api.review_state(ui.workspace(), corpus)
    if state != made_for[3]:  # decisions changed since: the old file would keep a rejected document
        ready = ui.attempt(api.export, ui.workspace(), name, fmt)
        if ready is None:
            st.session_state.pop("export_ready", None)
            return
        st.session_state["export_ready"], st.session_state["export_ready_for"] = ready, (corpus, name, fmt, state)
        st.session_state["export_rebuilt"] = ("Review decisions changed after the export was prepared: it was "
                                              f"rebuilt with them ({ready.n} documents now).")
    if st.session_state.get("export_rebuilt"):
        st.warning(st.session_state["export_rebuilt"])
    st.success(f"{ready.n} documents ready in {escape_markdown(ready.file_name)}.")
    mime = "application/jsonl" if ready.fmt == "jsonl" else "application/octet-stream"
    st.download_button(f"Download {escape_markdown(ready.file_name)}", ready.data, file_name=ready.file_name, mime=mime,
                       key="export_download", type="primary")
    if ready.fmt == "jsonl":
        st.download_button("Download the selection's parameters (.selection.json)", ready.params,
                           file_name=ready.file_name.rsplit(".", 1)[0] + ".selection.json",
                           mime="application/json", key="export_download_params")
    else:
        st.caption("The selection's parameters travel inside the Parquet file's metadata (`seedbed.selection`).")
    st.dataframe(ready.preview, hide_index=True, width="stretch")


ready_export()

st.divider()
st.subheader("Does this selection train a better model?")
st.caption("Check with a proxy model: small Llama-style language models are trained from scratch on this selection "
           "and on a random selection of the same number of tokens, several seeds each, and scored on held-out "
           "text. " + api.PROXY_CPU_NOTE)
p1, p2, p3 = st.columns([3, 1, 1])
target = p1.text_input("Target set: a .jsonl/.parquet/.txt file of held-out text, or 'accepted' (curator-accepted "
                       "documents, kept out of training)", value="accepted", key="proxy_target",
                       help="A file whose rows have 'question', 'choices' and 'answer' is a multiple-choice target: "
                            "each proxy also reports the probability it puts on the right choice.")
seeds = p2.number_input("Seeds", min_value=2, max_value=10, value=3, key="proxy_seeds")
whole = p3.checkbox("Also the whole corpus", key="proxy_whole")
if st.button("Check with a proxy model", key="proxy_start"):
    run_id = ui.attempt(processing.start_job, api.proxy_command(corpus, name, target.strip(), int(seeds), whole_corpus=whole))
    if run_id:
        st.success(f"Queued as job {run_id}: follow it on **Jobs**; the result appears here when it is done.")
checks = ui.attempt(api.proxy_checks, ui.workspace(), corpus, name)
if checks is not None and len(checks):
    rep = checks.iloc[0]["report"]
    p = rep["proxy"]
    st.markdown(f"**{escape_markdown(rep['verdict'] or 'no comparison')}**")
    st.caption(f"proxy {p['size']} ({p['params']:,} parameters), {p['tokens']:,} training tokens, {p['seeds']} seeds, "
               f"on {p['device']}; wall time {rep['wall_s']} s, {rep['tokens_per_s']:,} tokens/s; target "
               f"{escape_markdown(str(rep['target']['source']))} ({rep['target']['tokens']:,} tokens, "
               f"{rep['target'].get('removed_overlap', 0)} overlapping documents removed); checked "
               f"{checks.iloc[0]['created_at']:%Y-%m-%d %H:%M}.")
    st.plotly_chart(figures.proxy_figure(api.proxy_curves(rep)), key="proxy_curves")
    choice_table = api.proxy_choice_table(rep)
    if choice_table is not None:  # a multiple-choice target: the continuous measure beside the loss
        st.dataframe(choice_table, hide_index=True, key="proxy_choices")
