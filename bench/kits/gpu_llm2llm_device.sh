#!/usr/bin/env bash
# The LLM2LLM GPU table on the lent device, which receives at most 64 MiB per call (weights travel in
# 50 MiB pieces: bench/kits/gpu_judges_carry.py) and keeps /tmp only while warm (calls back to back).
#   here:  bash bench/kits/gpu_llm2llm_device.sh kit /work/main/.kit-llm2llm   # code + wheels (+ pack the pieces once:
#          python bench/kits/gpu_judges_carry.py pack --dir KIT/wall --piece-mib 50 \
#              --only minilm,smollm2-135m-instruct,qwen2.5-coder-1.5b-instruct)
#   there: bash .kit-llm2llm/dev.sh recv K .kit-llm2llm      # one call per piece K (dev.sh: a copy of this file)
#          bash .kit-llm2llm/dev.sh run .kit-llm2llm TAG     # the table, into $OUT
set -euo pipefail
verb="$1"
case "$verb" in
kit)
  dest="$2"; cd "$(dirname "$0")/../.."
  rm -rf "$dest/code"; mkdir -p "$dest/code" "$dest/whl" "$dest/ggufwhl"
  git ls-files -co --exclude-standard engine bench/*.py bench/kits bench/data | tar -cf - -T - | tar -xf - -C "$dest/code"
  dl=(python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64)
  ls "$dest"/whl/duckdb-2.0.0-*.whl >/dev/null 2>&1 || "${dl[@]}" -d "$dest/whl" duckdb==2.0.0
  ls "$dest"/whl/zstandard-0.25.0-*.whl >/dev/null 2>&1 || "${dl[@]}" -d "$dest/whl" zstandard==0.25.0  # engine.ingest_formats
  ls "$dest"/ggufwhl/gguf-0.19.0-*.whl >/dev/null 2>&1 || "${dl[@]}" -d "$dest/ggufwhl" gguf==0.19.0
  cp bench/kits/gpu_llm2llm_device.sh "$dest/dev.sh"
  du -sh "$dest/code" "$dest/whl" "$dest/ggufwhl" ;;
recv)  # piece K: the checkout's own carry script appends it, cuts out finished files, converts GGUFs
  # (run from the checkout's root, with only the piece, the manifest and the gguf wheel carried)
  k="$2"; kit="$3"
  export SEEDBED_CACHE=/tmp/sc
  [[ -d /tmp/site/gguf ]] || python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$kit"/ggufwhl/*.whl
  export PYTHONPATH=/tmp/site
  python3 bench/kits/gpu_judges_carry.py recv "$k" --dir "$kit/wall" ;;
run)
  kit="$2"; tag="$3"
  export SEEDBED_CACHE=/tmp/sc HF_HUB_OFFLINE=1 TQDM_DISABLE=1 PYTHONUNBUFFERED=1
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site2 "$kit"/whl/*.whl
  export PYTHONPATH=/tmp/site2:/tmp/site
  for _ in $(seq 1 90); do  # the background conversions of the last pieces (L2L_NEEDS: which models)
    ready=1
    for m in ${L2L_NEEDS:-qwen2.5-coder-1.5b-instruct smollm2-135m-instruct}; do
      grep -qs CONVERTED "/tmp/w/convert-$m.log" || ready=0
    done
    [[ $ready == 1 ]] && break
    sleep 2
  done
  tail -n 2 /tmp/w/convert-*.log || true
  nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv || true
  uptime
  cd "$kit/code"
  mem=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -n 1 || echo 0)
  workers=$([[ "${mem:-0}" -gt 100000 ]] && echo 6 || echo 3)  # ~6 GB a cell process: 18 fit an H200, 9 an H100
  export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
  timeout -s TERM "${L2L_TIMEOUT:-500}" python3 bench/gpu_llm2llm.py --parallel --workers "$workers" \
    --teacher /tmp/sc/models/qwen2.5-coder-1.5b-instruct --student /tmp/sc/models/smollm2-135m-instruct \
    --embedder /tmp/m/minilm --out "$OUT" --work /tmp/l2l --tag "$tag" ${L2L_ARGS:-} || echo "exit $?"
  uptime ;;
esac
