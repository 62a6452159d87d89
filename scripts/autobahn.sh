#!/usr/bin/env bash
# Run the Autobahn TestSuite (via the PyPI package kosoku) against our examples.
#
#   bash scripts/autobahn.sh            # from the repo root
#
# Half 1 ("server"): starts `echo_server 127.0.0.1:PORT` and drives it with
#   `kosoku -m fuzzingclient`.
# Half 2 ("client"): starts `kosoku -m fuzzingserver 127.0.0.1:PORT` and runs
#   `autobahn_client ws://127.0.0.1:PORT` against it (agent "rfc6455").
# Then prints per-group behavior counts for both halves and exits non-zero on
# any FAILED / NON-STRICT / ERROR, on UNIMPLEMENTED outside 12.* and 13.*, on a
# bad closing behavior, on a missing report, a missing case or zero cases.
#
# Environment (all optional):
#   AUTOBAHN_SERVER_CMD   command (bash syntax) for the server under test; the
#                         listen address "127.0.0.1:PORT" is appended as its last
#                         argument (default: target/release/examples/echo_server,
#                         i.e. what `cargo run --release --example echo_server` runs)
#   AUTOBAHN_CLIENT_CMD   command (bash syntax) for the client under test;
#                         "ws://127.0.0.1:PORT" is appended
#                         (default: target/release/examples/autobahn_client)
#   AUTOBAHN_SKIP_BUILD=1 don't run `cargo build --release --examples` (the build
#                         is also skipped when both commands above are overridden)
#   AUTOBAHN_MODE         both (default) | server | client: which half to run
#   AUTOBAHN_INCLUDE      space-separated case ids/globs to run (kosoku -i), e.g. "1.* 2.*"
#   AUTOBAHN_EXCLUDE      space-separated case ids/globs to skip (kosoku -x)
#   AUTOBAHN_ALLOW_UNIMPLEMENTED  globs where UNIMPLEMENTED is accepted
#                         (default "12.* 13.*"; set to "" to allow none)
#   AUTOBAHN_CLIENT_AGENT agent name the client reports (default rfc6455)
#   AUTOBAHN_PARALLELISM  kosoku fuzzingclient -p (default 1)
#   AUTOBAHN_OUT          output dir (default target/autobahn): reports in
#                         $AUTOBAHN_OUT/reports/{server,client}, logs in $AUTOBAHN_OUT/logs
#   AUTOBAHN_VENV         venv holding kosoku (default $AUTOBAHN_OUT/venv)
#   AUTOBAHN_PYTHON       python used to create the venv (default python3)
#   AUTOBAHN_RUN_TIMEOUT  seconds allowed for each half's test run (default 1200)
#   AUTOBAHN_START_TIMEOUT seconds to wait for a listener to come up (default 30)
set -euo pipefail

KOSOKU_VERSION=0.1.0
HOST=127.0.0.1

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
SCRIPTS=$ROOT/scripts

MODE=${AUTOBAHN_MODE:-both}
OUT=${AUTOBAHN_OUT:-target/autobahn}
VENV=${AUTOBAHN_VENV:-$OUT/venv}
PYTHON=${AUTOBAHN_PYTHON:-python3}
RUN_TIMEOUT=${AUTOBAHN_RUN_TIMEOUT:-1200}
START_TIMEOUT=${AUTOBAHN_START_TIMEOUT:-30}
PARALLELISM=${AUTOBAHN_PARALLELISM:-1}
AGENT=${AUTOBAHN_CLIENT_AGENT:-rfc6455}
ALLOW_UNIMPLEMENTED=${AUTOBAHN_ALLOW_UNIMPLEMENTED-12.* 13.*}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
SERVER_CMD=${AUTOBAHN_SERVER_CMD:-$(printf '%q' "$TARGET_DIR/release/examples/echo_server")}
CLIENT_CMD=${AUTOBAHN_CLIENT_CMD:-$(printf '%q' "$TARGET_DIR/release/examples/autobahn_client")}

case $MODE in
  both) RUN_SERVER=1; RUN_CLIENT=1 ;;
  server) RUN_SERVER=1; RUN_CLIENT=0 ;;
  client) RUN_SERVER=0; RUN_CLIENT=1 ;;
  *) echo "autobahn: AUTOBAHN_MODE must be both, server or client (got '$MODE')" >&2; exit 2 ;;
esac

