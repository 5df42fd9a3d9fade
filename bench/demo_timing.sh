#!/usr/bin/env bash
# Times `bash scripts/demo.sh` as a new user meets it: a fresh clone, no .venv, no pip cache, an
# empty model cache (SEEDBED_CACHE) and a new workspace, on this machine. Waits until the dashboard
# answers and its Home page renders the scored, mapped demo (a headless Streamlit AppTest against
# the same workspace), then stops it. Writes bench/results/demo_timing.md and bench/demo_timing*.log.
#   bash bench/demo_timing.sh            # all of it: clone, then demo.sh from scratch
#   bash bench/demo_timing.sh install    # part 1 only: clone + the install (scripts/setup.sh), kept in $CLONE
#   bash bench/demo_timing.sh demo       # part 2: demo.sh in that clone, moved to this commit (install kept)
#   bash bench/demo_timing.sh rerun      # part 2 alone in a fresh clone whose .venv is a COPY of
#                                        # $DEMO_TIMING_VENV (not timed; said so in the report): when a
#                                        # fresh install does not fit (it took 46 min at load ~20 here).
#                                        # Writes bench/demo_timing_rerun$DEMO_TIMING_RUN.{md,log}.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
mode="${1:-all}"
work="${DEMO_TIMING_DIR:-/tmp/seedbed-demo-timing}"
clone="$work/seedbed"
port=8599
commit="$(git -C "$repo" rev-parse --short HEAD)"
load() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date +%s.%N; }
stamp() { echo "$1=$2" >> "$work/times.env"; }

suffix=""
if [ "$mode" = rerun ]; then
  suffix="_rerun${DEMO_TIMING_RUN:-}" venv="${DEMO_TIMING_VENV:-$repo/.venv}"  # DEMO_TIMING_RUN=2: a repeat
  rm -rf "$work" && mkdir -p "$work"
  git clone -q "$repo" "$clone" && git -C "$clone" checkout -q "$commit"
  cp -a "$venv" "$clone/.venv"  # then point its scripts' shebangs at the copy
  grep -rlI "^#!$venv/bin/python" "$clone/.venv/bin" | xargs -r sed -i "1s|^#!$venv/|#!$clone/.venv/|"
  sha256sum < "$clone/requirements.txt" | cut -c1-16 > "$clone/.venv/.seedbed-installed"
  stamp venv_note "\"the clone's .venv was copied from $venv before the clock started (packages not reinstalled, so the install is not part of this run)\""
elif [ "$mode" != demo ]; then
  rm -rf "$work" && mkdir -p "$work"
  git clone -q "$repo" "$clone" && git -C "$clone" checkout -q "$commit"
  stamp install_commit "$commit"; stamp install_load_start "\"$(load)\""; stamp install_t0 "$(now)"
fi
if [ "$mode" = install ]; then
  ( cd "$clone" && PIP_NO_CACHE_DIR=1 bash scripts/setup.sh --skip-models ) > "$repo/bench/results/demo_timing_install.log" 2>&1
  stamp install_t1 "$(now)"; stamp install_load_end "\"$(load)\""
  echo "install done: $(tail -1 "$repo/bench/results/demo_timing_install.log")"
  exit 0
fi
if [ "$mode" = demo ]; then  # the kept clone moves to this commit; the install stays
  git -C "$clone" fetch -q "$repo" HEAD && git -C "$clone" checkout -q FETCH_HEAD
fi
if [ -n "${DEMO_TIMING_BUNDLE:-}" ]; then  # a bundle file not yet committed (its import is what is timed)
  cp "$DEMO_TIMING_BUNDLE" "$clone/demo/c4_demo_signals.npz"
  stamp bundle_note "\"demo/c4_demo_signals.npz was copied in from $DEMO_TIMING_BUNDLE, not committed yet\""
fi
rm -rf "$work/cache" "$work/ws.duckdb"
stamp demo_commit "$commit"; stamp demo_load_start "\"$(load)\""; stamp demo_t0 "$(now)"
cd "$clone"
# Its own session (setsid), so the dashboard and its children stop with it.
PIP_NO_CACHE_DIR=1 SEEDBED_CACHE="$work/cache" SEEDBED_DB="$work/ws.duckdb" \
  setsid bash scripts/demo.sh --server.port "$port" > "$repo/bench/results/demo_timing$suffix.log" 2>&1 &
server_pid=$!
trap 'kill -- -"$server_pid" 2>/dev/null || true' EXIT
until curl -sf "http://localhost:$port/_stcore/health" >/dev/null 2>&1; do
  kill -0 "$server_pid" 2>/dev/null || { echo "demo.sh exited early; see bench/results/demo_timing$suffix.log" >&2; exit 1; }
  sleep 1
done
stamp demo_t_up "$(now)"
check="$(SEEDBED_DB="$work/ws.duckdb" .venv/bin/python - <<'PY'
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=120).run()
row = at.dataframe[0].value.set_index("corpus").loc["c4-demo"]
assert not at.exception and row["documents"] == 400 and row["askllm"] and row["density"] and row["map"], row
print(f"Home page: c4-demo, {row['documents']} documents, {row['embedded']} embedded, Ask-LLM "
      f"{bool(row['askllm'])}, density {bool(row['density'])}, map {bool(row['map'])}, {row['selections']} selection(s)")
PY
)"
stamp demo_t_checked "$(now)"; stamp demo_load_end "\"$(load)\""
stamp demo_check "\"$check\""
kill -- -"$server_pid" 2>/dev/null || true
stamp demo_log "demo_timing$suffix.log"
python3 "$repo/bench/demo_timing_report.py" "$work/times.env" "$repo/bench/results" > "$repo/bench/results/demo_timing$suffix.md"
cat "$repo/bench/results/demo_timing$suffix.md"
