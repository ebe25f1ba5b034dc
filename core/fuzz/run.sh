#!/usr/bin/env bash
# Runs every fuzz target of consentgate for SECONDS each (default 60) and
# prints one figures line per target. Used by the soak mode of the reliability
# suites; see README.md. Exit status 1 if any target crashed (the input is
# kept in core/fuzz/artifacts/<target>/).
#
#   core/fuzz/run.sh 600
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain the
# sanitizer flags cargo-fuzz passes are unlocked with RUSTC_BOOTSTRAP=1.
set -euo pipefail
secs="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."                       # core/: cargo fuzz finds ./fuzz
export RUSTC_BOOTSTRAP=1
mkdir -p fuzz/corpus/policy fuzz/corpus/event_properties fuzz/corpus/ledger_verify fuzz/logs
cp ../examples/policies/*.json fuzz/corpus/policy/
# Seed the properties corpus with a few shapes apps really send.
printf '%s' '{"screen":"home"}' > fuzz/corpus/event_properties/seed-screen
printf '%s' '{"a":{"b":[1,2.5,"x",null,true]},"u":"\u00e9"}' > fuzz/corpus/event_properties/seed-nested
printf '%s' 'screen_view' > fuzz/corpus/event_properties/seed-name
cargo fuzz build
failed=0
for t in policy event_properties ledger_verify; do
    extra=()
    [ "$t" = policy ] && extra=(-dict=fuzz/policy.dict)
    log="fuzz/logs/$t.log"
    if cargo fuzz run "$t" -- -max_total_time="$secs" -print_final_stats=1 "${extra[@]}" >"$log" 2>&1; then
        status="0 crashes"
    else
        status="CRASHED (see $log and fuzz/artifacts/$t/)"
        failed=1
    fi
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1)"
    echo "fuzz $t: ${runs:-?} runs in ${secs}s (${rate:-?} execs/s, ${cov:-cov: ?}), $status"
done
exit "$failed"
