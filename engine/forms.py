"""The dashboard's run forms as engine commands: every argv the dashboard starts is built here
from validated fields, for registered verbs only (no free-form command). Paths must lie in the
data roots (`engine.data_roots`), names pass `engine.user_text.check_name`, models are packaged
aliases, Hugging Face ids or folders inside the roots, a teacher URL must be a configured
endpoint (`engine.teacher_endpoints`: its key is found on the server, never named here), and a
Ray address must be local or listed in $SEEDBED_RAY_ADDRESSES."""
from __future__ import annotations

import os
import re
from pathlib import Path

from engine.data_roots import confine
from engine.errors import UserError
from engine.llm2llm.tasks import BUILTIN_TASKS
from engine.teacher_endpoints import ENV as ENDPOINTS_ENV
from engine.teacher_endpoints import configured, match
from engine.user_text import check_name, shown

VERBS = {"pipeline", "process", "embed", "score", "density", "clusters", "project", ("llm2llm", "run"),
         ("llm2llm", "experiment")}  # what a form may start
LLM2LLM_TASKS = tuple(t for t in BUILTIN_TASKS if t != "jsonl")  # a jsonl task names files: CLI only
PACKAGED_MODELS = ("smollm2-135m-instruct", "gemma3-270m")  # engine.models' packaged LM aliases
RAY_ENV = "SEEDBED_RAY_ADDRESSES"
_HF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def check_argv(argv: list[str]) -> list[str]:
    """`argv` when its verb is one the dashboard may start and no value looks like an option."""
    verb = argv[0] if argv and argv[0] != "llm2llm" else tuple(argv[:2])
    if verb not in VERBS:
        raise UserError(f"the dashboard does not start {shown(' '.join(argv[:2]))}; use the CLI")
    return argv


def pipeline_argv(path: str, corpus: str, workspace_path: str | Path) -> list[str]:
    """`pipeline FILE --corpus NAME` for a data file inside the data roots."""
    source = confine(path, workspace_path)
    return check_argv(["pipeline", str(source), "--corpus", check_name("corpus name", corpus)])


def model_ref(value: str, workspace_path: str | Path, what: str = "model") -> str:
    """A model the server may load for a browser user: a packaged alias, a Hugging Face id
    (org/name, not a path on this machine) or a model folder / .gguf inside the data roots."""
    value = (value or "").strip()
    if value in PACKAGED_MODELS:
        return value
    if _HF_ID.match(value) and not value.lower().endswith(".gguf") and not Path(value).exists():
        return value
    if value.startswith(("http://", "https://")):
        raise UserError(f"{what} {shown(value)}: a URL is only allowed for the teacher")
    return str(confine(value, workspace_path))


def teacher_ref(value: str, workspace_path: str | Path) -> str:
    """A teacher: as `model_ref`, or the base URL of an endpoint configured on the server."""
    value = (value or "").strip()
    if value.startswith(("http://", "https://")):
        if match(value) is None:
            listed = ", ".join(e.url for e in configured()) or "none"
            raise UserError(f"teacher URL {shown(value)} is not configured on this server ({ENDPOINTS_ENV}: {listed})")
        return value
    return model_ref(value, workspace_path, "teacher")


def llm2llm_argv(workspace_path: str | Path, task: str, seed_size: int, iterations: int, name: str,
                 student: str = "", teacher: str = "", teacher_model: str = "", test_size: int = 0,
                 lora: bool = False, check: bool = False) -> list[str]:
    """`llm2llm run ...` from the LLM2LLM form's fields (no API key variable: see teacher_ref);
    `check`: only the teacher readiness check (`--check`), recorded under the run's name."""
    if task not in LLM2LLM_TASKS:
        raise UserError(f"task {shown(task)}: choose one of {', '.join(LLM2LLM_TASKS)}")
    name = check_name("run name", name or f"{task}-{seed_size}x{iterations}")
    argv = ["llm2llm", "run", "--task", task, "--seed-size", str(int(seed_size)), "--iterations",
            str(int(iterations)), "--name", name]
    if student.strip():
        argv += ["--student", model_ref(student, workspace_path, "student")]
    if teacher.strip():
        argv += ["--teacher", teacher_ref(teacher, workspace_path)]
        if teacher.strip().startswith(("http://", "https://")):
            argv += ["--teacher-model", check_name("endpoint model", teacher_model)]
    argv += ["--test-size", str(int(test_size))] if test_size else []
    return check_argv(argv + (["--lora"] if lora else []) + (["--check"] if check else []))


def _int_list(what: str, text: str) -> list[int]:
    try:
        values = [int(v) for v in str(text).replace(" ", "").split(",") if v]
    except ValueError:
        raise UserError(f"{what} {shown(text)}: whole numbers separated by commas, e.g. 27,54") from None
    if not values or min(values) < 0:
        raise UserError(f"{what} {shown(text)}: give at least one number, none negative")
    return values


def experiment_argv(task: str, arms: list[str], seed_sizes: str, seeds: str, iterations: int, name: str,
                    test_size: int = 0, student: str = "", workspace_path: str | Path = "",
                    teacher: str = "") -> list[str]:
    """`llm2llm experiment ...` from the experiment form's fields: arms x seed sizes x seeds."""
    from engine.llm2llm.experiment import ARMS  # noqa: PLC0415

    if task not in LLM2LLM_TASKS:
        raise UserError(f"task {shown(task)}: choose one of {', '.join(LLM2LLM_TASKS)}")
    bad = [a for a in arms if a not in ARMS]
    if not arms or bad:
        raise UserError(f"arms: choose at least one of {', '.join(ARMS)}")
    sizes, seed_list = _int_list("seed sizes", seed_sizes), _int_list("seeds", seeds)
    name = check_name("experiment name", name or f"{task}-{'-'.join(arms)}")
    argv = ["llm2llm", "experiment", "--name", name, "--task", task, "--arms", ",".join(arms),
            "--seed-sizes", ",".join(map(str, sizes)), "--seeds", ",".join(map(str, seed_list)),
            "--iterations", str(int(iterations))]
    argv += ["--test-size", str(int(test_size))] if test_size else []
    argv += ["--student", model_ref(student, workspace_path, "student")] if student.strip() else []
    argv += ["--teacher", model_ref(teacher, workspace_path, "teacher")] if teacher.strip() else []
    return check_argv(argv)


def ray_address(value: str) -> str:
    """"" (a local Ray), "auto" (the cluster this machine belongs to) or an address listed in
    $SEEDBED_RAY_ADDRESSES: a Ray client exchanges pickled objects, so never an arbitrary host."""
    value = (value or "").strip()
    allowed = [a.strip() for a in re.split(r"[;,\s]+", os.environ.get(RAY_ENV, "")) if a.strip()]
    if value in ("", "auto") or value in allowed:
        return value
    raise UserError(f"Ray address {shown(value)} is not allowed here: leave it empty, use 'auto', "
                    f"or list it in {RAY_ENV} on the server")
