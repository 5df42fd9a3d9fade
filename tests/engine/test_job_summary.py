"""Run records as a person reads them: label with status and duration, fields without Ray noise
for in-process runs, logs without tqdm redraws."""
from __future__ import annotations

from datetime import datetime

from engine import job_summary

T0 = datetime(2026, 11, 29, 10, 0, 0)


def _rec(**kw):
    rec = {"id": "20261129-100000-ab12", "kind": "score", "status": "done", "argv": '["score", "--corpus", "c4"]',
           "params": '{"corpus": "c4"}', "started_at": T0, "ended_at": datetime(2026, 11, 29, 10, 3, 5),
           "created_at": T0, "device": "cpu", "attempts": 1, "pid": 42, "host": "box", "stage": None,
           "done": None, "total": None, "log_path": "/ws/runs/x/log.txt"}
    return {**rec, **kw}


def test_label_says_the_real_status_and_how_long():
    assert job_summary.job_label(_rec()) == "20261129-100000-ab12 · score · done in 3 min 05 s"
    running = _rec(status="running", ended_at=None, stage="askllm", done=120, total=400)
    assert job_summary.job_label(running).endswith("score · running since 10:00:00 UTC")
    assert job_summary.duration_s(running, now=datetime(2026, 11, 29, 10, 0, 42)) == 42
    assert "failed after 3 min 05 s" in job_summary.job_label(_rec(status="failed"))
    assert job_summary.job_label(_rec(status="queued", started_at=None, ended_at=None)).endswith("queued")


def test_ray_fields_only_for_runs_on_ray():
    local = dict(job_summary.job_fields(_rec()))
    assert "Ray cluster" not in local and local["Duration"] == "3 min 05 s" and "Process" not in local
    ray = dict(job_summary.job_fields(_rec(argv='["score", "--corpus", "c4", "--backend", "ray", "--ray-actors", "2"]')))
    assert ray["Ray cluster"] == "a local Ray on this machine" and ray["Ray model replicas"] == "2"


def test_log_is_plain_lines_not_tqdm_redraws():
    log = ("loading\n"
           "askllm:   0%|          | 0/400 [00:00<?, ?doc/s]\raskllm:  16%|█▌        | 64/400 [13:15<1:09:34, "
           "12.42s/doc]\x1b[A\n"
           "askllm:  32%|███▏      | 128/400 [20:00<30:00,  6.00s/doc]\n"
           "scored 400 documents\n")
    assert job_summary.clean_log(log).splitlines() == [
        "loading", "askllm: 128/400 (32%), 6.00s/doc, 20:00 elapsed, 30:00 left", "scored 400 documents"]
