#!/usr/bin/env bash
# Sets up the environment, loads the bundled demo corpus (400 C4 documents mixed with small GSM8K, TREC,
# SST-2 slices and junk; embeddings, Ask-LLM scores, density and map ship in demo/demo_mix_signals.npz),
# then starts the dashboard. Figures for this machine: bench/demo_timing.md.
#   scripts/demo.sh [--with-qwen] [streamlit options ...]
set -euo pipefail
cd "$(dirname "$0")/.."
setup_args=(--skip-models)  # the demo needs no model now; the packaged models convert on first use
if [ "${1:-}" = "--with-qwen" ]; then setup_args+=(--with-qwen); shift; fi
source scripts/phases.sh
bash scripts/setup.sh "${setup_args[@]}"
export SEEDBED_DB="${SEEDBED_DB:-$PWD/seedbed.duckdb}"

phase "Demo corpus (ingest, bundled signals, default selection) into $SEEDBED_DB"
.venv/bin/python -m engine demo
done_phase

phase "Dashboard (Ctrl-C stops it; its address follows)"
exec .venv/bin/python scripts/dashboard.py "$@"  # checks login and allowed hosts, then streamlit run app.py
