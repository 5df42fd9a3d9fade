"""`python -m engine VERB ...`: the selection pipeline from a terminal, one verb per stage.

Every handler is `func(args) -> int` set with `set_defaults(func=...)`; `args.db` is the global
`--db` (None: $SEEDBED_DB or ./seedbed.duckdb), `args.progress` the progress sink handed to
`main` (a tqdm bar by default; a background job hands in its `JobProgress`), `args.parser` the
whole parser. The groups `jobs` (alias `runs`) and `llm2llm` are plain imports that add their
verbs with `register(subparsers)`; nothing in the engine imports this module. Verb names, signal
choices, defaults and help come from the stage registry and the config objects. A `UserError`
(or bad arguments) prints one line `error: ...` on stderr and exits 2; stages are resumable, so
Ctrl-C exits 130 and a rerun continues.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from engine import demo_bundle, failures, process, proxy_cli, review_cli, stages
from engine.arguments import (Parser, backend_args, field_default, filter_args, filter_spec, parse_settings,
                              selection_args, setting)
from engine.errors import UserError
from engine.jobs import cli as jobs_cli
from engine.llm2llm import cli as llm2llm_cli
from engine.progress import ProgressFn, tqdm_progress
from engine.terminal import say


def _ws(args):
    from engine.storage import Workspace  # noqa: PLC0415

    return Workspace(args.db)


def _executor(args):
    """None (in this process) or a `RayExecutor` with the command's Ray options."""
    if args.backend != "ray":
        return None
    from engine import ray_backend  # noqa: PLC0415

    return ray_backend.RayExecutor(ray_backend.RayOptions(address=args.address, actors=args.ray_actors))


def _config(name: str, args, **flags):
    """The stage's config from its flags (None = default) and `--set NAME=VALUE` pairs."""
    stage = stages.stage(name)
    try:
        extra = parse_settings(stage.config, getattr(args, "set", None))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return stage.make_config(**{**flags, **extra})


def _run(args, name: str, config, **local) -> int:
    executor = _executor(args)
    if executor is not None:
        result = executor.run_stage(_ws(args), args.corpus, name, config, args.progress,
                                    **({"embed_model": args.embed_model} if "embed_model" in args else {}))
    else:
        from engine import pipeline  # noqa: PLC0415

        result = pipeline.run_stage(_ws(args), args.corpus, name, config, args.progress, **local)
    say(result.summary())
    return 0


def _ingest(args) -> int:
    from engine import pipeline  # noqa: PLC0415

    kwargs = dict(text_column=args.text_column, encoding=args.encoding, on_decode_error=args.encoding_fallback,
                  progress=args.progress)
    executor = _executor(args)
    if executor is not None:
        say(executor.ingest(_ws(args), args.path, args.corpus, **kwargs).summary())
        return 0
    report = pipeline.ingest(_ws(args), args.path, args.corpus, **kwargs)
    for issue in report.issues[:20]:
        say(f"skipped {issue}", file=sys.stderr)
    if len(report.issues) > 20:
        say(f"... and {len(report.issues) - 20} more skipped rows (stored in the workspace)", file=sys.stderr)
    say(report.summary())
    return 0


def _embed(args) -> int:
    return _run(args, "embed", _config("embed", args, model=args.model, batch_size=args.batch_size))


def _score(args) -> int:
    from engine.pipeline import signal_config  # noqa: PLC0415

    signal_config(args.signal)  # an unknown or not computable signal: one clear line
    config = _config(args.signal, args, model=args.model, batch_size=args.batch_size, calibrate=args.calibrate,
                     device=args.device)
    return _run(args, args.signal, config, chunk_size=args.chunk_size)


def _density(args) -> int:
    config = _config("density", args, bandwidth=args.bandwidth, n_hashes=args.n_hashes, seed=args.seed)
    return _run(args, "density", config, embed_model=args.embed_model)


def _project(args) -> int:
    config = _config("project", args, max_points=args.max_points, seed=args.seed)
    args.backend = "local"  # the map runs in this process
    return _run(args, "project", config, embed_model=args.embed_model)


def _clusters(args) -> int:
    config = _config("clusters", args, n_clusters=args.n_clusters, seed=args.seed)
    args.backend = "local"  # k-means reads every vector at once
    return _run(args, "clusters", config, embed_model=args.embed_model)


def _select(args) -> int:
    from engine import pipeline  # noqa: PLC0415

    result = pipeline.select(_ws(args), args.corpus, args.strategy, args.weight, args.budget, args.seed,
                             name=args.name, quality=args.quality, replace=args.replace,
                             temperature=args.temperature, propensity=args.propensity, filters=filter_spec(args))
    say(f"select: {result.message} [{result.seconds:.2f} s]")
    if not args.ids and len(result.doc_ids):
        say(f"  {len(result.doc_ids)} doc_ids, first {result.doc_ids[0]}; --ids lists them all"
            + ("" if args.name else ", --name saves them"))
    for rank, doc_id in enumerate(result.doc_ids if args.ids else result.doc_ids[:args.show]):
        say(f"{rank}	{doc_id}")
    return 0


