# Sourced by .ci/postgres.sh, .ci/redis.sh and .ci/poppler.sh (which define `log`).
#
#   apt_install NAME PACKAGE...   install Debian packages for NAME, or explain why not
apt_install() {
    local name="$1"
    shift
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "$name is not installed and cannot be installed here (needs root and apt-get)"
        return 1
    fi
    log "installing $name from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "$@" >&2
}
