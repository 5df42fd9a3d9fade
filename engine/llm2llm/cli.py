"""`python -m engine llm2llm run|resume|experiment|status|export|reject`: LLM2LLM from a terminal."""
from __future__ import annotations

import json

from engine.terminal import say
from engine.arguments import fraction_or_count
from engine.llm2llm.config import LLM2LLMConfig
from engine.llm2llm.student import StudentSettings
from engine.llm2llm.teacher import TeacherSettings
from engine.teacher_endpoints import key_env_for


def register(subparsers) -> None:
    """Add the `llm2llm` group to the engine CLI."""
    group = subparsers.add_parser("llm2llm", help="LLM2LLM: iterative teacher augmentation of seed data")
    sub = group.add_subparsers(dest="llm2llm_command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="start a run (resumable: `llm2llm resume NAME`)")
    _run_args(run)
    run.add_argument("--check", action="store_true",
                     help="only check the teacher on a sample of the seeds (labels right, parsed, per filter)")
    run.set_defaults(func=_run)
    exp = sub.add_parser("experiment", help="arms x seed sizes x seeds (resumes when NAME exists)")
    _run_args(exp, experiment=True)
    exp.set_defaults(func=_experiment)
    for name, func, text in (("resume", _resume, "continue a run from the stage in progress"),
                             ("status", _status, "a run's iterations, accuracies, stage times (no NAME: list runs)"),
                             ("export", _export, "write seeds + accepted synthetic examples (.jsonl/.csv/.parquet)"),
                             ("reject", _reject, "curator: exclude a synthetic example from later iterations")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("name", nargs="?" if name == "status" else None, help="run name")
        if name == "status":
            p.add_argument("--json", action="store_true", help="per-iteration figures as JSON (run or experiment)")
        if name == "export":
            p.add_argument("--out", required=True, help="output file")
        if name == "reject":
            p.add_argument("example_id", help="a synthetic example id (syn-...)")
            p.add_argument("--undo", action="store_true", help="clear the flag instead")
        p.set_defaults(func=func)


def _run_args(p, experiment: bool = False) -> None:
    d, s, t = LLM2LLMConfig(), StudentSettings(), TeacherSettings()
    p.add_argument("--name", required=True, help="run name (letters, digits, _ . -)")
    p.add_argument("--task", choices=("trec", "sst2", "gsm8k", "jsonl"), default=d.task)
    if experiment:
        p.add_argument("--seed-sizes", default="27,54", help="comma-separated counts (or fractions) of train")
        p.add_argument("--seeds", default="auto",
                       help="comma-separated random seeds, or auto: on a GPU enough to detect +0.03 at the task's "
                            "measured noise (engine.llm2llm.noise.default_seeds), else 0,1,2")
        p.add_argument("--arms", default="plain,llm2llm,random-seeds",
                       help="comma-separated: plain, llm2llm, random-seeds, one-shot, augment-all, continue-training")
        p.add_argument("--workers", type=int, default=1, help="cells in parallel child processes (GPU)")
        p.add_argument("--cells", default=None, help=argparse_suppress())
    p.add_argument("--train", help="train file (default: the task's bundled file, or under $SEEDBED_DATA)")
    p.add_argument("--test", help="test file")
    p.add_argument("--labels", default="", help="jsonl: comma-separated label set (default: distinct train outputs)")
    if not experiment:
        p.add_argument("--seed-size", type=fraction_or_count, default=d.seed_size,
                       help="fraction (0.1) or count (100) of train")
    p.add_argument("--test-size", type=fraction_or_count, default=None, help="evaluate on a sample of the test set")
    p.add_argument("--iterations", type=int, default=d.iterations, help="augmentation rounds (students: +1)")
    if not experiment:
        p.add_argument("--seed", type=int, default=d.seed, help="seed of sampling, training and generation")
    p.add_argument("--student", default=s.model, help="HF id, folder, .gguf or packaged alias")
    p.add_argument("--lora", action="store_true", help="LoRA instead of full fine-tuning")
    p.add_argument("--epochs", type=int, default=s.epochs)
    p.add_argument("--lr", type=float, default=s.lr)
    p.add_argument("--batch-size", type=int, default=s.batch_size)
    p.add_argument("--max-new-tokens", type=int, default=s.max_new_tokens, help="student answers (0: per task)")
    p.add_argument("--eval-batch-size", type=int, default=s.eval_batch_size, help="student answers per generate call")
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda when available)")
    p.add_argument("--teacher", default=t.model,
                   help="auto (Qwen2.5-Coder-1.5B when installed, else SmolLM2), a local model, or an "
                        "OpenAI-compatible base URL (http...)")
    p.add_argument("--teacher-batch-size", type=int, default=t.batch_size, help="prompts per generate call (0: auto)")
    p.add_argument("--teacher-timeout", type=float, default=t.timeout_s, help="endpoint request timeout (s)")
    p.add_argument("--label-check", choices=("auto", "teacher", "student", "off"), default=d.label_check,
                   help="who relabels a new input (a different label rejects it)")
    p.add_argument("--no-topic-check", action="store_true", help="skip the embedding on-topic rule")
    p.add_argument("--teacher-model", default="", help="model name at the endpoint")
    p.add_argument("--api-key-env", default=t.api_key_env, help="key variable (configured endpoints only: $SEEDBED_TEACHER_ENDPOINTS)")
    p.add_argument("--teacher-max-new-tokens", type=int, default=t.max_new_tokens)
    p.add_argument("--per-wrong", type=int, default=d.per_wrong, help="new examples per wrong seed")
    p.add_argument("--max-attempts", type=int, default=d.max_attempts, help="teacher requests per wanted example")
    p.add_argument("--schedule", choices=("iterative", "one_shot"), default=d.schedule)
    p.add_argument("--augment-scope", choices=("seeds", "all"), default=d.augment_scope)
    p.add_argument("--continue-training", action="store_true", help="ablation: continue from the last checkpoint")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep every iteration's student")
    p.add_argument("--noise-seeds", type=int, default=2 if experiment else d.noise_seeds,
                   help="retrain the seed set with this many other training seeds: the noise floor of every verdict")
    p.add_argument("--readiness-sample", type=int, default=d.readiness_sample,
                   help="seeds the teacher labels before the first augmentation (0: skip the check)")
    p.add_argument("--answer-by", choices=("auto", "generate"), default=s.answer_by,
                   help="auto: label likelihood for a label set, generation for open answers")


def config_from_args(args) -> LLM2LLMConfig:
    """The typed run config from parsed `llm2llm run` arguments."""
    student = StudentSettings(model=args.student, lora=args.lora, epochs=args.epochs, lr=args.lr,
                              batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, device=args.device,
                              eval_batch_size=args.eval_batch_size, answer_by=args.answer_by)
    if args.teacher.startswith(("http://", "https://")):  # refuse an unlisted key now, not after training
        key_env_for(args.teacher, args.api_key_env)
    teacher = TeacherSettings(model=args.teacher, endpoint_model=args.teacher_model, api_key_env=args.api_key_env,
                              max_new_tokens=args.teacher_max_new_tokens, batch_size=args.teacher_batch_size,
                              timeout_s=args.teacher_timeout, device=args.device)
    return LLM2LLMConfig(task=args.task, train_path=args.train, test_path=args.test,
                         labels=tuple(x.strip() for x in args.labels.split(",") if x.strip()),
                         seed_size=getattr(args, "seed_size", 100), test_size=args.test_size,
                         iterations=args.iterations, seed=getattr(args, "seed", 0), per_wrong=args.per_wrong,
                         max_attempts=args.max_attempts, schedule=args.schedule, augment_scope=args.augment_scope,
                         retrain_from_base=not args.continue_training, keep_checkpoints=args.keep_checkpoints,
                         label_check=args.label_check, topic_check=not args.no_topic_check,
                         noise_seeds=args.noise_seeds, readiness_sample=args.readiness_sample,
                         student=student, teacher=teacher)


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def _split(text: str, kind):
    import argparse

    try:
        return tuple(kind(x) for x in text.split(",") if x.strip())
    except (ValueError, argparse.ArgumentTypeError):
        from engine.errors import UserError
        raise UserError(f"expected a comma-separated list, got {text!r}") from None


def _ws(args):
    from engine.storage import Workspace

    return Workspace(getattr(args, "db", None))


def _progress(args):
    """The progress sink `engine.cli.main` hands to every command (a job's also writes its record)."""
    from engine.progress import tqdm_progress

    return getattr(args, "progress", None) or tqdm_progress()


def _run(args) -> int:
    """Check the teacher first (printed before anything trains; a warning does not stop the run,
    `--check` stops after the check), then start the run, which records the check."""
    import sys

    from engine.llm2llm.loop import check_name, check_new_name, start_llm2llm
    from engine.llm2llm.readiness import check_readiness
    from engine.user_text import check_name as check_text_name

    args.name = check_text_name("run name", args.name)  # NFKC, look-alikes: as the dashboard's form does

    config = config_from_args(args)
    config.validate()
    if args.check:
        check_name(args.name)
    else:
        check_new_name(_ws(args), args.name)
    report = None
    if args.check or (config.readiness_sample and config.iterations > 0):
        report = check_readiness(config, config.readiness_sample or 16)
        say(f"teacher readiness: {json.dumps({k: report[k] for k in ('sampled', 'labelled_right', 'parsed', 'passed')})}")
        say(("WARNING: " if report["level"] == "warning" else "") + report["sentence"],
              file=sys.stderr if report["level"] == "warning" else sys.stdout, flush=True)
    if args.check:  # recorded under the run's name: the LLM2LLM form shows it; the run replaces it
        from engine.storage import llm2llm_controls as controls

        with _ws(args).connect() as con:
            controls.save_readiness(con, args.name, report)
        return 0
    start_llm2llm(_ws(args), args.name, config, _progress(args), readiness=report)
    return _print_report(args, args.name)


def _resume(args) -> int:
    from engine.llm2llm.loop import resume_llm2llm

    resume_llm2llm(_ws(args), args.name, _progress(args))
    return _print_report(args, args.name)


def _experiment(args) -> int:
    from engine.llm2llm.experiment import ExperimentSpec, run_experiment

    if args.cells is not None:  # a worker of a parallel experiment: the spec is in its shard
        run_experiment(_ws(args), args.name, None, None, cells=list(_split(args.cells, int)))
        return 0
    from engine.user_text import check_name

    args.name = check_name("experiment name", args.name)
    spec = ExperimentSpec(_split(args.seed_sizes, fraction_or_count), _seeds(args),
                          _split(args.arms, str.strip), config_from_args(args))
    run_experiment(_ws(args), args.name, spec, _progress(args), workers=args.workers)
    return _print_experiment(args, args.name)


def _seeds(args) -> tuple[int, ...]:
    if args.seeds != "auto":
        return _split(args.seeds, int)
    import torch

    from engine.llm2llm.noise import default_seeds

    on_gpu = args.device != "cpu" and torch.cuda.is_available()
    return tuple(range(default_seeds(args.task, on_gpu)))


def _print_experiment(args, name: str) -> int:
    from engine.llm2llm.records import experiment_report

    report = experiment_report(_ws(args), name)
    row, summary = report["experiment"], report["summary"]
    if getattr(args, "json", False):
        say(json.dumps({"experiment": name, "kind": "experiment", "status": row["status"], "error": row["error"],
                          "summary": summary.astype(object).where(summary.notna(), None).to_dict("records"),
                          "runs": report["iterations"].astype(object).where(report["iterations"].notna(), None)
                          .to_dict("records")}, default=str))
        return 0
    say(f"experiment {name}: {row['status']}" + (f" {row['error']}" if row["error"] else ""))
    if len(summary):
        say(summary.round(3).to_string(index=False))
    return 0


def _print_report(args, name: str) -> int:
    from engine.llm2llm.records import run_report

    report = run_report(_ws(args), name)
    run = report["run"]
    say(f"run {name}: {run['status']} (task {run['task']}, seed {run['seed']})" + (f" {run['error']}" if run["error"] else ""))
    if len(report["iterations"]):
        say(report["iterations"].drop(columns=["run"]).round(3).to_string(index=False))
    if len(report["outcomes"]):
        say("candidates:\n" + report["outcomes"].to_string(index=False))
    return 0


def _status(args) -> int:
    if args.name:
        from engine.storage import llm2llm_experiments as xdb

        with _ws(args).connect() as con:
            is_experiment = xdb.get_experiment(con, args.name) is not None
        if is_experiment:
            return _print_experiment(args, args.name)
        if args.json:
            from engine.llm2llm.records import run_figures

            say(json.dumps(run_figures(_ws(args), args.name), default=str))
            return 0
        return _print_report(args, args.name)
    from engine.storage import llm2llm as db

    with _ws(args).connect() as con:
        frame = db.list_runs(con)
    say(frame.to_string(index=False) if len(frame) else "no llm2llm runs yet: python -m engine llm2llm run ...")
    return 0


def _export(args) -> int:
    from engine.llm2llm.records import export_run

    say(f"wrote {export_run(_ws(args), args.name, args.out)} examples to {args.out}")
    return 0


def _reject(args) -> int:
    from engine.errors import UserError
    from engine.storage import llm2llm as db

    with _ws(args).connect() as con:
        if not db.set_curator_rejected(con, args.name, args.example_id, not args.undo):
            raise UserError(f"run '{args.name}' has no synthetic example '{args.example_id}'")
    say(f"{args.example_id}: curator_rejected = {not args.undo}")
    return 0
