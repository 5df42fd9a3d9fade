"""The augment stage: ask the teacher for new examples like each wrong parent, filter the replies
with bounded retries, and store every candidate (accepted or with its rejection reason).

Parents are processed in batches; one batch's candidates (all attempts) are committed in one
transaction, so after a kill the parents that already have rows in this iteration are complete
and are skipped. Candidate ids are `syn-<iteration>-<parent>-<k>`, k counting that parent's
requests in the iteration.
"""
from __future__ import annotations

from engine.llm2llm.filters import NearDuplicateIndex, judge_reply
from engine.llm2llm.tasks import Example, Task
from engine.llm2llm.teacher import make_teacher, reply_prefix, teacher_messages
from engine.progress import ProgressFn
from engine.storage import Workspace
from engine.storage import llm2llm as db


def augment_failures(ws: Workspace, run: str, iteration: int, task: Task, wrong: list[tuple[str, str]],
                     examples: dict[str, tuple[str, str]], config, per_wrong: int,
                     progress: ProgressFn | None = None) -> None:
    """For each (parent id, wrong output) not yet augmented in `iteration`, request up to
    `per_wrong * config.max_attempts` candidates until `per_wrong` pass the filters."""
    with ws.connect() as con:
        done = db.augmented_parents(con, run, iteration)
        index = NearDuplicateIndex(config.rouge_threshold)
        for ident, text in db.known_inputs(con, run):
            index.add(ident, text)
    todo = [(p, out) for p, out in wrong if p not in done]
    if not todo:
        return
    teacher = make_teacher(config.teacher)
    size = max(1, config.teacher.batch_size)
    for start in range(0, len(todo), size):
        batch = todo[start:start + size]
        rows = _augment_batch(teacher, task, iteration, batch, examples, index, config, per_wrong,
                              seed=config.seed * 1_000_003 + iteration * 10_007 + start)
        with ws.connect() as con:
            db.save_synthetic(con, run, rows)
        if progress:
            progress("augment", start + len(batch), len(todo))


def _augment_batch(teacher, task: Task, iteration: int, batch, examples, index: NearDuplicateIndex,
                   config, per_wrong: int, seed: int) -> list[dict]:
    """Candidate rows for one batch of parents: rounds of requests for the parents still short of
    `per_wrong` accepted examples, at most `per_wrong * max_attempts` requests per parent."""
    need = {p: per_wrong for p, _ in batch}
    sent = {p: 0 for p, _ in batch}
    wrong_of = dict(batch)
    rows: list[dict] = []
    for round_ in range(per_wrong * config.max_attempts):
        asking = [p for p, _ in batch for _ in range(need[p]) if sent[p] < per_wrong * config.max_attempts]
        if not asking:
            break
        parents = [Example(p, *examples[p]) for p in asking]
        prompts = [teacher_messages(task, e, wrong_of[e.id], config.teacher_writes_label) for e in parents]
        replies = teacher.generate(prompts, seed + round_ * 101, prefix=reply_prefix(task),
                                   one_line=task.kind == "classification" and not config.teacher_writes_label)
        for parent, prompt, reply in zip(parents, prompts, replies):
            if sent[parent.id] >= per_wrong * config.max_attempts:
                continue
            ident = f"syn-{iteration}-{parent.id}-{sent[parent.id]}"
            sent[parent.id] += 1
            verdict = judge_reply(task, reply, parent, index, ident, config.teacher_writes_label)
            need[parent.id] -= verdict.accepted
            rows.append(dict(example_id=ident, parent_id=parent.id, iteration=iteration, attempt=sent[parent.id],
                             teacher=teacher.name, raw_output=reply.raw, input=verdict.input,
                             output=verdict.output, accepted=verdict.accepted, reason=verdict.reason))
    return rows
