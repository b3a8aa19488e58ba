#!/bin/sh
# Quick start 2: install, build, and run every test suite (unit, cli,
# reference against scikit-learn, install, mpi, fuzz replay, valgrind).
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
[ -d build-tests ] || meson setup build-tests -Dtests=enabled -Dmpi=enabled
meson compile -C build-tests
meson test -C build-tests --print-errorlogs
