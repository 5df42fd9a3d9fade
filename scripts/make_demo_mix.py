"""Makes demo/demo_mix.parquet: the demo corpus with visible structure - the 400 C4 web documents
of demo/c4_demo.parquet plus small, distinct sources (GSM8K maths word problems, TREC questions,
SST-2 movie-review sentences, copied from ../shared/data) and labelled junk made here (keyword
spam, navigation boilerplate, character noise), so that the map shows islands, clusters get
telling names, Ask-LLM drops the junk and density keeps the small sources that top-k drops.

    python scripts/make_demo_mix.py [--shared ../shared/data]

Seeded: the same inputs give the same file. Columns: text, url, source.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo" / "demo_mix.parquet"
N_PER_SOURCE = {"gsm8k": 20, "trec": 30, "sst2": 15, "junk": 12}
# Rows per source: a fixed seeded draw of DRAWN, its first POOL, of which the N_PER_SOURCE shortest are
# kept: Ask-LLM on 2 shared CPU cores took 20-30 s per document while the bundle was made, so the
# demo's small sources are short texts (their scores are bundled; nothing is computed on load).
DRAWN, POOL = 100, 40

SPAM_WORDS = ("cheap best deals buy now click here free shipping discount coupon code sale limited offer "
              "top rated lowest price guaranteed order today win prize bonus casino loan credit").split()
NAV = ["Home", "About us", "Contact", "Privacy Policy", "Terms of Use", "Sitemap", "Login", "Register", "Cart",
       "FAQ", "Careers", "Blog", "Newsletter", "Follow us", "Cookie settings", "Back to top", "Next page"]
CITIES = ["Austin", "Denver", "Boston", "Phoenix", "Tampa", "Dallas", "Miami", "Seattle", "Atlanta", "Portland"]
TRADES = ["plumber", "locksmith", "roofer", "electrician", "dentist", "lawyer", "mover", "towing"]


def junk(rng: np.random.Generator, i: int) -> str:
    """One synthetic junk document of four kinds (keyword spam, navigation boilerplate, character
    noise, local-SEO lists): what a web crawl also holds and a filter should drop."""
    kind = i % 4
    if kind == 0:
        return " ".join(rng.choice(SPAM_WORDS, int(rng.integers(15, 30)))) + "!!!"
    if kind == 1:
        return " | ".join(rng.choice(NAV, int(rng.integers(8, 15)))) + " © 2019 All rights reserved."
    if kind == 2:
        chars = list("abcdefghijklmnopqrstuvwxyz0123456789#@$%&*")
        return " ".join("".join(rng.choice(chars, int(rng.integers(3, 12)))) for _ in range(int(rng.integers(10, 25))))
    return " ".join(f"best {rng.choice(TRADES)} near me {rng.choice(CITIES)} cheap 24/7 call now"
                    for _ in range(int(rng.integers(3, 6))))


def small_sources(shared: Path, rng: np.random.Generator) -> list[dict]:
    """Seeded slices of GSM8K (question and worked answer), TREC questions and SST-2 sentences."""
    rows: list[dict] = []
    gsm = [json.loads(line) for line in (shared / "gsm8k" / "train.jsonl").read_text().splitlines() if line.strip()]
    for j in rng.choice(len(gsm), DRAWN, replace=False)[:POOL]:  # the question: a maths word problem
        rows.append({"text": gsm[j]["question"].strip(), "source": "gsm8k", "url": f"gsm8k:train:{j}"})
    trec = (shared / "trec" / "train_5500.label").read_bytes().decode("latin-1").splitlines()
    for j in rng.choice(len(trec), DRAWN, replace=False)[:POOL]:
        rows.append({"text": trec[j].split(" ", 1)[1].strip(), "source": "trec", "url": f"trec:train:{j}"})
    sst = (shared / "sst2" / "stsa.binary.train").read_text().splitlines()
    for j in rng.choice(len(sst), DRAWN, replace=False)[:POOL]:
        rows.append({"text": sst[j].split(" ", 1)[1].strip(), "source": "sst2", "url": f"sst2:train:{j}"})
    frame = pd.DataFrame(rows).assign(n=lambda f: f["text"].str.len())
    kept = [part.sort_values(["n", "url"]).head(N_PER_SOURCE[src]) for src, part in frame.groupby("source")]
    return pd.concat(kept).drop(columns="n").to_dict("records")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    c4 = pd.read_parquet(ROOT / "demo" / "c4_demo.parquet").assign(source="c4")
    rows = small_sources(Path(args.shared), rng)
    rows += [{"text": junk(rng, i), "source": "junk", "url": f"junk:{i}"} for i in range(N_PER_SOURCE["junk"])]
    mixed = pd.concat([c4, pd.DataFrame(rows)], ignore_index=True)
    mixed = mixed.drop_duplicates("text").sample(frac=1.0, random_state=0).reset_index(drop=True)
    mixed[["text", "url", "source"]].to_parquet(args.out, index=False)
    print(f"wrote {args.out}: {len(mixed)} documents; " + ", ".join(
        f"{k} {v}" for k, v in mixed["source"].value_counts().items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
