#!/usr/bin/env bash
# The collector's part of CI, run by .ci/test after the workspace's Rust tests:
#  1. a throw-away PostgreSQL cluster (pg.sh; installed from Debian if missing, run as an
#     unprivileged user) and the collector's PostgreSQL tests against it — the workspace run
#     skipped them, one line each;
#  2. schemathesis (pip, pinned) against the running collector, on SQLite and on PostgreSQL,
#     with the project's hooks (schemathesis/hooks.py): every check, bounded examples, a fixed
#     seed; any failure fails CI.
# Only the PostgreSQL parts are skipped, with one line saying why, when no server can be had.
set -euo pipefail
cd "$(dirname "$0")/../.."

here=examples/collector
# shellcheck source=pg.sh
source "$here/pg.sh"

SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES=${CONSENTGATE_SCHEMATHESIS_EXAMPLES:-100}

step() { printf '\n== collector: %s\n' "$*"; }

work=$(mktemp -d /tmp/consentgate-collector-ci.XXXXXX)
collector_pid=""
cleanup() {
    if [ -n "$collector_pid" ]; then
        kill -TERM "$collector_pid" 2>/dev/null || true
        wait "$collector_pid" 2>/dev/null || true
    fi
    pg_stop
    rm -rf "$work"
}
trap cleanup EXIT

cargo build -q -p consentgate-collector --locked
bin=target/debug/consentgate-collector

step "PostgreSQL tests"
have_pg=0
# Durability settings off: these tests are about behaviour, not surviving a power cut.
if pg_start fsync=off synchronous_commit=off full_page_writes=off; then
    have_pg=1
    echo "PostgreSQL at $PG_DIR"
    CONSENTGATE_TEST_PG_URL="$PG_URL" cargo test -q -p consentgate-collector --locked -- postgres
else
    echo "PostgreSQL tests skipped: $PG_SKIP_REASON"
fi

step "schemathesis $SCHEMATHESIS_VERSION"
venv=target/schemathesis-venv
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
        apt-get install -y --no-install-recommends python3 python3-venv >/dev/null
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# Starts the collector on `$1` and waits for its "listening on URL" line; sets collector_url.
collector_url=""
start_collector() {
    local db=$1 out="$work/collector.out"
    : >"$out"
    "$bin" --listen 127.0.0.1:0 --db "$db" >"$out" 2>"$work/collector.err" &
    collector_pid=$!
    local url=""
    for _ in $(seq 300); do
        url=$(sed -n 's/^listening on //p' "$out")
        [ -n "$url" ] && break
        if ! kill -0 "$collector_pid" 2>/dev/null; then
            cat "$work/collector.err" >&2
            return 1
        fi
        sleep 0.1
    done
    [ -n "$url" ] || { echo "collector did not start" >&2; return 1; }
    collector_url=$url
}

stop_collector() {
    kill -TERM "$collector_pid"
    wait "$collector_pid"
    collector_pid=""
}

run_schemathesis() {
    local engine=$1 db=$2
    start_collector "$db"
    local url=$collector_url
    echo "schemathesis against the collector on $engine ($url)"
    # Run from the temp dir: schemathesis leaves a cache directory where it runs.
    local root=$PWD
    (cd "$work" && PYTHONPATH="$root/$here/schemathesis" SCHEMATHESIS_HOOKS=hooks \
        "$root/$venv/bin/schemathesis" run "$root/$here/openapi.json" --url "$url" \
        --checks all --max-examples "$MAX_EXAMPLES" --seed 1 --workers 2 \
        --generation-database none --no-color)
    stop_collector
}

run_schemathesis SQLite "sqlite:$work/schemathesis.sqlite"
if [ "$have_pg" = 1 ]; then
    run_schemathesis PostgreSQL "$(pg_new_database schemathesis)"
else
    echo "schemathesis on PostgreSQL skipped: $PG_SKIP_REASON"
fi
