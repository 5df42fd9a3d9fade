"""Review: the selected or map-picked documents, paged, with full text, scores and neighbours;
accept / reject / note per document and in bulk, written to the workspace at once; then learn a
"curator" quality signal from the decisions."""
import pandas as pd
import streamlit as st

import ui
from ui import filter_panels
from engine import api, explain, explore, review
from engine.user_text import escape_markdown

ui.setup_page("Review · Seedbed", ":material/rate_review:")
corpus = ui.need_corpus("review")
st.title("Review")
frame = ui.frame(ui.db(), corpus)


def reviewer() -> str:
    return st.session_state.get("reviewer", "").strip()


def decide(doc_ids: list[str], decision: str | None, where: str, note_key: str | None = None,
           change_decided: bool = True) -> None:
    """Button callback (runs before the rerun, so the page redraws with the result). Problems are
    shown at `where`, the place the user clicked."""
    if not reviewer():
        st.session_state["review_error"] = (where, "Enter your name as reviewer (sidebar) before deciding.")
        return
    note = st.session_state.get(note_key) if note_key else None
    result = review.decide(ui.workspace(), corpus, doc_ids, decision, reviewer(), note, change_decided)
    st.session_state["review_error"] = None
    if result.skipped_decided:
        st.session_state["review_notice"] = (where, f"Changed {result.changed}; left {result.skipped_decided} "
                                             "already decided document(s) as they were (tick \"also change "
                                             "decided ones\" to change them too).")
    ui.refresh()


def save_note(doc_id: str, note_key: str) -> None:
    """A note is saved as soon as it is typed (Enter or leaving the field), decision or not."""
    if not reviewer():
        st.session_state["review_error"] = (f"card_{doc_id}", "Enter your name as reviewer (sidebar) to save a note.")
        return
    if review.save_note(ui.workspace(), corpus, doc_id, st.session_state.get(note_key, ""), reviewer()):
        st.toast("Note saved")
    st.session_state["review_error"] = None
    ui.refresh()


def undo() -> None:
    if not reviewer():
        st.session_state["review_error"] = ("top", "Enter your name as reviewer (sidebar) to undo your actions.")
        return
    result = review.undo_last(ui.workspace(), corpus, reviewer())
    if result.kind and st.session_state.get("review_label_next"):  # the quality model follows the decisions
        st.session_state["review_model"] = api.refit_quality(ui.workspace(), corpus)
    kept = f"; {result.kept} changed by someone since were left as they are" if result.kept else ""
    st.session_state["review_notice"] = ("top", f"Undid your last {result.kind}: {result.restored} document(s) "
                                         f"restored{kept}." if result.kind else "Nothing of yours to undo.")
    ui.refresh()


def move_focus(step: int, n_rows: int) -> None:
    st.session_state["review_focus"] = min(max(0, st.session_state.get("review_focus", 0) + step), max(0, n_rows - 1))


def messages(where: str) -> None:
    """The error or notice of the last click, shown where it was clicked."""
    for key, show in (("review_error", st.error), ("review_notice", st.info)):
        item = st.session_state.get(key)
        if item and item[0] == where:
            show(item[1])


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


def remember_reviewer() -> None:
    """The name lives in the URL and a cookie of this browser, so a reload, a navigation or a
    new tab keeps it (ui.remember)."""
    name = st.session_state.get("review_reviewer_input", "").strip()
    st.session_state["reviewer"] = name
    ui.remember("reviewer", name)


# --- label next: the queue that teaches the quality model most -----------------------------------
def label_next_decide(doc_id: str, decision: str | None) -> None:
    """Accept / reject (logged, then the quality model is refitted) or skip (this session only)."""
    if decision is None:
        st.session_state.setdefault("review_skipped", []).append(doc_id)
        return
    if not reviewer():
        st.session_state["review_error"] = ("next", "Enter your name as reviewer (sidebar) before deciding.")
        return
    review.decide(ui.workspace(), corpus, [doc_id], decision, reviewer(), change_decided=True)
    st.session_state["review_model"] = api.refit_quality(ui.workspace(), corpus)
    st.session_state["review_error"] = None
    ui.refresh()


