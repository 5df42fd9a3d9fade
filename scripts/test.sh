#!/usr/bin/env bash
# Sets up the environment (Python packages, headless Chromium) and runs the tests.
#   scripts/test.sh          the default tier: everything but `slow`, `browser` and `ray` (< 10 min on 2 cores)
#   scripts/test.sh --all    every test (what CI runs: .ci/run)
# Other arguments go to pytest (e.g. scripts/test.sh tests/engine -x -q).
# SEEDBED_SKIP_SETUP=1 skips the setup and SEEDBED_PYTHON picks the interpreter (bench/test_tiers.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
tier=(-m "not slow and not browser and not ray")
if [ "${1:-}" = "--all" ]; then
  tier=()
  shift
fi
if [ "${SEEDBED_SKIP_SETUP:-0}" != 1 ]; then
  bash scripts/setup.sh
fi
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "warning: chromium missing and not root: browser tests will be skipped" >&2
  fi
fi
exec "${SEEDBED_PYTHON:-.venv/bin/python}" -m pytest ${tier[@]+"${tier[@]}"} "$@"
