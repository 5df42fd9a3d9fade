#!/usr/bin/env bash
# Sets up the environment (Python packages, headless Chromium) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "warning: chromium missing and not root: browser tests will be skipped" >&2
  fi
fi
exec .venv/bin/python -m pytest "$@"
