#!/bin/sh
# Runs the web UI tests in headless Chromium against the real server.
#   tests/browser/run.sh PATH_TO_logstream
# Installs what is missing first: Debian's chromium (apt) and playwright-core
# (npm, the version pinned in package-lock.json). Screenshots go to
# docs/screenshots/ (LS_SCREENSHOTS=DIR to put them elsewhere).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-${LOGSTREAM_BINARY:-}}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "usage: $0 PATH_TO_logstream (the built binary)" >&2
    exit 2
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

if [ ! -x /usr/bin/chromium ]; then
    echo "installing chromium (Debian package)" >&2
    if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
    $sudo apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium >&2
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "installing nodejs and npm (Debian packages)" >&2
    if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q nodejs npm >&2
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

cd "$here"
# unit tests of the pure modules (ANSI, groups, URLs), then the browser tests
LOGSTREAM_BINARY=$bin exec node --test --test-concurrency=1 unit.test.mjs ui.test.mjs
