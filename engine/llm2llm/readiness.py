"""Teacher readiness: before a run spends hours, the teacher labels a sample of the seeds (gold
labels known) and writes one new example for each; the report says how many it labelled right,
how many replies parse, how many pass each filter, and, when it gets fewer than half of the seeds
right, one plain sentence that it cannot label this task reliably (the run may still start: the
user decides). `llm2llm run --check` prints it without starting; every run records it
(`engine.storage.llm2llm_controls`), and the LLM2LLM form shows it.
"""
from __future__ import annotations

import copy

from engine.llm2llm.augment import AUTO_MIN_JUDGE_ACC, build_filters
from engine.llm2llm.filters import Candidate, NearDuplicateIndex
from engine.llm2llm.prompts import relabel_messages, reply_prefix, teacher_messages
from engine.llm2llm.tasks import Example, Task, check_sizes, load_task, sample_rows
from engine.llm2llm.teacher import make_teacher

DEFAULT_SAMPLE = 16
RULES = ("format", "label_consistency", "on_topic", "near_duplicate")  # `filters.Filters.apply` order
_RULE_OF = {"request_failed": "format", "parse_failure": "format", "invalid_label": "format",
            "wrong_arithmetic": "format", "label_mismatch": "label_consistency", "off_topic": "on_topic",
            "near_duplicate": "near_duplicate"}


def run_seeds(config) -> tuple[Task, list[Example]]:
    """The task and the seeds a run with `config` would sample (same loader, same seed)."""
    task, train_rows, test_rows = load_task(config.task, config.train_path, config.test_path, config.labels)
    check_sizes(train_rows, test_rows, config.seed_size, config.train_path, config.test_path)
    return task, sample_rows(train_rows, config.seed_size, config.seed)


def check_readiness(config, sample: int = DEFAULT_SAMPLE, task: Task | None = None,
                    seeds: list[Example] | None = None, teacher=None) -> dict:
    """The readiness report (plain values, JSON-ready) for the first `sample` of the run's seeds.
    `teacher` None builds the configured one; tests pass a double."""
    if task is None or seeds is None:
        task, seeds = run_seeds(config)
    picked = seeds[:max(1, sample)]
    teacher = teacher or make_teacher(copy.deepcopy(config.teacher))
    report = {"teacher": teacher.name, "sampled": len(picked), "labelled_right": None}
    if task.kind == "classification":
        said = teacher.choose([relabel_messages(task, s.input) for s in picked], list(task.labels))
        report["labelled_right"] = sum(i is not None and task.labels[i] == s.output for i, s in zip(said, picked))
    prompts = [teacher_messages(task, s, None, config.teacher_writes_label) for s in picked]
    replies = teacher.generate(prompts, config.seed, prefix=reply_prefix(task),
                               one_line=task.kind == "classification" and not config.teacher_writes_label)
    index = NearDuplicateIndex(config.rouge_threshold)
    for s in seeds:
        index.add(s.id, s.input)
    filters = build_filters(task, teacher, index, seeds, config, None)
    candidates = [Candidate(f"check-{s.id}", s, r) for s, r in zip(picked, replies)]
    filters.apply(candidates)
    failed_at = [RULES.index(_RULE_OF.get((c.reason or "").split(":")[0], "format")) if c.reason else len(RULES)
                 for c in candidates]
    report["passed"] = {rule: sum(f > k for f in failed_at) for k, rule in enumerate(RULES)}
    report["parsed"] = sum(c.input is not None for c in candidates)
    report["errors"] = sorted({c.reply.error for c in candidates if c.reply.error})[:3]
    report["rules_on"] = [r for r, on in zip(RULES, (True, filters.relabel is not None, filters.on_topic is not None,
                                                      True)) if on]
    report["examples"] = [{"seed": c.parent.input, "new": c.input, "reason": c.reason} for c in candidates[:5]]
    report["level"], report["sentence"] = readiness_sentence(report)
    return report


def readiness_sentence(report: dict) -> tuple[str, str]:
    """(level, sentence): warning when the teacher labels fewer than half of the sampled seeds
    right or no reply parses; info otherwise."""
    n, right, parsed = report["sampled"], report["labelled_right"], report["parsed"]
    accepted = report["passed"]["near_duplicate"]
    counts = (f"The teacher {report['teacher']} labelled {right} of {n} sampled seeds right; "
              if right is not None else f"The teacher {report['teacher']}: ")
    counts += f"{parsed} of {n} new examples parsed and {accepted} passed every filter."
    if parsed == 0:
        why = f" ({report['errors'][0]})" if report.get("errors") else ""
        return "warning", (f"{counts} The teacher gave no usable reply{why}: it cannot augment this task. "
                           "Check the model or endpoint before starting.")
    if right is not None and right * 2 < n:
        return "warning", (f"{counts} It cannot label this task reliably (fewer than half right): expect its "
                           "examples to carry wrong labels and gains to be noise. You can still start the run.")
    if right is not None and right < AUTO_MIN_JUDGE_ACC * n:
        return "info", (f"{counts} With label check `auto` it will not judge labels (below "
                        f"{AUTO_MIN_JUDGE_ACC:.0%} right).")
    return "info", counts
