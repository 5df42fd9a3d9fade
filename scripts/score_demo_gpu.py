"""Ask-LLM scores of the 400 demo documents with the default judge on a GPU, in fp32 (as a CPU user
computes them), for demo/c4_demo_signals.npz when the CPU is too busy (scripts/make_demo_bundle.py
--scores FILE imports them). Needs only torch, transformers, pyarrow and the converted judge.
    python scripts/score_demo_gpu.py OUT.npz [N]      (N: only the first N documents, a smoke test)
"""
import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine import models  # noqa: E402
from engine.askllm import AskLLMConfig, score_batch  # noqa: E402

models.lm_dtype = lambda device: torch.float32  # fp32 on the GPU too: the bundle holds CPU-equal values
texts = [t.strip() for t in pq.read_table(Path(__file__).resolve().parent.parent / "demo" / "c4_demo.parquet",
                                          columns=["text"]).column("text").to_pylist()]
texts = texts[:int(sys.argv[2])] if len(sys.argv) > 2 else texts
config = AskLLMConfig(device="cuda" if torch.cuda.is_available() else "cpu")
t0 = time.perf_counter()
values, truncated = score_batch(texts, config, show_progress=False)
ids = [hashlib.sha256(t.encode("utf-8")).hexdigest()[:32] for t in texts]  # = engine.ingest.doc_id
np.savez(sys.argv[1], doc_ids=np.array(ids), values=values, truncated=truncated, key=np.array(config.key()),
         device=np.array(str(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")))
print(f"{len(texts)} documents scored as {config.key()} in {time.perf_counter() - t0:.1f} s -> {sys.argv[1]}")
