"""Language identification per document with py3langid (a maintained fork of Lui & Baldwin 2012,
"langid.py: An Off-the-shelf Language Identification Tool"): 97 languages, its naive Bayes model
ships inside the wheel, so nothing is downloaded at run time.

Contract: `language_batch(texts, config)` -> `rules.RuleOutput` with `label` = ISO 639-1 code,
`values` = its normalised probability (the confidence), `detail` = the top 3 languages as JSON.
A text with no letters (empty, whitespace, digits, binary garbage) is "und" (undetermined) with
confidence 0 and the reason "not applicable: no letters"; a mixed-language text gets its
majority language, its runner-up visible in the detail. Long texts are read up to `MAX_CHARS`.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import numpy as np

from engine.rules import RuleOutput

MAX_CHARS = 20_000  # a language is clear long before this; keeps a 50 MB line cheap
UNDETERMINED = "und"
_identifier = None
_lock = threading.Lock()


@dataclass(frozen=True)
class LanguageConfig:
    """`min_confidence`: below it a document's language counts as undetermined ("und")."""

    min_confidence: float = 0.0

    def key(self) -> str:
        return "language:py3langid-0.4.0" + (f":min={self.min_confidence}" if self.min_confidence else "")


def identifier():
    """The packaged py3langid model with normalised probabilities, loaded once per process."""
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier  # noqa: PLC0415 (0.6 s to load)

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def identify(text: str, config: LanguageConfig = LanguageConfig()) -> tuple[str, float, str, str]:
    """(language code, confidence, reason, top-3 JSON) of one text."""
    part = text[:MAX_CHARS] if isinstance(text, str) else ""
    if not any(c.isalpha() for c in part):
        return UNDETERMINED, 0.0, "not applicable: no letters", "{}"
    ranked = identifier().rank(part)[:3]
    lang, p = ranked[0]
    top = json.dumps({code: round(float(q), 4) for code, q in ranked})
    if p < config.min_confidence:
        return UNDETERMINED, float(p), f"confidence {p:.2f} below {config.min_confidence} (best guess {lang})", top
    return lang, float(p), "", top


def language_batch(texts, config: LanguageConfig) -> RuleOutput:
    rows = [identify(t, config) for t in texts]
    return RuleOutput(np.array([r[1] for r in rows], np.float64), np.array([len(t) > MAX_CHARS for t in texts], bool),
                      [r[0] for r in rows], [r[2] for r in rows], [[] for _ in rows], [r[3] for r in rows])
