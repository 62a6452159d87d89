#!/usr/bin/env bash
# Instructions per message under callgrind, for each library, immune to
# the machine's load. Usage: ./callgrind.sh [WORKLOAD] [N]
#   WORKLOAD  recv_binary_16_b (default), recv_text_16_b, send_binary_16_b, ...
#   N         messages (default 100000, rounded up to whole batches)
#   LIBS      libraries to run (default: all seven)
#   REP_MOVSB 1: leave glibc's memcpy and memset as they are (see below)
# Profiles stay in target/callgrind/ for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")"
# glibc copies 2 KiB or more with `rep movsb` (and fills with `rep
# stosb`), which callgrind counts once per byte: a library that reads its
# input in big chunks looked up to 2x costlier per 1 KiB message than one
# whose reads stay under the threshold (benches/README.md, "callgrind and
# rep movsb"). With the thresholds out of reach every copy and fill is a
# vector loop, for every library.
if [[ ${REP_MOVSB:-0} != 1 ]]; then
    export GLIBC_TUNABLES=${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.cpu.x86_rep_movsb_threshold=100000000:glibc.cpu.x86_rep_stosb_threshold=100000000
fi
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
