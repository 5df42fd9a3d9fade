"""The generic JSONL task of the LLM2LLM GPU table: web-page lines labelled `content` (main text) or
`boilerplate` (menus, cookie notices, navigation) by people (TurkuNLP text-quality annotations,
`../shared/data/quality`, W-NUT 2022). No prompt or setting here was tuned on it: it stands for a
user's own labelled file (`--task jsonl`). Lines of fewer than 3 words are dropped (a teacher's
new example must have 3), duplicates within a split too.

    python bench/llm2llm_quality_task.py    # writes bench/data/llm2llm_quality_{train,test}.jsonl
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "quality"
OUT = ROOT / "bench" / "data"
LABELS = {"1": "content", "0": "boilerplate"}


def rows(path: Path) -> list[dict]:
    seen, out = set(), []
    for page in json.loads(path.read_text()):
        for text, label in zip(page["text"], page["labels"]):
            text = " ".join(text.split())
            if len(text.split()) >= 3 and text not in seen:
                seen.add(text)
                out.append({"input": text[:400], "output": LABELS[label]})
    return out


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for split, name in (("train", "train.json"), ("test", "dev.json")):
        data = rows(SOURCE / name)
        (OUT / f"llm2llm_quality_{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
        counts = {v: sum(r["output"] == v for r in data) for v in LABELS.values()}
        print(f"{split}: {len(data)} rows {counts}")
