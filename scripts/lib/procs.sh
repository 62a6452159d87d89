# Shared by the test scripts: background processes that always end.
#
# Every background process is started with setsid (own process group, so a
# wrapper and its children go together) and recorded in PIDS; the EXIT trap
# ends each of them by its id: TERM, a bounded wait, then KILL.
# shellcheck shell=bash
PIDS=()
alive() { kill -0 -- "-$1" 2>/dev/null || kill -0 "$1" 2>/dev/null; }
stop_pid() {
  local pid=$1 i
  if alive "$pid"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
# shellcheck disable=SC2329 # invoked by the EXIT trap
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_bg LOGFILE CMD... : start in background, sets BG_PID
start_bg() {
  local logfile=$1
  shift
  setsid "$@" </dev/null >"$logfile" 2>&1 &
  BG_PID=$!
  PIDS+=("$BG_PID")
}