def _export(args) -> int:
    from engine import pipeline  # noqa: PLC0415

    say(pipeline.export(_ws(args), args.selection, args.out, args.format, force=args.force).message)
    return 0


def _pipeline(args) -> int:
    from engine import pipeline  # noqa: PLC0415

    results = pipeline.run_pipeline(_ws(args), args.path, args.corpus, text_column=args.text_column,
                                    signals=tuple(s for s in args.signals.split(",") if s and s != "none"),
                                    strategy=args.strategy, weight=args.weight, budget=args.budget,
                                    seed=args.seed, selection_name=args.name, progress=args.progress,
                                    executor=_executor(args), replace=args.replace,
                                    temperature=args.temperature, propensity=args.propensity,
                                    rules=args.rules, filters=filter_spec(args))
    for r in results:
        say(r.message if r.stage == "ingest" else f"{r.stage}: {r.message}")
    return 0


def _corpora(args) -> int:
    from engine.storage import corpus as store  # noqa: PLC0415

    with _ws(args).connect() as con:
        frame = store.list_corpora(con)
    say(frame.to_string(index=False) if len(frame)
          else "no corpora yet: python -m engine ingest PATH --corpus NAME")
    return 0


def _status(args) -> int:
    from engine import pipeline  # noqa: PLC0415

    say(json.dumps(pipeline.stage_status(_ws(args), args.corpus), indent=2, default=str))
    return 0


def _compare(args) -> int:
    from engine.select import compare_strategies  # noqa: PLC0415
    from engine.storage import corpus as store  # noqa: PLC0415

    with _ws(args).connect() as con:
        stages.require_corpus(con, args.corpus)
        frame = store.corpus_frame(con, args.corpus, snippet_chars=0)
    table = compare_strategies(frame, args.budget, args.seed, args.weight, args.quality,
                               temperature=args.temperature, propensity=args.propensity)
    say(table.round(3).to_string(index=False))
    return 0


def _per_signal(field: str) -> str:
    """'askllm gemma3-270m, perplexity smollm2-135m-instruct': a setting's default per computed signal."""
    return ", ".join(f"{s.name} {field_default(s.config, field)}" for s in stages.computed_signals()
                     if field in {f for f in s.config.__dataclass_fields__})


def _set_arg(p, stage: str) -> None:
    config = stages.stage(stage).config if stage else None
    names = ", ".join(config.__dataclass_fields__) if config else "any field of the signal's config class"
    p.add_argument("--set", type=setting, action="append", metavar="NAME=VALUE",
                   help=f"any other setting ({names}); repeatable")


def _file_args(p) -> None:
    p.add_argument("path", help="a .jsonl/.json/.csv/.tsv/.parquet/.txt file or a folder of them")
    p.add_argument("--text-column", default="text", help="column holding the document text (default text)")


def _model_verbs(verb) -> None:
    """ingest and the registry's stages: embed, score (every computed signal), density, project."""
    p = verb("ingest", _ingest, "read a corpus file into the workspace (deduplicated, resumable)")
    _file_args(p)
    p.add_argument("--encoding", default="utf-8", help="text encoding of the file (default utf-8)")
    p.add_argument("--encoding-fallback", choices=("report", "latin-1"), default="report",
                   help="undecodable rows: skip and report them (default), or decode them as Latin-1")
    backend_args(p)
    embed = stages.stage("embed").config
    p = verb("embed", _embed, "embed documents that have no stored vector for the model")
    p.add_argument("--model", default=None, help=f"sentence-transformers model (default {field_default(embed, 'model')})")
    p.add_argument("--batch-size", type=int, default=None, help=f"(default {field_default(embed, 'batch_size')})")
    _set_arg(p, "embed")
    backend_args(p)
    signals = stages.computed_signals()
    p = verb("score", _score, "score documents with a signal (" + "; ".join(f"{s.name}: {s.help}" for s in signals)
             + "); stored by settings")
    p.add_argument("--signal", choices=[s.name for s in signals], default="askllm")
    p.add_argument("--model", default=None, help=f"judge / LM: packaged alias, HF id or folder (default {_per_signal('model')}; "
                   "askllm on a GPU: the best installed judge, see engine/judges.py)")
    p.add_argument("--batch-size", type=int, default=None, help=f"rows per batch on CPU (default {_per_signal('batch_size')})")
    p.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=None,
                   help=f"askllm: contextual calibration (Zhao et al. 2021); default {_per_signal('calibrate')}")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="documents per stored (resumable) batch (default 64 on CPU, 2048 on a GPU)")
    _set_arg(p, "")
    backend_args(p)
    dens = stages.stage("density").config
    p = verb("density", _density, stages.stage("density").help)
    for flag, name, kind in (("--bandwidth", "bandwidth", float), ("--n-hashes", "n_hashes", int), ("--seed", "seed", int)):
        p.add_argument(flag, type=kind, default=None, help=f"(default {field_default(dens, name)})")
    p.add_argument("--embed-model", default=None, help=f"(default {stages.embedding_key()})")
    _set_arg(p, "density")
    backend_args(p)
    proj = stages.stage("project").config
    p = verb("project", _project, stages.stage("project").help)
    p.add_argument("--max-points", type=int, default=None, help="fit UMAP on a seeded sample of this many documents, "
                   f"place the rest with transform (default {field_default(proj, 'max_points')})")
    p.add_argument("--seed", type=int, default=None, help=f"(default {field_default(proj, 'seed')})")
    p.add_argument("--embed-model", default=None, help=f"(default {stages.embedding_key()})")
    p = verb("clusters", _clusters, stages.stage("clusters").help)
    p.add_argument("--n-clusters", type=int, default=None, help="k (default: sqrt(documents) / 2, from 2 to 64)")
    p.add_argument("--seed", type=int, default=None, help="k-means initialisation (default 0)")
    p.add_argument("--embed-model", default=None, help=f"(default {stages.embedding_key()})")


