"""The dashboard's one door into the engine: what each page reads (one short read transaction per
widget group) and every write it makes, as plain functions over a `Workspace`.

Pages and `ui/` import this module (and the engine's pure modules: `explore`, `select`,
`review`'s rules), never `engine.storage`, and never open a connection. The rules a view needs -
which stages a corpus still lacks, upload formats, export metadata - come from here, so a page
only lays out widgets. The LLM2LLM page's reads live beside the loop in `engine.llm2llm.view`.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from engine import density, pipeline, stages
from engine.api_jobs import (  # noqa: F401  (the pages' facade: re-exported)
    stage_command, process_command, ProcessPlan, process_plan, stages_of_job, active_jobs,
    experiment_estimate, llm2llm_export, PROXY_CPU_NOTE, proxy_choice_table, proxy_command, proxy_checks, proxy_curves)
from engine.clusters import stored_labels
from engine.coverage import cluster_audit
from engine.errors import UserError
from engine.explore import selected_mask
from engine.export import read_selection_metadata
from engine.ingest_formats import COMPRESSIONS, SUFFIXES
from engine.progress import ProgressFn
from engine.storage import Workspace, default_db_path
from engine.storage import corpus as store
from engine.storage import selections as selection_store
from engine.storage import signals as signal_store

# what the upload widget accepts (a.jsonl.gz shows as "gz"; safe_upload_path checks the whole name)
UPLOAD_TYPES = sorted({suffix.lstrip(".") for suffix in (*SUFFIXES, *COMPRESSIONS)})


def workspace(path: str | None = None) -> Workspace:
    """The workspace at `path`, else $SEEDBED_DB, else ./seedbed.duckdb."""
    return Workspace(path or default_db_path())


# --- corpora and the home page ----------------------------------------------------------------

def corpora(ws: Workspace) -> pd.DataFrame:
    with ws.connect() as con:
        return store.list_corpora(con)


stage_status = pipeline.stage_status  # n_docs, embedded, signals, projected, selections (one definition)


def embedded(status: dict) -> int:
    """Documents embedded with the default embedder, from a `stage_status`."""
    return int((status.get("embedded") or {}).get(stages.embedding_key(), 0))


def overview(ws: Workspace) -> pd.DataFrame:
    """Home page: one row per corpus - documents, embedded, one column per signal (stored or
    not), map, selections, skipped and duplicate rows - read in one transaction."""
    with ws.connect() as con:
        names = store.list_corpora(con)
        rows = []
        for r in names.itertuples():
            status = pipeline.corpus_status(con, r.name)
            rows.append({"corpus": r.name, "documents": status["n_docs"], "embedded": embedded(status),
                         **{s.name: s.name in status["signals"] for s in stages.signals()},
                         "map": status["projected"] > 0, "selections": len(status["selections"]),
                         "n_skipped": r.n_skipped, "n_duplicates": r.n_duplicates})
    return pd.DataFrame(rows)


def missing_stages(status: dict) -> list[str]:
    """The registry stages (besides the curator, which the Review page trains) a corpus still
    lacks: embeddings, the quality and coverage signals, the topic clusters, the map."""
    n, have = status["n_docs"], set(status.get("signals") or [])
    stale = "density" in have and not status["signals"]["density"]["key"].startswith(density.VERSION)  # older code
    from engine.clusters import MIN_DOCS  # noqa: PLC0415

    lacking = {"embed": embedded(status) < n, "askllm": "askllm" not in have, "density": "density" not in have or stale,
               "clusters": "cluster" not in have and n >= MIN_DOCS,  # fewer documents: skipped, never missing
               "project": status.get("projected", 0) < n}
    return [name for name, missing in lacking.items() if missing]


def recent_jobs(ws: Workspace, limit: int = 10) -> pd.DataFrame:
    """The newest background jobs, after dead-process detection (a dead job never shows running)."""
    from engine import jobs  # noqa: PLC0415

    return jobs.list_jobs(ws, limit)


# --- the Corpus page ----------------------------------------------------------------------------

@dataclass
class Browse:
    total: int
    pages: int
    docs: pd.DataFrame
    issues: pd.DataFrame


def browse(ws: Workspace, corpus: str, query: str = "", min_chars: int = 0, max_chars: int | None = None,
           meta_query: str = "", page: int = 1, page_size: int = 20) -> Browse:
    """One page of the corpus's search results, the match count and the skipped rows: one read."""
    with ws.connect() as con:
        total = store.count_search(con, corpus, query, min_chars, max_chars, meta_query)
        pages = max(1, -(-total // page_size))
        page = min(max(1, page), pages)
        docs = store.search_documents(con, corpus, query, min_chars, max_chars, page_size,
                                          (page - 1) * page_size, meta_query)
        return Browse(total, pages, docs, store.ingest_issues(con, corpus))


def free_corpus_name(name: str, existing: list[str]) -> str:
    """`name-2`, `name-3`, ...: the first that no corpus holds yet (the default of a new corpus)."""
    taken, i = set(existing), 2
    while f"{name}-{i}" in taken:
        i += 1
    return f"{name}-{i}"


def ingest(ws: Workspace, path, corpus: str, text_column: str = "text", on_decode_error: str = "report",
           progress: ProgressFn | None = None):

    return pipeline.ingest(ws, path, corpus, text_column=text_column, on_decode_error=on_decode_error,
                           progress=progress)


# --- Explore and select, Review ----------------------------------------------------------------

def load_demo(ws: Workspace, progress: ProgressFn | None = None, announce=None):
    """The bundled demo corpus, scored and mapped (`engine.demo_bundle.load_demo`)."""
    from engine import demo_bundle  # noqa: PLC0415

    return demo_bundle.load_demo(ws, progress, announce)


def corpus_frame(ws: Workspace, corpus: str) -> pd.DataFrame:
    """doc_id, snippet, n_chars, one column per signal, x, y, decision, and the filter columns
    (`engine.filters.FILTER_COLUMNS`: failed rules and reason, language code, near_dup_of)."""
    from engine.filters import with_filter_columns  # noqa: PLC0415

    with ws.connect() as con:
        return with_filter_columns(con, corpus, store.corpus_frame(con, corpus))


def near_duplicates(ws: Workspace, corpus: str, doc_id: str) -> pd.DataFrame:
    """doc_id, snippet, n_chars, is_representative of the document's near-duplicates under the
    corpus's active `near_dups` clusters (empty when it has none or the stage has not run)."""
    from engine.storage import details  # noqa: PLC0415

    with ws.connect() as con:
        key = signal_store.active_signal_key(con, corpus, "near_dups")
        return details.duplicates_of(con, corpus, key or "", doc_id)


def selections(ws: Workspace, corpus: str | None = None) -> pd.DataFrame:
    with ws.connect() as con:
        return selection_store.list_selections(con, corpus)


def selection_ids(ws: Workspace, name: str) -> list[str]:
    with ws.connect() as con:
        found = selection_store.selection(con, name)
    return found["doc_ids"] if found else []


def review_cards(ws: Workspace, corpus: str, doc_ids: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """Full texts (indexed by doc_id) and curator notes of the documents on a review page: one read."""
    with ws.connect() as con:
        texts = store.documents(con, corpus, doc_ids).set_index("doc_id")
        notes = selection_store.reviews(con, corpus).set_index("doc_id")["note"]
    return texts, notes


def embeddings(ws: Workspace, corpus: str, model: str | None = None):
    """(doc_ids, vectors) of the corpus's documents embedded with `model` (default embedder)."""
    with ws.connect() as con:
        return signal_store.embeddings(con, corpus, stages.embedding_key(model))


def run_stage(ws: Workspace, corpus: str, name: str, progress: ProgressFn | None = None):
    return pipeline.run_stage(ws, corpus, name, progress=progress)


def save_selection(ws: Workspace, corpus: str, strategy: str, weight: float, budget, seed: int, name: str,
                   quality: str, replace: bool = False, filters=None, **coverage):
    """Save a selection; an existing one of that name only with `replace` (a UserError otherwise).
    `coverage`: temperature, propensity (`engine.select.choose`); `filters`: an `engine.filters.FilterSpec`."""
    return pipeline.select(ws, corpus, strategy, weight=weight, budget=budget, seed=seed, name=name, quality=quality,
                           replace=replace, filters=filters, **coverage)


# --- Export ------------------------------------------------------------------------------------

@dataclass
class Export:
    file_name: str
    data: bytes
    preview: pd.DataFrame
    n: int
    fmt: str
    params: str  # the selection's parameters as JSON (the .selection.json sidecar's content)


def review_state(ws: Workspace, corpus: str) -> str:
    """A fingerprint of the corpus's review decisions and notes (what an export leaves out or
    carries): a prepared export whose fingerprint differs is out of date."""
    import hashlib  # noqa: PLC0415

    with ws.connect() as con:
        rows = selection_store.reviews(con, corpus)
    cols = [c for c in ("doc_id", "decision", "note") if c in rows.columns]
    text = rows[cols].sort_values("doc_id").to_csv(index=False) if len(rows) else ""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def export(ws: Workspace, name: str, fmt: str) -> Export:
    """Write selection `name` as `fmt` (jsonl | parquet) and return the file's bytes, a preview
    and the selection's parameters as the export carries them (`engine.export`)."""

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{name.replace('/', '_')}.{fmt}"
        pipeline.export(ws, name, str(out), fmt=fmt)
        table = pd.read_json(out, lines=True) if fmt == "jsonl" else pd.read_parquet(out)
        params = json.dumps(read_selection_metadata(out), indent=2, default=str)
        return Export(out.name, out.read_bytes(), table.head(20), len(table), fmt, params)


# --- topic clusters on the map and the per-cluster audit (engine.clusters, engine.coverage) ----

def cluster_labels(ws: Workspace, corpus: str) -> dict[int, str]:
    """Cluster id -> label of the corpus's active clusters ({} before the clusters stage ran)."""
    with ws.connect() as con:
        return stored_labels(con, corpus)


def kept_by_source(ws: Workspace, corpus: str, frame: pd.DataFrame, selections: dict[str, list[str]],
                   field: str = "source") -> pd.DataFrame | None:
    """Per value of the documents' metadata `field` (a file's `source` column), the share each
    selection keeps (`engine.coverage.kept_by_group`); None when no document has the field."""
    from engine.coverage import kept_by_group  # noqa: PLC0415
    from engine.explore import selected_mask  # noqa: PLC0415

    with ws.connect() as con:
        values = store.meta_field(con, corpus, field)
    if values.isna().all():
        return None
    groups = frame["doc_id"].map(values)
    return kept_by_group(groups, {name: selected_mask(frame, ids) for name, ids in selections.items()})


def search_ids(ws: Workspace, corpus: str, query: str, limit: int = 20_000) -> list[str]:
    """doc_ids whose text contains `query` (case-insensitive, a parameter: never SQL), at most `limit`."""
    if not query.strip():
        return []
    with ws.connect() as con:
        return store.search_documents(con, corpus, query.strip(), limit=limit)["doc_id"].tolist()


def selection_audit(frame: pd.DataFrame, doc_ids, labels: dict[int, str], quality: str | None = None,
                    corpus: str | None = None) -> pd.DataFrame:
    """The per-cluster audit of a selection over `frame` (`engine.coverage.cluster_audit`); a
    UserError when the corpus has no clusters or none of the ids belongs to it."""

    if "cluster" not in frame.columns or frame["cluster"].isna().all():
        raise UserError(f"corpus '{corpus or '?'}' has no clusters yet: run `python -m engine clusters "
                        f"--corpus {corpus or 'NAME'}` (or the clusters stage above)")
    mask = selected_mask(frame, doc_ids)
    if len(doc_ids) and not mask.any():
        raise UserError(f"none of the {len(doc_ids)} selected documents belongs to corpus '{corpus or '?'}': "
                        "the selection comes from another corpus")
    values = frame[quality] if quality and quality in frame.columns else None
    audit = cluster_audit(frame["cluster"], mask, labels, values)
    from engine.filters import failure_share  # noqa: PLC0415

    fails = failure_share(frame)
    if len(fails):  # the share of each topic's documents that fail any heuristic rule
        audit["fail_rules"] = audit["cluster"].map(fails)
    return audit



# --- the curator-trained quality model and its queue (engine.quality_model, engine.active_learning) ---

def quality_good_ends() -> dict[str, str]:
    """Each quality signal's good end ("high"/"low"), from the registry."""
    return {s.name: s.good for s in stages.signals("top")}


def label_next(ws: Workspace, corpus: str, n: int = 1, skip=()) -> dict:
    """The next documents to decide, with the model's guess and why (`active_learning.next_batch`)."""
    from engine import active_learning  # noqa: PLC0415

    return active_learning.next_batch(ws, corpus, n, quality_good_ends(), skip)


def refit_quality(ws: Workspace, corpus: str) -> dict:
    """Refit the quality model on the decisions: its summary, or {"no_model": one-line reason}."""
    from engine import quality_model  # noqa: PLC0415
    from engine.errors import UserError  # noqa: PLC0415

    try:
        return quality_model.refit(ws, corpus, quality_good_ends()).summary()
    except UserError as exc:
        return {"no_model": str(exc)}


def quality_curve(ws: Workspace, corpus: str) -> pd.DataFrame:
    """Every stored fit of the quality model (the learning curve), oldest first."""
    from engine import quality_model  # noqa: PLC0415

    return quality_model.fits(ws, corpus)
