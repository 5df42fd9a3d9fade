"""The rule, language and near-duplicate stages in a real workspace: stored values and details,
resume after kill -9, language on a few languages, planted near-duplicates, select filters."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine import filters, pipeline, stages
from engine.cli import main
from engine.errors import UserError
from engine.storage import corpus as store
from engine.storage import details

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo" / "c4_demo.parquet"
JUNK = {"cookies": "cookies cookies we use cookies " * 20 + "accept all cookies",
        "aaaa": "a" * 300, "aaaa words": ("aaaa " * 120).strip()}


def _write(path: Path, texts) -> Path:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return path


def _frame(ws, corpus):
    with ws.connect() as con:
        return filters.with_filter_columns(con, corpus, store.corpus_frame(con, corpus, snippet_chars=0))


def test_demo_junk_fails_named_rules_and_the_filter_drops_it(workspace, tmp_path):
    demo = pd.read_parquet(DEMO)["text"].tolist()[:40]
    pipeline.ingest(workspace, _write(tmp_path / "d.jsonl", demo + list(JUNK.values())), "demo")
    for name in filters.RULE_SIGNALS:
        pipeline.score(workspace, "demo", name)
    frame = _frame(workspace, "demo").set_index("doc_id")
    with workspace.connect() as con:
        texts = store.documents(con, "demo").set_index("text")["doc_id"]
    for text in JUNK.values():
        row = frame.loc[texts[text]]
        assert row["first_failed"] and row["failed_reason"], row
    assert "gopher_top_2gram" in frame.loc[texts[JUNK["cookies"]], "failed_rules"]
    assert "gopher_min_words" in frame.loc[texts[JUNK["aaaa"]], "failed_rules"]
    keep = filters.keep_mask(frame.reset_index(), filters.FilterSpec(drop_rules=("all",)))
    assert not keep[[frame.index.get_loc(texts[t]) for t in JUNK.values()]].any() and keep.any()
    counts = filters.rule_counts(frame)
    assert counts["fails"].min() >= 1 and "gopher_top_2gram" in set(counts["rule"])
    with pytest.raises(UserError, match="unknown rule nope"):
        filters.keep_mask(frame.reset_index(), filters.FilterSpec(drop_rules=("nope",)))
    pipeline.select(workspace, "demo", "random", budget=1.0, name="everything")
    out = pipeline.export(workspace, "everything", tmp_path / "all.parquet")
    exported = pd.read_parquet(out.path).set_index("doc_id")
    assert exported.loc[texts[JUNK["aaaa"]], "first_failed"] == "gopher_min_words"
    assert "gopher_top_2gram" in exported.loc[texts[JUNK["cookies"]], "failed_rules"].split(",")
    assert exported.loc[texts[JUNK["cookies"]], "failed_reason"] == frame.loc[texts[JUNK["cookies"]], "failed_reason"]


CHILD = """
import sys, time
from engine import pipeline
from engine.storage import Workspace
def progress(label, done, total):
    print("chunk", done, flush=True)
    time.sleep(0.4)
