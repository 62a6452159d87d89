#!/usr/bin/env bash
# Resident memory per idle connection (issue #14, item 5): each library's
# echo_server on 127.0.0.1, CONNS connections opened by the neutral `idle`
# tool (handshake and one echo of SIZE bytes each), then left idle for WAIT
# seconds; the server's VmRSS growth divided by CONNS. REPS runs per library
# (a fresh server each).
#
# Usage: ./idle.sh
#   LIBS     servers (default: every echo_server library)
#   CONNS    connections (default 2000)
#   REPS     runs per library (default 3)
#   WORKERS  tokio servers: 0 = current-thread runtime (default), N = N workers
#   SIZE     the echoed message's bytes (default 20, at most 65,535)
#   WAIT     seconds idle before RSS is read (default 1)
set -euo pipefail
cd "$(dirname "$0")"
LIBS=${LIBS:-"rfc6455 rfc6455-driver rfc6455-tokio tungstenite fastwebsockets tokio-websockets"}
CONNS=${CONNS:-2000}
REPS=${REPS:-3}
WORKERS=${WORKERS:-0}
SIZE=${SIZE:-20}
WAIT=${WAIT:-1}
target=${CARGO_TARGET_DIR:-target}
port=${PORT:-19400}
# Two descriptors per connection across the two processes, plus slack.
ulimit -n $((CONNS + 256)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release --quiet --bin echo_server --bin idle
bin=$target/release
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for lib in $LIBS; do
    for rep in $(seq "$REPS"); do
        port=$((port + 1))
        "$bin/echo_server" "$lib" "$port" "$WORKERS" >"$log" 2>&1 &
        server=$!
        for _ in $(seq 100); do
            grep -q '^listening' "$log" && break
            sleep 0.05
        done
        line=$("$bin/idle" "$port" "$CONNS" "$server" "$SIZE" "$WAIT" || true)
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        echo "$lib rep $rep: $line"
    done
done
