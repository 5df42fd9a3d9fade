"""A proxy check: train a proxy (`engine.proxy`) on each of several saved selections of a corpus for
the same number of tokens and seeds, score each on one target set, and compare (`engine.proxy_stats`).

Contract of `run_check(ws, settings, progress)`:
- the corpus is tokenised ONCE per (corpus content, tokenizer) (`engine.proxy_tokens`), and every
  selection's stream is a gather from it;
- entries: the named selections, plus `random` (a seeded random selection of the first one's token
  count) with `random_baseline`, plus `corpus` (every document) with `whole_corpus`;
- target: a file (.jsonl/.json with a `text` field, .parquet, or .txt with one document per line), or
  `accepted` (the corpus's curator-accepted documents, removed from every training entry). Target
  documents whose normalised text equals a training document's are removed and counted. A file
  with `choices` and `answer` columns is a multiple-choice target (`engine.proxy_choice`): the loss
  is that of each question followed by its right answer, and every entry also reports the
  probability its proxies put on the right choice;
- each (entry, seed) run is stored in DuckDB under a key of its ids, target, spec and device, so a
  rerun trains only what is missing; a run in progress checkpoints to `<workspace dir>/proxy/ckpt/`.
Bad input (unknown selection, too few tokens, nothing left of the target, too large a proxy) raises
`UserError` before anything is stored.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from engine import proxy, proxy_choice, proxy_stats
from engine.errors import UserError
from engine.progress import ProgressFn, report
from engine.proxy_tokens import CorpusTokens, _encode, _norm, _sha, _tokenizer, corpus_tokens
from engine.storage import Workspace
from engine.storage import proxy as store
from engine.storage import selections as sel_store

TOKENIZER = "smollm2-135m-instruct"  # the packaged SmolLM2's tokenizer (49,152 ids)
# vocab: the proxy predicts the corpus's `vocab - 1` most frequent token ids plus one "other" id; on
# 2 CPU cores the 49k-way output layer would cost most of the time, on a GPU every id is kept.
CPU_DEFAULTS = {"size": "tiny", "tokens": 200_000, "seq_len": 128, "batch": 16, "lr": 3e-3, "vocab": 4096,
                "eval_tokens": 20_000}
CUDA_DEFAULTS = {"size": "base", "tokens": 20_000_000, "seq_len": 512, "batch": 32, "lr": 1.5e-3, "vocab": 65536,
                 "eval_tokens": 200_000}


@dataclass(frozen=True)
class CheckSettings:
    corpus: str
    selections: tuple[str, ...]
    target: str
    seeds: int = 3
    tokens: int | None = None  # None: the device's default (CPU_DEFAULTS / CUDA_DEFAULTS)
    size: str | None = None
    seq_len: int | None = None
    batch: int | None = None
    vocab: int | None = None  # None: the device's default
    eval_tokens: int | None = None  # target tokens scored (the first ones, in file order); None: default
    device: str | None = None
    random_baseline: bool = False
    whole_corpus: bool = False
    tokenizer: str = TOKENIZER
    checkpoint_s: float = 20.0  # seconds between checkpoints of a run in progress


def _entries(ws: Workspace, s: CheckSettings, ct: CorpusTokens) -> dict[str, np.ndarray]:
    """Entry name -> document positions in `ct` (selection rank order; random/corpus appended)."""
    index = {d: i for i, d in enumerate(ct.doc_ids)}
    entries = {}
    with ws.connect() as con:
        for name in s.selections:
            sel = sel_store.selection(con, name)
            if sel is None:
                raise UserError(f"unknown selection '{name}' (saved selections: python -m engine select ... --name)")
            if sel["corpus"] != s.corpus:
                raise UserError(f"selection '{name}' belongs to corpus '{sel['corpus']}', not '{s.corpus}'")
            entries[name] = np.array([index[d] for d in sel["doc_ids"] if d in index], dtype=np.int64)
    if s.random_baseline:
        entries["random"] = _random_like(ct, entries[s.selections[0]])
    if s.whole_corpus:
        entries["corpus"] = np.arange(len(ct.doc_ids))
    return entries


def _random_like(ct: CorpusTokens, ref: np.ndarray, seed: int = 0) -> np.ndarray:
    """A seeded random selection of the corpus with (just over) the token count of `ref`."""
    order = np.random.default_rng(seed).permutation(len(ct.doc_ids))
    lengths = ct.offsets[order + 1] - ct.offsets[order] + 1
    return order[:int(np.searchsorted(np.cumsum(lengths), ct.n_tokens(ref))) + 1]


def _target(ws: Workspace, s: CheckSettings, ct: CorpusTokens, entries: dict) -> tuple[np.ndarray, dict, tuple | None]:
    """(target ids, description, multiple-choice items as text or None): overlapping documents
    removed, `accepted` ones kept out of training."""
    train_hashes = set(ct.norm_hash[np.unique(np.concatenate(list(entries.values())))])
    if s.target == "accepted":
        with ws.connect() as con:
            rev = sel_store.reviews(con, s.corpus)
        accepted = set(rev.loc[rev["decision"] == "accept", "doc_id"])
        pos = np.array([i for i, d in enumerate(ct.doc_ids) if d in accepted], dtype=np.int64)
        kept_out = {n: int(np.isin(p, pos).sum()) for n, p in entries.items()}
        for n in entries:
            entries[n] = entries[n][~np.isin(entries[n], pos)]
        ids, choices = ct.stream(pos), None
        info = {"source": "accepted", "docs": len(pos), "kept_out_of_training": kept_out, "removed_overlap": 0}
    else:
        texts, choices = read_target(s.target)
        kept = [i for i, t in enumerate(texts) if _sha(_norm(t)) not in train_hashes]
        keep = [texts[i] for i in kept]
        if choices is not None:
            choices = tuple([part[i] for i in kept] for part in choices)
        tok = _tokenizer(s.tokenizer)
        flat, offsets = _encode(tok, keep, None, "proxy: tokenising the target")
        cut = CorpusTokens(np.array([]), np.array([]), flat, offsets, ct.eos, "")
        ids = cut.stream(np.arange(len(keep)))
        info = {"source": Path(s.target).name, "docs": len(keep), "removed_overlap": len(texts) - len(keep),
                "multiple_choice": choices is not None}
    if len(ids) < 2:
        raise UserError(f"the target '{s.target}' has no documents left outside the training data "
                        f"({info.get('removed_overlap', 0)} overlapping removed)")
    info["tokens"] = int(len(ids))
    return ids, info, choices


def read_target(path: str) -> tuple[list[str], tuple | None]:
    """(texts, multiple-choice items or None) of a target file: .jsonl/.json (field `text`), .parquet
    (column `text`), .txt (one per line); with `choices` and `answer` a multiple-choice target, whose
    texts are each question followed by its right answer (`engine.proxy_choice`)."""
    import pandas as pd  # noqa: PLC0415

    p = Path(path)
    if not p.is_file():
        raise UserError(f"target file not found: {path} (or use --target accepted)")
    try:
        if p.suffix == ".txt":
            return [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()], None
        frame = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_json(p, lines=p.suffix == ".jsonl")
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read target {path}: {str(exc).splitlines()[0]}") from None
    choices = proxy_choice.parse(frame, path)
    if choices is not None:
        return proxy_choice.right_texts(*choices), choices
    if "text" not in frame.columns:
        raise UserError(f"target {path} has no 'text' column (columns: {', '.join(map(str, frame.columns))})")
    return [str(t) for t in frame["text"] if str(t).strip()], None


def _defaults(device: str) -> dict:
    return CUDA_DEFAULTS if device.startswith("cuda") else CPU_DEFAULTS


def resolve_spec(s: CheckSettings, device: str, vocab: int) -> proxy.ProxySpec:
    d = _defaults(device)
    return proxy.ProxySpec(size=s.size or d["size"], tokens=s.tokens or d["tokens"], seq_len=s.seq_len or d["seq_len"],
                           batch=s.batch or d["batch"], lr=d["lr"], vocab_size=vocab)


def run_check(ws: Workspace, s: CheckSettings, progress: ProgressFn | None = None) -> dict:
    """Train and score every (entry, seed) not stored yet; store and return the check's report."""
    from engine import models  # noqa: PLC0415

    if s.seeds < 1:
        raise UserError("--seeds must be at least 1")
    device = models.pick_device(s.device)
    t0 = time.perf_counter()
    ct = corpus_tokens(ws, s.corpus, s.tokenizer, progress)
    entries = _entries(ws, s, ct)
    target_ids, target_info, choices = _target(ws, s, ct, entries)
    lut = ct.vocab_map(s.vocab or _defaults(device)["vocab"])
    items = None if choices is None else proxy_choice.tokenise(_tokenizer(s.tokenizer), lut, *choices)
    target_ids = lut[target_ids[:(s.eval_tokens or _defaults(device)["eval_tokens"]) + 1]]
    target_info["tokens_scored"] = int(len(target_ids))
    spec = resolve_spec(s, device, int(lut.max()) + 1)
    if spec.size not in proxy.SIZES:
        raise UserError(f"unknown proxy size '{spec.size}': choose one of {', '.join(proxy.SIZES)}")
    need = spec.batch * (spec.seq_len + 1)
    for name, pos in entries.items():
        if ct.n_tokens(pos) < need:
            raise UserError(f"selection '{name}' has {ct.n_tokens(pos):,} tokens; the proxy needs at least {need:,} "
                            f"(one batch of {spec.batch} x {spec.seq_len}); choose a larger budget or --batch/--seq-len")
    proxy.check_memory(spec, device)
    # a text target's key is as before (stored runs stay valid); multiple-choice items extend it
    target_hash = _sha(target_ids.tobytes(), *([items.key()] if items else []))
    runs = _train_all(ws, s, ct, lut, entries, (target_ids, items), target_hash, spec, device, progress)
    return _report(ws, s, ct, entries, runs, spec, device, target_info, time.perf_counter() - t0)


