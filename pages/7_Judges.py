"""Judges: how far to trust each quality score. Once the curator has decided documents, THIS
corpus's evidence comes first: which `quality` signal is active and why, each signal's agreement
with the decisions, and the quality model's learning curve (CV AUC against decisions, the
unsupervised signals as flat lines, the decisions still needed for a target: an estimate). Then
the bundled evidence, every figure with its label set, how the prompt was chosen (on which
split) and the figure on data it was not chosen on; the lower one is the headline."""
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import ui
from ui import processing
from engine import agreement, api, explain, judges, quality_model
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


@st.cache_data(ttl=ui.TTL_S, show_spinner=False)
def curve(db: str, name: str) -> pd.DataFrame:
    return api.quality_curve(ui.workspace(), name)


def learning_curve(fits: pd.DataFrame, flat: dict[str, float], target: float) -> go.Figure:
    """CV AUC (with its 95% CI) against decisions; each unsupervised signal a flat line."""
    fig = go.Figure()
    pts = fits.drop_duplicates("n_decisions", keep="last")
    fig.add_trace(go.Scatter(x=pts["n_decisions"], y=pts["cv_auc"], mode="lines+markers", name="quality model (CV)",
                             error_y={"type": "data", "symmetric": False, "array": pts["ci_hi"] - pts["cv_auc"],
                                      "arrayminus": pts["cv_auc"] - pts["ci_lo"]}))
    for name, value in flat.items():
        fig.add_hline(y=value, line_dash="dot", annotation_text=f"{name} {value:.2f}", annotation_position="bottom right")
    fig.add_hline(y=target, line_color="green", annotation_text=f"target {target:.2f}")
    fig.update_layout(xaxis_title="curator decisions", yaxis_title="ROC-AUC vs the decisions", height=360,
                      yaxis_range=[0.3, 1.0], margin={"t": 20})
    return fig


def this_corpus(found: dict) -> None:
    """The corpus's own evidence: active quality and why, agreement table, learning curve."""
    st.subheader(f"This corpus: agreement with your decisions ('{escape_markdown(corpus)}')")
    fits = curve(ui.db(), corpus)
    if len(fits):
        last = fits.iloc[-1]
        active = "the quality model trained on your decisions" if last["active"] else "the unsupervised ensemble"
        st.markdown(f"**Active `quality`: {active}**: {escape_markdown(last['why'])}. Label set: your "
                    f"{int(last['n_decisions'])} decisions on this corpus ({int(last['n_accept'])} accepted, "
                    f"{int(last['n_reject'])} rejected); the model's figure is cross-validated, so it is never scored "
                    "on a decision it was fitted on.")
    agree = found["agreement"]
    if agree.empty:
        st.info("No quality signal is stored for this corpus yet: run Ask-LLM (below, or on **Explore and select**).")
    else:
        st.dataframe(agree.assign(signal=[explain.label(s) for s in agree["signal"]]), hide_index=True,
                     width="stretch", column_config={
                         "auc": st.column_config.NumberColumn("ROC-AUC vs your decisions", format="%.3f",
                                                              help="accept = positive; the signal's good end up; "
                                                                   "label set: this corpus's decisions"),
                         "ci_lo": st.column_config.NumberColumn("95% CI low", format="%.2f"),
                         "ci_hi": st.column_config.NumberColumn("95% CI high", format="%.2f"),
                         "n": st.column_config.NumberColumn("decided and scored")})
    if len(fits):
        target = st.number_input("Target CV AUC", 0.55, 0.99, 0.85, 0.01, key="judges_target")
        flat = {explain.label(r.signal): r.auc for r in agree.itertuples() if pd.notna(r.auc) and r.signal != "quality"}
        if pd.notna(fits.iloc[-1]["ensemble_auc"]):
            flat["unsupervised ensemble"] = float(fits.iloc[-1]["ensemble_auc"])
        st.plotly_chart(learning_curve(fits, flat, target), key="judges_curve")
        need = quality_model.decisions_needed(fits, target)
        if need["more"] is not None:
            st.markdown(f"**About {need['more']} more decisions** to reach {target:.2f} "
                        f"({escape_markdown(need['reason'])}).")
        else:
            st.caption(escape_markdown(f"Decisions needed for {target:.2f}: {need['reason']}."))
    else:
        st.caption("Label documents on **Review** (\"label next\"): every decision refits the quality model and "
                   "adds a point to its learning curve here.")
    st.caption("Accept and reject documents on **Review**: the more decisions, the narrower the interval.")
    if found["distilled"]:
        d = found["distilled"]
        st.markdown(f"**Distilled head** (learns `{escape_markdown(str(d.get('judge_key', '?')))}` from "
                    f"{d.get('sample_size', '?')} judged documents): Spearman {d.get('spearman')} and ROC-AUC "
                    f"{d.get('auc')} against the judge (label set: the judge's own scores, not human labels) on "
                    f"{d.get('n_heldout')} held-out sample documents.")
    if len(found["correlations"]) > 1:
        st.markdown("**Rank correlation between signals** (Spearman, documents scored by both)")
        st.dataframe(explain.plain_columns(found["correlations"].round(3)).rename(index=explain.label))


found = corpus_evidence(ui.db(), corpus) if corpus is not None else None
decided = found is not None and int(found["agreement"]["n"].max() if len(found["agreement"]) else 0) > 0 \
    or (corpus is not None and len(curve(ui.db(), corpus)) > 0)
if decided:
    this_corpus(found)  # the user's own labels come first once there are any

with st.container(border=True):
    st.markdown(f"**Default judge on this machine ({default.device.upper()})**: `{default.option}`")
    st.caption(escape_markdown(default.why) + " It is used whenever a stage runs without a model or prompt "
               "named; pick another below.")

st.subheader("Measured against human labels: headline = the lower figure")
external = judges.load_external()
st.caption(escape_markdown(
    f"Label set: {evidence['labels']}. Figures on data a prompt was chosen on overstate it, so each judge's "
    f"headline is the LOWEST of: all labelled pages, the held-out dev pages, and documents no one tuned on "
    f"({external['labels']}; source: {external['source']})."))
st.dataframe(judges.honest_table(evidence), hide_index=True, width="stretch", column_config={
    "headline AUC": st.column_config.NumberColumn("headline ROC-AUC", format="%.3f"),
    "chosen how": st.column_config.TextColumn("how the prompt was chosen (on which split)")})
with st.expander("Every split, derived signals and speed"):
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
        **{label: st.column_config.TextColumn(label, help="ROC-AUC [95% CI] n=units; held-out dev: the split the "
                                              "best judge was NOT picked on") for label in judges.SPLITS.values()},
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
    elif (run_id := ui.attempt(processing.start_job, judges.score_argv(option, corpus, evidence))) is not None:
        st.success(f"Started job {run_id}: Ask-LLM with {option} on '{escape_markdown(corpus)}' (see **Jobs**).")

if corpus is None:
    st.stop()
if not decided:
    this_corpus(found)
