#!/usr/bin/env bash
# The loopback echo comparison (issue #5): each library's echo server on
# 127.0.0.1, driven by the neutral loadgen, at every CONNS x SIZES point,
# REPS times (libraries interleaved within each repetition, so a change in
# the machine's load hits them all alike), then one Markdown table of the
# medians with the ratio of each rfc6455 variant to the fastest peer.
#
# Usage: ./echo.sh            (about 10 minutes with the defaults)
# Settings, from the environment:
#   LIBS         servers to compare   (default: all five, see echo_server)
#   CONNS        connections          (default: "1 16 64")
#   SIZES        payload bytes        (default: "20 1024 16384")
#   REPS         runs per point       (default: 3; the table shows medians)
#   DEPTH        messages in flight per connection (default: 16)
#   WARMUP_MS    uncounted, after the handshakes   (default: 500)
#   DURATION_MS  counted                           (default: 3000)
#   WORKERS      tokio servers: 0 = current-thread runtime (default), N = N workers
#   OUT          results directory    (default: target/echo)
#   TRIES        runs of a point at most (default: 3): a run is repeated while
#                it failed or the rest of the machine used more than
#   MAX_OTHERS   cores meanwhile (default: 0.2); the least disturbed is kept
# Raw results: $OUT/results.tsv; tables: $OUT/table.md (messages/s) and
# $OUT/cpu.md (server CPU per message); load: $OUT/load.txt.
set -euo pipefail
cd "$(dirname "$0")"

LIBS=${LIBS:-"rfc6455 rfc6455-driver rfc6455-tokio tungstenite fastwebsockets tokio-websockets"}
CONNS=${CONNS:-"1 16 64"}
SIZES=${SIZES:-"20 1024 16384"}
REPS=${REPS:-3}
DEPTH=${DEPTH:-16}
WARMUP_MS=${WARMUP_MS:-500}
DURATION_MS=${DURATION_MS:-3000}
WORKERS=${WORKERS:-0}
TRIES=${TRIES:-3}
MAX_OTHERS=${MAX_OTHERS:-0.2}
target=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$target/echo}
port=${PORT:-19200}

cargo build --release --quiet --bin echo_server --bin loadgen --bin echo_table
bin=$target/release
mkdir -p "$OUT"
results=$OUT/results.tsv
: >"$results"

server=
stop_server() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        for _ in $(seq 40); do
            kill -0 "$server" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        server=
    fi
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

# Starts LIB on a fresh port; fails if it is not listening within 5 s.
start_server() {
    port=$((port + 1))
    "$bin/echo_server" "$1" "$port" "$WORKERS" >"$OUT/server.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do
        grep -q '^listening' "$OUT/server.log" && return 0
        kill -0 "$server" 2>/dev/null || break
        sleep 0.05
    done
    echo "echo_server $1 did not start:" >&2
    cat "$OUT/server.log" >&2
    return 1
}

echo "before: $(uptime)" | tee "$OUT/load.txt" >&2
limit=$(((WARMUP_MS + DURATION_MS) / 1000 + 10))
for rep in $(seq "$REPS"); do
    for conns in $CONNS; do
        for size in $SIZES; do
            for lib in $LIBS; do
                kept= kept_others=
                for try in $(seq "$TRIES"); do
                    start_server "$lib"
                    line=$(timeout "$limit" "$bin/loadgen" "$port" "$conns" "$size" "$DEPTH" \
                        "$WARMUP_MS" "$DURATION_MS" "$server" || true)
                    alive=yes
                    kill -0 "$server" 2>/dev/null || alive=no
                    stop_server
                    line="${line:-error=timeout} tries=$try"
                    echo "rep $rep, $conns conns, $size B, $lib: $line" >&2
                    if [[ $line != *msgs_per_s=* ]]; then
                        echo "  (server still running: $alive; its log:)" >&2
                        sed 's/^/  | /' "$OUT/server.log" >&2
                        [ -z "$kept" ] && kept=$line
                        continue
                    fi
                    others=$(sed -n 's/.*others_cpu=\([0-9.]*\).*/\1/p' <<<"$line")
                    others=${others:-0}
                    if [ -z "$kept_others" ] || awk "BEGIN { exit !($others < $kept_others) }"; then
                        kept=$line kept_others=$others
                    fi
                    awk "BEGIN { exit !($others <= $MAX_OTHERS) }" && break
                done
                printf '%s\t%s\t%s\t%s\t%s\n' "$lib" "$conns" "$size" "$rep" "$kept" >>"$results"
            done
        done
    done
done
echo "after: $(uptime)" | tee -a "$OUT/load.txt" >&2

"$bin/echo_table" "$results" --cpu >"$OUT/cpu.md"
"$bin/echo_table" "$results" | tee "$OUT/table.md"
