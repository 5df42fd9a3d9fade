"""What every score, strategy and column means, in words a new user reads where the value is shown:
what it measures, which direction is good, and how well it was measured to work. Pure data and
string functions; the pages put them in captions, tooltips and `st.column_config` help.

The judge figures are read from the bundled evidence (engine/judge_evidence.json, made from
bench/results/quality_auc.json by scripts/make_judge_evidence.py): ROC-AUC against human labels of main
text vs boilerplate, with 95% bootstrap CIs, on whole documents and on lines.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from engine import judges


def _measured(option: str) -> str:
    """'0.64 [0.52, 0.75] on documents, 0.66 [0.64, 0.67] on lines' for a judge option of the evidence."""
    auc = judges.find_option(judges.load_evidence(), option)["auc"]
    return ", ".join(f"{auc[s]['auc']:.2f} [{auc[s]['lo']:.2f}, {auc[s]['hi']:.2f}] on {what}"
                     for s, what in (("pages/all", "documents"), ("lines/all", "lines")))


@dataclass(frozen=True)
class ScoreInfo:
    label: str  # plain column label
    what: str  # one sentence: what the number is
    direction: str  # which way is good
    evidence: str  # how well it works, measured (or where to see it)

    def help(self) -> str:
        """The tooltip / caption text: what, direction, evidence."""
        return f"{self.what} {self.direction} {self.evidence}"


SCORES: dict[str, ScoreInfo] = {
    "askllm": ScoreInfo(
        "Ask-LLM quality (0-1)",
        "The judge model's probability of answering 'yes' when asked whether the document is useful "
        "pre-training text (Sachdeva et al. 2024), calibrated so that 0.5 means undecided.",
        "Higher is better.",
        f"Measured ROC-AUC against human labels (0.5 is chance, 1.0 perfect): the CPU default judge, Gemma "
        f"270M, {_measured('gemma/paper-inline')}; the GPU default with the Qwen judges installed, "
        f"{_measured('qwen1.5b/content chat')}. Every judge on the Judges page."),
    "perplexity": ScoreInfo(
        "Perplexity quality (-log perplexity)",
        "How predictable the text is to a small language model (SmolLM2-135M): the negative mean "
        "log-loss per token, the paper's perplexity-filter baseline.",
        "Higher (closer to 0) is more fluent; very repetitive boilerplate can also score high.",
        f"Measured ROC-AUC against human labels: {_measured('smollm2/perplexity')} (boilerplate pages are "
        "predictable text, so it inverts on whole documents; Judges page)."),
    "density": ScoreInfo(
        "Density (how crowded)",
        "How many similar documents surround this one in embedding space (kernel density, RACE sketch).",
        "Neither good nor bad: high means common, low means rare; coverage sampling favours low density "
        "so rare topics are kept.",
        "Spearman 0.87 against an exact kernel density estimate (bench/results/density_results.md)."),
    "distilled": ScoreInfo(
        "Distilled judge (0-1 rank)",
        "A small head on the stored embeddings trained to reproduce the judge's scores on a seeded sample: "
        "the judge's ranking at embedding speed for the whole corpus.",
        "Higher is better.",
        "Its agreement with its judge on held-out sample documents is on the Judges page; measured against "
        f"human labels, Gemma's distilled head: {_measured('distilled[ridge] of gemma/paper-inline')}."),
    "quality": ScoreInfo(
        "Quality (combined, 0-1)",
        "The mean percentile rank of the quality signals computed for this corpus (a logistic stack on your "
        "accept/reject decisions once there are enough): what every export carries as `quality`.",
        "Higher is better.",
        "This corpus's agreement with your decisions (ROC-AUC with CI) is on the Judges page."),
    "curator": ScoreInfo(
        "Curator model (0-1)",
        "A classifier trained on this corpus's accept/reject decisions: its probability that you would "
        "accept the document.",
        "Higher means 'looks like what you accepted'; near 0.5 means it is unsure (review those first).",
        "Its cross-validated ROC-AUC is shown on the Review page after training."),
}

STRATEGIES: dict[str, str] = {
    "random": "Random: a seeded uniform sample (the baseline every other strategy should beat).",
    "askllm": "Ask-LLM top-k: the documents the judge rates highest.",
    "perplexity": "Perplexity top-k: the most fluent documents (the paper's baseline filter).",
    "curator": "Curator top-k: the documents your trained curator model rates highest.",
    "density": "Density sampling: samples with probability proportional to 1/propensity (inverse "
               "propensity): the document's density, times its topic's share when topic clusters exist, so "
               "rare regions and small topics keep coverage.",
    "combined": "Combined: ranks by weight x quality + (1 - weight) x coverage; weight 1 equals quality "
                "top-k, weight 0 equals density sampling.",
}

TEMPERATURE = ("Sampling temperature T of density and combined: P ~ (1/propensity)^(1/T). LOWER keeps MORE "
               "rare documents (small topics, sparse regions); 1 = plain inverse propensity (each topic its "
               "equal share); 0.5, the default, kept rare sources at 1.6x random's rate at a 10% budget "
               "(bench/results/coverage_results.md); very low values spend the budget on the smallest topics.")
PROPENSITY = ("How density sampling weighs a document. 'topics + density': its topic cluster's share of the "
              "corpus x its density within the topic, so small topics are kept even when their documents "
              "sit close together (needs the clusters stage; falls back to density only without it). "
              "'density only': the LSH sketch's density alone, as in the paper.")

# Raw column names that reach a table -> what a person calls them.
LABELS: dict[str, str] = {
    "n_docs": "documents", "n_skipped": "rows skipped", "n_duplicates": "duplicate rows",
    "n_selected": "documents selected", "text_column": "text column", "created_at": "created",
    "updated_at": "updated", "snippet": "text (start)", "n_chars": "characters", "doc_id": "document id",
    "decision": "review", "mean_quality": "mean quality", "map_coverage": "map coverage",
    "s_train": "training (s)", "s_eval_train": "evaluating on the train set (s)",
    "s_eval_test": "evaluating on the test set (s)", "s_augment": "teacher writing (s)",
    "train_size": "training examples", "n_synthetic": "new examples so far", "train_acc": "train accuracy",
    "seed_acc": "seed accuracy", "test_acc": "test accuracy", "n_wrong": "seeds wrong",
    "n_requests": "teacher requests", "n_accepted": "teacher examples kept", "seconds": "seconds",
    **{kind: info.label for kind, info in SCORES.items()},
}


def label(column: str) -> str:
    """The plain label of a column (unchanged when it has none)."""
    return LABELS.get(column, column.replace("_", " "))


def plain_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its columns renamed to plain labels (for display only)."""
    return frame.rename(columns={c: label(c) for c in frame.columns})


def score_help(kind: str, curator_auc: float | None = None) -> str:
    """Tooltip for a score kind; for the curator with its measured AUC when known."""
    info = SCORES.get(kind)
    if info is None:
        return ""
    text = info.help()
    if kind == "curator" and curator_auc is not None:
        text += f" This corpus's curator model: cross-validated ROC-AUC {curator_auc:.2f}."
    return text


def scores_legend(kinds) -> str:
    """One line per score kind present: 'label: what direction' (for a caption under a table)."""
    return "\n".join(f"- **{SCORES[k].label}**: {SCORES[k].what} {SCORES[k].direction}"
                     for k in kinds if k in SCORES)
