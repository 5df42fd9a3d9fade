"""Selections on the committed demo corpus are pinned: a refactor of the stages, the executors
or the rank functions must choose exactly the same documents. The digests were taken on main
before the import-circle refactor (issue 19) with `python tests/engine/test_selection_pins.py` run there
(PYTHONPATH=<that checkout>); the demo bundle is imported, so no model runs.

A digest is the sha1 of the ranked doc ids joined by newlines: order counts too."""
from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pytest

# (strategy, weight, propensity, seed): every strategy the demo's stored signals allow, both
# propensities of the coverage side and a second seed for the sampled ones
CASES = [("random", 0.5, "clusters", 0), ("askllm", 0.5, "clusters", 0), ("quality", 0.5, "clusters", 0),
         ("density", 0.5, "clusters", 0), ("density", 0.5, "density", 1),
         ("combined", 0.5, "clusters", 0), ("combined", 0.5, "density", 0), ("combined", 0.3, "clusters", 2),
         ("combined", 1.0, "clusters", 0), ("combined", 0.0, "clusters", 0)]
QUALITY_SIDE = ("combined", 0.5, "clusters", 0)  # once more with the combined `quality` signal as its quality side

PINNED = {  # main at 29c3bc2
    "random:w=0.5:clusters:seed=0": "01dd4e52642ed5df",
    "askllm:w=0.5:clusters:seed=0": "8587c8a0c63cdd99",
    "quality:w=0.5:clusters:seed=0": "8587c8a0c63cdd99",
    "density:w=0.5:clusters:seed=0": "3603363a692ab25a",
    "density:w=0.5:density:seed=1": "4f7ccfc2701a0872",
    "combined:w=0.5:clusters:seed=0": "be3191eed8d26bad",
    "combined:w=0.5:density:seed=0": "ef2cc3635820247b",
    "combined:w=0.3:clusters:seed=2": "594dbd6d2ac3925b",
    "combined:w=1.0:clusters:seed=0": "8587c8a0c63cdd99",
    "combined:w=0.0:clusters:seed=0": "3603363a692ab25a",
    "combined:quality=quality": "be3191eed8d26bad",
    "quality values": "8070ec9820c20479",
}


def digests(ws) -> dict[str, str]:
    """Load the demo (bundle import only), compute the rank-mean `quality` stage, and digest the
    ids of each case's selection (budget 0.2, not saved)."""
    from engine import demo_bundle, pipeline
    from engine.storage import corpus as store

    # The pins were taken on the 400-document C4 demo, which stays committed beside the newer mixed demo.
    old_file, demo_bundle.DEMO_FILE = demo_bundle.DEMO_FILE, demo_bundle.DEMO_DIR / "c4_demo.parquet"
    try:
        demo_bundle.load_demo(ws, bundle_path=demo_bundle.DEMO_DIR / "c4_demo_signals.npz")
    finally:
        demo_bundle.DEMO_FILE = old_file
    pipeline.run_stage(ws, demo_bundle.DEMO_CORPUS, "quality")
    out = {}
    for strategy, weight, propensity, seed in CASES:
        result = pipeline.select(ws, demo_bundle.DEMO_CORPUS, strategy, weight, 0.2, seed, propensity=propensity)
        ids = "\n".join(map(str, result.doc_ids))
        out[f"{strategy}:w={weight}:{propensity}:seed={seed}"] = hashlib.sha1(ids.encode()).hexdigest()[:16]
    strategy, weight, propensity, seed = QUALITY_SIDE
    result = pipeline.select(ws, demo_bundle.DEMO_CORPUS, strategy, weight, 0.2, seed, quality="quality",
                             propensity=propensity)
    out["combined:quality=quality"] = hashlib.sha1("\n".join(map(str, result.doc_ids)).encode()).hexdigest()[:16]
    with ws.connect() as con:  # the stored values too: the rank scale of `quality` must not move
        frame = store.corpus_frame(con, demo_bundle.DEMO_CORPUS, snippet_chars=0)
    out["quality values"] = hashlib.sha1(repr(frame["quality"].round(12).tolist()).encode()).hexdigest()[:16]
    return out


def test_demo_selections_are_unchanged(workspace):
    from engine import demo_bundle

    if not (demo_bundle.DEMO_DIR / "c4_demo_signals.npz").exists():
        pytest.skip("demo/c4_demo_signals.npz not made yet")
    assert digests(workspace) == PINNED


if __name__ == "__main__":  # print this checkout's digests (run with PYTHONPATH=<checkout>)
    from engine.storage import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        json.dump(digests(Workspace(Path(tmp) / "ws.duckdb")), sys.stdout, indent=1)
