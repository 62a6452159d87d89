#!/usr/bin/env bash
# The Autobahn server half over HTTP/2 (RFC 8441): kosoku speaks HTTP/1.1
# only, so its connections reach examples/h2_echo_server.rs through
# examples/h2_gateway.rs, which carries each as an extended CONNECT stream
# of one HTTP/2 (h2c) connection, frames untouched.
#   AUTOBAHN_SERVER_CMD=scripts/h2_autobahn_server.sh   (scripts/autobahn.sh appends HOST:PORT)
# Binaries from ${CARGO_TARGET_DIR:-target}/release/examples.
set -euo pipefail
listen=$1
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=${CARGO_TARGET_DIR:-target}/release/examples
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$bin/h2_echo_server" "127.0.0.1:$port" >"$log" 2>&1 &
backend=$!
trap 'kill "$backend" 2>/dev/null || true; rm -f "$log"' EXIT
# The backend prints its address once it listens (bounded wait).
for _ in $(seq 1 300); do
  grep -q "127.0.0.1:$port" "$log" && break
  kill -0 "$backend" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
"$bin/h2_gateway" "$listen" "127.0.0.1:$port"