def _selection_verbs(verb) -> None:
    """select, export, pipeline, corpora, status, compare."""
    p = verb("select", _select, "choose a budget of documents by a strategy; --name saves it")
    selection_args(p)
    filter_args(p)
    p.add_argument("--show", type=int, default=0, help="print the first N chosen doc_ids (default 0: a summary)")
    p.add_argument("--ids", action="store_true", help="print every chosen doc_id, one per line with its rank")
    p = verb("export", _export, "write a saved selection (minus curator-rejected documents) as JSONL or Parquet",
             corpus=False)
    p.add_argument("--selection", required=True, help="name of a saved selection")
    p.add_argument("--out", required=True, help="output file; .jsonl, .jsonl.gz or .parquet picks the format")
    p.add_argument("--format", choices=("jsonl", "jsonl.gz", "parquet", "datasets"), default=None,
                   help="override the suffix; datasets: a folder for datasets.load_from_disk")
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p = verb("pipeline", _pipeline, "ingest, embed, score, density, clusters, project and select in one go")
    _file_args(p)
    p.add_argument("--signals", default="askllm", help="comma-separated signals to score ("
                   + ", ".join(s.name for s in stages.computed_signals()) + "), or none (default askllm)")
    selection_args(p)
    filter_args(p)
    p.add_argument("--rules", action=argparse.BooleanOptionalAction, default=True,
                   help="run the cheap rule, language and near-duplicate signals first (default on)")
    backend_args(p)
    verb("corpora", _corpora, "list the workspace's corpora", corpus=False)
    verb("status", _status, "what each stage has stored for a corpus (JSON)")
    p = verb("compare", _compare, "compare strategies: size, overlap, mean quality, map coverage")
    selection_args(p)


def build_parser() -> argparse.ArgumentParser:
    """The whole CLI; `engine.jobs` receives it (`args.parser`) to check a command before queueing."""
    parser = Parser(prog="python -m engine", description="Seedbed: Ask-LLM + Density data selection, LLM2LLM.")
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
    jobs_cli.register(sub)
    llm2llm_cli.register(sub)
    proxy_cli.register(sub)
    review_cli.register(sub)
    demo_bundle.register(sub)
    process.register(sub)
    return parser


def main(argv: list[str] | None = None, progress: ProgressFn | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 2 bad input or an OS/DuckDB failure, told in
    one line with the traceback in the error log (engine.failures), 130 interrupted). `progress`
    receives every stage's progress (default: tqdm bars on stderr)."""
    parser = build_parser()
    sink = progress if progress is not None else tqdm_progress()
    try:
        args = parser.parse_args(argv)
        args.progress, args.parser = sink, parser
        args.run_command = main  # a job worker runs its job's command through it (`jobs work`)
        return int(args.func(args) or 0)
    except SystemExit as exc:  # argparse: --help (0) or a bad argument (2, already printed)
        return exc.code if isinstance(exc.code, int) else 2
    except UserError as exc:
        _error(sink, " ".join(str(exc).split()))
        return 2
    except BrokenPipeError:  # `... | head` closed the pipe: stop quietly, like any Unix tool
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
        return 141
    except KeyboardInterrupt:
        _error(sink, "interrupted; finished batches are stored, rerun the command to continue")
        return 130
    except failures.BOUNDARY as exc:  # full disk, name too long, read-only folder, broken workspace file
        _error(sink, failures.report(exc, "python -m engine " + " ".join(argv or sys.argv[1:])))
        return 2


def _error(progress, text: str) -> None:
    """`error: TEXT` on a line of its own (open progress bars are ended first)."""
    getattr(progress, "close", lambda: None)()
    say(f"error: {text}", file=sys.stderr)
