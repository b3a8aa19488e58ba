#!/bin/sh
# Quick start 1: install, build, and fit two components to the bundled
# demo data (animal sightings of two species), printing the fitted model.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -d build ] || meson setup build
meson compile -C build
build/tools/emgmm fit data/sightings.csv -k 2
