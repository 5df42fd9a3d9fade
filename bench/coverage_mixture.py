"""The skewed mixture corpus of bench/bench_coverage.py: 85% C4 web text plus five rare sources.

    .venv/bin/python bench/coverage_mixture.py [--out bench/.cache/coverage]

2,000 C4 documents (85%) and five slices of 3% each (71 documents): TREC questions, SST-2
sentences, GSM8K problems, and human-labelled quality-set lines split into main-text lines and
boilerplate lines. Every row carries its `source` as metadata. Rows are drawn with a fixed seed,
so the file (and therefore every doc_id) is the same on every run. Bench only: the product never
reads ../shared.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RARE_SHARE, C4_SHARE = 0.03, 0.85
RARE_SOURCES = ("trec", "sst2", "gsm8k", "quality-main", "quality-boilerplate")


def _lines(path: Path, encoding: str = "utf-8") -> list[str]:
    return [line for line in path.read_text(encoding=encoding).splitlines() if line.strip()]


def source_texts(data: Path = DATA) -> dict[str, list[str]]:
    """Every candidate text per source, in file order, de-duplicated."""
    c4 = pd.read_parquet(data / "c4" / "c4_validation_2k.parquet")["text"].tolist()
    trec = [line.split(" ", 1)[1] for line in _lines(data / "trec" / "train_5500.label", "latin-1")]
    sst2 = [line.split(" ", 1)[1] for line in _lines(data / "sst2" / "stsa.binary.train")]
    gsm8k = [json.loads(line)["question"] for line in _lines(data / "gsm8k" / "train.jsonl")]
    main, boiler = [], []
    for page in json.loads((data / "quality" / "train.json").read_text()):
        for text, label in zip(page["text"], page["labels"]):
            if len(text.split()) >= 3:  # one- or two-word lines are near-empty documents
                (main if label == "1" else boiler).append(text.strip())
    texts = {"c4": c4, "trec": trec, "sst2": sst2, "gsm8k": gsm8k,
             "quality-main": main, "quality-boilerplate": boiler}
    return {k: list(dict.fromkeys(t.strip() for t in v if t.strip())) for k, v in texts.items()}


def build_mixture(seed: int = 0, data: Path = DATA) -> pd.DataFrame:
    """Rows (text, source): all C4 documents (85%) and 3% from each rare source."""
    texts = source_texts(data)
    n_total = int(round(len(texts["c4"]) / C4_SHARE))
    n_rare = int(np.floor(RARE_SHARE * n_total))
    rng = np.random.default_rng(seed)
    rows = [{"text": t, "source": "c4"} for t in texts["c4"]]
    for source in RARE_SOURCES:
        pool = texts[source]
        if len(pool) < n_rare:
            raise SystemExit(f"{source}: only {len(pool)} texts, {n_rare} needed")
        rows += [{"text": pool[i], "source": source} for i in sorted(rng.choice(len(pool), n_rare, replace=False))]
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / ".cache" / "coverage"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mix = build_mixture()
    mix.to_json(out / "mixture.jsonl", orient="records", lines=True, force_ascii=False)
    print(mix["source"].value_counts().to_string())
    print(f"wrote {len(mix)} rows to {out / 'mixture.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
