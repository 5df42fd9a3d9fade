"""The runners of stages with their own recipe: `clusters`, `distilled`, `quality`. Each wires a
pure algorithm module (arrays in, arrays out) to storage and to the chunked, cached execution
helpers, as NeMo Curator's ScoreFilter wraps a pure DocumentFilter.

The registry (`engine.stages`) names these by reference (`runner="run_distilled"`) and the
executors resolve the name here, so this module may read the registry (a judge's stage, the
quality members) without the registry importing it.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np

from engine import clusters, distill, ensemble, stages
from engine.errors import UserError
from engine.filters import RULE_SIGNALS
from engine.executor import chunk_for, corpus_vectors, require_embedded, run_cached
from engine.progress import report
from engine.stage_base import SIGNAL, StageResult, require_corpus, timer
from engine.storage import corpus as store
from engine.storage import signals as signal_store


def resolve(runner):
    """A stage's runner: the function itself, or the one of this module its name gives."""
    return globals()[runner] if isinstance(runner, str) else runner


def run_clusters(ws, corpus: str, config: clusters.ClusterConfig | None = None, embed_model: str | None = None,
                 progress=None):
    """Cluster the corpus's stored embeddings and label the clusters; stored as the corpus's
    `cluster` signal (id per document in `scores`, labels and sizes in the signal's params).
    Kept while every document has an id under the key (same corpus, embedder and settings):
    new documents or another embedder recompute it."""
    config, elapsed = config or clusters.ClusterConfig(), timer()
    ekey = stages.embedding_key(embed_model)
    key = clusters.cluster_key(config, corpus, ekey)
    with ws.connect() as con:
        n_total = require_corpus(con, corpus)
        clusters.check_enough(n_total)
        stored = clusters.stored_params(con, corpus, key)
        if stored is not None and signal_store.missing_rows(con, corpus, "scores", key).empty:
            signal_store.set_signal(con, corpus, clusters.COLUMN, key, stored)  # the active clusters again
            return StageResult("clusters", 0, n_total, elapsed(), f"clusters {key} already stored")
        ids, vectors = signal_store.embeddings(con, corpus, ekey)
        texts = store.documents(con, corpus)["text"].to_numpy()  # doc_id order, as the vectors
    require_embedded(corpus, ekey, n_total, len(ids))
    report(progress, "clusters", 0, n_total)
    labels, names = clusters.cluster_corpus(vectors, texts, config)
    sizes = np.bincount(labels)
    params = {**config.params(), "embed_model": ekey, "n_clusters": int(len(sizes)),
              "labels": {str(c): names[c] for c in names}, "sizes": {str(c): int(s) for c, s in enumerate(sizes)}}
    with ws.connect() as con:
        signal_store.put_scores(con, key, list(ids), labels.astype(np.float64))
        signal_store.set_signal(con, corpus, clusters.COLUMN, key, params)
    report(progress, "clusters", n_total, n_total)
    return StageResult("clusters", n_total, 0, elapsed(),
                       f"{len(sizes)} clusters of {n_total} documents as {key}")