def label_next() -> None:
    """One document at a time with the model's guess and why (all user text as plain text)."""
    batch = ui.attempt(api.label_next, ui.workspace(), corpus, 1, tuple(st.session_state.get("review_skipped", [])))
    if batch is None:
        return
    model = st.session_state.get("review_model") or batch.get("model")
    if model and "why" in model:
        st.caption(escape_markdown(f"Quality model: CV AUC {model['cv_auc']:.3f} on {model['n_decisions']} decisions; "
                                   f"active quality = {model['active']} ({model['why']})."))
    else:
        st.caption(escape_markdown((model or {}).get("no_model") or batch.get("no_model", "")))
    if not batch["documents"]:
        st.info("Nothing left to label: every embedded document is decided, skipped or a near-duplicate of one.")
        return
    doc = batch["documents"][0]
    st.caption(escape_markdown(f"How documents are chosen: {batch['chosen']}."))
    with st.container(border=True):
        st.markdown(f"`{doc['doc_id'][:12]}` · {batch['n_decided']} decided so far")
        st.text(doc["text"][:3000] + ("…" if len(doc["text"]) > 3000 else ""))
        st.text("Why this one, and the model's guess: " + doc["why"])
        for n in doc["neighbours"]:
            st.text(f"  decided {n['decision']} · similarity {n['similarity']:.2f} · {' '.join(n['snippet'].split())[:100]}")
        a, r, s, _ = st.columns([1, 1, 1, 4])
        a.button("Accept", key="review_next_accept", on_click=label_next_decide, args=(doc["doc_id"], review.ACCEPT),
                 type="primary", shortcut="A")
        r.button("Reject", key="review_next_reject", on_click=label_next_decide, args=(doc["doc_id"], review.REJECT),
                 shortcut="X")
        s.button("Skip", key="review_next_skip", on_click=label_next_decide, args=(doc["doc_id"], None), shortcut="S")
        messages("next")
    st.caption("Keyboard: **A** accept, **X** reject, **S** skip, **U** undo. Every decision refits the quality "
               "model; the Judges page shows its learning curve.")


# --- what to review ---------------------------------------------------------------------------
options = sources()
if st.session_state.get("review_source") not in options:  # a reload, a new tab or a corpus switch
    remembered = ui.recall("review_source")
    st.session_state["review_source"] = remembered if remembered in options else next(iter(options))
source = st.selectbox("Documents to review", list(options), key="review_source")
ui.remember("review_source", source)
if ui.current_user():  # the login names the curator
    st.session_state["reviewer"] = ui.current_user()
else:
    if "review_reviewer_input" not in st.session_state:
        st.session_state["review_reviewer_input"] = ui.recall("reviewer", st.session_state.get("reviewer", ""))
    st.session_state["reviewer"] = st.session_state["review_reviewer_input"].strip()
    if st.session_state["reviewer"]:
        ui.remember("reviewer", st.session_state["reviewer"])
    st.sidebar.text_input("Reviewer", key="review_reviewer_input", placeholder="your name", on_change=remember_reviewer,
                          help="Stored with every decision and note (who decided what, when); kept across reloads.")
if st.toggle("Label next: one document at a time, chosen to teach the quality model most", key="review_label_next",
             help="Documents the current model is least sure about, spread over topic clusters, never a "
                  "near-duplicate of a decided one."):
    st.button(f"Undo my last action ({review.undoable(ui.workspace(), corpus, reviewer()) if reviewer() else 0} can be "
              "undone)", key="review_undo_next", on_click=undo, shortcut="U")
    messages("top")
    label_next()
    st.stop()
wanted = options[source]()
queue = frame.set_index("doc_id").reindex(wanted).dropna(subset=["n_chars"]).astype({"n_chars": int}).reset_index()
counts = review.progress_counts(queue["decision"])
done = counts["accept"] + counts["reject"]
st.progress(done / counts["total"] if counts["total"] else 0.0,
            text=f"Reviewed {done} of {counts['total']} ({counts['accept']} accepted, {counts['reject']} rejected, "
                 f"{counts['unreviewed']} remaining)")
n_undo = review.undoable(ui.workspace(), corpus, reviewer()) if reviewer() else 0
st.button(f"Undo my last action ({n_undo} can be undone)", key="review_undo", on_click=undo, disabled=not n_undo,
          shortcut="U", help="Reverses your last click (a bulk click as a whole) or note. Shortcut: U.")
messages("top")

c1, c2, c3, c4, c5 = st.columns([1, 1, 2, 1, 2])
status = c1.selectbox("Status", ["all", "unreviewed", "accept", "reject"], key="review_status")
scores = explore.score_columns(queue)
score = c2.selectbox("Score filter", ["none", *scores], key="review_score", format_func=lambda k: explain.label(k)
                     if k != "none" else "none", help="\n\n".join(explain.score_help(k) for k in scores) or None)
lo = hi = None
if score != "none":
    values = queue[score].dropna()
    if len(values) and values.min() < values.max():
        lo, hi = c3.slider(f"{explain.label(score)} range", float(values.min()), float(values.max()),
                           (float(values.min()), float(values.max())), key=f"review_range_{score}",
                           help=explain.score_help(score))
page_size = int(c4.selectbox("Per page", [5, 10, 20, 50], index=1, key="review_page_size"))
sort = c5.selectbox("Order", list(review.SORTS), key="review_sort",
                    help="Curator uncertainty: documents the curator model is least sure about first (train it "
                         "below); a decision on those teaches it most.")
