"""`python -m engine VERB ...`: the selection pipeline from a terminal, one verb per stage.

Every handler is `func(args) -> int` set with `set_defaults(func=...)`; `args.db` is the global
`--db` (None: $SEEDBED_DB or ./seedbed.duckdb). Groups from other modules (`llm2llm`, `runs`)
add themselves through their `register(subparsers)`. A `UserError` (or bad arguments) prints one
line `error: ...` on stderr and exits 2; stages are resumable, so Ctrl-C exits 130 and a rerun
continues.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from engine.errors import UserError
from engine.progress import tqdm_progress

_EMBEDDER = "all-minilm-l6-v2"  # = engine.models.DEFAULT_EMBEDDER; importing models (torch) would slow --help
_PLUGINS = (("engine.llm2llm.cli",), ("engine.runs.cli", "engine.runs"))  # first found of each group


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (usage stays available through --help)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def fraction_or_count(text: str) -> float | int:
    """argparse type for sizes, accepting only unambiguous forms: a fraction in (0, 1] written with
    a point or as a percentage ('0.2', '1.0', '20%', '100%'), or a whole number of documents >= 1
    ('500'). '1' means one document, and says so on stderr."""
    text = text.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is neither a fraction nor a count") from None
    if text.endswith("%") or not text.lstrip("+").isdigit():
        if not 0 < value <= 1:
            raise argparse.ArgumentTypeError(
                f"'{text}' is not a fraction in (0, 1] (e.g. 0.2, 1.0 or 20%); for a number of documents "
                "give a whole number (e.g. 500)")
        return value
    if int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}': a count must be at least 1 document")
    if int(text) == 1:
        print("note: --budget 1 selects one document; for the whole corpus give 1.0 or 100%", file=sys.stderr)
    return int(text)


def _progress():
    from engine.runs.progress import run_progress  # a backend run also records progress

    return run_progress(tqdm_progress())


def _ws(args):
    from engine.storage import Workspace

    return Workspace(args.db)


def _backend(args, **local_only):
    """(stage module, extra kwargs): `engine.pipeline` in-process, or `engine.ray_backend` with
    its options when `--backend ray`; `local_only` kwargs apply to the in-process stages only."""
    if args.backend != "ray":
        from engine import pipeline

        return pipeline, local_only
    from engine import ray_backend

    return ray_backend, {"options": ray_backend.RayOptions(address=args.address, actors=args.ray_actors)}


def _print_result(result) -> int:
    print(f"{result.stage}: {result.message} [{result.seconds:.1f} s]")
    return 0


def _ingest(args) -> int:
    from engine import pipeline

    if args.backend == "ray":
        stages, extra = _backend(args)
        return _print_result(stages.ingest(_ws(args), args.path, args.corpus, text_column=args.text_column,
                                           encoding=args.encoding, on_decode_error=args.encoding_fallback,
                                           progress=_progress(), **extra))
    report = pipeline.ingest(_ws(args), args.path, args.corpus, text_column=args.text_column,
                             encoding=args.encoding, on_decode_error=args.encoding_fallback, progress=_progress())
    for issue in report.issues[:20]:
        print(f"skipped {issue}", file=sys.stderr)
    if len(report.issues) > 20:
        print(f"... and {len(report.issues) - 20} more skipped rows (stored in the workspace)", file=sys.stderr)
    print(report.summary())
    return 0


def _embed(args) -> int:
    stages, extra = _backend(args)
    return _print_result(stages.embed(_ws(args), args.corpus, model=args.model, batch_size=args.batch_size,
                                      progress=_progress(), **extra))


def _score(args) -> int:
    from engine import pipeline

    config = pipeline.signal_config(args.signal, model=args.model, batch_size=args.batch_size,
                                    calibrate=args.calibrate, device=args.device)
    stages, extra = _backend(args, chunk_size=args.chunk_size)
    return _print_result(stages.score(_ws(args), args.corpus, args.signal, config, progress=_progress(), **extra))


def _density(args) -> int:
    from engine.density import DensityConfig

    config = DensityConfig(**{k: v for k, v in (("bandwidth", args.bandwidth), ("n_hashes", args.n_hashes),
                                                 ("seed", args.seed)) if v is not None})
    stages, extra = _backend(args)
    return _print_result(stages.density(_ws(args), args.corpus, config, embed_model=args.embed_model,
                                        progress=_progress(), **extra))


def _project(args) -> int:
    from engine import pipeline

    return _print_result(pipeline.project(_ws(args), args.corpus, max_points=args.max_points, seed=args.seed,
                                          embed_model=args.embed_model, progress=_progress()))


def _select(args) -> int:
    from engine import pipeline

    result = pipeline.select(_ws(args), args.corpus, args.strategy, args.weight, args.budget, args.seed,
                             name=args.name, quality=args.quality, replace=args.replace)
    print(f"select: {result.message} [{result.seconds:.2f} s]")
    for rank, doc_id in enumerate(result.doc_ids[:args.show]):
        print(f"{rank}\t{doc_id}")
    return 0


def _export(args) -> int:
    from engine import pipeline

    print(pipeline.export(_ws(args), args.selection, args.out, args.format, force=args.force).message)
    return 0


def _pipeline(args) -> int:
    from engine import pipeline

    results = pipeline.run_pipeline(_ws(args), args.path, args.corpus, text_column=args.text_column,
                                    signals=tuple(s for s in args.signals.split(",") if s and s != "none"),
                                    strategy=args.strategy, weight=args.weight, budget=args.budget,
                                    seed=args.seed, selection_name=args.name, progress=_progress(),
                                    replace=args.replace)
    for r in results:
        print(r.summary() if hasattr(r, "summary") else f"{getattr(r, 'stage', 'select')}: {r.message}")
    return 0


def _corpora(args) -> int:
    from engine.storage import corpus as store

    with _ws(args).connect() as con:
        frame = store.list_corpora(con)
    print(frame.to_string(index=False) if len(frame)
          else "no corpora yet: python -m engine ingest PATH --corpus NAME")
    return 0


def _status(args) -> int:
    import json

    from engine import pipeline

    print(json.dumps(pipeline.stage_status(_ws(args), args.corpus), indent=2, default=str))
    return 0


def _compare(args) -> int:
    from engine import pipeline
    from engine.select import compare_strategies
    from engine.storage import corpus as store

    ws = _ws(args)
    with ws.connect() as con:
        pipeline.require_corpus(con, args.corpus)
        frame = store.corpus_frame(con, args.corpus, snippet_chars=0)
    table = compare_strategies(frame, args.budget, args.seed, args.weight, args.quality)
    print(table.round(3).to_string(index=False))
    return 0


def _selection_args(p, name_required: bool) -> None:
    from engine.select import QUALITY_COLUMNS, STRATEGIES

    p.add_argument("--strategy", choices=STRATEGIES, default="combined",
                   help="random | askllm / perplexity / curator (top-k quality) | density (inverse-propensity "
                        "sampling) | combined (weighted ranks of quality and coverage); default combined")
    p.add_argument("--weight", type=float, default=0.5,
                   help="combined only: 1 = quality only (equals top-k), 0 = coverage only (equals density)")
    p.add_argument("--budget", type=fraction_or_count, default=0.2,
                   help="a fraction of the corpus in (0, 1] (0.2, 1.0, 20%%) or a whole number of documents (500)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling strategies (default 0)")
    p.add_argument("--quality", choices=QUALITY_COLUMNS, default="askllm",
                   help="quality signal that `combined` weighs against coverage (default askllm)")
    p.add_argument("--name", required=name_required, default=None, help="save the selection under this name")
    p.add_argument("--replace", action="store_true", help="overwrite a saved selection of the same name")


def build_parser() -> argparse.ArgumentParser:
    """The whole CLI (also used by `engine.runs` to validate a command before queueing it)."""
    parser = _Parser(prog="python -m engine", description="Seedbed: Ask-LLM + Density data selection, LLM2LLM.")
    parser.add_argument("--db", default=None, help="workspace file (default: $SEEDBED_DB or ./seedbed.duckdb)")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name, func, text, corpus=True):
        p = sub.add_parser(name, help=text, description=text)
        if corpus:
            p.add_argument("--corpus", required=True, help="corpus name")
        p.set_defaults(func=func)
        return p

    _model_verbs(verb)
    _selection_verbs(verb)
    _register_plugins(sub)
    return parser


def _backend_args(p) -> None:
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: in this process (default); ray: on a Ray cluster through Ray Data")
    p.add_argument("--address", default=None,
                   help="ray: cluster address (auto, ray://host:10001); default a local Ray on this machine")
    p.add_argument("--ray-actors", type=int, default=None, help="ray: model replicas (default one per GPU, else 1)")


def _file_args(p) -> None:
    p.add_argument("path", help="a .jsonl/.json/.csv/.tsv/.parquet/.txt file or a folder of them")
    p.add_argument("--text-column", default="text", help="column holding the document text (default text)")


def _model_verbs(verb) -> None:
    """ingest, embed, score, density, project: the stages that compute and store."""
    p = verb("ingest", _ingest, "read a corpus file into the workspace (deduplicated, resumable)")
    _file_args(p)
    p.add_argument("--encoding", default="utf-8", help="text encoding of the file (default utf-8)")
    p.add_argument("--encoding-fallback", choices=("report", "latin-1"), default="report",
                   help="undecodable rows: skip and report them (default), or decode them as Latin-1")
    _backend_args(p)
    p = verb("embed", _embed, "embed documents that have no stored vector for the model")
    p.add_argument("--model", default=_EMBEDDER, help=f"sentence-transformers model (default {_EMBEDDER})")
    p.add_argument("--batch-size", type=int, default=64)
    _backend_args(p)
    p = verb("score", _score, "score documents with Ask-LLM (judge's P(yes)) or perplexity; stored by settings")
    p.add_argument("--signal", choices=("askllm", "perplexity"), default="askllm")
    p.add_argument("--model", default=None,
                   help="judge / LM: packaged alias, HF id or folder (default per signal)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=None,
                   help="askllm: contextual calibration (Zhao et al. 2021); on by default")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="documents per stored (resumable) batch (default 64 on CPU, 2048 on a GPU)")
    _backend_args(p)
    p = verb("density", _density, "kernel density of every document among the corpus's embeddings")
    p.add_argument("--bandwidth", type=float, default=None, help="kernel width in embedding space (default 0.35)")
    p.add_argument("--n-hashes", type=int, default=None, help="sketch rows (default 128)")
    p.add_argument("--seed", type=int, default=None, help="hash seed (default 0)")
    p.add_argument("--embed-model", default=_EMBEDDER)
    _backend_args(p)
    p = verb("project", _project, "2-D UMAP map of the corpus for the dashboard")
    p.add_argument("--max-points", type=int, default=20_000,
                   help="fit UMAP on a seeded sample of this many documents, place the rest with transform")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--embed-model", default=_EMBEDDER)


def _selection_verbs(verb) -> None:
    """select, export, pipeline, corpora, status, compare."""
    p = verb("select", _select, "choose a budget of documents by a strategy; --name saves it")
    _selection_args(p, name_required=False)
    p.add_argument("--show", type=int, default=10, help="print the first N chosen doc_ids (default 10)")
    p = verb("export", _export, "write a saved selection (minus curator-rejected documents) as JSONL or Parquet",
             corpus=False)
    p.add_argument("--selection", required=True, help="name of a saved selection")
    p.add_argument("--out", required=True, help="output file; .jsonl, .jsonl.gz or .parquet picks the format")
    p.add_argument("--format", choices=("jsonl", "jsonl.gz", "parquet", "datasets"), default=None,
                   help="override the suffix; datasets: a folder for datasets.load_from_disk")
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p = verb("pipeline", _pipeline, "ingest, embed, score, density, project and select in one go")
    _file_args(p)
    p.add_argument("--signals", default="askllm",
                   help="comma-separated: askllm,perplexity, or none (default askllm)")
    _selection_args(p, name_required=False)
    verb("corpora", _corpora, "list the workspace's corpora", corpus=False)
    verb("status", _status, "what each stage has stored for a corpus (JSON)")
    p = verb("compare", _compare, "compare strategies: size, overlap, mean quality, map coverage")
    _selection_args(p, name_required=False)


def _register_plugins(subparsers) -> None:
    """Let optional groups add their verbs; only a missing module is skipped, real errors surface."""
    for candidates in _PLUGINS:
        for module in candidates:
            try:
                mod = importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name and (exc.name == module or module.startswith(exc.name + ".")):
                    continue
                raise
            if hasattr(mod, "register"):
                mod.register(subparsers)
                break


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 2 bad input, 130 interrupted)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except SystemExit as exc:  # argparse: --help (0) or a bad argument (2, already printed)
        return exc.code if isinstance(exc.code, int) else 2
    except UserError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; finished batches are stored, rerun the command to continue", file=sys.stderr)
        return 130
