#!/usr/bin/env bash
# `make fuzz`: runs each cargo-fuzz target of fuzz/ for FUZZ_SECONDS seconds (default 600), one
# after the other, then prints one line per target. Fails when a target crashed (a panic, a
# stack overflow, more than 2 GB of memory, or one input taking more than FUZZ_TIMEOUT seconds):
# the input is in fuzz/artifacts/<target>/; once fixed, keep it in
# connector/tests/fuzz_regressions/<target>/ so `cargo test` replays it.
#
# Seeds are read from fuzz/corpus/<target> (committed); what the fuzzer finds goes to
# fuzz/corpus-run/<target> (ignored by git), so later runs start from it. fuzz/dict/<target>.dict
# holds the tokens of each input language.
#   FUZZ_SECONDS=60 scripts/fuzz.sh            every target for a minute
#   FUZZ_TARGETS="paths" scripts/fuzz.sh       one target
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-600}
timeout=${FUZZ_TIMEOUT:-10}
targets=${FUZZ_TARGETS:-paths templates config}

if ! cargo +nightly --version > /dev/null 2>&1; then
    echo "fuzz: cargo-fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
fi
cargo +nightly fuzz build || exit 1

mkdir -p fuzz/target
summary=()
failed=0
for target in $targets; do
    log=fuzz/target/fuzz-$target.log
    mkdir -p "fuzz/corpus-run/$target"
    dict=()
    [[ -f fuzz/dict/$target.dict ]] && dict=(-dict="fuzz/dict/$target.dict")
    echo "fuzz $target: ${seconds} s (log: $log)"
    cargo +nightly fuzz run "$target" "fuzz/corpus-run/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout="$timeout" \
        -print_final_stats=1 "${dict[@]}" > "$log" 2>&1
    status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    if [[ $status -eq 0 ]]; then
        summary+=("fuzz $target: ${runs:-?} executions in ${took:-$seconds} s, no crash")
    else
        failed=1
        tail -n 40 "$log" | cut -c 1-300
        artifact=$(sed -n 's/.*Test unit written to \([^ ]*\).*/\1/p' "$log" | tail -n 1)
        summary+=("fuzz $target: CRASH after ${runs:-?} executions (exit $status), input: ${artifact:-see $log}")
    fi
done
printf '%s\n' "${summary[@]}"
exit $failed