def _train_all(ws, s, ct, lut, entries, target, target_hash, spec, device, progress) -> dict[str, list[dict]]:
    """Entry name -> one result per seed; stored runs are read back, missing ones trained and stored.
    `target`: (held-out ids, multiple-choice items or None)."""
    per_run = spec.steps * spec.batch * spec.seq_len
    todo, results = [], {}
    for name, pos in entries.items():
        ids_hash = _sha(ct.key, pos.tobytes())
        for seed in range(s.seeds):
            run_spec = replace(spec, seed=seed)
            key = _sha(ids_hash, target_hash, json.dumps(asdict(run_spec), sort_keys=True), device.split(":")[0])
            with ws.connect() as con:
                stored = store.stored_run(con, key)
            results.setdefault(name, []).append(stored)
            if stored is None:
                todo.append((name, seed, run_spec, key, ids_hash, pos))
    ckpt_dir = Path(ws.path).parent / "proxy" / "ckpt"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    for k, (name, seed, run_spec, key, ids_hash, pos) in enumerate(todo):
        ckpt = ckpt_dir / f"{key}.pt"
        result = proxy.train_proxy(lut[ct.stream(pos)], target[0], run_spec, device, ckpt, progress,
                                   "proxy: training (tokens)", k * per_run, len(todo) * per_run,
                                   checkpoint_every_s=s.checkpoint_s, choices=target[1])
        with ws.connect() as con:
            store.save_run(con, key, s.corpus, name, ids_hash, target_hash, seed, asdict(run_spec), result)
        ckpt.unlink(missing_ok=True)
        results[name][seed] = result
    if not todo:
        report(progress, "proxy: training (tokens)", 1, 1)
    return results


