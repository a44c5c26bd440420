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
URL="redis://127.0.0.1:$PORT/0"

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
    command -v redis-cli >/dev/null && [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ]
}

case "${1:-}" in
    start)
        install_packages
        if ! is_running; then
            mkdir -p "$DIR"
            redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save '' \
                --appendonly no --daemonize yes --pidfile "$DIR/redis.pid" \
                --logfile "$DIR/redis.log" >&2
            for _ in $(seq 50); do
                is_running && break
                sleep 0.1
            done
            is_running || { log "the server did not start (see $DIR/redis.log)"; exit 1; }
        fi
        echo "$URL"
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
