"""Token ids for proxy checks: a corpus tokenised ONCE per (content, tokenizer), cached as
`<workspace dir>/proxy/tokens-<key>.npz` (flat uint32 ids + offsets, written atomically), with the
packed streams, token counts, overlap hashes and the proxy's frequency-ranked vocabulary read off it."""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import UserError
from engine.progress import ProgressFn, report
from engine.storage import Workspace
from engine.storage import corpus as corpus_store


def _sha(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\x1f")
    return h.hexdigest()[:20]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().lower()


def _tokenizer(name: str):
    from transformers import AutoTokenizer  # noqa: PLC0415

    from engine import models  # noqa: PLC0415

    path = models.resolve_model(name)
    models.quiet_library_bars()
    return AutoTokenizer.from_pretrained(path, local_files_only=Path(path).is_dir())


def _encode(tok, texts: list[str], progress: ProgressFn | None, label: str) -> tuple[np.ndarray, np.ndarray]:
    """(flat ids uint32, offsets int64 of len(texts)+1)."""
    ids, lengths = [], []
    for i in range(0, len(texts), 512):
        for row in tok(texts[i:i + 512], add_special_tokens=False)["input_ids"]:
            ids.append(np.asarray(row, dtype=np.uint32))
            lengths.append(len(row))
        report(progress, label, min(i + 512, len(texts)), len(texts))
    flat = np.concatenate(ids) if ids else np.zeros(0, np.uint32)
    return flat, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


@dataclass
class CorpusTokens:
    doc_ids: np.ndarray  # str, doc_id order
    norm_hash: np.ndarray  # str, hash of the normalised text (overlap checks)
    ids: np.ndarray
    offsets: np.ndarray
    eos: int
    key: str

    def stream(self, positions: np.ndarray) -> np.ndarray:
        """The documents at `positions`, in that order, joined by EOS (a packed training stream)."""
        parts = []
        for p in positions:
            parts.append(self.ids[self.offsets[p]:self.offsets[p + 1]])
            parts.append(np.array([self.eos], np.uint32))
        return np.concatenate(parts) if parts else np.zeros(0, np.uint32)

    def vocab_map(self, limit: int) -> np.ndarray:
        """Lookup table tokenizer id -> proxy id: EOS 0, then the corpus's ids by falling frequency
        (ties by id), every id past `limit - 1` places (and any id the corpus lacks) -> the last."""
        counts = np.bincount(self.ids, minlength=int(self.ids.max(initial=self.eos)) + 1)
        counts[self.eos] = 0
        ranked = [i for i in np.lexsort((np.arange(len(counts)), -counts)) if counts[i] > 0]
        size = min(limit, len(ranked) + 2)
        lut = np.full(max(len(counts), 1 << 17), size - 1, dtype=np.int64)  # any tokenizer id fits
        lut[self.eos] = 0
        lut[np.asarray(ranked[:size - 2], dtype=np.int64)] = np.arange(1, size - 1)
        return lut

    def n_tokens(self, positions: np.ndarray) -> int:
        return int((self.offsets[positions + 1] - self.offsets[positions]).sum() + len(positions))


def corpus_tokens(ws: Workspace, corpus: str, tokenizer: str, progress: ProgressFn | None = None) -> CorpusTokens:
    """Token ids of every document of `corpus`, from the cache when its content and tokenizer match."""
    from engine import models  # noqa: PLC0415

    with ws.connect() as con:
        docs = corpus_store.documents(con, corpus)
    if not len(docs):
        raise UserError(f"corpus '{corpus}' has no documents (python -m engine corpora lists them)")
    norm = np.array([_sha(_norm(t)) for t in docs["text"]])
    key = _sha(models.model_fingerprint(tokenizer), *docs["doc_id"], *norm)
    path = Path(ws.path).parent / "proxy" / f"tokens-{key}.npz"
    tok = _tokenizer(tokenizer)
    if not path.exists():
        ids, offsets = _encode(tok, list(docs["text"]), progress, "proxy: tokenising the corpus")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, ids=ids, offsets=offsets)
        os.replace(tmp, path)
    cached = np.load(path)
    return CorpusTokens(docs["doc_id"].to_numpy(str), norm, cached["ids"], cached["offsets"],
                        int(tok.eos_token_id), key)
