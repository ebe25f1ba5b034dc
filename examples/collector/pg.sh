# A throw-away PostgreSQL cluster for the collector's tests and load script. Source it, then
#   pg_start [extra postgres -c settings...]   sets PG_URL (or returns 1 with PG_SKIP_REASON)
#   pg_stop                                    stops the cluster and removes its directory
# The cluster lives in a temp dir, listens only on a Unix socket there, and runs as the
# invoking user — or, when that is root (CI), as the unprivileged user `nobody`, since the
# server refuses to run as root. PostgreSQL is installed from Debian when missing and
# possible. Nothing outside the temp dir is touched.

PG_DIR=""
PG_URL=""
PG_SKIP_REASON=""

pg_bin_dir() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
        fi
    done | sort -V | tail -n 1
}

# Runs a command as the cluster's owner.
pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u nobody -- "$@"
    else
        "$@"
    fi
}

pg_start() {
    local bin
    bin=$(pg_bin_dir)
    if [ -z "$bin" ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "installing postgresql from Debian (apt-get)" >&2
            if ! { apt-get install -y --no-install-recommends postgresql >/dev/null 2>&1 ||
                { apt-get update >/dev/null 2>&1 &&
                    apt-get install -y --no-install-recommends postgresql >/dev/null 2>&1; }; }; then
                PG_SKIP_REASON="apt-get could not install postgresql"
                return 1
            fi
            bin=$(pg_bin_dir)
        fi
        if [ -z "$bin" ]; then
            PG_SKIP_REASON="PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb) and cannot be installed here"
            return 1
        fi
    fi
    PG_BIN="$bin"
    PG_DIR=$(mktemp -d /tmp/consentgate-pg.XXXXXX)
    chmod 755 "$PG_DIR"
    if [ "$(id -u)" = 0 ]; then
        chown nobody "$PG_DIR"
    fi
    if ! pg_as_owner "$bin/initdb" -D "$PG_DIR/data" -U consentgate --auth=trust -E UTF8 \
        --locale=C --no-instructions >"$PG_DIR/initdb.log" 2>&1; then
        PG_SKIP_REASON="initdb failed: $(tail -n 3 "$PG_DIR/initdb.log" | tr '\n' ' ')"
        return 1
    fi
    local options="-c listen_addresses='' -c unix_socket_directories=$PG_DIR -c max_connections=200"
    local setting
    for setting in "$@"; do
        options="$options -c $setting"
    done
    if ! pg_as_owner "$bin/pg_ctl" -D "$PG_DIR/data" -o "$options" -l "$PG_DIR/server.log" \
        -w -t 60 start >/dev/null 2>&1; then
        PG_SKIP_REASON="the server did not start: $(tail -n 3 "$PG_DIR/server.log" | tr '\n' ' ')"
        return 1
    fi
    PG_BIN="$bin"
    PG_URL="postgres://consentgate@/postgres?host=$PG_DIR"
    export PG_URL PG_BIN
}

pg_stop() {
    if [ -n "$PG_DIR" ] && [ -d "$PG_DIR/data" ]; then
        pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    if [ -n "$PG_DIR" ]; then
        rm -rf "$PG_DIR"
    fi
    PG_DIR=""
}

# A fresh database on the cluster; prints its URL.
pg_new_database() {
    local name=$1
    pg_as_owner "$PG_BIN/psql" -h "$PG_DIR" -U consentgate -d postgres -qAt \
        -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
    echo "postgres://consentgate@/$name?host=$PG_DIR"
}
