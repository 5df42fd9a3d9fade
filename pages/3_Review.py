"""Review: the selected or map-picked documents, paged, with full text, scores and neighbours;
accept / reject / note per document and in bulk, written to the workspace at once; then learn a
"curator" quality signal from the decisions."""
import pandas as pd
import streamlit as st

import ui
from engine import api, explore, review

st.set_page_config(page_title="Review · Seedbed", page_icon=":material/rate_review:", layout="wide")
corpus = ui.need_corpus("review")
st.title("Review")
frame = ui.frame(ui.db(), corpus)


def decide(doc_ids: list[str], decision: str | None, note_key: str | None = None) -> None:
    """Button callback: runs before the rerun, so the page redraws with the new decision."""
    reviewer = st.session_state.get("reviewer", "").strip()
    if not reviewer:
        st.session_state["review_error"] = "Enter your name as reviewer (sidebar) before deciding."
        return
    note = st.session_state.get(note_key) if note_key else None
    review.record(ui.workspace(), corpus, doc_ids, decision, reviewer, note)
    st.session_state["review_error"] = None
    ui.refresh()


def saved_ids(name: str) -> list[str]:
    return api.selection_ids(ui.workspace(), name)


def sources() -> dict:
    """Document sets to review, most specific first: label -> function returning their doc_ids
    (only the chosen one is read)."""
    out = {}
    saved = ui.selections(ui.db(), corpus)["name"].tolist()
    map_name = review.map_selection_name(corpus)
    if map_name in saved:
        out["documents picked on the map"] = lambda: saved_ids(map_name)
    current = st.session_state.get("current_selection")
    if current and current["corpus"] == corpus:
        out["current selection (Explore page)"] = lambda: current["ids"]
    for name in saved:
        if name != map_name:
            out[f"saved selection '{name}'"] = lambda name=name: saved_ids(name)
    out["whole corpus"] = lambda: frame["doc_id"].tolist()
    return out


# --- what to review ---------------------------------------------------------------------------
options = sources()
source = st.selectbox("Documents to review", list(options), key="review_source")
st.session_state["reviewer"] = st.sidebar.text_input("Reviewer", st.session_state.get("reviewer", ""),
                                                     key="review_reviewer_input", placeholder="your name")
wanted = options[source]()
queue = frame.set_index("doc_id").reindex(wanted).dropna(subset=["n_chars"]).astype({"n_chars": int}).reset_index()
counts = review.progress_counts(queue["decision"])
done = counts["accept"] + counts["reject"]
st.progress(done / counts["total"] if counts["total"] else 0.0,
            text=f"Reviewed {done} of {counts['total']} ({counts['accept']} accepted, {counts['reject']} rejected, "
                 f"{counts['unreviewed']} remaining)")

c1, c2, c3, c4 = st.columns([1, 1, 2, 1])
status = c1.selectbox("Status", ["all", "unreviewed", "accept", "reject"], key="review_status")
scores = explore.score_columns(queue)
score = c2.selectbox("Score filter", ["none", *scores], key="review_score")
lo = hi = None
if score != "none":
    values = queue[score].dropna()
    if len(values) and values.min() < values.max():
        lo, hi = c3.slider(f"{score} range", float(values.min()), float(values.max()),
                           (float(values.min()), float(values.max())), key=f"review_range_{score}")
