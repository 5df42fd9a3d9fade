#!/usr/bin/env bash
# Snapshot for the device (ignored folder .gpu/ of the checkout that the device tool sends):
# this worktree's engine/ and bench/ code, the labelled quality data and the C4 slice the
# benchmark reads, and the gguf wheel (the device has transformers but not gguf).
#   bash bench/kits/gpu_judges_prepare.sh /work/main/.gpu [extra git branch to merge into the snapshot]
set -euo pipefail
cd "$(dirname "$0")/../.."
dest="$1"; extra="${2:-}"
rm -rf "$dest"; mkdir -p "$dest/shared/data/quality" "$dest/shared/data/c4" "$dest/whl"
if [[ -n "$extra" ]]; then  # a throw-away merge of another branch, never committed here
  tmp=$(mktemp -d); git worktree add -q --detach "$tmp" HEAD
  (cd "$tmp" && git -c user.name=seedbed -c user.email=dev@seedbed.local merge -q --no-edit -X theirs "$extra")  # pages conflicts: theirs
  src="$tmp"
else
  src="."
fi
(cd "$src" && git ls-files -co --exclude-standard engine bench tests/data demo scripts requirements.txt | tar -cf - -T -) | tar -xf - -C "$dest"
[[ -n "$extra" ]] && git worktree remove --force "$tmp"
# firstrun's request (coord/firstrun.gpu.md): the demo's Ask-LLM scores on the GPU, same window
git show firstrun:scripts/score_demo_gpu.py > "$dest/scripts/score_demo_gpu.py" 2>/dev/null || rm -f "$dest/scripts/score_demo_gpu.py"
cp ../shared/data/quality/*.json "$dest/shared/data/quality/"
cp ../shared/data/c4/c4_validation_2k.parquet "$dest/shared/data/c4/"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64 \
  -d "$dest/whl" gguf==0.19.0 duckdb==2.0.0  # duckdb: the LLM2LLM experiment keeps its results in a workspace
du -sh "$dest"
