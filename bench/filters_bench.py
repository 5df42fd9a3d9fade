"""Evidence for the heuristic rules, language ID and near-duplicate removal (issue 21).

    PYTHONPATH=. python bench/filters_bench.py agreement   # -> bench/results/filters_agreement.{json,md}
    PYTHONPATH=. python bench/filters_bench.py speed       # -> bench/results/filters_speed.{json,md}
    PYTHONPATH=. python bench/filters_bench.py minhash --n 1000000   # adds the 1M MinHash run

agreement: the human-labelled units of ../shared/data/quality (bench/quality_auc.py's
`load_units`: every line, and every page rebuilt as its content lines (label 1) and its
boilerplate lines (label 0)). Per rule set and for the combined filter: ROC-AUC of the share of
rules passed against label 1, and precision/recall of "fails" for label 0 (boilerplate), each with a
stratified-bootstrap 95% interval. Nothing is tuned: the thresholds are the published ones.
Then "rules first": the stored judge scores (bench/judges_scores.npz, default judge
gemma3-270m paper-inline; MiniLM embeddings for density) select 20% of the pages by Ask-LLM top-k,
by Density inverse-propensity sampling and by combined, with and without dropping rule failures
first; reported: share of boilerplate (label 0) in the selection, its bootstrap spread (pages
resampled) and the spread of the baseline itself over 20 sampling seeds (the noise floor).
The quality-ensemble decision (does adding the combined rule score to Ask-LLM's rank help?) is
made on the train split and reported on the dev split.
"""
from __future__ import annotations

import argparse
import json
import re
import zlib
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine import agreement, density, distill, gopher, line_rules, select  # noqa: E402
from engine.rules import check_text  # noqa: E402

HERE = Path(__file__).parent / "results"
SETS = {"gopher_quality": (gopher.quality_measures, gopher.QUALITY_RULES),
        "gopher_repetition": (gopher.repetition_measures, gopher.REPETITION_RULES),
        "c4_rules": (line_rules.c4_measures, line_rules.C4_RULES),
        "fineweb_rules": (line_rules.fineweb_measures, line_rules.FINEWEB_RULES)}
JUDGE = "judge/gemma/paper-inline"
REPS = 1000


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def rule_values(texts: list[str]) -> dict[str, np.ndarray]:
    """Per rule set: share of its rules passed (NaN = none applicable), and per rule a fail flag."""
    out = {}
    for name, (measure, rules) in SETS.items():
        rows = [check_text(t, measure, rules) for t in texts]
        out[name] = np.array([r[0] for r in rows], np.float64)
        for rule in rules:
            out[rule.name] = np.array([rule.name in r[4] for r in rows], float)  # 1 = fails
    return out


def fail_pr(y0: np.ndarray, fails: np.ndarray, reps: int, seed: int = 0) -> dict:
    """Precision and recall of `fails` for label 0 (boilerplate), with bootstrap 95% intervals."""
    rng = np.random.default_rng(seed)

    def pr(idx):
        f, b = fails[idx].astype(bool), y0[idx].astype(bool)
        return (b[f].mean() if f.any() else np.nan), (f[b].mean() if b.any() else np.nan)

    point = pr(np.arange(len(y0)))
    boot = np.array([pr(rng.integers(0, len(y0), len(y0))) for _ in range(reps)])
    q = lambda j: [round(float(np.nanpercentile(boot[:, j], p)), 4) for p in (2.5, 97.5)]  # noqa: E731
    return {"precision": round(float(point[0]), 4), "precision_ci": q(0), "recall": round(float(point[1]), 4),
            "recall_ci": q(1), "fail_rate": round(float(fails.mean()), 4), "n": int(len(y0))}


def auc_entry(y, s, reps):
    ok = ~np.isnan(s)
    if len(np.unique(y[ok])) < 2 or np.nanstd(s) == 0:
        return None
    point, lo, hi = agreement.auc_ci(y[ok], s[ok], reps, 0)
    return {"auc": round(point, 4), "lo": round(lo, 4), "hi": round(hi, 4), "n": int(ok.sum())}


