#!/usr/bin/env bash
# A private Redis server for the shared rate-limit tests, from Debian packages.
#
#   .ci/redis.sh start   # install if missing, start; print the URL
#   .ci/redis.sh status  # exit 0 when the server answers
#   .ci/redis.sh stop
#
# Its own port and directory, no persistence: it never disturbs a server that
# is already there. All chatter goes to stderr; stdout carries only the URL.
set -euo pipefail

PORT="${ACCOUNTAPPS_CI_REDIS_PORT:-56379}"
DIR="${ACCOUNTAPPS_CI_REDIS_DIR:-/tmp/accountapps-ci-redis}"

log() { echo "redis.sh: $*" >&2; }
# shellcheck source=.ci/apt.sh
. "$(dirname "$0")/apt.sh"

install_packages() {
    if command -v redis-server >/dev/null; then
        return 0
    fi
    apt_install Redis redis-server
}

is_running() {
    # Bounded: a program on the port that is not Redis may never answer.
    command -v redis-cli >/dev/null && [ "$(timeout 2 redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ]
}

# The port a previous start settled on, if it moved off the default.
if [ -f "$DIR/port" ] && [ -z "${ACCOUNTAPPS_CI_REDIS_PORT:-}" ]; then
    PORT="$(cat "$DIR/port")"
fi

start_on() {  # start on $PORT; fail when it cannot bind (taken, even by a client socket)
    : > "$DIR/redis.log"
    redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save '' \
        --appendonly no --daemonize yes --pidfile "$DIR/redis.pid" \
        --logfile "$DIR/redis.log" >&2 || return 1
    for _ in $(seq 50); do
        is_running && return 0
        grep -qi "could not create server\|address already in use" "$DIR/redis.log" && return 1
        sleep 0.1
    done
    return 1
}

case "${1:-}" in
    start)
        install_packages
        mkdir -p "$DIR"
        if ! is_running; then
            # Our port may be another program's, or a client socket's local port
            # (it lies in Linux's ephemeral range): take the next, up to 20 times.
            for _ in $(seq 20); do
                start_on && break
                log "port $PORT could not be bound; trying $((PORT + 1))"
                PORT=$((PORT + 1))
            done
            is_running || { log "the server did not start (see $DIR/redis.log)"; exit 1; }
            echo "$PORT" > "$DIR/port"
        fi
        echo "redis://127.0.0.1:$PORT/0"
        ;;
    status)
        is_running
        ;;
    stop)
        if is_running; then
            redis-cli -p "$PORT" shutdown nosave >&2 || true
        fi
        ;;
    *)
        echo "usage: $0 start|status|stop" >&2
        exit 2
        ;;
esac
