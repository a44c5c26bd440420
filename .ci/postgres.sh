#!/usr/bin/env bash
# A private PostgreSQL server for the test suite, from Debian packages.
#
#   .ci/postgres.sh start   # install if missing, start, create role + database; print the URL
#   .ci/postgres.sh status  # exit 0 when the server is running
#   .ci/postgres.sh stop
#
# The server lives in its own data directory on its own port (not the
# distribution's "main" cluster), so it never disturbs a server that is
# already there and can be thrown away with the directory. All chatter goes to
# stderr; stdout carries only the URL.
set -euo pipefail

PGPORT="${ACCOUNTAPPS_CI_PGPORT:-55432}"
PGDIR="${ACCOUNTAPPS_CI_PGDIR:-/tmp/accountapps-ci-pg}"
DATA="$PGDIR/data"
ROLE=accountapps
URL="postgresql://$ROLE:$ROLE@127.0.0.1:$PGPORT/$ROLE"

log() { echo "postgres.sh: $*" >&2; }
# shellcheck source=.ci/apt.sh
. "$(dirname "$0")/apt.sh"

pg_bindir() {
    # The newest installed major version.
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

install_packages() {
    if [ -n "$(pg_bindir)" ]; then
        return 0
    fi
    apt_install PostgreSQL postgresql postgresql-client
}

# initdb and the server refuse to run as root: run them as the postgres user.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        # From /, which the postgres user can enter (the checkout may be private).
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

psql_admin() {
    "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres \
        -d postgres "$@"
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

is_running() {
    local bin
    bin="$(pg_bindir)"
    [ -n "$bin" ] && [ -s "$DATA/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

start() {
    install_packages
    local bin
    bin="$(pg_bindir)"
    mkdir -p "$PGDIR"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$PGDIR"
    fi
    if [ ! -s "$DATA/PG_VERSION" ]; then
        log "initdb $DATA"
        as_owner "$bin/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --no-sync >/dev/null
    fi
    if is_running; then
        PGPORT="$(cat "$PGDIR/port" 2>/dev/null || echo "$PGPORT")"
    else
        # Another server (someone else's) may hold the port, or a client socket
        # may use it as its local port (it is in Linux's ephemeral range), which
        # only binding reveals: take the next port, up to 20 times.
        local tries=0 mark
        while [ "$tries" -lt 20 ]; do
            if port_in_use "$PGPORT"; then
                log "port $PGPORT is taken; trying $((PGPORT + 1))"
            else
                log "starting on 127.0.0.1:$PGPORT"
                mark=$(wc -l 2>/dev/null < "$PGDIR/server.log" || echo 0)
                if as_owner "$bin/pg_ctl" -D "$DATA" -l "$PGDIR/server.log" -w -t 60 \
                    -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c max_connections=200" \
                    start >/dev/null; then
                    break
                fi
                if ! tail -n +"$((mark + 1))" "$PGDIR/server.log" | grep -q "could not bind"; then
                    log "the server did not start; see $PGDIR/server.log"
                    return 1
                fi
                log "port $PGPORT could not be bound; trying $((PGPORT + 1))"
            fi
            PGPORT=$((PGPORT + 1))
            tries=$((tries + 1))
        done
        if [ "$tries" -ge 20 ]; then
            log "no free port from ${ACCOUNTAPPS_CI_PGPORT:-55432} on"
            return 1
        fi
        echo "$PGPORT" > "$PGDIR/port"
    fi
    URL="postgresql://$ROLE:$ROLE@127.0.0.1:$PGPORT/$ROLE"
    if [ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
        psql_admin -c "CREATE ROLE $ROLE LOGIN PASSWORD '$ROLE'"
    fi
    # bench/seed.py checkpoints after a bulk load (PostgreSQL 15+; harmless to repeat).
    psql_admin -c "GRANT pg_checkpoint TO $ROLE" >/dev/null 2>&1 || true
    if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$ROLE'")" != 1 ]; then
        psql_admin -c "CREATE DATABASE $ROLE OWNER $ROLE"
    fi
    echo "$URL"
}

stop() {
    if is_running; then
        as_owner "$(pg_bindir)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
        log "stopped"
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) is_running ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
