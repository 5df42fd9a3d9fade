"""Import curator decisions a team already has: a CSV/TSV/JSONL/JSON/Parquet file with a document
id column (or the document's exact text) and a label column.

Rules: a file without the named columns is refused whole (one line naming the file and the
columns it has). Every other problem is one line per row, "FILE row N: problem", and only that
row is refused: an unreadable label, an unknown id or text, the same document both accepted and
rejected in the file (all its rows refused: a contradiction is never settled by row order), or a
document the workspace already holds the other decision for (kept unless `change_decided`; then
the change is made through `engine.review.decide`, so the review history keeps both). Rows that
pass are written as two logged actions (accepts, rejects), undoable like a bulk click.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from engine import review
from engine.errors import UserError
from engine.user_text import shown

LABELS = {**dict.fromkeys(("accept", "accepted", "1", "1.0", "true", "yes", "keep", "good"), review.ACCEPT),
          **dict.fromkeys(("reject", "rejected", "0", "0.0", "false", "no", "drop", "bad"), review.REJECT)}


@dataclass
class ImportResult:
    """Rows read, decisions written (changed), rows already holding that decision, refused rows."""

    n_rows: int = 0
    changed: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self, path: str) -> str:
        return (f"review import: {self.n_rows} rows of {path}: {self.changed} decisions recorded, "
                f"{self.unchanged} already so, {len(self.problems)} rows refused")


def read_table(path: Path) -> pd.DataFrame:
    """Every cell as text (no type guessing: an id like 0012 stays 0012); a UserError naming the file."""
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path).astype("string")
        if name.endswith((".jsonl", ".ndjson")):
            return pd.read_json(path, lines=True, dtype=False).astype("string")
        if name.endswith(".json"):
            return pd.read_json(path, dtype=False).astype("string")
        sep = "\t" if name.endswith(".tsv") else ","
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it as a table ({' '.join(str(exc).split())[:160]})") from None


def _locate(table: pd.DataFrame, path: Path, id_column: str, text_column: str, label_column: str) -> str:
    """Which column names the documents (the id column if present, else the text column)."""
    have = ", ".join(map(str, table.columns)) or "none"
    if label_column not in table.columns:
        raise UserError(f"{path}: no label column {label_column!r} (columns: {have}); name it with --label-column")
    for column in (id_column, text_column):
        if column in table.columns:
            return column
    raise UserError(f"{path}: no id column {id_column!r} and no text column {text_column!r} (columns: {have}); "
                    "name one with --id-column or --text-column")


def _resolve(con, corpus: str, table: pd.DataFrame, by: str, id_column: str) -> pd.Series:
    """doc_id per row (NA where the id or exact text is not in the corpus)."""
    from engine.storage import corpus as cstore  # noqa: PLC0415

    values = table[by].fillna("").astype(str)
    if by == id_column:
        known = set(cstore.documents(con, corpus, values.str.strip().unique().tolist())["doc_id"])
        return values.str.strip().where(values.str.strip().isin(known))
    found = con.execute("SELECT text, doc_id FROM documents WHERE corpus = ? AND list_contains(?, text)",
                        [corpus, values.unique().tolist()]).df()
    return values.map(dict(zip(found["text"], found["doc_id"])))


def plan(con, corpus: str, table: pd.DataFrame, path: Path, id_column: str = "doc_id", text_column: str = "text",
         label_column: str = "label") -> tuple[pd.DataFrame, dict[int, str]]:
    """(rows that may be written: row, doc_id, decision; {row number: problem} of refused rows)."""
    by = _locate(table, path, id_column, text_column, label_column)
    rows = pd.DataFrame({"row": range(1, len(table) + 1), "doc_id": _resolve(con, corpus, table, by, id_column),
                         "given": table[by].fillna("").astype(str),
                         "decision": table[label_column].fillna("").astype(str).str.strip().str.lower().map(LABELS)})
    problems = {}
    for r in rows.itertuples():
        if pd.isna(r.decision):
            problems[r.row] = f"label {shown(table[label_column].iloc[r.row - 1], 30)} is not accept/reject (or 1/0)"
        elif pd.isna(r.doc_id):
            what = "id" if by == id_column else "exact text"
            problems[r.row] = f"corpus {corpus!r} has no document with {what} {shown(r.given, 60)}"
    good = rows[~rows["row"].isin(problems)]
    for doc, group in good.groupby("doc_id"):
        if group["decision"].nunique() > 1:
            for r in group.itertuples():
                others = ", ".join(str(o) for o in group["row"] if o != r.row)
                problems[r.row] = (f"document {doc[:12]} is both accepted and rejected in this file "
                                   f"(rows {r.row}, {others}); refused")
    good = rows[~rows["row"].isin(problems)].drop_duplicates("doc_id")
    return good[["row", "doc_id", "decision"]], problems


def import_decisions(ws, corpus: str, path: str, reviewer: str, id_column: str = "doc_id",
                     text_column: str = "text", label_column: str = "label",
                     change_decided: bool = False) -> ImportResult:
    """Import the file's decisions into `corpus` (see the module docstring); returns what happened."""
    from engine.storage import corpus as cstore, review_log  # noqa: PLC0415

    file = Path(path).expanduser()
    table = read_table(file)
    with ws.connect() as con:
        if not cstore.corpus_exists(con, corpus):
            raise UserError(f"no corpus named {corpus!r}; nothing imported")
        rows, problems = plan(con, corpus, table, file, id_column, text_column, label_column)
        before = review_log.current(con, corpus, rows["doc_id"].tolist()).set_index("doc_id")["decision"]
    result = ImportResult(n_rows=len(table))
    write = {review.ACCEPT: [], review.REJECT: []}
    for r in rows.itertuples():
        held = before.get(r.doc_id)
        if isinstance(held, str) and held == r.decision:
            result.unchanged += 1
        elif isinstance(held, str) and not change_decided:
            problems[r.row] = (f"document {r.doc_id[:12]} is already {held}ed in the workspace; kept "
                               "(pass --change-decided to change it; the history keeps both)")
        else:
            write[r.decision].append(r.doc_id)
    for decision, ids in write.items():
        if ids:
            result.changed += review.decide(ws, corpus, ids, decision, reviewer, change_decided=True).changed
    result.problems = [f"{file} row {n}: {problems[n]}" for n in sorted(problems)]
    return result
