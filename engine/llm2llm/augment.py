"""The augment stage: ask the teacher for new examples like each chosen parent, filter the replies
(`filters.Filters`), retry the rejected ones with the reason fed back, and store every candidate
(accepted or with its rejection reason).

Parents are processed in batches of the teacher's batch size (one `generate` call per batch and
round); one batch's candidates (all attempts) are committed in one transaction, so after a kill
the parents that already have rows in this iteration are complete and are skipped. Candidate
ids are `syn-<iteration>-<parent>-<k>`, k counting that parent's requests in the iteration.
"""
from __future__ import annotations

from engine.errors import UserError
from engine.llm2llm.filters import Candidate, Filters, NearDuplicateIndex, OnTopic, Relabel
from engine.llm2llm.prompts import relabel_messages, reply_prefix, retry_messages, teacher_messages
from engine.llm2llm.tasks import Example, Task
from engine.llm2llm.teacher import make_teacher
from engine.progress import ProgressFn
from engine.storage import Workspace
from engine.storage import llm2llm as db

# label_check=auto keeps the teacher as relabelling judge only when it labels the (gold) seeds
# right this often; a weaker judge would reject good examples at random. The seed-trained student
# is no judge for LLM2LLM: it is wrong, by selection, on exactly the seeds being augmented.
AUTO_MIN_JUDGE_ACC = 0.6


def augment_parents(ws: Workspace, run: str, iteration: int, task: Task, parents: list[tuple[str, str | None]],
                    examples: dict[str, tuple[str, str]], config, per_parent: int,
                    student_relabel: Relabel | None = None, progress: ProgressFn | None = None) -> float | None:
    """For each (parent id, the student's wrong output or None) not yet augmented in `iteration`,
    request up to `per_parent * config.max_attempts` candidates until `per_parent` pass the filters.
    Returns the label-consistency judge's accuracy on the seeds (gold labels known): the evidence
    for trusting its verdicts (None when the rule is off or nothing was left to do)."""
    with ws.connect() as con:
        done = db.augmented_parents(con, run, iteration)
        index = NearDuplicateIndex(config.rouge_threshold)
        for ident, text in db.known_inputs(con, run):
            index.add(ident, text)
        seeds = [Example(*row) for row in db.run_examples(con, run, "seed")]
    todo = [(p, out) for p, out in parents if p not in done]
    if not todo:
        return None
    teacher = make_teacher(config.teacher)
    filters = build_filters(task, teacher, index, seeds, config, student_relabel)
    judge_acc = None
    if filters.relabel is not None:
        said = filters.relabel([s.input for s in seeds])
        judge_acc = sum(a == s.output for a, s in zip(said, seeds)) / len(seeds)
        if config.label_check == "auto" and judge_acc < AUTO_MIN_JUDGE_ACC:
            filters.relabel = None  # stored judge_seed_acc says why the rule did not run
    size = max(1, teacher.batch_size())
    for start in range(0, len(todo), size):
        batch = todo[start:start + size]
        rows = _augment_batch(teacher, filters, task, iteration, batch, examples, config, per_parent,
                              seed=config.seed * 1_000_003 + iteration * 10_007 + start)
        with ws.connect() as con:
            db.save_synthetic(con, run, rows)
        if progress:
            progress("augment", start + len(batch), len(todo))
    return judge_acc


def build_filters(task: Task, teacher, index, seeds, config, student_relabel) -> Filters:
    """The stage's rules from the config: who relabels, and the on-topic rule's embedder."""
    relabel, judge = None, "student" if config.label_check == "student" else "teacher"
    if task.kind == "classification" and config.label_check in ("teacher", "auto"):
        def relabel(texts):
            picked = teacher.choose([relabel_messages(task, t) for t in texts], list(task.labels))
            return [None if i is None else task.labels[i] for i in picked]
    elif task.kind == "classification" and config.label_check == "student":
        relabel = student_relabel
    on_topic = None
    if task.kind == "classification" and config.topic_check:
        from engine.embed import embed_texts

        on_topic = OnTopic(seeds, lambda texts: embed_texts(texts, model=config.embedder,
                                                            device=config.student.device))
    return Filters(task, index, config.teacher_writes_label, relabel, judge, on_topic)


def _augment_batch(teacher, filters: Filters, task: Task, iteration: int, batch, examples,
                   config, per_parent: int, seed: int) -> list[dict]:
    """Candidate rows for one batch of parents: rounds of requests for the parents still short of
    `per_parent` accepted examples, at most `per_parent * max_attempts` requests per parent. A
    parent whose last reply was rejected is asked again with that reply and its reason shown."""
    need = {p: per_parent for p, _ in batch}
    sent = {p: 0 for p, _ in batch}
    wrong_of = dict(batch)
    last: dict[str, Candidate] = {}
    limit = per_parent * config.max_attempts
    rows: list[dict] = []
    for round_ in range(limit):
        asking = [p for p, _ in batch for _ in range(need[p]) if sent[p] < limit]
        if not asking:
            break
        parents = [Example(p, *examples[p]) for p in asking]
        prompts = [_prompt(task, e, wrong_of[e.id], last.get(e.id), config.teacher_writes_label) for e in parents]
        replies = teacher.generate(prompts, seed + round_ * 101, prefix=reply_prefix(task),
                                   one_line=task.kind == "classification" and not config.teacher_writes_label)
        candidates = []
        for parent, reply in zip(parents, replies):
            candidates.append(Candidate(f"syn-{iteration}-{parent.id}-{sent[parent.id]}", parent, reply))
            sent[parent.id] += 1
        filters.apply(candidates)
        for c in candidates:
            need[c.parent.id] -= c.accepted
            last[c.parent.id] = c
            rows.append(dict(example_id=c.ident, parent_id=c.parent.id, iteration=iteration,
                             attempt=int(c.ident.rsplit("-", 1)[1]) + 1, teacher=teacher.name,
                             raw_output=c.reply.raw, input=c.input, output=c.output,
                             accepted=c.accepted, reason=c.reason))
    return rows


def _prompt(task: Task, parent: Example, wrong: str | None, previous: Candidate | None, writes_label: bool):
    messages = teacher_messages(task, parent, wrong, writes_label)
    if previous is None or previous.accepted or previous.reply.raw is None:
        return messages
    return retry_messages(messages, previous.reply.raw, previous.reason, task, writes_label)


def check_teacher_output(counts: dict, iteration: int, teacher: str) -> None:
    """A teacher whose every request failed or was unparseable stops the run with one clear line
    (an iteration that silently adds nothing would make the run look like it ran)."""
    requests = counts.get("requests", 0)
    if requests and counts.get("parsed", 0) == 0:
        reasons = ", ".join(f"{k} {v}" for k, v in counts.get("reasons", {}).items())
        raise UserError(f"teacher {teacher} gave no usable reply to any of {requests} requests in "
                        f"iteration {iteration} ({reasons}); check the teacher model or endpoint")
