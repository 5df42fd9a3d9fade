"""Curator review: accept/reject decisions, nearest neighbours, and "learn from the curator".

A curator's decisions are written at once (one short transaction per click) so they survive a
reload and are seen by every session on the workspace. Once there are enough decisions of both
kinds, `train_curator` fits a logistic regression on the stored document embeddings, measures it
by stratified k-fold ROC-AUC, and stores its probability for every embedded document as a signal
of kind "curator" in `scores`/`signals` - so `select` can use the curator's own taste as the
quality side of the quality/coverage weight, and refreshing it as decisions grow closes the loop.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from engine.errors import UserError
from engine.models import DEFAULT_EMBEDDER, model_fingerprint
from engine.storage import Workspace
from engine.storage import corpus as corpus_store
from engine.storage import review_log
from engine.storage import selections as selection_store
from engine.storage import signals as signal_store

ACCEPT, REJECT = "accept", "reject"
DECISIONS = (ACCEPT, REJECT)


def _check(decision: str | None, reviewer: str) -> str:
    if decision is not None and decision not in DECISIONS:
        raise UserError(f"decision must be one of {', '.join(DECISIONS)} (or none), got {decision!r}")
    if not reviewer or not reviewer.strip():
        raise UserError("a reviewer name is required to record a decision")
    return reviewer.strip()


def require_documents(con, corpus: str, ids: list[str]) -> None:
    """Refuse decisions on a corpus or documents that do not exist (nothing is written then)."""
    if not corpus_store.corpus_exists(con, corpus):
        raise UserError(f"no corpus named {corpus!r}; nothing recorded")
    known = set(corpus_store.documents(con, corpus, ids)["doc_id"]) if ids else set()
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UserError(f"corpus {corpus!r} has no document {unknown[0]!r}" +
                        (f" (and {len(unknown) - 1} more unknown ids)" if len(unknown) > 1 else "") +
                        "; nothing recorded")


def _value(x) -> str | None:
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else str(x)


@dataclass
class DecisionResult:
    """What one click did: documents changed, decided ones left alone, the action's id (for undo)."""

    changed: int
    skipped_decided: int
    action_id: str | None


def decide(ws: Workspace, corpus: str, doc_ids, decision: str | None, reviewer: str, note: str | None = None,
           change_decided: bool = False) -> DecisionResult:
    """Set `decision` ("accept", "reject", None = clear) on `doc_ids`, with `note` when given. A
    document that already holds another decision is skipped unless `change_decided` (a bulk click
    never overwrites an explicit decision by accident). Every change is logged (`history`) as one
    action, which `undo_last` reverses."""
    reviewer, ids = _check(decision, reviewer), [str(d) for d in doc_ids]
    note = note.strip() if isinstance(note, str) and note.strip() else None
    action, states, events, skipped = uuid.uuid4().hex, [], [], 0
    with ws.connect() as con:
        require_documents(con, corpus, ids)
        before = review_log.current(con, corpus, ids).set_index("doc_id")
        for d in ids:
            dec0 = _value(before["decision"].get(d)) if d in before.index else None
            note0 = _value(before["note"].get(d)) if d in before.index else None
            if dec0 is not None and dec0 != decision and not change_decided:
                skipped += 1
                continue
            note1 = note or note0
            if (dec0, note0) != (decision, note1):
                states.append((d, decision, note1))
                events.append((d, dec0, decision, note0, note1))
        if states:
            review_log.put_state(con, corpus, states, reviewer)
            review_log.log(con, action, corpus, reviewer, "decision", events)
    return DecisionResult(len(states), skipped, action if states else None)


def record(ws: Workspace, corpus: str, doc_ids, decision: str | None, reviewer: str,
           note: str | None = None) -> int:
    """Store `decision` for `doc_ids`, changing earlier decisions too (an explicit per-document
    choice); returns how many documents it names. Logged like `decide`."""
    ids = list(doc_ids)
    decide(ws, corpus, ids, decision, reviewer, note, change_decided=True)
    return len(ids)


def save_note(ws: Workspace, corpus: str, doc_id: str, note: str, reviewer: str) -> bool:
    """Store a note on its own (the decision stays as it is); an empty note clears it. Returns
    whether anything changed."""
    reviewer, note1 = _check(None, reviewer), (note or "").strip() or None
    with ws.connect() as con:
        require_documents(con, corpus, [str(doc_id)])
        before = review_log.current(con, corpus, [doc_id])
        dec0 = _value(before["decision"].iloc[0]) if len(before) else None
        note0 = _value(before["note"].iloc[0]) if len(before) else None
        if note0 == note1:
            return False
        review_log.put_state(con, corpus, [(doc_id, dec0, note1)], reviewer)
        review_log.log(con, uuid.uuid4().hex, corpus, reviewer, "note", [(doc_id, dec0, dec0, note0, note1)])
    return True


