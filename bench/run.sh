#!/bin/sh
# The whole benchmark in one command, from the repository root or anywhere:
#
#   bench/run.sh            full run (under 20 minutes on 2 cores); writes
#                           bench/results-latest.md, bench/results-latest.json
#                           and bench/scaling.svg, and prints the Markdown
#   bench/run.sh --quick    tiny sizes of every part (about a minute), a smoke
#                           test; writes into BUILD/bench-quick/ instead
#
# Options: --no-install (do not try to apt-get install missing peers),
#          --build-dir DIR (default build-bench), --data-dir DIR (default
#          $TMPDIR/emgmm-bench-data: a cache of the generated data sets,
#          reused while bench/make_data.py is unchanged; the full run keeps
#          about 1.4 GB there), --only PARTS (comma-separated: dgemm, peers,
#          align, scaling, ops, rss, threads).
#
# Steps: bench/install-peers.sh (missing Debian packages; a peer that is
# still missing is reported as "missing" in the tables), meson setup and
# compile of bench_emgmm and dgemm_rate in the build folder, then
# bench/bench.py (which also compiles the Armadillo and OpenCV drivers).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"

quick=""
install=1
build=build-bench
data="${TMPDIR:-/tmp}/emgmm-bench-data"
only=""
command="bench/run.sh${*:+ $*}"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --no-install) install="" ;;
        --build-dir) build="$2"; shift ;;
        --data-dir) data="$2"; shift ;;
        --only) only="$2"; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$here/run.sh"; exit 0 ;;
        *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ -n "$install" ]; then
    "$here/install-peers.sh" ||
        echo "run.sh: could not install every peer; going on without" >&2
fi

# A Python with NumPy: Debian's first (another python3 on the PATH may lack
# it), then whatever python3 is found.
python=""
for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c "import numpy" 2>/dev/null; then
        python=$p
        break
    fi
done
if [ -z "$python" ]; then
    echo "run.sh: no python3 with numpy (apt-get install python3-numpy)" >&2
    exit 1
fi

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" >/dev/null
fi
meson compile -C "$build" bench/bench_emgmm bench/dgemm_rate >/dev/null

if [ -n "$quick" ]; then
    out="$build/bench-quick"
    set -- --quick
else
    out="bench"
    set --
fi
exec "$python" "$here/bench.py" "$@" --build-dir "$build" --data-dir "$data" \
    --out-dir "$out" --command "$command" ${only:+--only "$only"}
