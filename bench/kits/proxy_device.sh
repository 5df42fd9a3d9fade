#!/usr/bin/env bash
# Issue 23's GPU table on the lent device: 64 MiB a call, /tmp kept only while the machine stays warm,
# so four calls back to back (pieces from `python bench/kits/proxy_carry.py pack .kit-proxy`).
#   call 1, carry .kit-llm2llm/whl .kit-llm2llm/ggufwhl .kit-proxy/data .kit-proxy/pieces/manifest.json
#           .kit-proxy/pieces/p00:                 bash bench/kits/proxy_device.sh setup
#   calls 2-3, carry the manifest and pK:          bash bench/kits/proxy_device.sh recv K
#   call 4, carry the manifest and p03:            bash bench/kits/proxy_device.sh run TAG SECONDS [bench args]
# The wheels are duckdb 2.0.0, zstandard 0.25.0 (the device lacked it) and gguf 0.19.0 (bench/kits/gpu_llm2llm_device.sh kit downloads them).
set -euo pipefail
export SEEDBED_CACHE=/tmp/sc HF_HUB_OFFLINE=1 TQDM_DISABLE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site
case "$1" in
setup)
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site \
    .kit-llm2llm/whl/*.whl .kit-llm2llm/ggufwhl/*.whl
  mkdir -p /tmp/kit && cp -r .kit-proxy/data /tmp/kit/
  python3 bench/kits/proxy_carry.py recv 0 .kit-proxy ;;
recv)
  python3 bench/kits/proxy_carry.py recv "$2" .kit-proxy ;;
run)
  tag="$2"; seconds="$3"; shift 3
  python3 bench/kits/proxy_carry.py recv 3 .kit-proxy
  for _ in $(seq 1 60); do grep -qs CONVERTED /tmp/w/convert-smollm2-135m-instruct.log && break; sleep 1; done
  cat /tmp/w/convert-smollm2-135m-instruct.log
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; uptime
  timeout -s TERM "$seconds" python3 bench/proxy_bench.py --device cuda --prebuilt /tmp/kit/data \
    --embed-model /tmp/m/minilm --work /tmp/pb --out "$OUT/proxy_results_$tag" "$@" 2>&1 \
    | tee "$OUT/proxy_results_$tag.log" || echo "exit $?"
  uptime ;;
esac