@dataclass
class UndoResult:
    """What `undo_last` restored; `kept` documents changed again since, so they were left alone."""

    restored: int
    kept: int
    kind: str | None


def undo_last(ws: Workspace, corpus: str, reviewer: str) -> UndoResult:
    """Reverse the newest not-yet-undone action of `reviewer` on the corpus (a click, a bulk
    click, a note): each document gets back its decision and note from before, unless someone
    changed it since (then it keeps the newer state). The undo itself is logged."""
    reviewer = _check(None, reviewer)
    with ws.connect() as con:
        events = review_log.last_action(con, corpus, reviewer)
        if events.empty:
            return UndoResult(0, 0, None)
        now = review_log.current(con, corpus, events["doc_id"].tolist()).set_index("doc_id")
        back, log_rows, kept = [], [], 0
        for e in events.itertuples():
            state = (_value(now["decision"].get(e.doc_id)), _value(now["note"].get(e.doc_id))) \
                if e.doc_id in now.index else (None, None)
            if state != (_value(e.decision_after), _value(e.note_after)):
                kept += 1
                continue
            back.append((e.doc_id, _value(e.decision_before), _value(e.note_before)))
            log_rows.append((e.doc_id, *state[:1], _value(e.decision_before), state[1], _value(e.note_before)))
        if back:
            review_log.put_state(con, corpus, back, reviewer)
            review_log.log(con, uuid.uuid4().hex, corpus, reviewer, "undo", log_rows)
        review_log.mark_undone(con, events["action_id"].iloc[0])
    return UndoResult(len(back), kept, str(events["kind"].iloc[0]))


def history(ws: Workspace, corpus: str, doc_id: str) -> pd.DataFrame:
    """One document's review history, newest first: when, who, what (decision/note/undo), before
    and after, and whether it was undone later."""
    with ws.connect() as con:
        return review_log.history(con, corpus, doc_id)


def history_table(events: pd.DataFrame) -> pd.DataFrame:
    """`history` rows as a person reads them: when, who, what happened (and whether undone)."""
    def what(e) -> str:
        dec0, dec1, note0, note1 = (_value(e[c]) for c in ("decision_before", "decision_after",
                                                             "note_before", "note_after"))
        parts = [] if dec0 == dec1 else [f"{dec1 or 'cleared'} (was {dec0 or 'unreviewed'})"]
        parts += [] if note0 == note1 else [f"note '{note1 or ''}' (was '{note0 or ''}')"]
        return ("undo: " if e["kind"] == "undo" else "") + ("; ".join(parts) or "no change")
    return pd.DataFrame({"when (UTC)": pd.to_datetime(events["at"]).dt.strftime("%Y-%m-%d %H:%M:%S"),
                         "who": events["reviewer"], "what": [what(e) for _, e in events.iterrows()],
                         "undone later": events["undone"].astype(bool)})


def undoable(ws: Workspace, corpus: str, reviewer: str) -> int:
    """How many of `reviewer`'s actions on the corpus can still be undone."""
    with ws.connect() as con:
        return review_log.undoable(con, corpus, reviewer.strip() or None)


SORTS = {"document id": None, "score, high to low": "desc", "score, low to high": "asc",
         "curator uncertainty (closest to 0.5 first)": "uncertain"}


def sort_queue(frame: pd.DataFrame, how: str, score: str | None = None) -> pd.DataFrame:
    """Rows of `frame` in review order: by doc_id; by `score` (missing last); or by the curator
    model's uncertainty |p - 0.5|, the documents a decision teaches it most about first."""
    order = SORTS.get(how)
    if order == "uncertain" and "curator" in frame.columns:
        return frame.assign(_u=(frame["curator"] - 0.5).abs()).sort_values("_u", na_position="last").drop(columns="_u")
    if order in ("asc", "desc") and score in frame.columns:
        return frame.sort_values(score, ascending=order == "asc", na_position="last", kind="stable")
    return frame.sort_values("doc_id", kind="stable")


def progress_counts(decisions: pd.Series) -> dict:
    """Counts of accepted / rejected / unreviewed among a set of documents' decisions."""
    d = decisions.fillna("")
    return {"accept": int((d == ACCEPT).sum()), "reject": int((d == REJECT).sum()),
            "unreviewed": int((d == "").sum()), "total": int(len(d))}


def filter_queue(frame: pd.DataFrame, status: str = "all", score: str | None = None,
                 lo: float | None = None, hi: float | None = None) -> pd.DataFrame:
    """Rows of `frame` (corpus_frame columns) by review status ("all", "unreviewed", "accept",
    "reject") and, when `score` names a column, by lo <= value <= hi (missing values dropped)."""
    out = frame
    if status == "unreviewed":
        out = out[out["decision"].isna()]
    elif status in DECISIONS:
        out = out[out["decision"] == status]
    if score and score in out.columns and (lo is not None or hi is not None):
        v = out[score]
        keep = v.notna() & (v >= (-np.inf if lo is None else lo)) & (v <= (np.inf if hi is None else hi))
        out = out[keep]
    return out