pipeline.score(Workspace(sys.argv[1]), "k", "gopher_repetition", progress=progress, chunk_size=10)
"""


def test_a_rule_stage_resumes_after_kill_9(workspace, tmp_path):
    texts = [f"document {i}: " + " ".join(f"w{(i * 7 + j) % 50}" for j in range(60)) for i in range(120)]
    pipeline.ingest(workspace, _write(tmp_path / "k.jsonl", texts), "k")
    child = subprocess.Popen([sys.executable, "-c", CHILD, workspace.path], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    lines = [child.stdout.readline().strip() for _ in range(4)]
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert lines[0] == "chunk 0" and all(line.startswith("chunk") for line in lines)
    key = "gopher_repetition:v1"
    with workspace.connect() as con:
        n_scores = con.execute("SELECT count(*) FROM scores WHERE signal_key = ?", [key]).fetchone()[0]
        n_details = con.execute("SELECT count(*) FROM signal_details WHERE signal_key = ?", [key]).fetchone()[0]
    assert 0 < n_scores == n_details < 120  # every stored chunk has both its values and its details
    result = pipeline.score(workspace, "k", "gopher_repetition")
    assert (result.n_computed, result.n_cached) == (120 - n_scores, n_scores)
    with workspace.connect() as con:
        assert len(details.details(con, "k", key)) == 120


def test_language_of_a_few_languages(workspace, tmp_path):
    texts = {"en": "The weather was cold and the children stayed inside to read their books all afternoon.",
             "de": "Das Wetter war kalt und die Kinder blieben drinnen, um den ganzen Nachmittag zu lesen.",
             "fr": "Il faisait froid et les enfants sont restés à l'intérieur pour lire tout l'après-midi.",
             "es": "Hacía frío y los niños se quedaron dentro leyendo sus libros toda la tarde.",
             "ru": "Было холодно, и дети остались дома, чтобы читать книги весь день.",
             "zh": "天气很冷，孩子们整个下午都待在屋里看书。", "und": "12345 67890 !!! ???"}
    pipeline.ingest(workspace, _write(tmp_path / "l.jsonl", texts.values()), "l")
    assert main(["--db", workspace.path, "score", "--corpus", "l", "--signal", "language"]) == 0
    frame = _frame(workspace, "l")
    with workspace.connect() as con:
        by_text = store.documents(con, "l").set_index("doc_id")["text"]
    got = {by_text[d]: code for d, code in zip(frame["doc_id"], frame["language_code"])}
    assert {code: got[t] for code, t in texts.items()} == {c: c for c in texts}
    assert frame.loc[frame["language_code"] == "und", "language"].tolist() == [0.0]
    assert filters.keep_mask(frame, filters.FilterSpec(languages=("de", "fr"))).sum() == 2


def test_near_duplicates_are_found_and_one_representative_kept(workspace, tmp_path, capsys):
    rng = np.random.default_rng(0)  # unrelated documents: 120 words each from a 400-word vocabulary
    base = [" ".join(f"w{k}" for k in rng.integers(0, 400, 120)) for _ in range(40)]
    planted = [b.replace(b.split()[60], "changed", 1) + " extra words here" for b in base[:5]]
    pipeline.ingest(workspace, _write(tmp_path / "n.jsonl", base + planted), "n")
    assert main(["--db", workspace.path, "score", "--corpus", "n", "--signal", "near_dups"]) == 0
    assert "5 near-duplicate clusters; 5 of 45 documents" in capsys.readouterr().out
    frame = _frame(workspace, "n")
    with workspace.connect() as con:
        ids = store.documents(con, "n").set_index("text")["doc_id"]
        key = con.execute("SELECT signal_key FROM signals WHERE kind = 'near_dups'").fetchone()[0]
        for b, p in zip(base[:5], planted):
            assert frame.set_index("doc_id").loc[ids[b], "near_dup_of"] == ids[p]  # the longer one is kept
            assert details.duplicates_of(con, "n", key, ids[p])["doc_id"].tolist() == [ids[b]]
        assert details.duplicates_of(con, "n", key, ids[base[10]]).empty  # unrelated: no duplicates
    assert main(["--db", workspace.path, "select", "--corpus", "n", "--strategy", "random", "--budget", "1.0",
                 "--exclude-near-duplicates", "--name", "dedup"]) == 0
    assert "5 documents filtered out first" in capsys.readouterr().out


def test_a_corpus_of_only_duplicates_still_ingests_and_dedups(workspace, tmp_path):
    pipeline.ingest(workspace, _write(tmp_path / "a.jsonl", ["same text here"] * 5 + ["", "   "]), "a")
    for name in filters.CHEAP_STAGES:
        pipeline.run_stage(workspace, "a", name)
    frame = _frame(workspace, "a")
    assert len(frame) >= 1 and frame["near_dups"].notna().all()


def test_rules_join_the_quality_ensemble_only_beside_a_model_signal():
    from engine import ensemble

    frame = pd.DataFrame({"doc_id": list("abcd"), "askllm": [0.9, 0.8, 0.7, 0.6],
                          "gopher_quality": [0.5, 1.0, 1.0, 1.0], "fineweb_rules": [0.5, 1.0, 0.75, 1.0]})
    q = ensemble.default_quality(frame, stages.member_signals(), stages.good_ends())
    assert q[0] < q[1] and list(ensemble.rules_member(frame)["rules"]) == [0.5, 1.0, 0.875, 1.0]
    assert np.isnan(ensemble.default_quality(frame.drop(columns="askllm"), stages.member_signals(), stages.good_ends())).all()  # rules alone: no quality


def test_background_jobs_of_the_new_stages_are_valid_commands():
    from engine import api
    from engine.cli import build_parser

    for name in (*filters.CHEAP_STAGES, "quality", "distilled"):
        argv = api.stage_command(name, "c")
        assert argv[:1] == ["score"] and build_parser().parse_args(argv).signal == name


@pytest.mark.slow  # a 50 MB document through ingest and six stages: about a minute here
def test_bad_documents_get_values_not_crashes(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("SEEDBED_MAX_LINE_MB", "64")  # the 50 MB document must reach the rules (default limit 16 MB)
    texts = ["word " * 10_000_000, "\x00\x01\x02 \ufffd\ufffd garbage \x7f" * 100, "Hello world. Привет мир. 你好世界。" * 20,
             "   \t ", "x"]
    pipeline.ingest(workspace, _write(tmp_path / "b.jsonl", texts), "b")
    for name in filters.CHEAP_STAGES:
        pipeline.run_stage(workspace, "b", name)
    frame = _frame(workspace, "b")
    assert len(frame) == 4 or len(frame) == 5  # ingest may skip the whitespace-only row, with an issue
    for name in filters.CHEAP_STAGES:
        assert frame[name].notna().any()
    assert frame["language_code"].notna().all()


def test_a_filter_on_a_signal_never_computed_is_refused():
    frame = pd.DataFrame({"doc_id": ["a"], "failed_rules": [[]], "language_code": [None], "near_dup_of": [None]})
    for spec, what in ((filters.FilterSpec(drop_rules=("all",)), "no rule signal"),
                       (filters.FilterSpec(languages=("en",)), "no language"),
                       (filters.FilterSpec(exclude_near_dups=True), "no near-duplicate")):
        with pytest.raises(UserError, match=what):
            filters.keep_mask(frame, spec)


def test_the_keep_rule_picks_the_longest_or_the_best_quality_member():
    from engine import near_dups

    rng = np.random.default_rng(1)
    base = " ".join(f"w{k}" for k in rng.integers(0, 500, 150))
    docs = pd.DataFrame({"doc_id": ["short", "long", "other"],
                         "text": [base, base + " and three more", " ".join(f"v{k}" for k in rng.integers(0, 500, 150))]})
    docs["n_chars"] = docs["text"].str.len()
    frame = pd.DataFrame({"doc_id": ["short", "long", "other"], "askllm": [0.9, 0.1, 0.5]})
    longest = near_dups.find(docs, frame, near_dups.NearDupConfig()).set_index("doc_id")
    best = near_dups.find(docs, frame, near_dups.NearDupConfig(keep="quality")).set_index("doc_id")
    assert longest["representative"].to_dict() == {"short": "long", "long": "long", "other": "other"}
    assert best["representative"].to_dict() == {"short": "short", "long": "short", "other": "other"}
    assert list(best["size"]) == [2, 2, 1] and list(best["kept"]) == [True, False, True]
    with pytest.raises(UserError, match="unknown keep rule"):
        near_dups.NearDupConfig(keep="newest")


def test_map_hover_names_the_failed_rule_language_and_near_duplicate():
    from engine import explore

    frame = pd.DataFrame({"doc_id": ["a", "b"], "snippet": ["x", "y"], "decision": [None, None],
                          "first_failed": ["gopher_min_words", None], "language_code": ["en", "de"],
                          "near_dup_of": [None, "a" * 32]})
    first, second = explore.hover_text(frame)
    assert "fails: gopher_min_words" in first and "language: en" in first and "near-duplicate" not in first
    assert "fails" not in second and "near-duplicate of: " + "a" * 16 in second
