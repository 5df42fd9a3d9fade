"""Makes demo/c4_demo_signals.npz: the demo corpus's embeddings, Ask-LLM scores, density and map as
computed by the default models (and the topic clusters), so that `python -m engine demo` (and the Home page) import them
instead of scoring 400 documents on the user's CPU.

    python scripts/make_demo_bundle.py [--db WORKSPACE]

With --db, a workspace where the stages already ran on 'c4-demo' is read (stages still missing are
run there first); without it, every stage runs in a temporary workspace (Ask-LLM on 400 documents:
3-20 min on 2 CPU cores; `--scores FILE` takes them from scripts/score_demo_gpu.py instead, after
checking that they were made under the installed judge's key). Rerun it whenever a default model, its settings or the map settings change:
the engine recomputes any part whose key or weights differ from the installed ones.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from engine import demo_bundle, pipeline, stage_runners  # noqa: E402
from engine.progress import tqdm_progress  # noqa: E402
from engine.storage import Workspace  # noqa: E402


def import_scores(ws: Workspace, corpus: str, path: Path) -> None:
    """Store precomputed Ask-LLM scores (doc_ids, values, truncated, key) for the corpus's documents."""
    import numpy as np

    from engine.storage import corpus as store
    from engine.storage import signals as signal_store

    data, key = np.load(path), pipeline.signal_config("askllm").key()
    if str(data["key"]) != key:
        sys.exit(f"error: {path} holds scores for {data['key']}, the installed judge gives {key}")
    with ws.connect() as con:
        have = set(store.documents(con, corpus)["doc_id"])
        ids = [str(d) for d in data["doc_ids"]]
        if set(ids) != have:
            sys.exit(f"error: {path} scores {len(set(ids) & have)} of the corpus's {len(have)} documents")
        signal_store.put_scores(con, key, ids, data["values"], data["truncated"])
    print(f"imported {len(ids)} Ask-LLM scores from {path} (made on {data['device']})")


def reuse_bundle(ws: Workspace, corpus: str, path: Path) -> None:
    """Store the per-document parts (embeddings, Ask-LLM scores) of an earlier bundle for the
    corpus's documents it covers, when their keys and weights equal the installed models': only
    the documents new since then are computed. Corpus-relative parts (density, clusters, map)
    are always recomputed, since the corpus changed."""
    from engine.storage import corpus as store
    from engine.storage import signals as signal_store

    bundle = demo_bundle.read_bundle(path)
    if bundle is None:
        sys.exit(f"error: no bundle at {path}")
    manifest, arrays = bundle
    want = demo_bundle.current_parts(corpus)
    with ws.connect() as con:
        have = set(store.documents(con, corpus)["doc_id"])
    ids = [str(d) for d in arrays["doc_ids"]]
    keep = np.array([d in have for d in ids])
    kept = [d for d in ids if d in have]
    for part in ("embed", "askllm"):
        why = demo_bundle._mismatch(manifest["parts"].get(part), want[part])  # noqa: SLF001 (same check as load)
        if why:
            print(f"not reused: {part}: {why}")
            continue
        with ws.connect() as con:
            if part == "embed":
                signal_store.put_embeddings(con, want[part]["key"], kept, arrays["embed_vectors"][keep])
            else:
                signal_store.put_scores(con, want[part]["key"], kept, arrays["askllm_values"][keep],
                                        arrays["askllm_truncated"][keep])
        print(f"reused {part} of {len(kept)} documents from {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=None, help="workspace holding the computed demo corpus")
    parser.add_argument("--out", default=str(demo_bundle.BUNDLE_FILE))
    parser.add_argument("--reuse", default=None, help="an earlier bundle whose embeddings and Ask-LLM scores are "
                        "reused for the documents it covers (e.g. demo/c4_demo_signals.npz)")
    parser.add_argument("--scores", default=None, help="Ask-LLM scores from scripts/score_demo_gpu.py (.npz)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(args.db or Path(tmp) / "bundle.duckdb")
        t0 = time.perf_counter()
        progress, corpus = tqdm_progress(), demo_bundle.DEMO_CORPUS
        pipeline.ingest(ws, demo_bundle.DEMO_FILE, corpus, progress=progress)
        if args.reuse:
            reuse_bundle(ws, corpus, Path(args.reuse))
        if args.scores:
            import_scores(ws, corpus, Path(args.scores))
        for stage in (pipeline.embed, lambda w, c, progress: pipeline.score(w, c, "askllm", progress=progress),
                      pipeline.density, stage_runners.run_clusters, pipeline.project):
            print(stage(ws, corpus, progress=progress).message, flush=True)
        manifest = demo_bundle.write_bundle(ws, corpus, Path(args.out))
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out}: {manifest['n_docs']} documents, parts {', '.join(manifest['parts'])}, "
          f"{size / 1024:.0f} KiB [{time.perf_counter() - t0:.0f} s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
