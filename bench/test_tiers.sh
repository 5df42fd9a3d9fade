#!/usr/bin/env bash
# Times a test tier as the README runs it (scripts/test.sh, setup skipped: it is timed in
# bench/results/ci_fresh_clone.log) and writes bench/results/test_tiers[-all].md: wall time, CPU
# time (user + sys of pytest and its children: less sensitive to a shared machine's load than the
# wall time), pytest's summary, the slowest tests, date, cores and the load before and after.
#   bash bench/test_tiers.sh            # the default tier
#   bash bench/test_tiers.sh --all      # every test
# SEEDBED_PYTHON picks the interpreter (default .venv/bin/python).
set -uo pipefail
cd "$(dirname "$0")/.."
tier=default; suffix=""
if [ "${1:-}" = "--all" ]; then tier=all; suffix="-all"; fi
out="bench/results/test_tiers$suffix"
load_before=$(uptime); start=$(date -u +%FT%TZ)
TIMEFORMAT='%R %U %S'
{ time SEEDBED_SKIP_SETUP=1 bash scripts/test.sh "$@" -q -p no:cacheprovider --durations=40 > "$out.log" 2>&1; } 2> "$out.time"
read -r wall user sys < "$out.time"; rm -f "$out.time"
load_after=$(uptime)
{
  echo "# Test tier timing: $tier"
  echo
  echo "Command: \`bash scripts/test.sh ${*:-}\` (setup skipped), started $start."
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), shared with other work."
  echo
  echo "- wall time: **${wall%.*} s**; CPU time (user + sys, pytest and children): $(awk "BEGIN{print int($user + $sys)}") s"
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
