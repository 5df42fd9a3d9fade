"""`python -m engine review ...`: the curator's queue and decisions, headless.

    review next   --corpus C [--n 10] [--json]       documents to decide next, with the model's guess and why
    review decide --corpus C --doc ID --decision accept|reject [--note TEXT]
    review import FILE --corpus C [--id-column doc_id | --text-column text] [--label-column label]
    review model  --corpus C [--json]                 refit the quality model; which `quality` is active and why

After `decide` and `import` the quality model is refitted on every decision (engine.quality_model)
and the active `quality` signal follows the evidence. Registered by `engine.cli` like the `jobs`
group (this module never imports `engine.cli`).
"""
from __future__ import annotations

import json
import os
import sys

from engine import review, stages
from engine.errors import UserError
from engine.storage import Workspace


def good_ends() -> dict[str, str]:
    """Each quality signal's good end ("high"/"low"), from the registry (what the models orient by)."""
    return {s.name: s.good for s in stages.signals("top")}


def _reviewer(args) -> str:
    return (args.reviewer or os.environ.get("SEEDBED_REVIEWER") or os.environ.get("USER") or "cli").strip()


def refit_line(ws, corpus: str) -> tuple[str, dict]:
    """Refit the quality model; (one line saying which `quality` is active and why, JSON record)."""
    from engine import quality_model  # noqa: PLC0415 (scipy and scikit-learn load only when used)

    try:
        fit = quality_model.refit(ws, corpus, good_ends())
    except UserError as exc:
        return f"quality model: {exc}", {"no_model": str(exc)}
    s = fit.summary()
    lo, hi = s["cv_auc_ci"]
    return (f"quality model: CV AUC {s['cv_auc']:.3f} [{lo:.2f}, {hi:.2f}] on {s['n_decisions']} decisions; "
            f"active quality = {s['active']}: {s['why']}"), {"model": s}


def _next(args) -> int:
    from engine import active_learning  # noqa: PLC0415

    ws = Workspace(args.db)
    batch = active_learning.next_batch(ws, args.corpus, args.n, good_ends())
    if args.json:
        print(json.dumps(batch, indent=2, ensure_ascii=False))
        return 0
    print(f"model: {batch['model']['why']}" if "model" in batch else f"no model: {batch['no_model']}")
    print(f"chosen: {batch['chosen']}")
    for d in batch["documents"]:
        print(f"{d['doc_id']}\t{d['why']}\n\t{' '.join(d['text'].split())[:160]!r}")
    return 0


def _decide(args) -> int:
    ws = Workspace(args.db)
    before = review.history(ws, args.corpus, args.doc) if args.doc else None
    result = review.decide(ws, args.corpus, [args.doc], args.decision, _reviewer(args), args.note, change_decided=True)
    was = before["decision_after"].iloc[0] if before is not None and len(before) else None
    change = "no change" if not result.changed else \
        f"{args.decision} (was {was or 'unreviewed'}; the review history keeps every change)"
    line, record = refit_line(ws, args.corpus)
    if args.json:
        print(json.dumps({"doc_id": args.doc, "decision": args.decision, "changed": bool(result.changed), **record}))
    else:
        print(f"review decide: {args.doc}: {change}\n{line}")
    return 0


def _import(args) -> int:
    from engine import review_import  # noqa: PLC0415

    ws = Workspace(args.db)
    result = review_import.import_decisions(ws, args.corpus, args.file, _reviewer(args), args.id_column,
                                            args.text_column, args.label_column, args.change_decided)
    for problem in result.problems:
        print(f"error: {problem}", file=sys.stderr)
    print(result.summary(args.file))
    if result.changed:
        print(refit_line(ws, args.corpus)[0])
    return 2 if result.problems else 0


def _model(args) -> int:
    line, record = refit_line(Workspace(args.db), args.corpus)
    print(json.dumps(record, indent=2) if args.json else line)
    return 0


def register(subparsers) -> None:
    """Add the `review` group to the engine CLI's sub-parsers."""
    group = subparsers.add_parser("review", help="the curator's queue, decisions and import; the quality model")
    sub = group.add_subparsers(dest="review_command", required=True)

    def verb(name, func, text):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--corpus", required=True, help="corpus name")
        p.add_argument("--reviewer", default=None, help="who decides (default $SEEDBED_REVIEWER, else $USER)")
        p.set_defaults(func=func)
        return p

    p = verb("next", _next, "the documents a decision teaches the quality model most, with its guess and why")
    p.add_argument("--n", type=int, default=10, help="how many (default 10)")
    p.add_argument("--json", action="store_true", help="JSON: ids, texts, guesses, reasons, the model's evidence")
    p = verb("decide", _decide, "accept or reject one document (logged; refits the quality model)")
    p.add_argument("--doc", required=True, help="document id")
    p.add_argument("--decision", required=True, choices=review.DECISIONS)
    p.add_argument("--note", default=None, help="a note stored with the decision")
    p.add_argument("--json", action="store_true")
    p = verb("import", _import, "import decisions from a CSV/TSV/JSONL/JSON/Parquet file (one line per bad row)")
    p.add_argument("file", help="the file")
    p.add_argument("--id-column", default="doc_id", help="column of document ids (default doc_id)")
    p.add_argument("--text-column", default="text", help="used when there is no id column: exact document text")
    p.add_argument("--label-column", default="label", help="accept/reject, 1/0, true/false, keep/drop, good/bad "
                   "(default label)")
    p.add_argument("--change-decided", action="store_true",
                   help="change documents that already hold the other decision (logged; default: refuse the row)")
    p = verb("model", _model, "refit the quality model on the decisions; which quality signal is active and why")
    p.add_argument("--json", action="store_true")
