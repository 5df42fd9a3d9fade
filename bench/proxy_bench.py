"""Proxy-model benchmark: do Seedbed's selections train better small LMs than random data?

    python bench/proxy_bench.py --device cuda --embed-model /tmp/m/minilm --out bench/results/proxy_results_gpu
    python bench/proxy_bench.py --device cpu --limit 400 --size tiny --tokens 20000 --out /tmp/smoke  # smoke

One process, every step through the engine: build the corpus (bench/proxy_corpus.py), ingest it, embed,
score Ask-LLM (judge `--judge`) and perplexity, density and clusters, save one selection per strategy
(random / askllm / perplexity / density / combined) at 10% and 30% of the documents, then one proxy
check per budget (`engine.proxy_check.run_check`): every selection plus `random` = a random selection
with the SAME TOKEN COUNT as `combined`, `--seeds` proxies each, same tokens, scored on the held-out
target. Writes `<out>.json` and `<out>.md` (table, verdicts, tokens/s, MFU, stage times, machine).
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

STRATEGIES = ("combined", "askllm", "perplexity", "density", "random")


def _cli(ws: str, *argv) -> float:
    from engine import cli

    t0 = time.perf_counter()
    code = cli.main(["--db", ws, *map(str, argv)], progress=lambda *a: None)
    if code != 0:
        raise SystemExit(f"engine {argv[0]} failed with exit code {code}")
    return round(time.perf_counter() - t0, 1)


def signals(a, ws: str, corpus_file: Path) -> dict:
    """Ingest and compute every signal the strategies read; seconds per stage."""
    t = {"ingest": _cli(ws, "ingest", corpus_file, "--corpus", "bench")}
    t["embed"] = _cli(ws, "embed", "--corpus", "bench", "--model", a.embed_model)
    t["askllm"] = _cli(ws, "score", "--corpus", "bench", "--signal", "askllm", "--model", a.judge, "--device", a.device)
    if "perplexity" in a.strategies:  # the only strategy that reads it
        t["perplexity"] = _cli(ws, "score", "--corpus", "bench", "--signal", "perplexity", "--device", a.device)
    t["density"] = _cli(ws, "density", "--corpus", "bench", "--embed-model", a.embed_model)
    t["clusters"] = _cli(ws, "clusters", "--corpus", "bench", "--embed-model", a.embed_model)
    return t


def composition(ws: str, name: str) -> dict:
    """Share of each source (and of synthetic junk) in a selection: read off, never tuned on."""
    from engine.storage import Workspace

    with Workspace(ws).connect() as con:
        rows = con.execute(
            "SELECT json_extract_string(d.meta, '$.source') AS s, count(*) FROM selection_members m "
            "JOIN documents d ON d.corpus = 'bench' AND d.doc_id = m.doc_id WHERE m.selection = ? GROUP BY s",
            [name]).fetchall()
    n = sum(c for _, c in rows)
    return {s: round(c / n, 3) for s, c in sorted(rows, key=lambda r: -r[1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--work", type=Path, default=Path("/tmp/proxy_bench"))
    ap.add_argument("--embed-model", default="all-minilm-l6-v2")
    ap.add_argument("--judge", default="smollm2-135m-instruct")
    ap.add_argument("--size", default="small")
    ap.add_argument("--tokens", type=int, default=2_000_000)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--eval-tokens", type=int, default=100_000)
    ap.add_argument("--prebuilt", type=Path, default=None,
                    help="a folder with corpus.jsonl.gz, target.jsonl.gz, built.json (bench/proxy_carry.py pack)")
    ap.add_argument("--limit", type=int, default=0, help="smoke: keep the first N corpus documents")
    ap.add_argument("--budgets", default="0.1,0.3")
    ap.add_argument("--strategies", default=",".join(STRATEGIES),
                    help="a subset when device time is short (combined,random answers the issue's question)")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.strategies = tuple(x for x in STRATEGIES if x in a.strategies.split(","))
    from proxy_corpus import build

    from engine import proxy_check
    from engine.storage import Workspace

    t0 = time.time()
    a.work.mkdir(parents=True, exist_ok=True)
    if a.prebuilt:  # the same seeded build, made before the trip to the device
        import gzip
        import shutil
        for name in ("corpus.jsonl", "target.jsonl"):
            with gzip.open(a.prebuilt / f"{name}.gz", "rb") as src, open(a.work / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
        built = json.loads((a.prebuilt / "built.json").read_text())
    else:
        built = build(a.data, a.work)
    corpus_file = a.work / "corpus.jsonl"
    if a.limit:
        lines = corpus_file.read_text().splitlines()
        kept = lines[::max(1, len(lines) // a.limit)][:a.limit]
        corpus_file.write_text("\n".join(kept) + "\n")
        sources = [json.loads(line)["source"] for line in kept]
        built = {**built, "documents": len(kept), "built_documents": built["documents"],
                 "by_source": {k: sources.count(k) for k in sorted(set(sources), key=sources.count, reverse=True)}}
    ws = str(a.work / "ws.duckdb")
    Path(ws).unlink(missing_ok=True)
    stage_s = signals(a, ws, corpus_file)
    checks = {}
    for budget in (float(b) for b in a.budgets.split(",")):
        tag = f"{round(budget * 100)}"
        for s in a.strategies:
            _cli(ws, "select", "--corpus", "bench", "--strategy", s, "--budget", budget, "--seed", 0,
                 "--name", f"{s}{tag}", "--replace", "--show", 0)
        settings = proxy_check.CheckSettings(
            corpus="bench", selections=tuple(f"{s}{tag}" for s in a.strategies), target=str(a.work / "target.jsonl"),
            seeds=a.seeds, tokens=a.tokens, size=a.size, seq_len=a.seq_len, batch=a.batch, device=a.device,
            random_baseline=True, eval_tokens=a.eval_tokens)
        t1 = time.perf_counter()
        rep = proxy_check.run_check(Workspace(ws), settings, None)
        rep["check_s"] = round(time.perf_counter() - t1, 1)
        rep["composition"] = {f"{s}{tag}": composition(ws, f"{s}{tag}") for s in a.strategies}
        checks[tag] = rep
        print(f"[{tag}%] {rep['verdict']}", flush=True)
        write(a, built, stage_s, checks, t0)  # after every budget: a cut-off run keeps what it measured


def write(a, built: dict, stage_s: dict, checks: dict, t0: float) -> None:
    machine = {"device": a.device, "platform": platform.platform(), "uptime": subprocess.run(
        ["uptime"], capture_output=True, text=True).stdout.strip(), "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    if a.device.startswith("cuda"):
        import torch
        machine["gpu"] = torch.cuda.get_device_name(0)
    result = {"corpus": built, "judge": a.judge, "embed_model": a.embed_model, "stage_s": stage_s, "checks": checks,
              "machine": machine, "argv": sys.argv[1:], "wall_s": round(time.time() - t0, 1)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    a.out.with_suffix(".md").write_text(render(result))
    print(render(result))


def render(r: dict) -> str:
    m = r["machine"]
    lines = [f"# Proxy-model check: selections vs random at equal tokens ({m.get('gpu', m['device'])}, {m['date_utc']} UTC)", "",
             f"Corpus: {r['corpus']['documents']:,} documents ({', '.join(f'{k} {v:,}' for k, v in r['corpus']['by_source'].items())}); "
             f"target: {r['corpus']['target_documents']} held-out clean documents. Judge (askllm): {r['judge']}; "
             f"embeddings: {r['embed_model']}. Signal stages (s): {r['stage_s']}. Load: `{m['uptime']}`.", ""]
    for tag, c in r["checks"].items():
        p = c["proxy"]
        lines += [f"## {tag}% budget", "",
                  f"Proxy {p['size']} ({p['params']:,} params, vocab {p['vocab']:,}), {p['tokens']:,} training tokens, "
                  f"seq {p['seq_len']} x batch {p['batch']}, {p['seeds']} seeds, on {p['device']}; target {c['target']['tokens_scored']:,} "
                  f"tokens ({c['target']['removed_overlap']} overlapping removed). {c['tokens_per_s']:,} tokens/s per proxy"
                  + (f", MFU {c['mfu']:.1%} of 989 TFLOP/s (6·N·tokens)" if c["mfu"] is not None else "")
                  + f"; check wall time {c['check_s']} s.", "",
                  "| selection | docs | tokens | epochs | held-out loss (mean [95% CI]) |", "|---|---|---|---|---|"]
        for e in c["entries"]:
            ci = e["loss_ci95"]
            lines.append(f"| {e['name']} | {e['docs']:,} | {e['tokens']:,} | {e['epochs']} | {e['loss_mean']:.4f}"
                         + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "") + " |")
        lines += ["", "| pair | better | gap worse-better (mean [95% CI]) | verdict |", "|---|---|---|---|"]
        for q in c["pairs"]:
            if not any(x.startswith("random") for x in (q["better"], q["worse"])):
                continue
            ci = q["gap_ci95"]
            lines.append(f"| {q['better']} vs {q['worse']} | {q['better']} | {q['gap_mean']:.4f}"
                         + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "") + " | "
                         + ("no measured difference (interval includes 0)" if q["includes_zero"] else "measured") + " |")
        lines += ["", f"Verdict (combined vs token-matched random): **{c['verdict']}**", "",
                  "Composition (share of sources): " + "; ".join(
                      f"{k}: " + ", ".join(f"{s} {v}" for s, v in comp.items()) for k, comp in c["composition"].items()), ""]
    lines.append(f"Command: `python bench/proxy_bench.py {' '.join(r['argv'])}`; wall {r['wall_s']} s.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