def agreement_table(units, values, reps) -> dict:
    out = {}
    combined_value = np.nanmean(np.column_stack([values[n] for n in SETS]), 1)
    fails_any = np.column_stack([np.nan_to_num(values[n], nan=1.0) < 1 for n in SETS]).any(1).astype(float)
    signals = {**{n: values[n] for n in SETS}, "combined (mean share passed)": combined_value}
    flags = {**{n: (np.nan_to_num(values[n], nan=1.0) < 1).astype(float) for n in SETS}, "fails any rule": fails_any,
             **{r.name: values[r.name] for _, rules in SETS.values() for r in rules}}
    for kind in ("line", "page"):
        m = units["kind"] == kind
        y = units["label"][m]
        out[kind] = {"auc": {n: auc_entry(y, v[m], reps) for n, v in signals.items()},
                     "fail_vs_boilerplate": {n: fail_pr(1 - y, f[m], reps) for n, f in flags.items()}}
    return out, combined_value, fails_any


def delta_auc(y, a, b, reps, seed=0) -> dict:
    """AUC(b) - AUC(a) with a stratified bootstrap 95% interval (positives and negatives resampled apart)."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    point = agreement.auc(y, b) - agreement.auc(y, a)
    deltas = []
    for _ in range(reps):
        idx = np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]
        deltas.append(agreement.auc(y[idx], b[idx]) - agreement.auc(y[idx], a[idx]))
    lo, hi = np.percentile(deltas, [2.5, 97.5])
    return {"delta": round(float(point), 4), "lo": round(float(lo), 4), "hi": round(float(hi), 4), "n": int(len(y))}


def junk_share(frame, strategy, k, seed, pool_mask):
    """Share of label-0 units in a selection of k from the rows of `frame` where `pool_mask`."""
    pool = frame[pool_mask].reset_index(drop=True)
    result = select.choose(pool, strategy, 0.5, max(1, min(k, len(pool))), seed, "askllm", propensity="density")
    return float((pool.set_index("doc_id").loc[result.doc_ids, "label"] == 0).mean())


def rules_first(units, scores, fails_any, reps) -> dict:
    """Boilerplate share of Ask-LLM / Density / combined selections of 20% of the pages, without
    and with dropping rule failures first; spread over pages (bootstrap) and sampling seeds."""
    import pandas as pd  # noqa: PLC0415

    m = units["kind"] == "page"
    emb = scores["emb"][m]
    frame = pd.DataFrame({"doc_id": [f"p{i:04d}" for i in range(m.sum())], "askllm": scores[JUDGE][m],
                          "density": density.density_scores(emb), "label": units["label"][m]})
    passes = fails_any[m] == 0
    k = int(round(0.2 * len(frame)))
    out = {"n_pages": int(len(frame)), "budget": k, "n_pass_rules": int(passes.sum()),
           "boilerplate_share_corpus": round(float((frame["label"] == 0).mean()), 4),
           "boilerplate_share_after_rules": round(float((frame["label"][passes] == 0).mean()), 4)}
    rng = np.random.default_rng(0)
    for strategy in ("askllm", "density", "combined"):
        seeds = range(20) if strategy != "askllm" else range(1)
        before = [junk_share(frame, strategy, k, s, np.ones(len(frame), bool)) for s in seeds]
        after = [junk_share(frame, strategy, k, s, passes) for s in seeds]
        boot = []
        for _ in range(reps // 5):  # pages resampled: the spread of the difference
            idx = rng.integers(0, len(frame), len(frame))
            f = frame.iloc[idx].reset_index(drop=True).assign(doc_id=lambda d: [f"b{i:04d}" for i in range(len(d))])
            s = int(rng.integers(0, 1000))
            boot.append(junk_share(f, strategy, k, s, passes[idx]) - junk_share(f, strategy, k, s, np.ones(len(f), bool)))
        out[strategy] = {"before": round(float(np.mean(before)), 4), "before_seed_sd": round(float(np.std(before)), 4),
                         "after": round(float(np.mean(after)), 4), "after_seed_sd": round(float(np.std(after)), 4),
                         "change": round(float(np.mean(after) - np.mean(before)), 4),
                         "change_ci": [round(float(x), 4) for x in np.percentile(boot, [2.5, 97.5])]}
    return out


def ensemble_decision(units, scores, combined_value, reps) -> dict:
    """Does rank-mean(Ask-LLM, combined rule score) beat Ask-LLM alone? Decided on train, reported on dev."""
    out = {}
    for kind in ("page", "line"):
        for split in ("train", "dev"):
            m = (units["kind"] == kind) & (units["split"] == split)
            y, a = units["label"][m], scores[JUDGE][m]
            r = np.nan_to_num(combined_value[m], nan=np.nanmean(combined_value[m]))
            both = (distill.percentile_ranks(a) + distill.percentile_ranks(r)) / 2
            out[f"{kind}/{split}"] = {"askllm": auc_entry(y, a, reps), "askllm+rules": auc_entry(y, both, reps),
                                      "delta": delta_auc(y, a, both, reps)}
    train = out["page/train"]["delta"]
    out["decision (page/train: CI of the gain above 0)"] = bool(train["lo"] > 0)
    return out


def run_agreement(reps: int) -> None:
    from quality_auc import load_units  # noqa: PLC0415 (bench/ on sys.path when run as a script)

    t0 = time.time()
    units = load_units()
    scores = np.load(HERE / "judges_scores.npz")
    assert np.array_equal(scores["label"], units["label"]), "judges_scores.npz is not aligned with the units"
    values = rule_values(units["text"])
    table, combined_value, fails_any = agreement_table(units, values, reps)
    result = {"uptime": uptime(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "reps": reps,
              "units": {k: int((units["kind"] == k).sum()) for k in ("line", "page")}, "agreement": table,
              "rules_first": rules_first(units, scores, fails_any, reps),
              "ensemble": ensemble_decision(units, scores, combined_value, reps), "seconds": round(time.time() - t0, 1)}
    (HERE / "filters_agreement.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("rules_first", "ensemble")}, indent=1))


def _all_rules(texts):
    from engine import language  # noqa: PLC0415

    for name, (measure, rules) in SETS.items():
        [check_text(t, measure, rules) for t in texts]
    language.language_batch(texts, language.LanguageConfig())
    return len(texts)


def run_speed(n_docs: int) -> None:
    """Docs/s of each rule set (one process) and of all rules + language on 2 processes, on the
    demo's 400 real C4 documents repeated to `n_docs`."""
    import multiprocessing as mp  # noqa: PLC0415

    import pandas as pd  # noqa: PLC0415

    from engine import language  # noqa: PLC0415

    base = pd.read_parquet(HERE.parents[1] / "demo" / "c4_demo.parquet")["text"].tolist()
    texts = (base * (n_docs // len(base) + 1))[:n_docs]
    out = {"uptime_before": uptime(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "n_docs": n_docs,
           "mean_chars": round(float(np.mean([len(t) for t in texts])), 1), "one_process_docs_per_s": {}}
    for name, (measure, rules) in SETS.items():
        t0 = time.perf_counter()
        [check_text(t, measure, rules) for t in texts]
        out["one_process_docs_per_s"][name] = round(n_docs / (time.perf_counter() - t0), 1)
    language.language_batch(texts[:10], language.LanguageConfig())  # load the model outside the timing
    t0 = time.perf_counter()
    language.language_batch(texts, language.LanguageConfig())
    out["one_process_docs_per_s"]["language"] = round(n_docs / (time.perf_counter() - t0), 1)
    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(2) as pool:
        pool.map(_all_rules, [texts[i::2] for i in range(2)])
    out["two_processes_all_rules_and_language_docs_per_s"] = round(n_docs / (time.perf_counter() - t0), 1)
    out["uptime_after"] = uptime()
    _merge("filters_speed.json", out)


def synthetic(n: int, words: int, dup_share: float, seed: int = 0):
    """n documents of `words` words drawn from a 50,000-word vocabulary (Zipf-like), of which a
    `dup_share` are near-duplicates of an earlier one (1 word changed); returns texts and the
    index each planted copy was made from (-1 for originals)."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(50_000)])
    ranks = np.minimum(rng.zipf(1.3, (n, words)) - 1, len(vocab) - 1)
    source = np.where(rng.random(n) < dup_share, rng.integers(0, max(1, n // 2), n), -1)
    source[: n // 2] = -1
    rows = ranks.copy()
    planted = source >= 0
    rows[planted] = ranks[source[planted]]
    change = rng.integers(0, words, planted.sum())  # one word: Jaccard of 5-shingles ~ (w-9)/(w+1)
    rows[np.flatnonzero(planted), change] = rng.integers(0, len(vocab), planted.sum())
    return [" ".join(vocab[r]) for r in rows], source


# --- the NumPy multiply-shift MinHash we tried before keeping datasketch's (compared below) ------
_EMPTY = np.uint32(0xFFFFFFFF)
_WORD = re.compile(r"\w+")


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (a odd, b) of the multiply-shift hashes ((a * h + b) mod 2**64) >> 32 (Dietzfelbinger
    et al. 1997): no modulo by a prime, which NumPy does several times slower on uint64."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, np.iinfo(np.uint64).max, num_perm, dtype=np.uint64, endpoint=True) | np.uint64(1)
    return a, rng.integers(0, np.iinfo(np.uint64).max, num_perm, dtype=np.uint64, endpoint=True)


def shingle_hashes(text: str, shingle: int, vocab: dict) -> np.ndarray:
    """32-bit hashes of the text's lower-cased word `shingle`-grams (the whole text when shorter)."""
    words = _WORD.findall(text.lower()) if isinstance(text, str) else []
    if not words:
        return np.zeros(0, np.uint64)
    ids = np.fromiter((vocab.setdefault(w, zlib.crc32(w.encode())) for w in words), np.uint64, len(words))
    k = min(shingle, len(ids))
    h = np.zeros(len(ids) - k + 1, np.uint64)
    for j in range(k):  # polynomial combination of the k word hashes (wrapping uint64 arithmetic)
        h = h * np.uint64(1_000_003) ^ ids[j:len(ids) - k + 1 + j]
    return (h ^ (h >> np.uint64(32))) & np.uint64(0xFFFFFFFF)


def numpy_signatures(texts, num_perm: int = 128, shingle: int = 5, seed: int = 1, batch: int = 1000) -> np.ndarray:
    """(n, num_perm) uint32 MinHash signatures of `texts` (any iterable of strings)."""
    a, b = permutations(num_perm, seed)
    vocab, out, texts = {}, [], list(texts)
    for start in range(0, len(texts), batch):
        parts = [shingle_hashes(t, shingle, vocab) for t in texts[start:start + batch]]
        sig = np.full((len(parts), num_perm), _EMPTY, np.uint32)
        sizes = np.array([len(p) for p in parts])
        if sizes.sum():
            flat = np.concatenate(parts)
            values = ((flat[:, None] * a + b) >> np.uint64(32)).astype(np.uint32)
            nonempty = np.flatnonzero(sizes)
            offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])[nonempty]
            sig[nonempty] = np.minimum.reduceat(values, offsets, axis=0)
        out.append(sig)
        if len(vocab) > 2_000_000:  # bounded memory on huge vocabularies; hashes do not depend on it
            vocab.clear()
    return np.concatenate(out) if out else np.zeros((0, num_perm), np.uint32)



def run_minhash(n: int, words: int, compare_datasketch: int) -> None:
    """MinHash LSH (engine.minhash) over n synthetic documents: time, peak memory (ru_maxrss of
    this process), recall of the planted near-duplicates and unrelated pairs clustered."""
    import resource  # noqa: PLC0415

    from engine import minhash  # noqa: PLC0415

    up = uptime()
    texts, source = synthetic(n, words, 0.02)
    t0 = time.perf_counter()
    sig = minhash.signatures(texts)
    t_sig = time.perf_counter() - t0
    first = minhash.clusters(sig, 0.8)
    t_all = time.perf_counter() - t0
    planted = np.flatnonzero(source >= 0)
    found = first[planted] == first[source[planted]]
    family = np.where(source >= 0, source, np.arange(n))  # a planted copy belongs to its original
    import pandas as pd  # noqa: PLC0415

    families = pd.Series(family).groupby(first).nunique()
    unrelated_joined = int(np.isin(first, families.index[families > 1]).sum())
    entry = {"n_docs": n, "words_per_doc": words, "synthetic": True, "uptime": up,
             "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
             "signature_s": round(t_sig, 1), "total_s": round(t_all, 1), "docs_per_s": round(n / t_all, 1),
             "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
             "planted": int(len(planted)), "planted_found": round(float(found.mean()), 4),
             "docs_in_clusters_mixing_unrelated_docs": unrelated_joined}
    if compare_datasketch:
        from datasketch import MinHash  # noqa: PLC0415

        docs = [[" ".join(w).encode() for w in zip(*(t.split()[k:] for k in range(5)))]
                for t in texts[:compare_datasketch]]
        t0 = time.perf_counter()
        MinHash.bulk(docs, num_perm=128)
        entry["datasketch_bulk_docs_per_s"] = round(compare_datasketch / (time.perf_counter() - t0), 1)
        for batch in (1000, 32):
            t0 = time.perf_counter()
            numpy_signatures(texts[:compare_datasketch], batch=batch)
            entry[f"numpy_multiply_shift_batch{batch}_docs_per_s"] = round(
                compare_datasketch / (time.perf_counter() - t0), 1)
    _merge("filters_speed.json", {f"minhash_{n}": entry})


def _ci(e) -> str:
    return "-" if not e else f"{e['auc']:.3f} [{e['lo']:.3f}, {e['hi']:.3f}]"


def _pr(e) -> str:
    if e["fail_rate"] == 0:
        return "never fails | - | 0%"
    return (f"{e['precision']:.2f} [{e['precision_ci'][0]:.2f}, {e['precision_ci'][1]:.2f}] | "
            f"{e['recall']:.2f} [{e['recall_ci'][0]:.2f}, {e['recall_ci'][1]:.2f}] | {100 * e['fail_rate']:.0f}%")


def run_report() -> None:
    """bench/results/filters_results.md from filters_agreement.json and filters_speed.json."""
    a = json.loads((HERE / "filters_agreement.json").read_text())
    sp = json.loads((HERE / "filters_speed.json").read_text()) if (HERE / "filters_speed.json").exists() else {}
    out = ["# Heuristic rules, language ID, near-duplicates: evidence (bench/filters_bench.py)", "",
           f"Agreement run {a['date']}, `{a['uptime']}`; {a['reps']} bootstrap resamples; units: "
           f"{a['units']['line']} labelled lines and {a['units']['page']} pages (../shared/data/quality: each page "
           "rebuilt as its main-content lines, label 1, and its boilerplate lines, label 0). Thresholds are the "
           "published ones: nothing was tuned on these labels.", ""]
    for kind in ("page", "line"):
        t = a["agreement"][kind]
        out += [f"## {kind.title()}s: ROC-AUC of the share of rules passed (label 1 = content)", "",
                "| signal | ROC-AUC [95% CI] |", "|---|---|"]
        out += [f"| {n} | {_ci(e)} |" for n, e in t["auc"].items()]
        out += ["", f"## {kind.title()}s: \"fails\" as a detector of boilerplate (label 0)", "",
                "| rule or rule set | precision [95% CI] | recall [95% CI] | fails |", "|---|---|---|---|"]
        out += [f"| {n} | {_pr(e)} |" for n, e in t["fail_vs_boilerplate"].items()]
        out += [""]
    r = a["rules_first"]
    out += ["## Ask-LLM and Density after the rules vs before (pages)", "",
            f"Budget {r['budget']} of {r['n_pages']} pages (20%); boilerplate share of the corpus "
            f"{r['boilerplate_share_corpus']:.2f}; {r['n_pass_rules']} pages pass every rule (boilerplate share "
            f"{r['boilerplate_share_after_rules']:.2f}). With the rules first a selection holds at most the "
            f"{r['n_pass_rules']} passing pages, so it is smaller than the budget here. Ask-LLM = the stored "
            "scores of the default judge (gemma3-270m, paper-inline) in bench/judges_scores.npz; Density on the "
            "stored MiniLM embeddings, inverse-propensity sampling (20 seeds: seed sd = the baseline's noise floor).",
            "", "| strategy | boilerplate share before (seed sd) | after rules (seed sd) | change [95% CI, pages resampled] |",
            "|---|---|---|---|"]
    for s_ in ("askllm", "density", "combined"):
        e = r[s_]
        out += [f"| {s_} | {e['before']:.3f} ({e['before_seed_sd']:.3f}) | {e['after']:.3f} ({e['after_seed_sd']:.3f}) | "
                f"{e['change']:+.3f} [{e['change_ci'][0]:+.3f}, {e['change_ci'][1]:+.3f}] |"]
    ens = a["ensemble"]
    out += ["", "## Rules as a member of the quality ensemble", "",
            "Rank-mean of Ask-LLM and the mean share of rules passed vs Ask-LLM alone. Decided on page/train "
            f"(gain's CI above 0: {ens['decision (page/train: CI of the gain above 0)']}), reported on dev.", "",
            "| units/split | Ask-LLM | Ask-LLM + rules | gain [95% CI] |", "|---|---|---|---|"]
    for k, e in ens.items():
        if isinstance(e, dict):
            d = e["delta"]
            gain = f"{d['delta']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]"
            note = "" if d["lo"] > 0 or d["hi"] < 0 else " (no measured gain)"
            out += [f"| {k} (n={d['n']}) | {_ci(e['askllm'])} | {_ci(e['askllm+rules'])} | {gain}{note} |"]
    if sp:
        out += ["", "## Speed", "", f"Rules: {sp.get('n_docs')} documents (the demo's 400 C4 documents repeated, mean "
                f"{sp.get('mean_chars')} characters), {sp.get('date')}, before `{sp.get('uptime_before')}`, after "
                f"`{sp.get('uptime_after')}` (7 engineers share these 2 cores).", "",
                "| stage | documents/s, one process |", "|---|---|"]
        out += [f"| {n} | {v:,.0f} |" for n, v in sp.get("one_process_docs_per_s", {}).items()]
        out += ["", f"All four rule sets + language, 2 processes: "
                f"{sp.get('two_processes_all_rules_and_language_docs_per_s', 0):,.0f} documents/s.", ""]
        for k, e in sp.items():
            if k.startswith("minhash_"):
                out += [f"MinHash LSH, {e['n_docs']:,} synthetic documents of {e['words_per_doc']} words "
                        f"(2% planted near-duplicates, one word changed), finished {e['date']}, at its start `{e['uptime']}`: "
                        f"{e['total_s']:,.0f} s ({e['docs_per_s']:,.0f} documents/s; signatures {e['signature_s']:,.0f} s), "
                        f"peak memory {e['peak_rss_gib']} GiB; planted pairs found {100 * e['planted_found']:.1f}%; "
                        f"documents in clusters mixing unrelated documents: {e['docs_in_clusters_mixing_unrelated_docs']}."]
                extra = {x: v for x, v in e.items() if x.endswith("docs_per_s") and x != "docs_per_s"}
                if extra:
                    out += ["Signature speed on the first documents, same run: " +
                            ", ".join(f"{x.replace('_docs_per_s', '')} {v:,.0f}/s" for x, v in extra.items()) + "."]
                out += [""]
    (HERE / "filters_results.md").write_text("\n".join(out) + "\n")
    print("\n".join(out))


def _merge(name: str, entry: dict) -> None:
    path = HERE / name
    old = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**old, **entry}, indent=1) + "\n")
    print(json.dumps(entry, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("agreement", "speed", "minhash", "report"))
    parser.add_argument("--reps", type=int, default=REPS)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--words", type=int, default=60)
    parser.add_argument("--compare-datasketch", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    {"agreement": lambda: run_agreement(args.reps), "speed": lambda: run_speed(args.n),
     "minhash": lambda: run_minhash(args.n, args.words, args.compare_datasketch), "report": run_report}[args.what]()
