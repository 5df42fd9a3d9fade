"""Shared fixtures: a fresh workspace file per test, models loaded once per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = Path(__file__).parent / "data"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A real DuckDB workspace file in a temporary folder, also exported as SEEDBED_DB."""
    from engine.storage import Workspace

    path = tmp_path / "ws.duckdb"
    monkeypatch.setenv("SEEDBED_DB", str(path))
    return Workspace(path)


@pytest.fixture
def app_workspace(workspace):
    """A workspace for dashboard page tests: corpus 'c4' ingested by the real engine from the
    committed C4 sample (60 docs), with stored embeddings, askllm/density scores and a 2-D map
    written through storage (seeded synthetic values standing in for the model stages, which
    the browser end-to-end test runs for real). The embeddings carry a signal: documents with
    an even position are one cluster, so a curator classifier has something to learn."""
    import numpy as np

    from engine import density, pipeline
    from engine.models import DEFAULT_EMBEDDER, model_fingerprint
    from engine.storage import corpus as store
    from engine.storage import signals as signal_store

    pipeline.ingest(workspace, DATA / "c4_sample.jsonl", "c4")
    with workspace.connect() as con:
        ids = store.documents(con, "c4")["doc_id"].tolist()
    rng = np.random.default_rng(0)
    n = len(ids)
    side = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    vectors = side[:, None] * np.ones((n, 8)) / np.sqrt(8) + rng.normal(0, 0.2, (n, 8))
    with workspace.connect() as con:
        signal_store.put_embeddings(con, model_fingerprint(DEFAULT_EMBEDDER), ids, vectors)
        for kind, key, values in (("askllm", "askllm:fixture", rng.random(n)),
                                  ("density", f"{density.VERSION}:fixture", rng.lognormal(0, 1, n))):
            signal_store.put_scores(con, key, ids, values)
            signal_store.set_signal(con, "c4", kind, key, {"fixture": True})
        signal_store.put_projection(con, "c4", ids, vectors[:, :2] * 5)
    return workspace


# --- real small models, loaded once per test session (engine.models memoises per process) ---

@pytest.fixture(scope="session")
def smollm2():
    """(model, tokenizer) of the packaged SmolLM2-135M-Instruct; converted from GGUF on first use."""
    from engine.models import DEFAULT_PERPLEXITY_LM, load_lm

    return load_lm(DEFAULT_PERPLEXITY_LM, device="cpu")


@pytest.fixture(scope="session")
def gemma_judge():
    """(model, tokenizer) of the packaged Gemma 3 270M base, the default Ask-LLM judge."""
    from engine.models import DEFAULT_JUDGE, load_lm

    return load_lm(DEFAULT_JUDGE, device="cpu")


@pytest.fixture(scope="session")
def embedder():
    """The packaged all-MiniLM-L6-v2 SentenceTransformer (384-d)."""
    from engine.models import load_embedder

    return load_embedder(device="cpu")


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory, smollm2):
    """TEST DOUBLE: a random-weight, 2-layer T5 built from a config (no download), saved with
    SmolLM2's tokenizer, so the seq2seq code paths run on a real encoder-decoder folder."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    _, tok = smollm2
    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tok), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                      pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                      decoder_start_token_id=tok.pad_token_id)
    folder = tmp_path_factory.mktemp("tiny-t5-random")
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture
def streamlit_app(tmp_path):
    """Start `streamlit run app.py` on a free loopback port over a given workspace file:
    `url = streamlit_app(db_path)`. The server is stopped when the test ends."""
    import socket
    import subprocess
    import sys
    import time

    root, servers = Path(__file__).resolve().parents[1], []

    def start(db_path) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log_path = tmp_path / f"streamlit-{port}.log"
        env = {**os.environ, "SEEDBED_DB": str(db_path), "PYTHONPATH": str(root)}
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                 "--server.port", str(port), "--server.address", "127.0.0.1",
                                 "--server.fileWatcherType", "none"],
                                cwd=root, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)
        servers.append(proc)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return f"http://127.0.0.1:{port}"
            assert proc.poll() is None, log_path.read_text()
            time.sleep(0.5)  # polling for the port to open, not a wait on the page
        raise TimeoutError(f"streamlit did not open port {port}: {log_path.read_text()[-2000:]}")

    yield start
    for proc in servers:
        proc.terminate()
        proc.wait(timeout=30)
