#!/usr/bin/env bash
# Pack what bench/bench_ray.py needs on the lent GPU machine and that machine lacks (Ray, DuckDB,
# jsonschema) into .benchcarry/site.tar.xz, ~40 MB: under the device tool's 64 MiB per call,
# which the 79 MB Ray wheel alone is not. Parts the engine never imports are dropped (Java jars,
# RLlib, Serve, Tune, Train, the dashboard's web client); the rest is xz-compressed.
#   bash bench/kits/ray_carry.sh        # here; the models and C4 slice: bench_gpu.prepare_carry()
#   tar -xJf .benchcarry/site.tar.xz -C /tmp/site && export PYTHONPATH=$PWD:/tmp/site   # there
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pin() { grep -E "^$1(\[.*\])?==" requirements.txt | sed -E 's/\[.*\]//'; }
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64 \
  -d "$tmp/whl" "$(pin ray)" "$(pin duckdb)" jsonschema==4.26.0 jsonschema-specifications==2025.9.1 \
  referencing==0.37.0 rpds-py==2026.9.1
for wheel in "$tmp"/whl/*.whl; do unzip -qo "$wheel" -d "$tmp/site"; done  # unzip keeps the binaries executable
rm -rf "$tmp"/site/ray/{jars,rllib,serve,tune,train,llm,dashboard/client/build}
mkdir -p .benchcarry
tar -C "$tmp/site" -cf - . | xz -9 -T0 > .benchcarry/site.tar.xz
ls -l .benchcarry/site.tar.xz