log() { printf 'autobahn: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mkdir -p "$OUT/logs" "$OUT/reports"
OUT=$(cd "$OUT" && pwd)
LOGS=$OUT/logs

# ---------------------------------------------------------------- processes
# shellcheck source=scripts/lib/procs.sh
source "$ROOT/scripts/lib/procs.sh"

free_port() {
  "$VPY" - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# wait_listen PID PORT NAME LOGFILE : bounded wait until PORT accepts connections
wait_listen() {
  local pid=$1 port=$2 name=$3 logfile=$4 deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited before listening on $HOST:$port; its log:"
      tail -n 30 "$logfile" >&2 || true
      return 1
    fi
    if timeout 1 bash -c "exec 3<>/dev/tcp/$HOST/$port" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  log "$name did not listen on $HOST:$port within ${START_TIMEOUT}s; its log:"
  tail -n 30 "$logfile" >&2 || true
  return 1
}

# ---------------------------------------------------------------- kosoku venv
KOSOKU=$VENV/bin/kosoku
VPY=$VENV/bin/python
if ! { [ -x "$KOSOKU" ] && [ "$("$VPY" -c 'import importlib.metadata as m; print(m.version("kosoku"))' 2>/dev/null)" = "$KOSOKU_VERSION" ]; }; then
  log "installing kosoku==$KOSOKU_VERSION into $VENV"
  [ -x "$VPY" ] || "$PYTHON" -m venv "$VENV" || die "cannot create venv $VENV with $PYTHON"
  "$VPY" -m pip install --disable-pip-version-check -q "kosoku==$KOSOKU_VERSION" \
    || die "pip install kosoku==$KOSOKU_VERSION failed"
fi
"$KOSOKU" --help >/dev/null || die "kosoku is not runnable"

# ---------------------------------------------------------------- build
if [ "${AUTOBAHN_SKIP_BUILD:-0}" != 1 ] && { [ -z "${AUTOBAHN_SERVER_CMD:-}" ] || [ -z "${AUTOBAHN_CLIENT_CMD:-}" ]; }; then
  log "cargo build --release --examples"
  cargo build --release --examples || die "cargo build failed"
fi

# ---------------------------------------------------------------- case selection
KOSOKU_SEL=()
for c in ${AUTOBAHN_INCLUDE:-}; do KOSOKU_SEL+=(-i "$c"); done
for c in ${AUTOBAHN_EXCLUDE:-}; do KOSOKU_SEL+=(-x "$c"); done
ALLOW_ARGS=()
for c in $ALLOW_UNIMPLEMENTED; do ALLOW_ARGS+=(--allow-unimplemented "$c"); done
EXPECTED=$OUT/expected_cases.txt
"$VPY" "$SCRIPTS/autobahn_summary.py" expected "${KOSOKU_SEL[@]}" >"$EXPECTED" \
  || die "bad case selection (AUTOBAHN_INCLUDE='${AUTOBAHN_INCLUDE:-}' AUTOBAHN_EXCLUDE='${AUTOBAHN_EXCLUDE:-}')"
NCASES=$(wc -l <"$EXPECTED")
[ "$NCASES" -gt 0 ] || die "the case selection is empty"
log "$NCASES cases selected"

STATUS=0
SERVER_SECS=- CLIENT_SECS=-
SERVER_REPORT=$OUT/reports/server
CLIENT_REPORT=$OUT/reports/client

# ---------------------------------------------------------------- half 1: our server
if [ "$RUN_SERVER" = 1 ]; then
  rm -rf "$SERVER_REPORT"
  PORT=$(free_port)
  log "server half: starting '$SERVER_CMD $HOST:$PORT'"
  start_bg "$LOGS/echo_server.log" bash -c "$SERVER_CMD \"\$@\"" autobahn-server "$HOST:$PORT"
  SRV_PID=$BG_PID
  if wait_listen "$SRV_PID" "$PORT" echo_server "$LOGS/echo_server.log"; then
    log "server half: kosoku -m fuzzingclient $HOST:$PORT (timeout ${RUN_TIMEOUT}s)"
    t0=$SECONDS
    rc=0
    start_bg "$LOGS/fuzzingclient.log" timeout -k 10 "$RUN_TIMEOUT" "$KOSOKU" -m fuzzingclient \
      "$HOST:$PORT" -p "$PARALLELISM" -o "$SERVER_REPORT" "${KOSOKU_SEL[@]}"
    wait "$BG_PID" || rc=$?
    stop_pid "$BG_PID"
    SERVER_SECS=$((SECONDS - t0))
    # kosoku exits 1 whenever any case "did not pass" (UNIMPLEMENTED included),
    # so its exit code is only used to spot timeouts; the report is judged below.
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
      log "server half: kosoku fuzzingclient timed out after ${RUN_TIMEOUT}s"
      STATUS=1
    elif [ ! -f "$SERVER_REPORT/index.json" ]; then
      log "server half: kosoku fuzzingclient exited $rc without a report; its log:"
      tail -n 30 "$LOGS/fuzzingclient.log" >&2 || true
    fi
    if ! kill -0 "$SRV_PID" 2>/dev/null; then
      log "server half: echo_server exited during the run; its log:"
      tail -n 30 "$LOGS/echo_server.log" >&2 || true
      STATUS=1
    fi
  else
    STATUS=1
  fi
  stop_pid "$SRV_PID"
fi

# ---------------------------------------------------------------- half 2: our client
if [ "$RUN_CLIENT" = 1 ]; then
  rm -rf "$CLIENT_REPORT"
  PORT=$(free_port)
  log "client half: starting kosoku -m fuzzingserver $HOST:$PORT"
  start_bg "$LOGS/fuzzingserver.log" "$KOSOKU" -m fuzzingserver "$HOST:$PORT" \
    -o "$CLIENT_REPORT" "${KOSOKU_SEL[@]}"
  FZS_PID=$BG_PID
  if wait_listen "$FZS_PID" "$PORT" "kosoku fuzzingserver" "$LOGS/fuzzingserver.log"; then
    log "client half: running '$CLIENT_CMD ws://$HOST:$PORT' (timeout ${RUN_TIMEOUT}s)"
    t0=$SECONDS
    rc=0
    start_bg "$LOGS/autobahn_client.log" timeout -k 10 "$RUN_TIMEOUT" \
      bash -c "$CLIENT_CMD \"\$@\"" autobahn-client "ws://$HOST:$PORT"
    wait "$BG_PID" || rc=$?
    stop_pid "$BG_PID"
    if [ "$rc" != 0 ]; then
      log "client half: client exited $rc$([ "$rc" = 124 ] && echo " (timed out after ${RUN_TIMEOUT}s)"); its log:"
      tail -n 30 "$LOGS/autobahn_client.log" >&2 || true
      STATUS=1
    fi
    # After /updateReports kosoku writes the report and exits on its own
    # (bounded wait: 30s, or 10s when the client already failed).
    grace=30
    [ "$rc" = 0 ] || grace=10
    deadline=$((SECONDS + grace))
    while kill -0 "$FZS_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    CLIENT_SECS=$((SECONDS - t0))
    if kill -0 "$FZS_PID" 2>/dev/null; then
      log "client half: kosoku fuzzingserver still running ${grace}s after the client ended (no /updateReports?)"
      STATUS=1
    fi
    if [ ! -f "$CLIENT_REPORT/index.json" ]; then
      log "client half: kosoku fuzzingserver wrote no report; its log:"
      tail -n 30 "$LOGS/fuzzingserver.log" >&2 || true
    fi
  else
    STATUS=1
  fi
  stop_pid "$FZS_PID"
fi

# ---------------------------------------------------------------- summary
if [ "$RUN_SERVER" = 1 ]; then
  "$VPY" "$SCRIPTS/autobahn_summary.py" check \
    --label "server ($(basename "${SERVER_CMD%% *}") vs kosoku fuzzingclient, ${SERVER_SECS}s)" \
    --index "$SERVER_REPORT/index.json" --expected-ids "$EXPECTED" "${ALLOW_ARGS[@]}" || STATUS=1
fi
if [ "$RUN_CLIENT" = 1 ]; then
  "$VPY" "$SCRIPTS/autobahn_summary.py" check \
    --label "client (autobahn_client vs kosoku fuzzingserver, ${CLIENT_SECS}s)" \
    --index "$CLIENT_REPORT/index.json" --expected-ids "$EXPECTED" --agent "$AGENT" \
    "${ALLOW_ARGS[@]}" || STATUS=1
fi

echo
if [ "$STATUS" = 0 ]; then
  echo "autobahn: PASS (reports: $OUT/reports/{server,client}/index.html)"
else
  echo "autobahn: FAIL (reports: $OUT/reports, logs: $LOGS)"
fi
exit "$STATUS"
