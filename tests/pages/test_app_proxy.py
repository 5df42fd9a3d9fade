"""Export page (AppTest): a real (tiny, CPU) proxy check's verdict, curves and settings are shown,
the export metadata carries the verdict, and the button queues a `proxy` job."""
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine import api, export, pipeline, proxy_check
from engine.jobs import list_jobs
from engine.user_text import escape_markdown

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_export_page_shows_the_proxy_verdict_and_queues_a_check(app_workspace, tmp_path, monkeypatch):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the shared 2-core machine: see tests/test_proxy.py::one_thread
    try:
        _check_page(app_workspace, monkeypatch)
    finally:
        torch.set_num_threads(before)


def _check_page(app_workspace, monkeypatch):
    pipeline.select(app_workspace, "c4", "combined", budget=30, name="pick")
    settings = proxy_check.CheckSettings(
        corpus="c4", selections=("pick",), target=str(ROOT / "tests" / "data" / "llm2llm_sst2_test.txt"), seeds=2,
        tokens=2048, size="tiny", seq_len=32, batch=4, device="cpu", random_baseline=True, eval_tokens=256)
    rep = proxy_check.run_check(app_workspace, settings)
    at = AppTest.from_file(str(ROOT / "pages" / "4_Export.py"), default_timeout=120).run()
    assert not at.exception
    assert any(escape_markdown(rep["verdict"]) in m.value for m in at.markdown), "the verdict line is on the page"
    assert any("only large differences" in c.value for c in at.caption)
    assert any("2 seeds" in c.value and "training tokens" in c.value for c in at.caption)
    meta = export.selection_table(app_workspace, "pick")[1]["proxy_check"]
    assert meta["verdict"] == rep["verdict"] and meta["proxy"]["seeds"] == 2
    monkeypatch.setenv("SEEDBED_MAX_DEVICE_RUNS", "0")  # queued, not started: the test checks the command
    at.text_input(key="proxy_target").set_value("accepted").run()
    at.button(key="proxy_start").click().run()
    assert not at.exception and "Queued as job" in at.success[0].value
    argv = json.loads(list_jobs(app_workspace).iloc[0]["argv"])
    assert list(argv) == api.proxy_command("c4", "pick", "accepted", 3)


@pytest.mark.slow
def test_export_page_shows_a_multiple_choice_target_s_probabilities(app_workspace, tmp_path):
    import torch

    docs = [json.loads(line)["text"] for line in (ROOT / "tests" / "data" / "c4_sample.jsonl").read_text().splitlines()]
    rows = [{"question": " ".join(t.split()[:12]), "choices": [" ".join(t.split()[12:18]), "and then the"], "answer": 0}
            for t in docs[-20:]]
    target = tmp_path / "mc.jsonl"
    target.write_text("\n".join(json.dumps(r) for r in rows))
    pipeline.select(app_workspace, "c4", "combined", budget=30, name="pick")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rep = proxy_check.run_check(app_workspace, proxy_check.CheckSettings(
            corpus="c4", selections=("pick",), target=str(target), seeds=2, tokens=2048, size="tiny", seq_len=32,
            batch=4, device="cpu", random_baseline=True, eval_tokens=256))
    finally:
        torch.set_num_threads(before)
    at = AppTest.from_file(str(ROOT / "pages" / "4_Export.py"), default_timeout=120).run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "P(right choice)" in d.value.columns)
    assert list(table["selection"]) == ["pick", "random"]
    assert table["P(right choice)"].tolist() == [e["p_correct_mean"] for e in rep["entries"]]