def neighbours(doc_ids: np.ndarray, vectors: np.ndarray, doc_id: str, k: int = 5) -> list[tuple[str, float]]:
    """The `k` nearest documents to `doc_id` by cosine similarity over (doc_ids, vectors), best first."""
    hit = np.flatnonzero(doc_ids == doc_id)
    if not len(hit) or len(doc_ids) < 2:
        return []
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = unit @ unit[hit[0]]
    sims[hit[0]] = -np.inf
    k = min(k, len(doc_ids) - 1)
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.argsort(-sims[top])]
    return [(str(doc_ids[i]), float(sims[i])) for i in top]


@dataclass(frozen=True)
class CuratorConfig:
    """The "learn from the curator" classifier.

    min_per_class: accepted AND rejected documents needed before training is offered.
    folds: stratified cross-validation folds for the reported ROC-AUC (fewer if a class is small).
    C: inverse L2 regularisation of the logistic regression (embeddings are 384-d, labels few).
    embed_model: whose stored embeddings are the features (run `embed` first).
    """

    min_per_class: int = 20
    folds: int = 5
    C: float = 1.0
    seed: int = 0
    embed_model: str = DEFAULT_EMBEDDER

    def key(self, corpus: str) -> str:
        """Signal key: per corpus (decisions are), stable across refreshes so new values replace old."""
        digest = hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]
        return f"curator:{corpus}:{digest}"


@dataclass
class CuratorResult:
    signal_key: str
    auc: float
    n_accept: int
    n_reject: int
    n_scored: int


def labelled(ws: Workspace, corpus: str, config: CuratorConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(doc_ids, vectors, labels) of every embedded document; label 1 accept, 0 reject, -1 none."""
    with ws.connect() as con:
        ids, vecs = signal_store.embeddings(con, corpus, model_fingerprint(config.embed_model))
        rev = selection_store.reviews(con, corpus)
    decision = dict(zip(rev["doc_id"], rev["decision"]))
    labels = np.array([{ACCEPT: 1, REJECT: 0}.get(decision.get(d), -1) for d in ids], dtype=np.int64)
    return ids, vecs, labels


def train_curator(ws: Workspace, corpus: str, config: CuratorConfig | None = None) -> CuratorResult:
    """Fit the curator classifier, store its accept-probability for every embedded document as the
    corpus's active "curator" signal (params carry the cross-validated ROC-AUC), return the result."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 (keeps page imports light)
    from sklearn.model_selection import StratifiedKFold, cross_val_score  # noqa: PLC0415

    config = config or CuratorConfig()
    ids, vecs, labels = labelled(ws, corpus, config)
    n_acc, n_rej = int((labels == 1).sum()), int((labels == 0).sum())
    if min(n_acc, n_rej) < config.min_per_class:
        raise UserError(f"curator signal needs {config.min_per_class} accepted and {config.min_per_class} "
                        f"rejected embedded documents in '{corpus}'; it has {n_acc} and {n_rej}")
    x, y = vecs[labels >= 0], labels[labels >= 0]
    model = LogisticRegression(C=config.C, max_iter=1000, class_weight="balanced")
    folds = StratifiedKFold(n_splits=min(config.folds, n_acc, n_rej), shuffle=True, random_state=config.seed)
    auc = float(np.mean(cross_val_score(model, x, y, cv=folds, scoring="roc_auc")))
    proba = model.fit(x, y).predict_proba(vecs)[:, 1]
    key = config.key(corpus)
    params = {**asdict(config), "auc": auc, "n_accept": n_acc, "n_reject": n_rej}
    with ws.connect() as con:
        signal_store.put_scores(con, key, list(ids), proba)
        signal_store.set_signal(con, corpus, "curator", key, params)
    return CuratorResult(key, auc, n_acc, n_rej, len(ids))


def curator_status(ws: Workspace, corpus: str) -> dict | None:
    """The stored curator signal's params (auc, n_accept, n_reject, ...) or None if never trained."""
    with ws.connect() as con:
        sig = signal_store.signals(con, corpus)
    sig = sig[sig["kind"] == "curator"]
    if sig.empty:
        return None
    return json.loads(sig["params"].iloc[0])


def map_selection_name(corpus: str) -> str:
    """Name under which the documents picked on the map (box/lasso) are stored for review."""
    return f"{corpus}/map"


def save_map_selection(ws: Workspace, corpus: str, doc_ids) -> str:
    """Store the documents picked on the map as a selection, so the pick survives a reload."""
    name = map_selection_name(corpus)
    ids = [str(d) for d in doc_ids]
    with ws.connect() as con:
        selection_store.save_selection(con, name, corpus, "map", {"source": "box/lasso on the map", "n": len(ids)}, ids)
    return name
