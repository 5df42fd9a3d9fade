#!/usr/bin/env bash
# Times `bash scripts/demo.sh` as a new user meets it: a fresh clone of this commit, no .venv, an
# empty model cache (SEEDBED_CACHE) and no pip cache, on this machine. Waits until the dashboard
# answers and its Home page renders the scored, mapped demo (a headless Streamlit AppTest against
# the same workspace), then stops it. Writes bench/demo_timing.md and bench/demo_timing.log.
#   bash bench/demo_timing.sh [--keep]      (--keep: leave the clone in /tmp for inspection)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/seedbed-demo-timing.XXXX)"
port=8599
keep="${1:-}"
cleanup() {
  [ -n "${server_pid:-}" ] && kill -- -"$server_pid" 2>/dev/null || true
  [ "$keep" = "--keep" ] || rm -rf "$work"
}
trap cleanup EXIT
commit="$(git -C "$repo" rev-parse --short HEAD)"
git clone -q "$repo" "$work/seedbed"
git -C "$work/seedbed" checkout -q "$commit"
log="$repo/bench/demo_timing.log"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(date +%s.%N)
# Its own session (setsid), so the dashboard and its children stop with it.
cd "$work/seedbed"
PIP_NO_CACHE_DIR=1 SEEDBED_CACHE="$work/cache" SEEDBED_DB="$work/ws.duckdb" \
  setsid bash scripts/demo.sh --server.port "$port" > "$log" 2>&1 &
server_pid=$!
until curl -sf "http://localhost:$port/_stcore/health" >/dev/null 2>&1; do
  kill -0 "$server_pid" 2>/dev/null || { echo "demo.sh exited early; see $log" >&2; exit 1; }
  sleep 1
done
t_up=$(date +%s.%N)
# The Home page, rendered by Streamlit itself against the workspace demo.sh filled.
check="$(SEEDBED_DB="$work/ws.duckdb" .venv/bin/python - <<'PY'
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=120).run()
row = at.dataframe[0].value.set_index("corpus").loc["c4-demo"]
assert not at.exception and row["documents"] == 400 and row["askllm"] and row["density"] and row["map"], row
print(f"home page: c4-demo, {row['documents']} documents, askllm={row['askllm']}, density={row['density']}, "
      f"map={row['map']}, embedded={row['embedded']}, selections={row['selections']}")
PY
)"
t_checked=$(date +%s.%N)
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
kill -- -"$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""
python3 "$repo/bench/demo_timing_report.py" "$log" "$t0" "$t_up" "$t_checked" "$commit" \
  "$load_start" "$load_end" "$check" > "$repo/bench/demo_timing.md"
cat "$repo/bench/demo_timing.md"
