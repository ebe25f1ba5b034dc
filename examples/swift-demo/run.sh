#!/usr/bin/env bash
# Builds and runs the Swift demo of consentgate's Swift API against the
# reference collector on loopback:
#   examples/swift-demo/run.sh
# It reuses bindings-ios/swift-test.sh's functions (the host-built core, the
# generated bindings) and exits with the demo's status: 0 only if every step
# behaved as the SDK promises.
set -euo pipefail

DEMO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../bindings-ios/swift-test.sh
source "$DEMO_DIR/../../bindings-ios/swift-test.sh"

export PATH="/opt/swift/usr/bin:$PATH"
command -v swift >/dev/null || { cg_log "swift is not on PATH (a Swift toolchain is needed for this demo)"; exit 1; }
cg_build_native
cg_generate

work="$(mktemp -d "${TMPDIR:-/tmp}/consentgate-swift-demo.XXXXXX")"
collector_pid=""
cleanup() {
    [[ -n $collector_pid ]] && kill -9 "$collector_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The collector prints `listening on URL` first (examples/collector/README.md).
"$CG_COLLECTOR" --listen 127.0.0.1:0 --db "$work/collector.sqlite" >"$work/collector.out" 2>"$work/collector.err" &
collector_pid=$!
disown "$collector_pid"  # no "Killed" line from the shell at cleanup
url=""
for _ in $(seq 1 100); do
    url=$(sed -n 's/^listening on //p' "$work/collector.out" | head -1)
    [[ -n $url ]] && break
    sleep 0.1
done
[[ -n $url ]] || { cg_log "the collector did not start: $(cat "$work/collector.err")"; exit 1; }

cg_log "swift build (examples/swift-demo)"
(cd "$DEMO_DIR" && swift build -q)
echo
"$DEMO_DIR/.build/debug/ConsentGateDemo" "$CG_ROOT/examples/policies/example-kz.json" "$url" "$work/data"