sort_by = score if score != "none" else (scores[0] if scores else None)
shown = review.sort_queue(review.filter_queue(queue, status, None if score == "none" else score, lo, hi), sort, sort_by)
pages = max(1, -(-len(shown) // page_size))
if "review_page" not in st.session_state:  # a reload or a new tab: this browser's last page
    remembered = str(ui.recall("review_page", "1"))
    st.session_state["review_page"] = int(remembered) if remembered.isdigit() else 1
st.session_state["review_page"] = min(max(1, int(st.session_state["review_page"])), pages)
page = int(st.number_input(f"Page (of {pages}; {len(shown)} documents match)", 1, pages, key="review_page"))
ui.remember("review_page", str(page))
rows = shown.iloc[(page - 1) * page_size: page * page_size]
if rows.empty:
    st.info("Nothing to review with these filters. Pick documents on the **Explore and select** map, "
            "choose another source above, or clear the filters.")
elif scores:
    with st.expander("What the scores mean"):
        st.markdown(explain.scores_legend(scores))

# --- bulk -------------------------------------------------------------------------------------
if not rows.empty:
    b1, b2, b3 = st.columns([2, 1, 1])
    b1.text_input("Note for bulk decisions", key="review_bulk_note")
    overwrite = b1.checkbox("also change decided ones", key="review_bulk_overwrite",
                            help="Off: documents that already hold a decision keep it.")
    ids = rows["doc_id"].tolist()
    b2.button(f"Accept all {len(ids)} on this page", key="review_bulk_accept", on_click=decide,
              args=(ids, review.ACCEPT, "bulk", "review_bulk_note", overwrite), width="stretch")
    b3.button(f"Reject all {len(ids)} on this page", key="review_bulk_reject", on_click=decide,
              args=(ids, review.REJECT, "bulk", "review_bulk_note", overwrite), width="stretch")
    messages("bulk")
    st.caption("Keyboard: **A** accept, **X** reject, **N** next, **P** previous (the highlighted document); "
               "**U** undo.")

# --- one card per document --------------------------------------------------------------------
if not rows.empty:
    texts, notes = api.review_cards(ui.workspace(), corpus, rows["doc_id"].tolist())  # one read
    emb_ids, vectors = ui.embeddings(ui.db(), corpus)
    snippets = frame.set_index("doc_id")["snippet"]
    focus = min(st.session_state.get("review_focus", 0), len(rows) - 1)
for i, (_, row) in enumerate(rows.iterrows()):
    doc, focused = row["doc_id"], i == focus
    with st.container(border=True):
        badge = {"accept": ":green-badge[accepted]", "reject": ":red-badge[rejected]"}.get(
            row["decision"], ":gray-badge[unreviewed]")
        score_text = " · ".join(f"{explain.label(c)} {row[c]:.3f}" for c in scores if pd.notna(row[c]))
        st.markdown(f"{'▶ ' if focused else ''}{badge} · `{doc[:12]}` · {row['n_chars']} characters · {score_text}")
        text = texts.loc[doc, "text"] if doc in texts.index else row["snippet"]
        st.text(text[:600] + ("…" if len(text) > 600 else ""))
        if len(text) > 600:
            with st.expander("Full text"):
                st.text(text)
        near = review.neighbours(emb_ids, vectors, doc, k=3) if len(emb_ids) else []
        if near:
            st.caption("Nearest neighbours (cosine similarity): " + escape_markdown(" | ".join(
                f"{sim:.2f} — {str(snippets.get(n, ''))[:80]}" for n, sim in near)))
        filter_panels.rule_verdict(row)
        filter_panels.duplicates_panel(corpus, doc)
        a, r, c, n = st.columns([1, 1, 1, 4])
        note_key = f"review_note_{doc}"
        a.button("Accept", key=f"review_accept_{doc}", on_click=decide, args=([doc], review.ACCEPT, f"card_{doc}"),
                 type="primary" if row["decision"] != review.ACCEPT else "secondary",
                 shortcut="A" if focused else None)
        r.button("Reject", key=f"review_reject_{doc}", on_click=decide, args=([doc], review.REJECT, f"card_{doc}"),
                 shortcut="X" if focused else None)
        c.button("Clear", key=f"review_clear_{doc}", on_click=decide, args=([doc], None, f"card_{doc}"))
        current_note = notes.get(doc) if doc in notes.index else None
        if note_key not in st.session_state:
            st.session_state[note_key] = current_note if isinstance(current_note, str) else ""
        n.text_input("Note", key=note_key, label_visibility="collapsed", on_change=save_note, args=(doc, note_key),
                     placeholder="note (saved when you press Enter or leave the field)")
        messages(f"card_{doc}")
        if focused:
            prev, nxt, _ = st.columns([1, 1, 5])
            prev.button("Previous", key="review_prev", on_click=move_focus, args=(-1, len(rows)), shortcut="P")
            nxt.button("Next", key="review_next", on_click=move_focus, args=(1, len(rows)), shortcut="N")
        events = review.history(ui.workspace(), corpus, doc)
        if len(events):
            with st.expander(f"History ({len(events)})"):
                st.dataframe(review.history_table(events), hide_index=True, width="stretch")

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
