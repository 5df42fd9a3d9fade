"""LLM2LLM page (AppTest): a run launched as a job but not recorded yet shows as "starting" (not
"no run"), and the page shows the run itself once its process has recorded it."""
from __future__ import annotations

import subprocess
from pathlib import Path

import psutil
from streamlit.testing.v1 import AppTest

from engine.jobs import launcher
from engine.llm2llm.config import LLM2LLMConfig
from engine.llm2llm.loop import create_llm2llm
from engine.storage import jobs as db

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "6_LLM2LLM.py")


def test_a_launched_run_shows_as_starting_then_as_itself(workspace):
    argv = ["llm2llm", "run", "--task", "trec", "--seed-size", "10", "--iterations", "1", "--name", "fresh"]
    holder = subprocess.Popen(["sleep", "120"], start_new_session=True)  # stands in for the job's process
    try:
        with workspace.connect() as con:
            db.insert_job(con, "j1", launcher.kind_of(argv), argv, launcher.params_of(argv),
                          launcher.needs_device(argv), str(workspace.path) + ".log", llm2llm_run="fresh")
            db.update_job(con, "j1", status="running", started_at=db.utcnow(), pid=holder.pid,
                          pid_started=psutil.Process(holder.pid).create_time(), host=None)
        at = AppTest.from_file(PAGE, default_timeout=120).run()
        assert not at.exception
        assert any("Starting: 'fresh' (job running)" in i.value for i in at.info)
        assert not any("No LLM2LLM run" in i.value for i in at.info)
        create_llm2llm(workspace, "fresh", LLM2LLMConfig(task="trec", seed_size=10, iterations=1, test_size=5))
        at.run()
        assert any("fresh" in c.value and "task trec" in c.value for c in at.caption), [c.value for c in at.caption]
    finally:
        holder.kill()
        holder.wait()