def _report(ws, s, ct, entries, runs, spec, device, target_info, wall_s) -> dict:
    summaries = []
    for name, res in runs.items():
        row = proxy_stats.entry_summary(name, [r["loss"] for r in res], [r["curve"] for r in res])
        pos = entries[name]
        row.update(docs=int(len(pos)), tokens=ct.n_tokens(pos), epochs=res[0]["epochs"])
        if res[0].get("choices"):
            row.update(proxy_stats.choice_summary([r["choices"] for r in res]))
        summaries.append(row)
    names = list(runs)
    pairs = [proxy_stats.pair_summary(a, [r["loss"] for r in runs[a]], b, [r["loss"] for r in runs[b]])
             for i, a in enumerate(names) for b in names[i + 1:]]
    if target_info.get("multiple_choice"):
        pairs = [proxy_stats.choice_gap(q, [r["choices"] for r in runs[q["better"]]],
                                        [r["choices"] for r in runs[q["worse"]]]) for q in pairs]
    first = next((p for p in pairs if {"random", names[0]} == {p["better"], p["worse"]}), pairs[0] if pairs else None)
    trained = [r for res in runs.values() for r in res]
    rep = {"corpus": s.corpus, "selections": names, "target": target_info,
           "proxy": {"size": spec.size, "params": proxy.n_params(spec), "tokens": spec.steps * spec.batch * spec.seq_len,
                     "seq_len": spec.seq_len, "batch": spec.batch, "vocab": spec.vocab_size, "seeds": s.seeds, "device": device,
                     "tokenizer": s.tokenizer},
           "entries": summaries, "pairs": pairs,
           "verdict": proxy_stats.verdict(first, spec.steps * spec.batch * spec.seq_len, s.seeds) if first else None,
           "wall_s": round(wall_s, 1), "train_s": round(sum(r["seconds"] for r in trained), 1),
           "tokens_per_s": round(float(np.mean([r["tokens_per_s"] for r in trained]))),
           "mfu": None if trained[0]["mfu"] is None else round(float(np.mean([r["mfu"] for r in trained])), 4)}
    with ws.connect() as con:
        store.save_check(con, _sha(s.corpus, *names, json.dumps(rep["proxy"], sort_keys=True), rep["target"]["source"]),
                         s.corpus, names, rep)
    return rep