def run_distilled(ws, corpus: str, config: distill.DistillConfig, progress=None, embed_model: str | None = None):
    """The `distilled` stage: judge a seeded sample (its scores are stored under the judge's own
    key, chunk by chunk, so a killed run resumes), fit the head, score every embedded document.

    Stores the values under `<config key>:<corpus>:<embedder>` and, in the signal's params, the
    judge key, the sampled doc ids, the head and its validation figures."""
    elapsed, embed_key = timer(), stages.embedding_key(embed_model)
    judge = stages.stage(config.judge)
    if judge.reads != "text" or judge.kind != SIGNAL:
        raise UserError(f"the distilled judge must be a per-document signal, not '{config.judge}'")
    with ws.connect() as con:  # the judge settings that were scored, not a fresh default run (issue 22)
        stored = signal_store.signals(con, corpus)
    stored = stored.loc[stored["kind"] == config.judge, "params"]
    stored = json.loads(stored.iloc[0]) if len(stored) else None
    judge_config = judge.make_config(**distill.judge_settings(
        stored, {f.name for f in dataclasses.fields(judge.config)}, config.judge_model))
    judge_key = judge.key(judge_config, corpus, "")
    with ws.connect() as con:
        ids, vectors = corpus_vectors(con, corpus, embed_key)  # one line when embeddings are missing
        frame = store.corpus_frame(con, corpus, snippet_chars=0)
        topics = frame.set_index("doc_id")["cluster"].reindex(ids).to_numpy(float) if "cluster" in frame else None
    if topics is not None and np.isnan(topics).any():  # clustered before new documents came: uniform
        topics = None
    size = distill.sample_size(len(ids), config)
    picked = ids[distill.draw_sample(len(ids), size, config.seed, topics)]
    with ws.connect() as con:
        missing = signal_store.missing_rows(con, corpus, "scores", judge_key)
    missing = missing[missing["doc_id"].isin(set(picked))]
    write = lambda con, doc_ids, out: judge.output.put(con, judge_key, doc_ids, out)  # noqa: E731
    chunk = chunk_for(None, getattr(judge_config, "device", None), *judge.chunk)
    run_cached(ws, f"distilled ({config.judge} on {size} sampled)", missing, size,
               lambda texts: judge.batch(texts, judge_config), write, chunk, progress)
    with ws.connect() as con:
        judged = signal_store.scores_of(con, judge_key, list(picked))
    row = {d: i for i, d in enumerate(ids)}
    decided = frame.dropna(subset=["decision"])
    decided = decided[decided["doc_id"].isin(row) & decided["decision"].isin(["accept", "reject"])]
    fitted = distill.fit_distilled(vectors[[row[d] for d in judged.index]], judged.to_numpy(), config,
                                   vectors[[row[d] for d in decided["doc_id"]]] if len(decided) else None,
                                   (decided["decision"] == "accept").to_numpy(float) if len(decided) else None)
    values = distill.apply_head(fitted["head"], vectors)
    key = f"{config.key(judge_key)}:{corpus}:{embed_key}"
    params = {**dataclasses.asdict(config), "judge_key": judge_key, "embed_model": embed_key,
              "sample": [str(d) for d in picked], **fitted}
    with ws.connect() as con:
        judge.output.put(con, key, list(ids), values)
        signal_store.set_signal(con, corpus, "distilled", key, params)
    v = fitted["validation"]
    return StageResult("distilled", len(ids), 0, elapsed(),
                       f"distilled {config.judge} from {size} judged documents into a {config.head} head "
                       f"(held-out Spearman {v['spearman']}, AUC {v['auc']} vs the judge) as {key}")


def run_quality(ws, corpus: str, config: ensemble.EnsembleConfig, progress=None, embed_model: str | None = None):
    """The `quality` stage: combine the corpus's active quality signals (every "top" signal but
    the curator's own classifier and this one) and store the result as the active `quality`."""
    elapsed = timer()
    with ws.connect() as con:
        require_corpus(con, corpus)
        frame = store.corpus_frame(con, corpus, snippet_chars=0)
        keys = {n: signal_store.active_signal_key(con, corpus, n) for n in stages.member_signals() if n in frame}
        rule_keys = {n: signal_store.active_signal_key(con, corpus, n) for n in RULE_SIGNALS if n in frame}
    members = {n: frame[n].to_numpy(np.float64) for n in keys}
    if members and ensemble.rules_member(frame):  # rules join a combination, never stand alone as "quality"
        members.update(ensemble.rules_member(frame))
        keys[ensemble.RULES_MEMBER] = "+".join(sorted(rule_keys.values()))
    decisions = frame["decision"].map({"accept": 1.0, "reject": 0.0}).to_numpy(np.float64)
    values, record = ensemble.combine(members, stages.good_ends(), config, decisions)
    seen = frame.loc[~np.isnan(decisions), ["doc_id", "decision"]].to_numpy().tolist()
    key = ensemble.ensemble_key(record["mode"], keys, repr(seen) if record["mode"] == "stack" else "")
    keep = ~np.isnan(values)
    with ws.connect() as con:
        signal_store.put_scores(con, key, frame["doc_id"][keep].tolist(), values[keep])
        signal_store.set_signal(con, corpus, "quality", key, {**record, "member_keys": keys, "mode_asked": config.mode})
    how = f"stack (cross-validated AUC {record['stack']['cv_auc']})" if "stack" in record else "rank-mean"
    return StageResult("quality", int(keep.sum()), 0, elapsed(),
                       f"quality = {how} of {', '.join(keys)} as {key}")
