"""Explore and select: run missing stages, see the corpus map, tune quality vs coverage live,
compare strategies, pick documents on the map for review, save a selection."""
import pandas as pd
import streamlit as st

import ui
from ui import figures, filter_panels, processing
from engine import api, coverage, explain, explore, filters, review, select
from engine.user_text import check_name, escape_markdown

ui.setup_page("Explore and select · Seedbed", ":material/scatter_plot:")
corpus = ui.need_corpus("explore")
st.title("Explore and select")
status = ui.stage_status(ui.db(), corpus)
frame = ui.frame(ui.db(), corpus)

# --- stages ----------------------------------------------------------------------------------
missing = api.missing_stages(status)
with st.expander("Stages" + (f" — still to run: {', '.join(missing)}" if missing else " — all done"),
                 expanded=bool(missing)):
    processing.stopped_stages_notice()
    queued = processing.active_work(corpus)  # never offer work a job already does
    missing = [m for m in missing if m not in queued]
    offered = [s for s in processing.STAGES if s not in queued]
    plan = ui.attempt(api.process_plan, ui.workspace(), corpus, missing) if missing else None
    estimate = f" Estimate for the missing ones: {plan.estimate()}." if plan else ""
    st.caption(f"{len(frame)} documents. Stages compute only what is missing, with a live rate and ETA.{estimate} "
               f"For large corpora use the CLI: `python -m engine process --corpus {corpus}`.")
    # keys name the options: a browser keeps a widget's old value unless its identity changes
    chosen = st.multiselect("Stages to run", offered, default=missing, format_func=processing.stage_label,
                            key="explore_stages_" + "_".join(missing) + "__" + "_".join(sorted(queued)))
    here, background = st.columns(2)
    if here.button("Run stages", key="explore_run", type="primary", disabled=not chosen,
                   help="In this page, with a progress bar: fine for a few hundred documents."):
        if processing.run_stages(corpus, chosen):
            st.rerun()
    if background.button("Run in the background", key="explore_background", disabled=not chosen,
                         help="As one background job that outlives this page; follow it on the Jobs page."):
        if processing.start_background(corpus, chosen):
            ui.refresh()
            st.rerun()

# --- selection controls ------------------------------------------------------------------------
scores = explore.score_columns(frame)
qualities = [q for q in select.quality_signals() if q in scores]
strategies = [s for s in select.strategies() if s == "random" or s in scores
              or (s == "combined" and select.COVERAGE in scores and qualities)]
qualities = qualities or ["askllm"]
bar = st.sidebar
strategy = bar.selectbox("Strategy", strategies, index=len(strategies) - 1 if "combined" not in strategies
                         else strategies.index("combined"), key="explore_strategy_" + "_".join(strategies),
                         help="\n\n".join(explain.STRATEGIES[s] for s in strategies if s in explain.STRATEGIES))
bar.caption(explain.STRATEGIES.get(strategy, ""))
quality = bar.selectbox("Quality signal", qualities, key="explore_quality_" + "_".join(qualities),
                        format_func=explain.label,
                        help="The quality side of the weight; 'curator' appears once trained on the Review page.\n\n"
                             + "\n\n".join(explain.score_help(q) for q in qualities))
weight = bar.slider("Quality weight (1 = quality only, 0 = coverage only)", 0.0, 1.0, 0.5, 0.05,
                    key="explore_weight", disabled=strategy != "combined")


def switch_budget() -> None:
    """Fraction <-> count keeps the same number of documents (0.10 of 400 -> 40)."""
    state, new_mode = st.session_state, st.session_state["explore_budget_mode"]
    value = select.switch_budget(new_mode, state.get("explore_budget_frac", 0.2), state.get("explore_budget_count"),
                                 len(frame))
    state["explore_budget_count" if new_mode == "count" else "explore_budget_frac"] = value


mode = bar.radio("Budget as", ["fraction", "count"], horizontal=True, key="explore_budget_mode",
                 on_change=switch_budget)
