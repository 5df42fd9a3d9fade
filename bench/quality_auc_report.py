"""Markdown for bench/results/quality_auc.json (written by bench/quality_auc.py); hand-written notes below
the FINDINGS heading of an existing file are kept."""
from __future__ import annotations

from pathlib import Path

FINDINGS = "## Findings"
COLS = ("pages/all", "pages/dev", "lines/all", "lines/dev", "lines>=5w/all")


def _cell(row: dict, col: str) -> str:
    r = row.get(col)
    return f"{r['auc']:.3f} [{r['lo']:.2f}, {r['hi']:.2f}]" if r else "–"


def _table(rows: dict, speed: bool) -> list[str]:
    head = "| signal | " + " | ".join(COLS) + (" | units/s | load s |" if speed else " |")
    out = [head, "|" + "---|" * (len(COLS) + 1 + 2 * speed)]
    for name, row in sorted(rows.items(), key=lambda kv: -kv[1].get("pages/all", {}).get("auc", 0)):
        cells = [_cell(row, c) for c in COLS]
        if speed:
            cells += [f"{row.get('docs_per_s', '–')}", f"{row.get('load_s', '–')}"]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def write_md(result: dict, path: Path) -> None:
    run, units = result["run"], result["units"]
    kept = path.read_text().split(FINDINGS, 1)[1] if path.exists() and FINDINGS in path.read_text() else "\n"
    lines = [
        "# Quality signals: ROC-AUC on human labels (all of quality/train + dev)",
        "",
        f"Run {run.get('date_utc')} UTC on **{run.get('device')}** ({run.get('versions')}); measured bf16 matmul "
        f"rate {run.get('matmul_bf16_tflops', '–')} TFLOP/s. Units: {units['lines']} lines ({units['lines>=5w']} with "
        f">= 5 words) and {units['pages']} page documents (each page's content lines joined vs its boilerplate lines "
        "joined). Cells: ROC-AUC [95% CI, stratified bootstrap, 1000 resamples]; `dev` = the 17 dev pages alone. "
        "Scores from `bench/gpu_judges.py` on the device, statistics from `bench/quality_auc.py`.",
        f"Best Ask-LLM judge, picked on the TRAIN split only: **{result['best']['askllm']}**; best perplexity LM: "
        f"**{result['best']['perplexity']}**.",
        "",
        "## Judges (calibration off: it shifts every score by one constant, so AUC is unchanged)",
        "",
        *_table(result["judges"], speed=True),
    ]
    if run.get("skipped"):
        lines += ["", "Not measured in this run (time budget or error): " + "; ".join(run["skipped"])]
    lines += ["", "## Distilled heads and combinations (cross-fitted: trained on one split, scored on the other)",
              "", *_table(result["derived"], speed=False)]
    dist = run.get("distilled", {})
    if dist:
        lines += ["", "## Speed on the 2,000 C4 documents, same run: judge vs distilled head (MiniLM + ridge)", "",
                  "| judge | judge docs/s | tokens | MFU all / active | distilled docs/s | speed-up | head vs judge on "
                  "held-out C4 (Spearman, AUC) |", "|---|---|---|---|---|---|---|"]
        for name, c4 in run.get("c4", {}).items():
            d = dist.get(name, {})
            v = d.get("validation_vs_judge_on_c4", {})
            mfu = (f"{c4['mfu_all']:.1%} / {c4['mfu_active']:.1%}" if c4.get("mfu_all") else "–")
            lines.append(f"| {name} | {c4['docs_per_s']} | {c4['tokens']:,} | {mfu} | {d.get('docs_per_s', '–')} | "
                         f"{d.get('speedup_vs_judge', '–')}× | {v.get('spearman', '–')}, {v.get('auc', '–')} |")
        lines.append(f"\nMiniLM embedding alone: {dist.get('embed_docs_per_s')} docs/s.")
    path.write_text("\n".join(lines) + "\n\n" + FINDINGS + kept)
