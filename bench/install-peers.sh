#!/bin/sh
# Installs what bench/run.sh needs from Debian 12's packages: the build
# tools, emgmm's own dependencies, and the reference implementations it
# compares against (python3-dev and pybind11-dev build hmmlearn, which
# Debian does not package, from ../shared/peers for the hmm part).
# Packages already installed are skipped, so a re-run
# does not touch apt.
#   bench/install-peers.sh          install what is missing
#   bench/install-peers.sh --check  only list what is missing (exit 1 if any)
set -eu
packages="gcc g++ meson ninja-build pkg-config libopenblas-dev liblapacke-dev
libjansson-dev python3 python3-numpy python3-scipy python3-sklearn
python3-dev pybind11-dev
libarmadillo-dev libopencv-dev r-base-core r-cran-mclust time"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -z "$missing" ]; then
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    echo "missing:$missing"
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "install-peers.sh: missing:$missing; run as root, or install sudo" >&2
    exit 1
fi
echo "install-peers.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing
