"""The quality model: a calibrated logistic regression trained on the curator's decisions.

Features of a document: its stored sentence embedding (unit length) and the percentile rank of
every unsupervised quality signal present (askllm, perplexity, distilled, ...; oriented so that
high = good; 0.5 where a document has no score). The curator's own classifier and `quality`
itself are never features (they are made from the same decisions).

Evidence: out-of-fold predictions of a stratified k-fold cross-validation give the model's ROC-AUC
(with a stratified-bootstrap 95% CI and the per-fold AUCs); the unsupervised ensemble (the mean
of the same signals' ranks) is scored against the same decisions. The model becomes the corpus's
active `quality` signal only when a paired bootstrap of (model AUC - ensemble AUC) over the
decided documents has its 2.5th percentile above 0 (with no unsupervised signal: when the model's
CI lies above chance). Otherwise the unsupervised ensemble stays (or becomes again) the active one.

Every fit is stored (engine.storage.quality_models) with the number of decisions it used: the
learning curve. Pure fitting (`fit_quality`) is separate from storage (`refit`); the caller
passes each signal's good end (`good`, from the stage registry), so this module imports no
stage, pipeline or CLI code.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from engine import agreement
from engine.ensemble import ensemble_key, oriented_ranks, rank_mean
from engine.errors import UserError
from engine.models import DEFAULT_EMBEDDER, model_fingerprint

NOT_FEATURES = ("curator", "quality")  # trained on the same decisions: would leak the labels


@dataclass(frozen=True)
class QualityModelConfig:
    """C: inverse L2 strength of the logistic regression on the raw features (C and "no scaling"
    were chosen on the quality set's web-page LINES of its train split, never on the documents
    bench/active_learning.py reports); folds: at most this many stratified folds (fewer while a
    class is small); reps: bootstrap resamples."""

    C: float = 1.0
    folds: int = 5
    min_per_class: int = 2
    calibrate_from: int = 15  # Platt scaling on tiny folds can flip the ranking: plain logistic below this
    reps: int = 400
    seed: int = 0
    embed_model: str = DEFAULT_EMBEDDER


@dataclass
class QualityFit:
    """One fit: the evidence, which signal is active and why, and P(accept) per document."""

    n_accept: int
    n_reject: int
    cv_auc: float
    ci: tuple[float, float]
    fold_aucs: list[float]
    ensemble_auc: float | None
    ensemble_ci: tuple[float, float] | None
    gain_ci: tuple[float, float] | None
    active: bool
    why: str
    members: list[str]
    seconds: float = 0.0
    doc_ids: np.ndarray = field(default_factory=lambda: np.array([]), repr=False)
    proba: np.ndarray = field(default_factory=lambda: np.array([]), repr=False)

    @property
    def n_decisions(self) -> int:
        return self.n_accept + self.n_reject

    def summary(self) -> dict:
        """The JSON-able evidence (no per-document arrays)."""
        return {"active": "quality model" if self.active else "unsupervised ensemble", "why": self.why,
                "n_decisions": self.n_decisions, "n_accept": self.n_accept, "n_reject": self.n_reject,
                "cv_auc": round(self.cv_auc, 4), "cv_auc_ci": [round(v, 4) for v in self.ci],
                "fold_aucs": [round(v, 4) for v in self.fold_aucs],
                "ensemble_auc": None if self.ensemble_auc is None else round(self.ensemble_auc, 4),
                "ensemble_auc_ci": None if self.ensemble_ci is None else [round(v, 4) for v in self.ensemble_ci],
                "gain_ci": None if self.gain_ci is None else [round(v, 4) for v in self.gain_ci],
                "members": self.members, "seconds": round(self.seconds, 3)}


def member_names(frame: pd.DataFrame, good: dict[str, str]) -> list[str]:
    """The unsupervised quality signals present in `frame` (columns named in `good`)."""
    return [n for n in good if n in frame and n not in NOT_FEATURES and frame[n].notna().any()]


def features(vectors: np.ndarray, ranks: np.ndarray | None) -> np.ndarray:
    """[unit embeddings | oriented ranks (NaN -> 0.5)] as float64 rows."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    if ranks is None or not ranks.shape[1]:
        return unit.astype(np.float64)
    return np.hstack([unit, np.nan_to_num(ranks, nan=0.5)]).astype(np.float64)


def check_classes(y: np.ndarray, config: QualityModelConfig) -> None:
    """One clear line (UserError) unless there are >= min_per_class accepts AND rejects."""
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    if min(pos, neg) < config.min_per_class:
        only = "no decisions" if pos + neg == 0 else \
            f"one class only so far ({pos} accepted, {neg} rejected)" if min(pos, neg) == 0 else \
            f"too few of one class ({pos} accepted, {neg} rejected)"
        raise UserError(f"{only}: the quality model needs at least {config.min_per_class} accepted and "
                        f"{config.min_per_class} rejected embedded documents; no model was fitted")


def _model(config: QualityModelConfig):
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 (keeps page imports light)

    return LogisticRegression(C=config.C, max_iter=2000)


def cross_validated(X: np.ndarray, y: np.ndarray, config: QualityModelConfig) -> tuple[np.ndarray, list[float]]:
    """Out-of-fold P(accept) for every decided row and each fold's AUC (NaN for a one-class fold)."""
    from sklearn.model_selection import StratifiedKFold  # noqa: PLC0415

    k = max(2, min(config.folds, int((y == 1).sum()), int((y == 0).sum())))
    oof, per_fold = np.zeros(len(y)), []
    with one_thread():
        for train, test in StratifiedKFold(k, shuffle=True, random_state=config.seed).split(X, y):
            oof[test] = _model(config).fit(X[train], y[train]).predict_proba(X[test])[:, 1]
            per_fold.append(agreement.auc(y[test], oof[test]) if len(np.unique(y[test])) == 2 else float("nan"))
    return oof, per_fold


def one_thread():
    """BLAS/OpenMP limited to one thread: these fits are tiny, and on a busy machine thread
    hand-offs made one take 20x longer (0.34 s vs 0.015 s for 30 decisions, measured here)."""
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 (a scikit-learn dependency)

    return threadpool_limits(1)


