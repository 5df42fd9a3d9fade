# Phase headers with elapsed time for the setup and demo scripts (sourced, not run).
SETUP_T0="${SETUP_T0:-$(date +%s)}"
export SETUP_T0

elapsed_since() {  # "1 min 05 s" since the epoch second $1
  local s=$(( $(date +%s) - $1 ))
  if (( s >= 60 )); then printf '%d min %02d s' $((s / 60)) $((s % 60)); else printf '%d s' "$s"; fi
}

phase() {  # phase TITLE: a header line, with the time since the script started
  PHASE_T0=$(date +%s)
  printf '\n==> %s   [%s, %s since start]\n' "$1" "$(date +%H:%M:%S)" "$(elapsed_since "$SETUP_T0")"
}

done_phase() {
  printf '    done in %s\n' "$(elapsed_since "$PHASE_T0")"
}

drop_satisfied() {  # pip's output minus the "already satisfied" lines (never fails the pipeline)
  grep --line-buffered -v '^Requirement already satisfied' || true
}

with_ticker() {  # with_ticker CMD...: run CMD, printing a line every 20 s while it runs (pip's quiet install step)
  local start=$(date +%s)
  ( while sleep 20; do printf '    ... still working (%s)\n' "$(elapsed_since "$start")"; done ) &
  local ticker=$!
  local status=0
  "$@" || status=$?
  kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null || true
  return "$status"
}
