#!/usr/bin/env bash
# Smoke-fuzz every cargo-fuzz target for a bounded time, FUZZ_JOBS at a time.
#
#   bash scripts/fuzz_smoke.sh             # from anywhere; 30 s per target
#   FUZZ_SECONDS=600 bash scripts/fuzz_smoke.sh frames driver
#
# Needs a nightly toolchain (`cargo +nightly`); installs cargo-fuzz with
# `cargo install cargo-fuzz --locked` when `cargo fuzz` is missing (1-1.5
# minutes). Each target starts from a scratch copy of its committed seeds
# (fuzz/corpus/<target>/seed-*), so the committed corpus never changes, and
# runs as a single libFuzzer process. Prints per-target executions, exec/s,
# coverage (cov) and features (ft) from libFuzzer's final stats, and exits
# non-zero if any target crashes, times out, runs out of memory or fails to
# run. Crash reproducers land in fuzz/artifacts/<target>/ (gitignored).
#
# Arguments: targets to run (default: all, from `cargo fuzz list`).
# Environment (all optional):
#   FUZZ_SECONDS     seconds per target (default 30)
#   FUZZ_JOBS        targets run side by side, each a single-threaded
#                    libFuzzer process (default: the number of cores)
#   FUZZ_TOOLCHAIN   toolchain for cargo (default nightly)
#   FUZZ_SANITIZER   cargo fuzz --sanitizer: none (default; the crate's one
#                    unsafe block, a UTF-8 conversion, is re-checked by a
#                    debug assertion that fuzz builds keep, and runs are ~5x
#                    faster) or address (what
#                    `cargo fuzz run` uses by default; catches memory errors
#                    in dependencies' unsafe code, e.g. zlib-rs, httparse)
#   FUZZ_TIMEOUT     seconds one input may take before it counts as a hang (default 10)
#   FUZZ_RSS_MB      memory limit in MiB (default 2048)
#   FUZZ_WORKDIR     scratch directory (default: a fresh mktemp -d, removed at
#                    the end); set it to keep and grow the corpora across runs
#   FUZZ_EXTRA_ARGS  extra libFuzzer flags, e.g. "-max_len=8192"

set -euo pipefail

cd "$(dirname "$0")/../fuzz"

seconds=${FUZZ_SECONDS:-30}
toolchain=${FUZZ_TOOLCHAIN:-nightly}
sanitizer=${FUZZ_SANITIZER:-none}
timeout=${FUZZ_TIMEOUT:-10}
rss=${FUZZ_RSS_MB:-2048}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
cargo=(cargo "+$toolchain")

if ! "${cargo[@]}" --version >/dev/null 2>&1; then
    echo "error: toolchain '$toolchain' is not installed (rustup toolchain install $toolchain)" >&2
    exit 2
fi
if ! "${cargo[@]}" fuzz --version >/dev/null 2>&1; then
    echo "== cargo-fuzz missing: cargo install cargo-fuzz --locked"
    start=$SECONDS
    cargo install cargo-fuzz --locked
    echo "== installed cargo-fuzz in $((SECONDS - start)) s"
fi

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <("${cargo[@]}" fuzz list)
fi

echo "== building ${#targets[@]} targets (sanitizer: $sanitizer)"
start=$SECONDS
"${cargo[@]}" fuzz build --sanitizer "$sanitizer"
echo "== built in $((SECONDS - start)) s"

if [[ -n ${FUZZ_WORKDIR:-} ]]; then
    work=$FUZZ_WORKDIR
    mkdir -p "$work"
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/rfc6455-fuzz.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi

# Fuzzes one target; its summary line goes to $work/$target.line, and
# $work/$target.failed marks a failure.
run_target() {
    local target=$1
    local corpus="$work/corpus/$target"
    local log="$work/$target.log"
    mkdir -p "$corpus"
    if [[ -d corpus/$target ]]; then
        cp -n corpus/"$target"/seed-* "$corpus"/ 2>/dev/null || true
    fi
    echo "== $target: ${seconds} s from $(find "$corpus" -type f | wc -l) inputs"
    local status=ok
    # shellcheck disable=SC2086
    if ! "${cargo[@]}" fuzz run --sanitizer "$sanitizer" "$target" "$corpus" -- \
        -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss" \
        -print_final_stats=1 ${FUZZ_EXTRA_ARGS:-} >"$log" 2>&1; then
        status=FAILED
    fi
    # Anything libFuzzer flags, even if the exit code were lost.
    if grep -qE '^==[0-9]+== ERROR: libFuzzer|^SUMMARY: libFuzzer|panicked at' "$log"; then
        status=FAILED
    fi
    local done_line cov ft corp runs eps rss_peak
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")
    corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$done_line")
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    rss_peak=$(sed -nE 's/^stat::peak_rss_mb: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    if [[ $status != ok ]]; then
        touch "$work/$target.failed"
        {
            echo "!! $target FAILED; last lines of $log:"
            grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written|Base64|^Error|^error' "$log" | head -n 20 || true
            tail -n 30 "$log"
        } >&2
    fi
    printf '%-18s %-7s %12s %8s %7s %7s %10s %6s\n' "$target" "$status" "${runs:--}" "${eps:--}" \
        "${cov:--}" "${ft:--}" "${corp:--}" "${rss_peak:--}" | tee "$work/$target.line"
}

running=0
for target in "${targets[@]}"; do
    rm -f "$work/$target.failed" "$work/$target.line"
    if ((running >= jobs)); then
        wait -n || true
        running=$((running - 1))
    fi
    run_target "$target" &
    running=$((running + 1))
done
wait

# One line per target for the summary, in the targets' order.
summary=()
failed=0
for target in "${targets[@]}"; do
    if [[ -e $work/$target.failed || ! -s $work/$target.line ]]; then
        failed=1
    fi
    summary+=("$(cat "$work/$target.line" 2>/dev/null || printf '%-18s %-7s' "$target" FAILED)")
done

echo
echo "== summary (${seconds} s per target, sanitizer: $sanitizer)"
printf '%-18s %-7s %12s %8s %7s %7s %10s %6s\n' target status runs exec/s cov ft corpus rss_mb
printf '%s\n' "${summary[@]}"
if [[ -n ${FUZZ_WORKDIR:-} ]]; then
    echo "corpora and logs kept in $work"
fi
exit "$failed"
