#!/bin/sh
# Quick start 2: install, build, and run every test suite (unit, cli,
# reference against scikit-learn and hmmlearn, install, mpi, fuzz replay,
# valgrind).
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
[ -d build-tests ] || meson setup build-tests -Dtests=enabled -Dmpi=enabled
meson compile -C build-tests
# hmmlearn, for the hmm-reference suite, from its unchanged source beside
# the repository when it is there (the suite skips otherwise).
if [ -x ../shared/peers/build-hmmlearn.sh ]; then
    ../shared/peers/build-hmmlearn.sh build-tests/hmmlearn >/dev/null
fi
meson test -C build-tests --print-errorlogs
