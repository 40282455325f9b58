#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo-fuzz, libFuzzer, nightly toolchain) one after the
# other, each for SECONDS (default 600), and prints per target the run time, executions and
# crashes. Exits non-zero if any target crashed, hung or ran out of memory.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# The committed seeds in fuzz/corpus/<target>/ are read, never written: what the fuzzer
# finds goes to fuzz/corpus-work/<target>/ (kept between runs, not committed) and crashing
# inputs to fuzz/artifacts/<target>/. Reproduce one with
#   cargo +nightly fuzz run --debug-assertions TARGET fuzz/artifacts/TARGET/crash-...
# One fuzzer process at a time (libFuzzer's default of one job, one worker). Needs
# cargo-fuzz (`cargo install cargo-fuzz`). FUZZ_RSS_MB and FUZZ_TIMEOUT tune the limits;
# FUZZ_NO_BUILD=1 runs the binaries built before.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"

seconds="${1:-600}"
shift || true
rss_mb="${FUZZ_RSS_MB:-2048}"
timeout_s="${FUZZ_TIMEOUT:-10}"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz is missing; install it with: cargo install cargo-fuzz" >&2
    exit 2
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# Debug assertions on, so an integer overflow in a parser is a crash too.
mkdir -p logs
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
    build_start=$(date +%s)
    if ! cargo +nightly fuzz build --debug-assertions >logs/build.log 2>&1; then
        tail -40 logs/build.log >&2
        exit 2
    fi
    echo "built all targets in $(( $(date +%s) - build_start )) s"
fi
# The binaries are run directly, so nothing is rebuilt between targets.
bin_dir="${CARGO_TARGET_DIR:-$PWD/target}/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
for t in "${targets[@]}"; do
    if [ ! -x "$bin_dir/$t" ]; then
        echo "fuzz.sh: $bin_dir/$t is not built (unknown target, or FUZZ_NO_BUILD without a build?)" >&2
        exit 2
    fi
done

summary=()
failed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus-work/$t" "artifacts/$t" "corpus/$t"
    before=$(ls "artifacts/$t" | wc -l)
    log="logs/$t.log"
    start=$(date +%s)
    status=0
    "$bin_dir/$t" "corpus-work/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" \
        -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout="$timeout_s" \
        -max_len=16384 -print_final_stats=1 >"$log" 2>&1 || status=$?
    elapsed=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    crashes=$(( $(ls "artifacts/$t" | wc -l) - before ))
    note=""
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        if grep -q 'run interrupted' "$log"; then
            note=" (interrupted by a signal: run it again)"
        else
            crashes=1 # failed without an artifact: count it, see the log
        fi
    fi
    [ "$crashes" -eq 0 ] && [ -z "$note" ] || failed=1
    line=$(printf '%-14s %6s s %12s execs %3s crashes%s' "$t" "$elapsed" "${execs:-?}" "$crashes" "$note")
    echo "$line"
    summary+=("$line")
done

echo
echo "target           time         executions   crashes (logs in fuzz/logs/)"
printf '%s\n' "${summary[@]}"
exit "$failed"
