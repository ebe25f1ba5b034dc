#!/usr/bin/env bash
# Load figures of the reference collector (issue 15), measured with Debian's wrk:
#   bash examples/collector/load.sh            # about 2.5 minutes; DURATION=S per run (10)
# Every request is a new batch of 500 events (~6 KB gzip, load/batches.lua); each setup runs
# at 1, 8 and 64 connections on a fresh database: SQLite, PostgreSQL, and two collector nodes
# on one PostgreSQL (the connections split between them, as a load balancer would). Then
# /healthz alone, and one deletion naming 1,000 and one naming 20,000 ids.
# Prints one figures line and writes target/consentgate-collector-bench.json.
#
# The collector is built with opt-level 3 in target/collector-bench (the workspace's release
# profile optimises the mobile library for size). PostgreSQL keeps its durable defaults
# (fsync, synchronous_commit on); SQLite runs as the collector always does (WAL,
# synchronous=NORMAL).
set -euo pipefail
cd "$(dirname "$0")/../.."

here=examples/collector
# shellcheck source=pg.sh
source "$here/pg.sh"
DURATION=${DURATION:-10}

if ! command -v wrk >/dev/null 2>&1; then
    apt-get install -y --no-install-recommends wrk >/dev/null
fi
CARGO_PROFILE_RELEASE_OPT_LEVEL=3 CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo build -q --release -p consentgate-collector --locked --target-dir target/collector-bench
bin=target/collector-bench/release/consentgate-collector

work=$(mktemp -d /tmp/consentgate-collector-load.XXXXXX)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pg_stop
    rm -rf "$work"
}
trap cleanup EXIT

python3 "$here/load/figures.py" events "$work/events.gz"
runs="$work/runs.jsonl"
: >"$runs"
run_id=0

# Starts a collector on database $1; appends its URL to `urls`.
urls=()
start_node() {
    local n=${#pids[@]} out="$work/node-${#pids[@]}.out"
    "$bin" --listen 127.0.0.1:0 --db "$1" >"$out" 2>"$work/node-$n.err" &
    pids+=("$!")
    local url=""
    for _ in $(seq 300); do
        url=$(sed -n 's/^listening on //p' "$out")
        [ -n "$url" ] && break
        sleep 0.1
    done
    [ -n "$url" ] || { cat "$work/node-$n.err" >&2; exit 1; }
    urls+=("$url")
}

stop_nodes() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid"
        wait "$pid"
    done
    pids=()
    urls=()
}

# One wrk run of $2 connections at URL $1 with ids of run $3; prints its WRK json.
wrk_run() {
    wrk -t1 -c"$2" -d"${DURATION}s" --timeout 10s -s "$here/load/batches.lua" "$1" \
        -- "$work/events.gz" "$3" 2>"$work/wrk-$3.err" | sed -n 's/^WRK //p'
    sed -n 's/^BODY_BYTES //p' "$work/wrk-$3.err" >"$work/body-bytes"
}

# Runs setup $1 at 1, 8 and 64 connections over the nodes in `urls`, connections split.
measure() {
    local setup=$1 connections
    # A short warm-up, not counted.
    run_id=$((run_id + 1))
    DURATION=2 wrk_run "${urls[0]}" 8 "$run_id" >/dev/null
    for connections in 1 8 64; do
        local nodes=${#urls[@]}
        local each=$(( connections / nodes > 0 ? connections / nodes : 1 ))
        local total=$(( each * nodes ))
        local i wrks=()
        for i in $(seq 0 $((nodes - 1))); do
            run_id=$((run_id + 1))
            wrk_run "${urls[$i]}" "$each" "$run_id" >"$work/part-$i.json" &
            wrks+=("$!")
        done
        wait "${wrks[@]}"
        python3 - "$setup" "$total" "$work"/part-*.json >>"$runs" <<'EOF'
import json, sys
setup, total, parts = sys.argv[1], int(sys.argv[2]), [json.load(open(p)) for p in sys.argv[3:]]
print(json.dumps({
    "setup": setup, "connections": total, "nodes": len(parts),
    "requests": sum(p["requests"] for p in parts),
    "requests_per_s": sum(p["requests_per_s"] for p in parts),
    # Across nodes the slower node's percentile: conservative, not a merge.
    "p50_ms": max(p["p50_ms"] for p in parts), "p99_ms": max(p["p99_ms"] for p in parts),
    "errors": sum(p["errors"] for p in parts), "non_2xx": sum(p["non_2xx"] for p in parts),
}))
EOF
        rm -f "$work"/part-*.json
        tail -n 1 "$runs" >&2
    done
    # Every answered batch stored once: no duplicates, no refusal.
    curl -fsS "${urls[0]}/v1/stats" | python3 -c '
import json, sys
stats = json.load(sys.stdin)
assert stats["duplicates"] == 0, stats
assert stats["events"] == 500 * stats["batches"], stats
print("stored:", stats["batches"], "batches,", stats["events"], "events", file=sys.stderr)'
    python3 -c '
import json, sys
bad = [r for r in map(json.loads, open(sys.argv[1])) if r["errors"] or r["non_2xx"]]
assert not bad, bad' "$runs"
}

echo "== SQLite" >&2
start_node "sqlite:$work/load.sqlite"
measure sqlite
healthz=$(wrk -t2 -c64 -d5s "${urls[0]}/healthz" | sed -n 's/^Requests\/sec: *//p')
del_1k=$(python3 "$here/load/figures.py" deletion "${urls[0]}" 1000)
del_20k=$(python3 "$here/load/figures.py" deletion "${urls[0]}" 20000)
stop_nodes

if pg_start shared_buffers=512MB max_wal_size=8GB checkpoint_timeout=30min max_connections=200; then
    echo "== PostgreSQL" >&2
    start_node "$(pg_new_database load_one)"
    measure postgres
    stop_nodes
    echo "== two nodes on one PostgreSQL" >&2
    db=$(pg_new_database load_two)
    start_node "$db"
    start_node "$db"
    measure postgres-2-nodes
    stop_nodes
else
    echo "PostgreSQL figures skipped: $PG_SKIP_REASON" >&2
fi

mkdir -p target
python3 "$here/load/figures.py" report "$runs" "$healthz" "$del_1k" "$del_20k" \
    "$(cat "$work/body-bytes")" target/consentgate-collector-bench.json