def fit_calibrated(X: np.ndarray, y: np.ndarray, config: QualityModelConfig):
    """The model fitted on every decision; once each class has `calibrate_from` decisions its
    scores go through a Platt sigmoid fitted on 3-fold out-of-fold scores. The sigmoid's slope must
    be positive, so calibration never reorders documents: a library calibrator averaging three fold
    models did (a 0.85 held-out AUC fell to 0.58 in a bench repeat), and an unconstrained sigmoid
    on a sample whose out-of-fold scores anti-correlated inverted the ranking (0.10). With a
    non-positive slope the plain logistic regression (its log-loss fit is its own calibration) stays."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.model_selection import StratifiedKFold, cross_val_predict  # noqa: PLC0415

    with one_thread():
        model = _model(config).fit(X, y)
        if min(int((y == 1).sum()), int((y == 0).sum())) < config.calibrate_from:
            return model
        folds = StratifiedKFold(3, shuffle=True, random_state=config.seed)
        oof = cross_val_predict(_model(config), X, y, cv=folds, method="decision_function")
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(oof[:, None], y)
    slope, icpt = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    return Platt(model, slope, icpt) if slope > 0 else model


@dataclass
class Platt:
    """A fitted classifier whose decision values pass through sigmoid(slope * d + intercept)."""

    model: object
    slope: float
    intercept: float

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-(self.slope * self.model.decision_function(X) + self.intercept)))
        return np.column_stack([1 - p, p])


def paired_gain(y: np.ndarray, a: np.ndarray, b: np.ndarray, reps: int, seed: int) -> tuple[float, float]:
    """95% interval of AUC(a) - AUC(b) over stratified bootstrap resamples of the same documents."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    idx = np.hstack([rng.choice(pos, (reps, len(pos))), rng.choice(neg, (reps, len(neg)))])

    def aucs(s: np.ndarray) -> np.ndarray:
        r = rankdata(s[idx], axis=1)
        return (r[:, :len(pos)].sum(1) - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
    lo, hi = np.percentile(aucs(a) - aucs(b), [2.5, 97.5])
    return float(lo), float(hi)


def _verdict(cv_auc, ci, ens_auc, gain) -> tuple[bool, str]:
    """Whether the model becomes the active quality signal, and why, in one sentence."""
    if ens_auc is None:
        if ci[0] > 0.5:
            return True, (f"no unsupervised quality signal to compare with; the model's CV AUC {cv_auc:.3f} "
                          f"[{ci[0]:.2f}, {ci[1]:.2f}] is above chance")
        return False, f"the model's CV AUC {cv_auc:.3f} [{ci[0]:.2f}, {ci[1]:.2f}] is not above chance yet"
    if gain[0] > 0:
        return True, (f"its CV AUC {cv_auc:.3f} beats the unsupervised ensemble's {ens_auc:.3f} on the same "
                      f"decisions (paired bootstrap gain [{gain[0]:+.3f}, {gain[1]:+.3f}] excludes 0)")
    return False, (f"no measured gain: CV AUC {cv_auc:.3f} vs the unsupervised ensemble's {ens_auc:.3f} on the "
                   f"same decisions; the paired bootstrap gain [{gain[0]:+.3f}, {gain[1]:+.3f}] includes 0")


def fit_quality(doc_ids: np.ndarray, vectors: np.ndarray, frame: pd.DataFrame, good: dict[str, str],
                config: QualityModelConfig = QualityModelConfig()) -> QualityFit:
    """Fit on the decided rows of `frame` (doc_id, decision, signal columns) that have a vector.

    `doc_ids`/`vectors`: the corpus's stored embeddings. Returns the evidence and P(accept) for
    every embedded document; a UserError (one line) while a class has too few decisions."""
    t0 = time.perf_counter()
    aligned = frame.set_index("doc_id").reindex(doc_ids)
    members = member_names(frame, good)
    ranks = oriented_ranks({n: aligned[n].to_numpy(np.float64) for n in members}, good) if members else None
    X = features(vectors, ranks)
    y = aligned["decision"].map({"accept": 1, "reject": 0}).to_numpy(np.float64)
    seen = ~np.isnan(y)
    yd = y[seen].astype(int)
    check_classes(yd, config)
    oof, per_fold = cross_validated(X[seen], yd, config)
    cv_auc, lo, hi = agreement.auc_ci(yd, oof, config.reps, config.seed)
    ens_auc = ens_ci = gain = None
    if members:
        ens = np.nan_to_num(rank_mean(ranks), nan=0.5)[seen]
        ens_auc, e_lo, e_hi = agreement.auc_ci(yd, ens, config.reps, config.seed)
        ens_ci, gain = (e_lo, e_hi), paired_gain(yd, oof, ens, config.reps, config.seed)
    active, why = _verdict(cv_auc, (lo, hi), ens_auc, gain)
    model = fit_calibrated(X[seen], yd, config)
    with one_thread():
        proba = model.predict_proba(X)[:, 1]
    return QualityFit(int(yd.sum()), int((yd == 0).sum()), cv_auc, (lo, hi), per_fold, ens_auc, ens_ci, gain,
                      active, why, members, time.perf_counter() - t0, np.asarray(doc_ids), proba)


def model_key(corpus: str, config: QualityModelConfig) -> str:
    """Stable per corpus and settings, so a refit replaces the previous values instead of piling up."""
    digest = hashlib.sha1(repr(sorted(asdict(config).items())).encode()).hexdigest()[:8]
    return f"quality:curator-model:{corpus}@{digest}"


def refit(ws, corpus: str, good: dict[str, str], config: QualityModelConfig = QualityModelConfig()) -> QualityFit:
    """Fit on the corpus's current decisions, store the fit (always) and set the active `quality`:
    the model when the evidence says so, else the unsupervised rank-mean ensemble."""
    from engine.storage import corpus as cstore, quality_models as qstore, signals as sstore  # noqa: PLC0415

    with ws.connect() as con:
        if not cstore.corpus_exists(con, corpus):
            raise UserError(f"no corpus named {corpus!r}")
        ids, vectors = sstore.embeddings(con, corpus, model_fingerprint(config.embed_model))
        frame = cstore.corpus_frame(con, corpus, snippet_chars=0)
        member_keys = {n: sstore.active_signal_key(con, corpus, n) for n in member_names(frame, good)}
    if not len(ids):
        raise UserError(f"corpus {corpus!r} has no stored embeddings: run `python -m engine embed --corpus {corpus}`")
    fit = fit_quality(ids, vectors, frame, good, config)
    key = model_key(corpus, config)
    row = {"corpus": corpus, "n_decisions": fit.n_decisions, "n_accept": fit.n_accept, "n_reject": fit.n_reject,
           "cv_auc": fit.cv_auc, "ci_lo": fit.ci[0], "ci_hi": fit.ci[1], "ensemble_auc": fit.ensemble_auc,
           "ensemble_lo": fit.ensemble_ci and fit.ensemble_ci[0], "ensemble_hi": fit.ensemble_ci and fit.ensemble_ci[1],
           "gain_lo": fit.gain_ci and fit.gain_ci[0], "gain_hi": fit.gain_ci and fit.gain_ci[1], "active": fit.active,
           "why": fit.why, "signal_key": key, "seconds": fit.seconds,
           "params": {**asdict(config), "fold_aucs": fit.fold_aucs, "members": member_keys}}
    with ws.connect() as con:
        qstore.add_fit(con, row)
        if fit.active:
            sstore.put_scores(con, key, list(fit.doc_ids), fit.proba)
            sstore.set_signal(con, corpus, "quality", key, {"mode": "curator-model", **fit.summary(),
                                                            "member_keys": member_keys})
        elif sstore.active_signal_key(con, corpus, "quality") == key:
            _restore_ensemble(con, corpus, key, frame, good, member_keys)
    return fit


def _restore_ensemble(con, corpus: str, model_signal: str, frame: pd.DataFrame, good: dict[str, str],
                      member_keys: dict[str, str]) -> None:
    """The model lost its lead: the rank-mean of the unsupervised signals is the active `quality`
    again (stored as the `quality` stage stores it); with no such signal, no `quality` at all."""
    from engine.storage import quality_models as qstore, signals as sstore  # noqa: PLC0415

    qstore.drop_signal(con, corpus, "quality", model_signal)
    if not member_keys:
        return
    values = rank_mean(oriented_ranks({n: frame[n].to_numpy(np.float64) for n in member_keys}, good))
    keep = ~np.isnan(values)
    key = ensemble_key("rank-mean", member_keys)
    sstore.put_scores(con, key, frame["doc_id"][keep].tolist(), values[keep])
    sstore.set_signal(con, corpus, "quality", key, {"mode": "rank-mean", "members": list(member_keys),
                                                    "member_keys": member_keys, "mode_asked": "curator-model fallback"})


def fits(ws, corpus: str) -> pd.DataFrame:
    """Every stored fit of the corpus, oldest first: the learning curve."""
    from engine.storage import quality_models as qstore  # noqa: PLC0415

    with ws.connect() as con:
        return qstore.fits(con, corpus)


def latest(ws, corpus: str) -> dict | None:
    """The newest fit as a dict (None before the first)."""
    table = fits(ws, corpus)
    return None if table.empty else table.iloc[-1].to_dict()


def decisions_needed(curve: pd.DataFrame, target: float) -> dict:
    """An ESTIMATE of the decisions at which the CV AUC reaches `target`: a least-squares line of
    CV AUC on log(decisions) through the stored fits (the newest per count), solved for `target`.
    Returns {"n": total decisions or None, "more": decisions still to make, "reason"}."""
    points = curve.dropna(subset=["cv_auc"]).drop_duplicates("n_decisions", keep="last")
    have = int(points["n_decisions"].max()) if len(points) else 0
    if len(points) and points["cv_auc"].iloc[-1] >= target:
        return {"n": have, "more": 0, "reason": f"reached: the latest CV AUC is {points['cv_auc'].iloc[-1]:.3f}"}
    if len(points) < 3:
        return {"n": None, "more": None, "reason": "needs fits at 3 or more different numbers of decisions"}
    slope, icpt = np.polyfit(np.log(points["n_decisions"].to_numpy(float)), points["cv_auc"].to_numpy(float), 1)
    if slope <= 0 or target >= 1:
        return {"n": None, "more": None, "reason": "the CV AUC is not rising with more decisions yet: no estimate"}
    n = int(np.ceil(np.exp((target - icpt) / slope)))
    if n > 100_000:
        return {"n": None, "more": None, "reason": "beyond 100,000 decisions on the present trend: not reachable"}
    return {"n": n, "more": max(0, n - have), "reason": f"estimate: CV AUC = {icpt:.3f} + {slope:.3f} x ln(decisions), "
            f"fitted to {len(points)} points; an extrapolation, not a promise"}
