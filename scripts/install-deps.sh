#!/bin/sh
# Installs what emgmm needs from Debian 12's packages.
#   scripts/install-deps.sh          build dependencies
#   scripts/install-deps.sh --test   and what the test suites need
set -eu
# libhdf5-dev: HDF5 input and output (-Dhdf5, built when it is there).
# libsleef-dev: vectorised exp and log (AVX2, AVX-512, 1.0-ULP bound) for
# the E-step's log-sum-exp (-Dsleef; without it, libm's scalar ones).
packages="gcc libc6-dev meson ninja-build pkg-config libopenblas-dev liblapacke-dev libjansson-dev libhdf5-dev libsleef-dev"
if [ "${1:-}" = "--test" ]; then
    # cmocka for the suites; Debian's scikit-learn for the reference suite.
    packages="$packages libcmocka-dev python3 python3-numpy python3-scipy python3-sklearn valgrind"
    # To build hmmlearn 0.3.3 (not packaged by Debian) from ../shared/peers
    # for the hmm-reference suite.
    packages="$packages g++ python3-dev pybind11-dev python3-pybind11"
    # pytest for the python suite (the Python package, python/; it builds
    # on python3-dev above).
    packages="$packages python3-pytest"
    # HDF5 files written by h5py and by the HDF5 tools (h5import,
    # h5repack) for the cli suite's HDF5 tests.
    packages="$packages python3-h5py hdf5-tools"
    # Open MPI for the mpi suite (emgmm fit under mpirun, 1 to 4 ranks).
    packages="$packages openmpi-bin libopenmpi-dev"
    # clang and its libFuzzer runtime (only recommended by clang-14, so
    # named here) for the fuzz runs of .ci/run.
    packages="$packages clang libclang-rt-14-dev"
fi
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "install-deps.sh: run as root, or install sudo" >&2
    exit 1
fi
# Skip apt when everything is there already (quick re-runs, offline use).
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    # shellcheck disable=SC2086
    $sudo apt-get install -y -q --no-install-recommends $missing
fi
