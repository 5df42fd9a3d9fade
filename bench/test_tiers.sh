#!/usr/bin/env bash
# Times a test tier as the README runs it (scripts/test.sh, setup skipped: it is timed in
# bench/results/ci_fresh_clone.log) and writes bench/results/test_tiers[-all].md: wall time, pytest's
# summary, the slowest tests, date, cores and the machine's load before and after.
#   bash bench/test_tiers.sh            # the default tier
#   bash bench/test_tiers.sh --all      # every test
# SEEDBED_PYTHON picks the interpreter (default .venv/bin/python).
set -uo pipefail
cd "$(dirname "$0")/.."
tier=default; suffix=""
if [ "${1:-}" = "--all" ]; then tier=all; suffix="-all"; fi
out="bench/results/test_tiers$suffix"
load_before=$(uptime); start=$(date -u +%FT%TZ); t0=$(date +%s)
SEEDBED_SKIP_SETUP=1 bash scripts/test.sh "$@" -q -p no:cacheprovider --durations=40 > "$out.log" 2>&1
rc=$?
seconds=$(( $(date +%s) - t0 )); load_after=$(uptime)
{
  echo "# Test tier timing: $tier"
  echo
  echo "Command: \`bash scripts/test.sh ${*:-}\` (setup skipped), started $start; exit code $rc."
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), shared with other work."
  echo
  echo "- wall time: **$seconds s** ($(( seconds / 60 )) min $(( seconds % 60 )) s)"
  echo "- load before: \`$load_before\`"
  echo "- load after: \`$load_after\`"
  echo "- pytest: \`$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed)' "$out.log" | tail -1)\`"
  echo
  echo "Slowest tests (pytest --durations=40; full log: \`$out.log\`):"
  echo
  echo '```'
  sed -n '/slowest 40 durations/,/^$/p' "$out.log" | sed '1d' | head -40
  echo '```'
} > "$out.md"
cat "$out.md"
exit $rc
