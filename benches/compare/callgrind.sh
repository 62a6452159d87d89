#!/usr/bin/env bash
# Instructions per message under callgrind, for each library, immune to
# the machine's load. Usage: ./callgrind.sh [WORKLOAD] [N]
#   WORKLOAD  recv_binary_16_b (default), recv_text_16_b, send_binary_16_b, ...
#   N         messages (default 100000, rounded up to whole batches)
#   LIBS      libraries to run (default: all seven)
# Profiles stay in target/callgrind/ for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")"
workload=${1:-recv_binary_16_b}
n=${2:-100000}
cargo build --release --quiet --bin callgrind
bin=${CARGO_TARGET_DIR:-target}/release/callgrind
out=${CARGO_TARGET_DIR:-target}/callgrind
mkdir -p "$out"
echo "| library | $workload: instructions / message |"
echo "| --- | ---: |"
for lib in ${LIBS:-rfc6455 rfc6455-driver rfc6455-tokio rfc6455-stream tungstenite fastwebsockets tokio-websockets}; do
    file="$out/$workload-$lib.out"
    msgs=$(valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured*' \
        --callgrind-out-file="$file" "$bin" "$lib" "$workload" "$n" 2>/dev/null | awk '{print $3}')
    ir=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    echo "| $lib | $((ir / msgs)) |"
done
