"""`python -m engine proxy ...`: does a selection train a better model? (see `engine.proxy_check`).

Registered by `engine.cli` with `register(subparsers)`; prints a short table, or with `--json` the
whole report (entries with `loss_mean`/`loss_ci95`, pairs with `better`/`gap_ci95`, curves, verdict).
"""
from __future__ import annotations

import json

from engine.errors import UserError

HELP = ("train a small Llama-style proxy LM from scratch on each selection (same tokens, several seeds) and "
        "compare held-out loss on a target set")


def _proxy(args) -> int:
    from engine import proxy_check  # noqa: PLC0415
    from engine.storage import Workspace  # noqa: PLC0415

    names = tuple(n.strip() for n in args.selections.split(",") if n.strip())
    if not names or (len(names) < 2 and not (args.random_baseline or args.whole_corpus)):
        raise UserError("--selections needs two or more names, or one with --random-baseline / --whole-corpus")
    settings = proxy_check.CheckSettings(
        corpus=args.corpus, selections=names, target=args.target, seeds=args.seeds, tokens=args.tokens,
        size=args.size, seq_len=args.seq_len, batch=args.batch, vocab=args.vocab, eval_tokens=args.eval_tokens, device=args.device,
        random_baseline=args.random_baseline, whole_corpus=args.whole_corpus, checkpoint_s=args.checkpoint_s)
    rep = proxy_check.run_check(Workspace(args.db), settings, args.progress)
    if args.json:
        print(json.dumps(rep, indent=1))
        return 0
    p = rep["proxy"]
    print(f"proxy {p['size']} ({p['params']:,} parameters), {p['tokens']:,} tokens, {p['seeds']} seeds on {p['device']}; "
          f"target {rep['target']['source']}: {rep['target']['docs']} docs, {rep['target']['tokens']:,} tokens, "
          f"{rep['target'].get('removed_overlap', 0)} overlapping removed")
    for e in rep["entries"]:
        ci = e["loss_ci95"]
        print(f"  {e['name']}: loss {e['loss_mean']:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")
              + f"  ({e['docs']} docs, {e['tokens']:,} tokens, {e['epochs']} epochs)" + _choice_text(e))
    for q in rep["pairs"]:
        ci = q["gap_ci95"]
        print(f"  {q['better']} < {q['worse']}: gap {q['gap_mean']:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")
              + ("  (interval includes zero: no measured difference)" if q["includes_zero"] else "")
              + (f"; P(right choice) {_signed_ci(q['p_correct_gap_mean'], q['p_correct_gap_ci95'])}"
                 if "p_correct_gap_mean" in q else ""))
    print(f"verdict: {rep['verdict']}  [{rep['wall_s']} s, {rep['tokens_per_s']:,} tokens/s"
          + (f", MFU {rep['mfu']:.1%}" if rep["mfu"] is not None else "") + "]")
    return 0


def _signed_ci(mean: float, ci: list | None) -> str:
    return f"{mean:+.4f}" + (f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "")


def _choice_text(entry: dict) -> str:
    """A multiple-choice target's figures for one entry, or nothing."""
    if "p_correct_mean" not in entry:
        return ""
    ci = entry["p_correct_ci95"]
    return (f"; P(right choice) {entry['p_correct_mean']:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")
            + f", accuracy {entry['acc_mean']:.3f} over {entry['choice_items']} items")


def register(sub) -> None:
    p = sub.add_parser("proxy", help=HELP, description=HELP)
    p.add_argument("--corpus", required=True, help="corpus name")
    p.add_argument("--selections", required=True, help="comma-separated saved selections, e.g. combined10,random10")
    p.add_argument("--target", required=True,
                   help="held-out file (.jsonl/.json with 'text', .parquet, .txt one document per line), a "
                        "multiple-choice file (rows with 'question', 'choices', 'answer': also reports the "
                        "probability on the right choice) or 'accepted' (the curator-accepted documents, kept "
                        "out of training)")
    p.add_argument("--seeds", type=int, default=3, help="proxies per selection (default 3; the interval needs 2+)")
    p.add_argument("--tokens", type=int, default=None, help="training tokens per proxy (default 200k on CPU, 20M on CUDA)")
    p.add_argument("--size", default=None, help="tiny (~0.4M params, CPU default) | small | base (CUDA default) | large")
    p.add_argument("--seq-len", type=int, default=None, help="packed sequence length (default 128 CPU, 512 CUDA)")
    p.add_argument("--batch", type=int, default=None, help="sequences per step (default 16 CPU, 32 CUDA)")
    p.add_argument("--vocab", type=int, default=None,
                   help="predict the corpus's most frequent VOCAB-1 token ids + one 'other' (default 4096 CPU, all on CUDA)")
    p.add_argument("--eval-tokens", type=int, default=None,
                   help="target tokens scored at each curve point (default 20k CPU, 200k CUDA)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.add_argument("--random-baseline", action="store_true",
                   help="add 'random': a seeded random selection with the first selection's token count")
    p.add_argument("--whole-corpus", action="store_true", help="add 'corpus': every document")
    p.add_argument("--checkpoint-s", type=float, default=20.0, help="seconds between checkpoints (default 20)")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.set_defaults(func=_proxy)
