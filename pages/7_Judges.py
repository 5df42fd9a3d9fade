"""Judges: how far to trust each quality score. The bundled evidence (every judge's ROC-AUC with its
bootstrap CI against human labels, where and when it was measured), the default judge on this
machine and why, a form to score the corpus with the judge you pick, and this corpus's own
evidence: each quality signal's agreement with the curator's decisions, the distilled head's
validation figures, and how the signals correlate."""
import streamlit as st

import ui
from engine import agreement, explain, judges
from engine.user_text import escape_markdown

ui.setup_page("Judges · Seedbed", ":material/balance:")
st.title("Quality judges: the evidence")
corpus = ui.pick_corpus("judges")
evidence, default = judges.load_evidence(), judges.default_judge()


@st.cache_data(ttl=300, show_spinner=False)
def installed(model: str) -> bool:
    return judges.installed(model)


@st.cache_data(ttl=ui.TTL_S, show_spinner="Bootstrapping the agreement with your decisions ...")
def corpus_evidence(db: str, name: str) -> dict:
    return agreement.corpus_evidence(ui.workspace(), name)


with st.container(border=True):
    st.markdown(f"**Default judge on this machine ({default.device.upper()})**: `{default.option}`")
    st.caption(escape_markdown(default.why) + " It is used whenever a stage runs without a model or prompt "
               "named; pick another below.")

st.subheader("Measured against human labels")
st.caption(f"ROC-AUC of each judge option and derived signal, {escape_markdown(evidence['ci'])} CI and n, "
           f"on {escape_markdown(evidence['labels'])}. 0.5 is chance, 1.0 perfect. Measured on "
           f"{escape_markdown(evidence['machine'])}, {evidence['date_utc']} UTC "
           f"({evidence['versions'].get('transformers', '?')} transformers); from `{evidence['source']}` "
           f"(sha256 {evidence['source_sha256'][:12]}…), bundled in `engine/judge_evidence.json`.")
table = judges.evidence_table(evidence, default.option)
table["installed"] = [installed(m) if m else None for m in table["model"]]
order = ["judge", "default here", *judges.SPLITS.values(), "docs/s (GPU)", "installed", "model", "signal"]
st.dataframe(table[order], hide_index=True, width="stretch", column_config={
    "judge": st.column_config.TextColumn("judge option", help="model / prompt template, chat template on or off; "
                                         "derived = distilled heads and combinations (cross-fitted)"),
    "default here": st.column_config.CheckboxColumn("default here", help=escape_markdown(default.why)),
    **{label: st.column_config.TextColumn(label, help="ROC-AUC [95% CI] n=units; held-out dev: the split the best "
                                          "judge was NOT picked on") for label in judges.SPLITS.values()},
    "docs/s (GPU)": st.column_config.NumberColumn("docs/s (GPU)", format="%.0f",
                                                  help=f"units per second on {evidence['machine']}"),
})

st.subheader("Score a corpus with the judge you pick")
every = judges.option_names(evidence)
models = {name: (judges.find_option(evidence, name) or {}).get("model") for name in every}
options = [name for name in every if not models[name] or installed(models[name])]  # only what can run here
absent = sorted({models[name] for name in every if name not in options})
if absent:
    st.caption(f"{len(every) - len(options)} measured judge options are not offered because their model is not "
               f"installed here ({escape_markdown(', '.join(absent))}): install with `scripts/setup.sh --with-qwen`.")
with st.form("judges_pick"):
    option = st.selectbox("Judge", options, index=options.index(default.option) if default.option in options else 0,
                          key="judges_option", format_func=lambda n: n + (" · default here" if n == default.option
                                                                          else ""),
                          help="every option here was measured; the stored scores are keyed by model and prompt, "
                               "so another judge never overwrites earlier scores")
    picked = judges.find_option(evidence, option)
    start = st.form_submit_button("Start scoring as a job", type="primary", disabled=corpus is None)
if start and corpus is not None:
    if not installed(picked["model"]):
        st.error(f"{picked['model']} is not installed here: run scripts/setup.sh --with-qwen")
    elif (run_id := ui.attempt(ui.start_job, judges.score_argv(option, corpus, evidence))) is not None:
        st.success(f"Started job {run_id}: Ask-LLM with {option} on '{escape_markdown(corpus)}' (see **Jobs**).")

if corpus is None:
    st.stop()
st.subheader(f"This corpus: agreement with your decisions ('{escape_markdown(corpus)}')")
found = corpus_evidence(ui.db(), corpus)
agree = found["agreement"]
if agree.empty:
    st.info("No quality signal is stored for this corpus yet: run Ask-LLM (above, or on **Explore and select**).")
else:
    agree = agree.assign(signal=[explain.label(s) for s in agree["signal"]])
    st.dataframe(agree, hide_index=True, width="stretch", column_config={
        "auc": st.column_config.NumberColumn("ROC-AUC vs your decisions", format="%.3f",
                                             help="accept = positive; the signal's good end up"),
        "ci_lo": st.column_config.NumberColumn("95% CI low", format="%.2f"),
        "ci_hi": st.column_config.NumberColumn("95% CI high", format="%.2f"),
        "n": st.column_config.NumberColumn("decided and scored")})
    st.caption("Accept and reject documents on **Review**: the more decisions, the narrower the interval.")
if found["distilled"]:
    d = found["distilled"]
    st.markdown(f"**Distilled head** (learns `{escape_markdown(str(d.get('judge_key', '?')))}` from "
                f"{d.get('sample_size', '?')} judged documents): Spearman {d.get('spearman')} and ROC-AUC "
                f"{d.get('auc')} against the judge on {d.get('n_heldout')} held-out sample documents.")
if len(found["correlations"]) > 1:
    st.markdown("**Rank correlation between signals** (Spearman, documents scored by both)")
    st.dataframe(explain.plain_columns(found["correlations"].round(3)).rename(index=explain.label))
