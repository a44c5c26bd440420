#!/usr/bin/env bash
# pdftoppm, from Debian's poppler-utils, for tests/test_records.py (it renders
# the first page of a PDF record to an image). Without it, that one test is
# skipped, saying why.
#
#   .ci/poppler.sh   # install if missing; exit 0 when pdftoppm is there
set -euo pipefail

log() { echo "poppler.sh: $*" >&2; }
# shellcheck source=.ci/apt.sh
. "$(dirname "$0")/apt.sh"

if command -v pdftoppm >/dev/null; then
    exit 0
fi
apt_install "pdftoppm (poppler-utils)" poppler-utils
command -v pdftoppm >/dev/null
