#!/usr/bin/env bash
# Interoperability checks between this crate and other WebSocket implementations.
#
#   bash scripts/interop.sh            # from anywhere; installs what it needs
#
# Their clients against our server (target/release/examples/echo_server):
#   node-ws       Node `ws` client            (scripts/interop/node_client.js + checks.js)
#   node-builtin  Node's own WebSocket client (undici; scripts/interop/node_builtin_client.js)
#   py-websockets Python `websockets` client  (scripts/interop/py_client.py)
#   chromium      headless Chromium's own WebSocket, in a page served from
#                 127.0.0.1 by scripts/interop/browser_host.js, which also
#                 collects the page's results (chromium.html + checks.js)
#   firefox       headless Firefox ESR's own WebSocket, the same page
#   chromeWSS     headless Chromium's WebSocketStream (chromium_stream.html)
#                 against target/release/examples/stream_server (our
#                 WebSocketStream): the same checks, plus stream.cancel,
#                 stream.abort and stream.backpressure (the page stops
#                 reading for 2 s; the server's writes must wait)
#   bun           Bun's WebSocket client        (scripts/interop/bun_client.js)
# HTTP/2 (RFC 8441), against target/release/examples/h2_echo_server:
#   nodeh2c / nodeh2tls  Node's http2 client: extended CONNECT streams of one
#                 session (cleartext prior knowledge, then TLS with ALPN h2),
#                 masked frames built by hand (scripts/interop/node_h2_client.js)
#   chromeH2      headless Chromium over TLS (ALPN h2): the server's own page
#                 opens three wss:// WebSockets; they must arrive as extended
#                 CONNECTs on the HTTP/2 connection that served the page
# Our client (target/release/examples/interop_client) against their servers:
#   node-ws       scripts/interop/node_server.js
#   py-websockets scripts/interop/py_server.py
#   bun           Bun.serve, uWebSockets underneath (scripts/interop/bun_server.js)
#
# Checks, each run by every client: subprotocol (offer chat.v2, chat.v1; expect
# chat.v2), text.N and binary.N echoed intact for N in 0 1 125 126 127 65535
# 65536 65537 1048576 (text: exactly N UTF-8 bytes, mostly multibyte),
# text.multibyte ("κόσμε 🎉 U+10FFFF"), close.client (client closes 4000
# "bye ✓", sees the server's close 4000 "bye ✓", wasClean) and, against their
# servers only (our echo server never starts a close), close.server (the
# client sends "please close", the server closes 4001 "server bye ✓", the
# client sees that code and reason, wasClean).
#
# Prints a table (check × peer/direction) and exits non-zero on any FAIL or
# missing result.
#
# Installs, when missing: Debian's chromium and firefox-esr (apt-get, needs
# root), `ws` into $INTEROP_OUT/node and `bun` into $INTEROP_OUT/bun (npm, no
# lock file), `websockets` into $INTEROP_OUT/venv.
#
# Environment (all optional):
#   INTEROP_SKIP_BUILD=1     don't run `cargo build --release --features tokio,http2 --examples`
#   INTEROP_PEERS            which peers to run (default "node nodebuiltin python chromium firefox bun")
#   INTEROP_OUT              output dir (default target/interop): logs in $INTEROP_OUT/logs
#   INTEROP_PYTHON           python used to create the venv (default python3)
#   INTEROP_CHROMIUM         browser binary (default: chromium on PATH, else installed with apt)
#   INTEROP_FIREFOX          browser binary (default: firefox-esr or firefox on PATH, else apt)
#   INTEROP_START_TIMEOUT    seconds to wait for a listener (default 30)
#   INTEROP_CLIENT_TIMEOUT   seconds allowed for each client run (default 120)
set -euo pipefail

WS_VERSION=8.18.3
WEBSOCKETS_VERSION=15.0.1
BUN_VERSION=1.4.5
HOST=127.0.0.1

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
HERE=$ROOT/scripts/interop

