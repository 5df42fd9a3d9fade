#!/usr/bin/env bash
# Sets up the environment, runs every stage on the bundled C4 demo corpus with the default
# offline models (first time ~5 min on 2 CPU cores; cached afterwards), then starts the dashboard.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export SEEDBED_DB="${SEEDBED_DB:-$PWD/seedbed.duckdb}"
.venv/bin/python -m engine pipeline demo/c4_demo.parquet --corpus c4-demo
exec .venv/bin/streamlit run app.py "$@"