if mode == "fraction":  # a value only on first draw: afterwards the switch above sets it
    budget = bar.slider("Budget (fraction of the corpus)", 0.01, 1.0, key="explore_budget_frac", step=0.01,
                        **({} if "explore_budget_frac" in st.session_state else {"value": 0.2}))
else:
    budget = int(bar.number_input("Budget (documents)", 1, max(1, len(frame)), key="explore_budget_count",
                                  **({} if "explore_budget_count" in st.session_state
                                     else {"value": max(1, len(frame) // 5)})))
seed = int(bar.number_input("Seed", 0, 2**31 - 1, 0, key="explore_seed"))
samples = strategy == "density" or (strategy == "combined" and weight < 1)  # the coverage side is used
temperature = bar.slider("Coverage temperature (lower = more rare documents)", 0.1, 1.0, select.TEMPERATURE,
                         0.05, key="explore_temperature", disabled=not samples, help=explain.TEMPERATURE)
propensity = bar.radio("Coverage by", select.PROPENSITIES, key="explore_propensity", disabled=not samples,
                       horizontal=True, help=explain.PROPENSITY,
                       format_func={"clusters": "topics + density", "density": "density only"}.get)
coverage_settings = {"temperature": temperature, "propensity": propensity}
spec = filter_panels.sidebar_filters(bar, frame, corpus)
pool = frame[filters.keep_mask(frame, spec)].reset_index(drop=True) if spec.active() else frame
pool_budget = select.budget_count(budget, len(frame)) if spec.active() and isinstance(budget, float) else budget
pool_budget = max(1, min(len(pool), pool_budget)) if spec.active() else budget

result = ui.attempt(select.choose, pool, strategy, weight, pool_budget, seed, quality, corpus, **coverage_settings)
if result is None:
    st.stop()
mask = explore.selected_mask(frame, result.doc_ids)
st.session_state["current_selection"] = {"corpus": corpus, "ids": list(result.doc_ids), "params": result.params}
m = st.columns(4)
m[0].metric("Selected", f"{mask.sum()} / {len(frame)}")
if quality in scores:
    q = frame[quality]
    m[1].metric(f"Mean {explain.label(quality)}, selected", f"{q[mask].mean():.3f}",
                f"{q[mask].mean() - q.mean():+.3f} vs all", help=explain.score_help(quality))
m[2].metric("Excluded (missing signal)", result.n_excluded)
m[3].metric("Reviewed", int(frame["decision"].notna().sum()))
labels = api.cluster_labels(ui.workspace(), corpus)
has_clusters = "cluster" in frame.columns and frame["cluster"].notna().any()

# --- map + comparison ------------------------------------------------------------------------
left, right = st.columns([5, 2])
with left:
    rows, hover = ui.map_points(ui.db(), corpus, len(frame))
    if not len(rows):
        st.info("No map yet: run the **embed** and **project (map)** stages above "
                f"(or `python -m engine project --corpus {corpus}`).")
    else:
        points = frame.iloc[rows]
        colours = [c for c in explore.colour_choices() if c in ("selected", "review status") or c in scores]
        colours += ["cluster"] if has_clusters else []
        colours += ["language_code"] if frame.get("language_code", pd.Series(dtype=object)).notna().any() else []
        colour_by = st.selectbox("Colour by", colours, index=len(colours) - 1 if has_clusters else 0,
                                 key="explore_colour_" + "_".join(colours), format_func=explain.label,
                                 help="\n\n".join(f"{explain.label(c)}: {explain.score_help(c)}"
                                                   for c in colours if c in explain.SCORES))
        values, continuous = explore.colour_values(points, mask[rows], colour_by, labels)
        fig = figures.map_figure(points, values, continuous, hover)
        query = st.text_input("Highlight documents containing", key="explore_search",
                              placeholder="a word or phrase (case-insensitive)")
        found = api.search_ids(ui.workspace(), corpus, query) if query.strip() else []
        if query.strip():
            figures.add_highlight(fig, points[points["doc_id"].isin(found)], query.strip())
        if has_clusters:
            figures.add_cluster_labels(fig, coverage.label_positions(points, labels, min_share=0.01))
        event = st.plotly_chart(fig, key="explore_map", on_select="rerun", selection_mode=("box", "lasso"),
                                width="stretch")
        if query.strip():
            st.caption(f"{len(found):,} documents contain '{escape_markdown(query.strip()[:60])}' "
                       "(ringed in red where on the map).")
        picked = [p["customdata"] for p in (event.selection.points if event else []) if p.get("customdata")]
        if picked and picked != st.session_state.get("review_ids"):
            st.session_state["review_ids"] = picked
            review.save_map_selection(ui.workspace(), corpus, picked)
            ui.refresh()
        if picked:
            summary = coverage.region_summary(frame, picked, scores, labels)
            st.success(f"{summary['n']} documents picked on the map: they are waiting on the Review page.")
            cols = st.columns(max(1, len(summary["means"])))
            for col, (name, value) in zip(cols, summary["means"].items()):
                col.metric(f"Mean {name} (picked)", f"{value:.3f}")
            if summary["clusters"]:
                top = "; ".join(f"{k} ({v})" for k, v in summary["clusters"].items())
                st.caption("Clusters: " + escape_markdown(top))
            for text in summary["examples"]:
                st.text(text[:200])
            st.page_link("pages/3_Review.py", label="Review the picked documents", icon=":material/rate_review:")
        else:
            st.caption("Drag a box or lasso on the map (toolbar, top right) to send documents to review.")
        if len(rows) < len(frame):
            st.caption(f"The map draws a seeded sample of {len(rows):,} of {len(frame):,} documents; "
                       "selection and histograms use all of them.")
with right:
    st.markdown("**Strategies at this budget**")
    compare = st.toggle("Compare strategies", len(frame) <= 20_000, key="explore_compare",
                        help="About 1 s per change on 100,000 documents, so off by default on large corpora.")
    table = select.compare_strategies(pool, pool_budget, seed, weight, quality, **coverage_settings) if compare else None
    if table is not None and not table.empty:
        view = table.set_index("strategy").rename(columns={"mean_quality": "quality", f"overlap_{strategy}": "overlap"})
        view = view.rename(columns={"cluster_coverage": "topics", "rare_cluster_retention": "rare topics kept"})
        shown = ("n", "quality", "coverage", "topics", "rare topics kept", "overlap")
        st.dataframe(view[[c for c in shown if c in view]].round(2), width="stretch")
        st.caption(f"quality: mean {quality} of the chosen documents; coverage: share of the map's occupied "
                   f"cells they hit; topics: share of clusters hit; rare topics kept: share of the documents "
                   f"of the smallest clusters (10% of the corpus) kept; overlap: Jaccard with '{strategy}'.")
        chosen = select.choose_all(pool, pool_budget, seed, weight, quality, **coverage_settings)  # as the table above
        by_source = api.kept_by_source(ui.workspace(), corpus, frame,
                                       {name: list(r.doc_ids) for name, r in chosen.items()})
        if by_source is not None:  # the documents carry a `source` field (the demo does)
            st.markdown("**Kept by source** (share of each source's documents)")
            st.dataframe(by_source.set_index("group").round(2), width="stretch", key="explore_by_source")
    with st.form("explore_save"):
        # keyed by corpus: a name typed for one corpus never follows you to another
        name = st.text_input("Save this selection as", f"{corpus}-{strategy}",
                             key=f"explore_save_name_{corpus}_{strategy}").strip()
        replace = st.checkbox("Replace a saved selection of the same name", key=f"explore_replace_{corpus}",
                              help="Off: an existing selection is never overwritten.")
        if st.form_submit_button("Save selection"):
            existing = ui.selections(ui.db(), None).set_index("name")
            if name in existing.index and not replace:
                old = existing.loc[name]
                st.warning(f"A selection named '{escape_markdown(name)}' already exists (corpus '{escape_markdown(old['corpus'])}', "
                           f"{old['n_selected']} documents). Nothing was saved: choose another name, or tick "
                           "'Replace a saved selection of the same name' and save again.")
            else:
                saved = ui.attempt(lambda: api.save_selection(ui.workspace(), corpus, strategy, weight, budget, seed,
                                                              check_name("selection name", name), quality,
                                                              replace=replace, filters=spec, **coverage_settings))
                ui.refresh()
                if saved is not None:
                    st.success(f"Saved '{escape_markdown(name)}' ({len(saved.doc_ids)} documents): review or export it.")

# --- topics: what this selection kept of each cluster -----------------------------------------
st.subheader("Topics in this selection")
if not has_clusters:
    st.info("No topic clusters yet: run the **clusters** stage above "
            f"(or `python -m engine clusters --corpus {corpus}`).")
else:
    audit = ui.attempt(api.selection_audit, frame, list(result.doc_ids), labels,
                       quality if quality in scores else None, corpus)
    if audit is not None:
        chart, dropped = st.columns([3, 2])
        chart.plotly_chart(figures.audit_figure(audit.head(30)), width="stretch", key="explore_audit_chart")
        lost = coverage.dropped_topics(audit)
        dropped.markdown("**Topics this filter dropped** (kept at under half the average rate)")
        if lost.empty:
            dropped.caption("None: every topic kept at least half the selection's average rate.")
        else:
            dropped.dataframe(lost[["label", "n_docs", "kept", "kept_rate"]].round(3), hide_index=True,
                              width="stretch", key="explore_dropped")
        st.dataframe(audit.round(3), hide_index=True, width="stretch", key="explore_audit")
        st.caption("loss = 1 - (topic's kept rate / the selection's average rate): 1 = dropped entirely, "
                   "0 = kept at the average rate, below 0 = favoured. Mean quality is over all the topic's documents."
                   + (" fail_rules: share of the topic's documents failing any heuristic rule." if "fail_rules" in audit
                      else ""))
        pick, go_review = st.columns([3, 1])
        cluster = pick.selectbox("Send a cluster to Review", audit["cluster"].tolist(), key="explore_cluster_pick",
                                 format_func=lambda c: f"{c}: {labels.get(int(c), 'cluster')}")
        if go_review.button("Review this cluster", key="explore_cluster_review"):
            ids = frame.loc[frame["cluster"] == cluster, "doc_id"].tolist()
            st.session_state["review_ids"] = ids
            review.save_map_selection(ui.workspace(), corpus, ids)
            ui.refresh()
            st.success(f"The {len(ids)} documents of cluster {cluster} are waiting on the Review page.")
with st.expander("What density means"):
    st.markdown("Density is how crowded a document's neighbourhood is in embedding space, **relative to the "
                "corpus median**: 1 = typical, 0.5 = half as crowded, 2 = twice. **Low density = rare.** "
                "The density strategy samples with probability proportional to 1 / propensity (inverse "
                "propensity), so rare documents are kept more often and crowded ones thinned. With topic "
                "clusters the propensity is the topic's share of the corpus x the document's density within "
                "its topic: small topics are rare even when their documents sit close together. The "
                "temperature sharpens it: lower keeps more rare documents. The kernel width comes from the "
                "data (half the median distance to the 10th nearest neighbour), so the scale is the same at "
                "any corpus size. Measured on a skewed mixture: bench/coverage_results.md.")
    if "density" in scores:
        d = frame["density"].dropna()
        st.caption(f"This corpus: 5% of documents below {d.quantile(0.05):.2f}, median {d.median():.2f}, "
                   f"5% above {d.quantile(0.95):.2f}.")

# --- histograms ------------------------------------------------------------------------------
hists = explore.histograms(frame, mask)
if hists:
    cols = st.columns(len(hists))
    for col, (name, hist) in zip(cols, hists.items()):
        col.plotly_chart(figures.histogram_figure(explain.label(name), hist), width="stretch", key=f"explore_hist_{name}")
    with st.expander("What the scores mean"):
        st.markdown(explain.scores_legend(hists))
st.caption(escape_markdown(result.message))