page_size = int(c4.selectbox("Per page", [5, 10, 20, 50], index=1, key="review_page_size"))
shown = review.filter_queue(queue, status, None if score == "none" else score, lo, hi)
pages = max(1, -(-len(shown) // page_size))
page = int(st.number_input(f"Page (of {pages}; {len(shown)} documents match)", 1, pages, 1, key="review_page"))
rows = shown.iloc[(page - 1) * page_size: page * page_size]
if st.session_state.get("review_error"):
    st.error(st.session_state["review_error"])
if rows.empty:
    st.info("Nothing to review with these filters. Pick documents on the **Explore and select** map, "
            "choose another source above, or clear the filters.")

# --- bulk -------------------------------------------------------------------------------------
if not rows.empty:
    b1, b2, b3 = st.columns([2, 1, 1])
    b1.text_input("Note for bulk decisions", key="review_bulk_note")
    ids = rows["doc_id"].tolist()
    b2.button(f"Accept all {len(ids)} on this page", key="review_bulk_accept", on_click=decide,
              args=(ids, review.ACCEPT, "review_bulk_note"), width="stretch")
    b3.button(f"Reject all {len(ids)} on this page", key="review_bulk_reject", on_click=decide,
              args=(ids, review.REJECT, "review_bulk_note"), width="stretch")

# --- one card per document --------------------------------------------------------------------
if not rows.empty:
    texts, notes = api.review_cards(ui.workspace(), corpus, rows["doc_id"].tolist())  # one read
    emb_ids, vectors = ui.embeddings(ui.db(), corpus)
    snippets = frame.set_index("doc_id")["snippet"]
for _, row in rows.iterrows():
    doc = row["doc_id"]
    with st.container(border=True):
        badge = {"accept": ":green-badge[accepted]", "reject": ":red-badge[rejected]"}.get(
            row["decision"], ":gray-badge[unreviewed]")
        score_text = " · ".join(f"{c} {row[c]:.3f}" for c in scores if pd.notna(row[c]))
        st.markdown(f"{badge} · `{doc[:12]}` · {row['n_chars']} chars · {score_text}")
        text = texts.loc[doc, "text"] if doc in texts.index else row["snippet"]
        st.text(text[:600] + ("…" if len(text) > 600 else ""))
        if len(text) > 600:
            with st.expander("Full text"):
                st.text(text)
        near = review.neighbours(emb_ids, vectors, doc, k=3) if len(emb_ids) else []
        if near:
            st.caption("Nearest neighbours: " + " | ".join(
                f"{sim:.2f} — {str(snippets.get(n, ''))[:80]}" for n, sim in near))
        a, r, c, n = st.columns([1, 1, 1, 4])
        a.button("Accept", key=f"review_accept_{doc}", on_click=decide, args=([doc], review.ACCEPT, f"review_note_{doc}"),
                 type="primary" if row["decision"] != review.ACCEPT else "secondary")
        r.button("Reject", key=f"review_reject_{doc}", on_click=decide, args=([doc], review.REJECT, f"review_note_{doc}"))
        c.button("Clear", key=f"review_clear_{doc}", on_click=decide, args=([doc], None, f"review_note_{doc}"))
        current_note = notes.get(doc) if doc in notes.index else None
        n.text_input("Note", current_note if isinstance(current_note, str) else "", key=f"review_note_{doc}",
                     label_visibility="collapsed", placeholder="note (saved with the next decision)")

# --- learn from the curator -------------------------------------------------------------------
st.divider()
st.subheader("Learn from the curator")
config = review.CuratorConfig()
all_counts = review.progress_counts(frame["decision"])
trained = review.curator_status(ui.workspace(), corpus)
need = config.min_per_class
st.caption(f"A logistic regression on the stored embeddings, trained on this corpus's decisions "
           f"({all_counts['accept']} accepted, {all_counts['reject']} rejected; it needs {need} of each). "
           "Its accept-probability becomes the quality signal **curator** on the Explore page.")
if trained:
    st.metric("Curator signal: cross-validated ROC-AUC", f"{trained['auc']:.3f}",
              help=f"trained on {trained['n_accept']} accepted / {trained['n_reject']} rejected")
    if (trained["n_accept"], trained["n_reject"]) != (all_counts["accept"], all_counts["reject"]):
        st.info("There are new decisions since it was trained: refresh it.")
ready = min(all_counts["accept"], all_counts["reject"]) >= need
if st.button("Refresh the curator signal" if trained else "Train the curator signal", key="review_train",
             disabled=not ready, help=None if ready else f"needs {need} accepted and {need} rejected documents"):
    result = ui.attempt(review.train_curator, ui.workspace(), corpus, config)
    ui.refresh()
    if result is not None:
        st.success(f"Curator signal stored for {result.n_scored} documents; ROC-AUC {result.auc:.3f} "
                   f"({config.folds}-fold cross-validation). Choose quality 'curator' on Explore and select.")