OUT=${INTEROP_OUT:-target/interop}
PEERS=" ${INTEROP_PEERS:-node nodebuiltin python chromium firefox bun} "
PYTHON=${INTEROP_PYTHON:-python3}
START_TIMEOUT=${INTEROP_START_TIMEOUT:-30}
CLIENT_TIMEOUT=${INTEROP_CLIENT_TIMEOUT:-120}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

log() { printf 'interop: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
peer_on() { [[ $PEERS == *" $1 "* ]]; }

mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
LOGS=$OUT/logs
rm -f "$LOGS"/*
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
ECHO_SERVER=$TARGET_DIR/release/examples/echo_server
OUR_CLIENT=$TARGET_DIR/release/examples/interop_client
STREAM_SERVER=$TARGET_DIR/release/examples/stream_server
H2_SERVER=$TARGET_DIR/release/examples/h2_echo_server

T_START=$SECONDS
INSTALL_TIMES=()
timed_install() { # NAME CMD... : run, record the seconds it took
  local name=$1 t0=$SECONDS
  shift
  "$@" || return 1
  INSTALL_TIMES+=("$name $((SECONDS - t0))s")
}

# ---------------------------------------------------------------- processes
# shellcheck source=scripts/lib/procs.sh
source "$ROOT/scripts/lib/procs.sh"

# run_fg LOGFILE CMD... : run in its own process group with a time limit; sets RC
run_fg() {
  local logfile=$1
  shift
  start_bg "$logfile" timeout -k 5 "$CLIENT_TIMEOUT" "$@"
  RC=0
  wait "$BG_PID" || RC=$?
  stop_pid "$BG_PID"
  if [ "$RC" = 124 ] || [ "$RC" = 137 ]; then
    echo "FAIL timeout: no result within ${CLIENT_TIMEOUT}s" >>"$logfile"
  fi
}

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_listen PID PORT NAME LOGFILE : bounded wait until the process logs that it
# listens on HOST:PORT (every server here prints that address once listening; no
# probe connection, which servers would log as a failed handshake)
wait_listen() {
  local pid=$1 port=$2 name=$3 logfile=$4 deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited before listening on $HOST:$port; its log:"
      tail -n 30 "$logfile" >&2 || true
      return 1
    fi
    if grep -q "$HOST:$port" "$logfile" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  log "$name did not listen on $HOST:$port within ${START_TIMEOUT}s; its log:"
  tail -n 30 "$logfile" >&2 || true
  return 1
}

# ---------------------------------------------------------------- installs
APT_UPDATED=0
apt_install() {
  [ "$(id -u)" = 0 ] || die "need root to apt-get install $*"
  if [ "$APT_UPDATED" = 0 ]; then
    timeout 300 apt-get update -qq || die "apt-get update failed"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed"
}

# npm_install DIR PACKAGE VERSION : PACKAGE@VERSION into DIR/node_modules (no lock file)
npm_install() {
  local dir=$1 package=$2 version=$3
  log "installing $package@$version into $dir"
  mkdir -p "$dir"
  printf '{ "name": "rfc6455-interop-%s", "private": true }\n' "$package" >"$dir/package.json"
  timed_install "npm $package@$version" timeout 300 npm install --prefix "$dir" --no-audit --no-fund \
    --no-package-lock --no-save --loglevel=error "$package@$version" || die "npm install $package@$version failed"
}

if peer_on node || peer_on nodebuiltin || peer_on chromium || peer_on firefox || peer_on bun; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    timed_install "apt nodejs npm" apt_install nodejs npm
  fi
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' || die "node >= 18 needed"
fi

if peer_on node; then
  NODE_DIR=$OUT/node
  NODE_PATH=$NODE_DIR/node_modules
  export NODE_PATH
  have_ws=$(node -e "try { console.log(require('$NODE_PATH/ws/package.json').version) } catch (e) {}" 2>/dev/null)
  [ "$have_ws" = "$WS_VERSION" ] || npm_install "$NODE_DIR" ws "$WS_VERSION"
fi

if peer_on python; then
  VENV=$OUT/venv
  VPY=$VENV/bin/python
  have_websockets=$("$VPY" -c 'import importlib.metadata as m; print(m.version("websockets"))' 2>/dev/null || true)
  if [ "$have_websockets" != "$WEBSOCKETS_VERSION" ]; then
    log "installing websockets==$WEBSOCKETS_VERSION into $VENV"
    install_websockets() {
      [ -x "$VPY" ] || "$PYTHON" -m venv "$VENV" || return 1
      timeout 300 "$VPY" -m pip install --disable-pip-version-check -q "websockets==$WEBSOCKETS_VERSION"
    }
    timed_install "pip websockets==$WEBSOCKETS_VERSION" install_websockets \
      || die "pip install websockets==$WEBSOCKETS_VERSION failed"
  fi
fi

if peer_on bun; then
  BUN_DIR=$OUT/bun
  BUN=$BUN_DIR/node_modules/.bin/bun
  have_bun=$("$BUN" --version 2>/dev/null || true)
  if [ "$have_bun" != "$BUN_VERSION" ]; then
    npm_install "$BUN_DIR" bun "$BUN_VERSION"
    "$BUN" --version >/dev/null || die "bun@$BUN_VERSION installed but does not run"
  fi
fi

if peer_on firefox; then
  FIREFOX=${INTEROP_FIREFOX:-$(command -v firefox-esr || command -v firefox || true)}
  if [ -z "$FIREFOX" ]; then
    log "installing firefox-esr (apt)"
    timed_install "apt firefox-esr" apt_install firefox-esr
    FIREFOX=$(command -v firefox-esr) || die "firefox-esr not found after apt-get install"
  fi
fi

if peer_on chromium; then
  CHROMIUM=${INTEROP_CHROMIUM:-$(command -v chromium || true)}
  if [ -z "$CHROMIUM" ]; then
    log "installing chromium (apt)"
    timed_install "apt chromium" apt_install chromium
    CHROMIUM=$(command -v chromium) || die "chromium not found after apt-get install"
  fi
fi

# ---------------------------------------------------------------- build
if [ "${INTEROP_SKIP_BUILD:-0}" != 1 ]; then
  log "cargo build --release --features tokio,http2 --examples"
  t0=$SECONDS
  cargo build --release --features tokio,http2 --examples || die "cargo build failed"
  BUILD_SECS=$((SECONDS - t0))
else
  BUILD_SECS=skipped
fi
[ -x "$ECHO_SERVER" ] || die "$ECHO_SERVER missing (build the examples)"
[ -x "$OUR_CLIENT" ] || die "$OUR_CLIENT missing (build the examples)"
if peer_on chromium; then
  [ -x "$STREAM_SERVER" ] || die "$STREAM_SERVER missing (build the examples with --features tokio)"
fi
if peer_on chromium || peer_on node; then
  [ -x "$H2_SERVER" ] || die "$H2_SERVER missing (build the examples with --features http2)"
fi
T_TESTS=$SECONDS

# ---------------------------------------------------------------- results
# One line per result in $RESULTS: COLUMN<TAB>CHECK<TAB>PASS|FAIL|SKIP<TAB>DETAIL
RESULTS=$OUT/results.tsv
: >"$RESULTS"
SIZES="0 1 125 126 127 65535 65536 65537 1048576"
CHECKS=(subprotocol)
for n in $SIZES; do CHECKS+=("text.$n"); done
for n in $SIZES; do CHECKS+=("binary.$n"); done
CHECKS+=(text.multibyte close.client close.server)
COLUMNS=()
INFO=()
declare -A COLUMN_TIME=()

# collect COLUMN LOGFILE RC [NO_SERVER_CLOSE] : turn a client's PASS/FAIL lines into results
collect() {
  local column=$1 file=$2 rc=$3 no_server_close=${4:-} verdict check detail
  COLUMNS+=("$column")
  while IFS= read -r line; do
    case $line in
      PASS\ * | FAIL\ *) ;;
      INFO\ *)
        INFO+=("$column ${line#INFO }")
        continue
        ;;
      *) continue ;;
    esac
    verdict=${line%% *}
    check=${line#* }
    detail=
    if [[ $check == *": "* ]]; then
      detail=${check#*: }
      check=${check%%: *}
    fi
    printf '%s\t%s\t%s\t%s\n' "$column" "$check" "$verdict" "$detail" >>"$RESULTS"
  done <"$file"
  if [ -n "$no_server_close" ]; then
    printf '%s\tclose.server\tSKIP\t%s\n' "$column" "our echo server never starts a close" >>"$RESULTS"
  fi
  if [ "$rc" != 0 ] && ! grep -q "^$column	[^	]*	FAIL" "$RESULTS"; then
    printf '%s\texit\tFAIL\t%s\n' "$column" "client exited $rc without a FAIL line (log: $file)" >>"$RESULTS"
  fi
}

# browser_column COLUMN NAME BROWSER ARGS... : the browser opens $PAGE
# (default chromium.html; served with checks.js by browser_host.js) on the
# server $PAGE_WS (default the echo server at $PORT); the argument PROFILE is
# replaced by a fresh profile directory
browser_column() {
  local column=$1 name=$2 t0=$SECONDS
  shift 2
  log "$name: ${PAGE:-chromium.html} → ${PAGE_WS:-echo_server}"
  local hport results=$LOGS/${name}_results.log profile=$OUT/$name-profile arg args=()
  hport=$(free_port)
  start_bg "$LOGS/${name}_host.log" node "$HERE/browser_host.js" "$hport" "$results"
  local host_pid=$BG_PID
  RC=0
  if wait_listen "$host_pid" "$hport" browser_host "$LOGS/${name}_host.log"; then
    rm -rf "$profile"
    mkdir -p "$profile"
    for arg in "$@"; do args+=("${arg//PROFILE/$profile}"); done
    start_bg "$LOGS/$name.log" "${args[@]}" \
      "http://$HOST:$hport/${PAGE:-chromium.html}?ws=${PAGE_WS:-ws://$HOST:$PORT/$name}"
    local browser_pid=$BG_PID deadline=$((SECONDS + CLIENT_TIMEOUT))
    while [ ! -f "$results.done" ] && ((SECONDS < deadline)); do
      if ! kill -0 "$browser_pid" 2>/dev/null; then
        log "$name exited early; its log:"
        tail -n 30 "$LOGS/$name.log" >&2 || true
        break
      fi
      sleep 0.2
    done
    if [ -f "$results.done" ]; then
      grep -q '^PASS' "$results.done" || RC=1
    else
      RC=1
      echo "FAIL timeout: the page reported no end within ${CLIENT_TIMEOUT}s (log: $LOGS/$name.log)" >>"$results"
    fi
    stop_pid "$browser_pid"
  else
    RC=1
    : >"$results"
  fi
  stop_pid "$host_pid"
  COLUMN_TIME[$column]=$((SECONDS - t0))
  collect "$column" "$results" "$RC" no-server-close
}

# start_server NAME BINARY PORT : starts one of our example servers on
# HOST:PORT (log $LOGS/NAME.log) and waits until it listens; sets SERVER_PID
start_server() {
  log "starting $1 $HOST:$3"
  start_bg "$LOGS/$1.log" "$2" "$HOST:$3"
  SERVER_PID=$BG_PID
  wait_listen "$SERVER_PID" "$3" "$1" "$LOGS/$1.log"
}

# ---------------------------------------------------------------- their clients → our server
if peer_on node || peer_on nodebuiltin || peer_on python || peer_on chromium || peer_on firefox || peer_on bun; then
  PORT=$(free_port)
  if start_server echo_server "$ECHO_SERVER" "$PORT"; then
    if peer_on node; then
      log "node ws client → echo_server"
      t0=$SECONDS
      run_fg "$LOGS/node_client.log" node "$HERE/node_client.js" "ws://$HOST:$PORT/node"
      COLUMN_TIME[node->us]=$((SECONDS - t0))
      collect "node->us" "$LOGS/node_client.log" "$RC" no-server-close
    fi
    if peer_on nodebuiltin; then
      log "node built-in WebSocket client → echo_server"
      t0=$SECONDS
      # Global from Node 22; Node 20 and 21 have it behind a flag.
      NODE_WS_FLAG=()
      node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' || NODE_WS_FLAG=(--experimental-websocket)
      run_fg "$LOGS/node_builtin_client.log" node "${NODE_WS_FLAG[@]}" "$HERE/node_builtin_client.js" \
        "ws://$HOST:$PORT/nodebuiltin"
      COLUMN_TIME[nodeWS->us]=$((SECONDS - t0))
      collect "nodeWS->us" "$LOGS/node_builtin_client.log" "$RC" no-server-close
    fi
    if peer_on python; then
      log "python websockets client → echo_server"
      t0=$SECONDS
      run_fg "$LOGS/py_client.log" "$VPY" "$HERE/py_client.py" "ws://$HOST:$PORT/python"
      COLUMN_TIME[py->us]=$((SECONDS - t0))
      collect "py->us" "$LOGS/py_client.log" "$RC" no-server-close
    fi
    if peer_on chromium; then
      browser_column "chrome->us" chromium "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --user-data-dir=PROFILE
    fi
    if peer_on firefox; then
      # Headless Firefox, a fresh profile, no remote control of another
      # instance; its own WebSocket runs the same page.
      browser_column "firefox->us" firefox env MOZ_HEADLESS=1 "$FIREFOX" --headless --no-remote -profile PROFILE
    fi
    if peer_on bun; then
      log "bun WebSocket client → echo_server"
      t0=$SECONDS
      run_fg "$LOGS/bun_client.log" "$BUN" "$HERE/bun_client.js" "ws://$HOST:$PORT/bun"
      COLUMN_TIME[bun->us]=$((SECONDS - t0))
      collect "bun->us" "$LOGS/bun_client.log" "$RC" no-server-close
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      printf 'echo_server\tserver alive\tFAIL\techo_server exited during the run (log: %s)\n' \
        "$LOGS/echo_server.log" >>"$RESULTS"
    fi
  else
    for column in node:node-\>us nodebuiltin:nodeWS-\>us python:py-\>us chromium:chrome-\>us firefox:firefox-\>us \
      bun:bun-\>us; do
      peer_on "${column%%:*}" || continue
      COLUMNS+=("${column#*:}")
      printf '%s\tstart\tFAIL\techo_server did not listen (log: %s)\n' "${column#*:}" "$LOGS/echo_server.log" \
        >>"$RESULTS"
    done
  fi
  stop_pid "$SERVER_PID"
fi

# ---------------------------------------------------------------- WebSocketStream: Chromium's ↔ ours
if peer_on chromium; then
  SPORT=$(free_port)
  if start_server stream_server "$STREAM_SERVER" "$SPORT"; then
    PAGE=chromium_stream.html PAGE_WS=ws://$HOST:$SPORT \
      browser_column "chromeWSS->us" chromium_stream "$CHROMIUM" --headless --no-sandbox --disable-gpu \
      --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync \
      --disable-dev-shm-usage --user-data-dir=PROFILE
  else
    COLUMNS+=("chromeWSS->us")
    printf '%s\tstart\tFAIL\tstream_server did not listen (log: %s)\n' "chromeWSS->us" "$LOGS/stream_server.log" \
      >>"$RESULTS"
  fi
  stop_pid "$SERVER_PID"
fi

# ---------------------------------------------------------------- HTTP/2 (RFC 8441): their clients → our h2_echo_server
# Columns of their own checks (H2_CHECKS), exempt from the WebSocket checks above.
H2_CHECKS=(h2.settings h2.connect h2.subprotocol h2.text h2.binary.125 h2.binary.65536 h2.binary.1048576 h2.close)
H2_COLUMNS=()
if peer_on node || peer_on chromium; then
  HPORT=$(free_port)
  if start_server h2_echo_server "$H2_SERVER" "$HPORT"; then
    if peer_on node; then
      for mode in h2c:http h2tls:https; do
        column="node${mode%%:*}->us"
        log "node http2 client ($column) → h2_echo_server"
        t0=$SECONDS
        H2_COLUMNS+=("$column")
        run_fg "$LOGS/node_${mode%%:*}_client.log" node "$HERE/node_h2_client.js" "${mode#*:}://$HOST:$HPORT"
        COLUMN_TIME[$column]=$((SECONDS - t0))
        collect "$column" "$LOGS/node_${mode%%:*}_client.log" "$RC"
      done
    fi
    if peer_on chromium; then
      # Chromium opens WebSockets over an HTTP/2 connection it already has
      # to the origin: the page comes from the server itself, over TLS with
      # ALPN h2 (its self-signed certificate ignored), and reports to it.
      column="chromeH2->us"
      log "chromium → h2_echo_server page (wss:// over HTTP/2)"
      t0=$SECONDS
      H2_COLUMNS+=("$column")
      rm -rf "$OUT/chromium-h2-profile"
      start_bg "$LOGS/chromium_h2.log" "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage \
        --ignore-certificate-errors --user-data-dir="$OUT/chromium-h2-profile" "https://$HOST:$HPORT/"
      browser_pid=$BG_PID
      deadline=$((SECONDS + CLIENT_TIMEOUT))
      while ! grep -q '^report from connection' "$LOGS/h2_echo_server.log" && ((SECONDS < deadline)); do
        kill -0 "$browser_pid" 2>/dev/null || break
        sleep 0.2
      done
      stop_pid "$browser_pid"
      sed -n 's/^report from connection [0-9]*: //p' "$LOGS/h2_echo_server.log" >"$LOGS/chromium_h2_results.log"
      RC=0
      grep -q '^PASS' "$LOGS/chromium_h2_results.log" || RC=1
      [ -s "$LOGS/chromium_h2_results.log" ] || echo "FAIL h2.browser: the page reported nothing within ${CLIENT_TIMEOUT}s (log: $LOGS/chromium_h2.log)" >"$LOGS/chromium_h2_results.log"
      COLUMN_TIME[$column]=$((SECONDS - t0))
      collect "$column" "$LOGS/chromium_h2_results.log" "$RC"
    fi
  else
    COLUMNS+=("h2")
    printf '%s\tstart\tFAIL\th2_echo_server did not listen (log: %s)\n' "h2" "$LOGS/h2_echo_server.log" >>"$RESULTS"
  fi
  stop_pid "$SERVER_PID"
fi

# ---------------------------------------------------------------- our client → their servers
# their_server COLUMN NAME LOGNAME CMD... : start CMD PORT, run our client against it
their_server() {
  local column=$1 name=$2 logname=$3 t0=$SECONDS port
  shift 3
  port=$(free_port)
  log "our client → $name server"
  start_bg "$LOGS/${logname}_server.log" "$@" "$port"
  local pid=$BG_PID
  if wait_listen "$pid" "$port" "$name server" "$LOGS/${logname}_server.log"; then
    run_fg "$LOGS/us_to_${logname}.log" "$OUR_CLIENT" --server-close "ws://$HOST:$port/rfc6455" chat.v2 chat.v1
    collect "$column" "$LOGS/us_to_${logname}.log" "$RC"
  else
    COLUMNS+=("$column")
    printf '%s\tstart\tFAIL\t%s server did not listen (log: %s)\n' "$column" "$name" \
      "$LOGS/${logname}_server.log" >>"$RESULTS"
  fi
  stop_pid "$pid"
  COLUMN_TIME[$column]=$((SECONDS - t0))
}
if peer_on node; then
  their_server "us->node" "node ws" node node "$HERE/node_server.js"
fi
if peer_on python; then
  their_server "us->py" "python websockets" py "$VPY" "$HERE/py_server.py"
fi
if peer_on bun; then
  their_server "us->bun" "bun" bun "$BUN" "$HERE/bun_server.js"
fi

# ---------------------------------------------------------------- summary
T_END=$SECONDS
echo
echo "interop: their client → our echo_server (X->us) and our interop_client → their server (us->X)"
echo "         peers: node = Node ws $WS_VERSION, nodeWS = Node's built-in WebSocket ($(node --version 2>/dev/null || echo -)), py = Python websockets $WEBSOCKETS_VERSION, chromium = $(
  [ -n "${CHROMIUM:-}" ] && "$CHROMIUM" --version 2>/dev/null | head -n1 | cut -d' ' -f1-2 || echo -), firefox = $(
  [ -n "${FIREFOX:-}" ] && "$FIREFOX" --version 2>/dev/null | head -n1 | cut -d' ' -f2-3 || echo -), bun = ${BUN_VERSION}"
for line in "${INFO[@]}"; do echo "         $line"; done
declare -A CELL=()
while IFS=$'\t' read -r column check verdict _; do
  key="$column|$check"
  # a check reported twice counts as its worst outcome
  if [ "${CELL[$key]:-}" != FAIL ]; then CELL[$key]=$verdict; fi
done <"$RESULTS"
printf '%-20s' check
for c in "${COLUMNS[@]}"; do printf ' %-12s' "$c"; done
echo
extra=()
while IFS=$'\t' read -r column check _; do
  [[ " ${COLUMNS[*]} " == *" $column "* ]] || continue
  known=0
  for k in "${CHECKS[@]}"; do [ "$k" = "$check" ] && known=1; done
  [ "$known" = 1 ] || [[ " ${extra[*]} " == *" $check "* ]] || extra+=("$check")
done <"$RESULTS"
PASSED=0 FAILED=0 SKIPPED=0
for check in "${CHECKS[@]}" "${extra[@]}"; do
  printf '%-20s' "$check"
  for c in "${COLUMNS[@]}"; do
    v=${CELL[$c|$check]:-}
    if [ -z "$v" ]; then
      # checks that are not per-client (user-agent lines) stay blank; the
      # HTTP/2 columns owe only the HTTP/2 checks (the browser's page one)
      if [[ " ${H2_COLUMNS[*]} " == *" $c "* ]]; then
        if [[ " ${H2_CHECKS[*]} " == *" $check "* && $c != chromeH2* ]]; then v=MISSING; else v=.; fi
      elif [[ " ${CHECKS[*]} " == *" $check "* ]]; then v=MISSING; else v=.; fi
    fi
    case $v in
      PASS) PASSED=$((PASSED + 1)) ;;
      SKIP) SKIPPED=$((SKIPPED + 1)); v=n/a ;;
      .) ;;
      *) FAILED=$((FAILED + 1)) ;;
    esac
    printf ' %-12s' "$v"
  done
  echo
done
while IFS= read -r column; do
  [[ " ${COLUMNS[*]} " == *" $column "* ]] && continue
  # results from outside the client columns (echo_server itself)
  while IFS=$'\t' read -r col check verdict detail; do
    [ "$col" = "$column" ] || continue
    printf '%-20s %s: %s %s\n' "$check" "$col" "$verdict" "$detail"
    if [ "$verdict" = FAIL ]; then FAILED=$((FAILED + 1)); fi
  done <"$RESULTS"
done < <(awk -F'\t' '!($1 in seen) { seen[$1]; print $1 }' "$RESULTS")
if [ "$FAILED" -gt 0 ]; then
  echo
  echo "failures:"
  awk -F'\t' '$3 == "FAIL" { printf "  %s %s: %s\n", $1, $2, $4 }' "$RESULTS"
  for column in "${COLUMNS[@]}"; do
    [[ " ${H2_COLUMNS[*]} " == *" $column "* ]] && continue
    missing=()
    for check in "${CHECKS[@]}"; do
      [ -n "${CELL[$column|$check]:-}" ] || missing+=("$check")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
      echo "  $column: no result for ${#missing[@]} checks (${missing[0]} … ${missing[-1]})"
    fi
  done
fi
echo
times=
for c in "${COLUMNS[@]}"; do times+="$c ${COLUMN_TIME[$c]:-?}s, "; done
echo "time: tests $((T_END - T_TESTS))s (${times%, }), build ${BUILD_SECS}$([ "$BUILD_SECS" = skipped ] || echo s), total $((T_END - T_START))s"
if [ "${#INSTALL_TIMES[@]}" -gt 0 ]; then
  installs=$(printf '%s, ' "${INSTALL_TIMES[@]}")
  echo "installs: ${installs%, }"
else
  echo "installs: none needed"
fi
echo "logs: $LOGS"
echo "interop: $PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" = 0 ] && [ "${#COLUMNS[@]}" -gt 0 ]
