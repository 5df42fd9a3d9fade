"""The typed configuration of one LLM2LLM run, saved (resolved) with it."""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import UserError
from engine.llm2llm.student import StudentSettings
from engine.llm2llm.teacher import TeacherSettings

DEFAULT_EMBEDDER = "all-minilm-l6-v2"  # = engine.models.DEFAULT_EMBEDDER (models imports torch)


@dataclass
class LLM2LLMConfig:
    """Everything that defines a run; saved (resolved) with it.

    `iterations` counts augmentation rounds: students are trained at iterations 0..iterations, and
    iteration 0 is plain fine-tuning on the seeds. `select` wrong (LLM2LLM: augment the seeds the
    student got wrong) | random (control: as many seeds drawn at random, right or wrong).
    Ablations: `schedule` iterative | one_shot (one round at iteration 0 asking
    `per_wrong * iterations` examples per wrong seed, the same request budget, then one final
    student), `augment_scope` seeds | all (also re-augment wrong synthetic examples),
    `retrain_from_base` False continues from the previous iteration's checkpoint.
    Filters: `label_check` auto | teacher | student | off (who relabels a new input; auto: the
    teacher when it labels the seeds right at least `AUTO_MIN_JUDGE_ACC` of the time, else off), `topic_check`
    (embedding on-topic rule with `embedder`), near-duplicates at `rouge_threshold`.
    Measurement: every iteration's student is trained with the same `seed_for_training()`
    (`train_seed`, default `seed`), so an iteration's change is its data's; `noise_seeds` k trains
    the seed set k more times with other training seeds (the noise floor, `engine.llm2llm.noise`);
    `readiness_sample` seeds are labelled by the teacher before the first augmentation
    (`engine.llm2llm.readiness`; 0: skip); `record_generation` also scores the test set by free
    generation beside label likelihood (`test_acc_gen`), so the change of metric stays visible.
    """
    task: str = "trec"
    train_path: str | None = None
    test_path: str | None = None
    labels: tuple[str, ...] = ()
    seed_size: float = 100
    test_size: float | None = None
    iterations: int = 3
    seed: int = 0
    train_seed: int | None = None
    noise_seeds: int = 0
    readiness_sample: int = 16
    record_generation: bool = True
    per_wrong: int = 1
    max_attempts: int = 3
    rouge_threshold: float = 0.95
    teacher_writes_label: bool = False
    select: str = "wrong"
    schedule: str = "iterative"
    augment_scope: str = "seeds"
    retrain_from_base: bool = True
    label_check: str = "auto"
    topic_check: bool = True
    embedder: str = DEFAULT_EMBEDDER
    keep_checkpoints: bool = False
    run_dir: str | None = None
    student: StudentSettings = field(default_factory=StudentSettings)
    teacher: TeacherSettings = field(default_factory=TeacherSettings)

    def validate(self) -> None:
        for name, value, allowed in (("schedule", self.schedule, ("iterative", "one_shot")),
                                     ("augment_scope", self.augment_scope, ("seeds", "all")),
                                     ("select", self.select, ("wrong", "random")),
                                     ("label_check", self.label_check, ("auto", "teacher", "student", "off"))):
            if value not in allowed:
                raise UserError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if self.iterations < 0 or self.per_wrong < 1 or self.max_attempts < 1:
            raise UserError("iterations >= 0, per_wrong >= 1 and max_attempts >= 1 are required")
        if self.noise_seeds < 0 or self.readiness_sample < 0:
            raise UserError("noise_seeds and readiness_sample must be >= 0")
        if self.student.answer_by not in ("auto", "generate"):
            raise UserError(f"answer_by must be auto or generate, got {self.student.answer_by!r}")

    def seed_for_training(self) -> int:
        """The training seed of every iteration (data order, LoRA init, dropout): never the iteration's."""
        return self.seed if self.train_seed is None else self.train_seed

    @classmethod
    def from_dict(cls, data: dict) -> "LLM2LLMConfig":
        data = dict(data)
        data.pop("task_def", None)
        data["labels"] = tuple(data.get("labels") or ())
        student = StudentSettings(**data.pop("student", {}))
        teacher = TeacherSettings(**data.pop("teacher", {}))
        return cls(**data, student=student, teacher=teacher)
