"""Makes demo/c4_demo_signals.npz: the demo corpus's embeddings, Ask-LLM scores, density and map as
computed by the default models, so that `python -m engine demo` (and the Home page) import them
instead of scoring 400 documents on the user's CPU.

    python scripts/make_demo_bundle.py [--db WORKSPACE]

With --db, a workspace where the stages already ran on 'c4-demo' is read (stages still missing are
run there first); without it, every stage runs in a temporary workspace (Ask-LLM on 400 documents:
3-20 min on 2 CPU cores). Rerun it whenever a default model, its settings or the map settings change:
the engine recomputes any part whose key or weights differ from the installed ones.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from engine import demo_bundle, pipeline  # noqa: E402
from engine.progress import tqdm_progress  # noqa: E402
from engine.storage import Workspace  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=None, help="workspace holding the computed demo corpus")
    parser.add_argument("--out", default=str(demo_bundle.BUNDLE_FILE))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(args.db or Path(tmp) / "bundle.duckdb")
        t0 = time.perf_counter()
        progress, corpus = tqdm_progress(), demo_bundle.DEMO_CORPUS
        pipeline.ingest(ws, demo_bundle.DEMO_FILE, corpus, progress=progress)
        for stage in (pipeline.embed, lambda w, c, progress: pipeline.score(w, c, "askllm", progress=progress),
                      pipeline.density, pipeline.project):
            print(stage(ws, corpus, progress=progress).message, flush=True)
        manifest = demo_bundle.write_bundle(ws, corpus, Path(args.out))
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out}: {manifest['n_docs']} documents, parts {', '.join(manifest['parts'])}, "
          f"{size / 1024:.0f} KiB [{time.perf_counter() - t0:.0f} s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
