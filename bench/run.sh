#!/bin/sh
# The whole benchmark in one command, from the repository root or anywhere:
#
#   bench/run.sh            full run (under 25 minutes on 2 cores); writes
#                           bench/results-latest.md, bench/results-latest.json,
#                           bench/scaling.svg, bench/results-missing.md and
#                           bench/results-hmm.{md,json}, and prints the
#                           Markdown
#   bench/run.sh --quick    tiny sizes of every part (about a minute), a smoke
#                           test; writes into BUILD/bench-quick/ instead
#   bench/run.sh --only hmm emgmm's HMM against hmmlearn 0.3.3 alone (about
#                           7 minutes): bench/results-hmm.{md,json}
#
# Options: --no-install (do not try to apt-get install missing peers),
#          --build-dir DIR (default build-bench), --data-dir DIR (default
#          $TMPDIR/emgmm-bench-data: a cache of the generated data sets,
#          reused while bench/make_data.py and bench/make_hmm_data.py are
#          unchanged; the full run keeps about 1.5 GB there), --only PARTS
#          (comma-separated: dgemm, peers, align, scaling, ops, rss,
#          threads, missing, hmm), --out-dir DIR (where the results go
#          instead, e.g. for a partial run that must not replace the full
#          run's files).
#
# Steps: bench/install-peers.sh (missing Debian packages; a peer that is
# still missing is reported as "missing" in the tables), meson setup and
# compile of bench_emgmm, bench_missing, bench_hmm and dgemm_rate in the
# build folder, then bench/bench.py (which also compiles the Armadillo and
# OpenCV drivers), then bench_missing (the cost of an EM iteration by
# missing fraction, about 3 minutes; it makes its own data), then
# bench/hmm_bench.py (hmmlearn, which Debian does not package, is built
# from ../shared/peers into BUILD/hmmlearn by its build-hmmlearn.sh; where
# that folder or script is absent, the hmmlearn rows say "missing").
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"

quick=""
install=1
build=build-bench
data="${TMPDIR:-/tmp}/emgmm-bench-data"
only=""
out_dir=""
command="bench/run.sh${*:+ $*}"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --no-install) install="" ;;
        --build-dir) build="$2"; shift ;;
        --data-dir) data="$2"; shift ;;
        --only) only="$2"; shift ;;
        --out-dir) out_dir="$2"; shift ;;
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
else
    # Regenerates the build files if a meson.build changed since (meson
    # compile does not know a target that is newer than its build files).
    ninja -C "$build" build.ninja >/dev/null
fi
# The commit measured: the sources as they are when the build starts
# ("+changes" when src/ or include/ differ from it).
commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
if [ -n "$(git status --porcelain -- src include 2>/dev/null)" ]; then
    commit="$commit+changes"
fi
meson compile -C "$build" bench/bench_emgmm bench/bench_missing \
    bench/bench_hmm bench/dgemm_rate >/dev/null

if [ -n "$quick" ]; then
    out="$build/bench-quick"
    set -- --quick
else
    out="bench"
    set --
fi
if [ -n "$out_dir" ]; then
    out=$out_dir
fi

# "missing" is bench_missing's part, "hmm" hmm_bench.py's; the others are
# bench.py's.
missing=1
hmm=1
bench_parts=""
if [ -n "$only" ]; then
    missing=""
    hmm=""
    for part in $(echo "$only" | tr ',' ' '); do
        case "$part" in
            missing) missing=1 ;;
            hmm) hmm=1 ;;
            *) bench_parts="${bench_parts:+$bench_parts,}$part" ;;
        esac
    done
fi

if [ -z "$only" ] || [ -n "$bench_parts" ]; then
    "$python" "$here/bench.py" "$@" --build-dir "$build" \
        --data-dir "$data" --out-dir "$out" --command "$command" \
        ${bench_parts:+--only "$bench_parts"}
fi

if [ -n "$missing" ]; then
    mkdir -p "$out"
    md="$out/results-missing.md"
    start=$(date -u '+%Y-%m-%d %H:%M UTC')
    load_start=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)
    table=$(OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 \
        "$build/bench/bench_missing" "$@")
    load_end=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)
    {
        echo "# emgmm with missing values: cost per iteration by missing" \
            "fraction${quick:+ (quick smoke test: tiny sizes, not for comparison)} — $start"
        echo
        echo "- Command: \`$command\` (in the repository root)."
        echo "- emgmm at commit $commit (as built at the start);" \
            "$(nproc) cores; load average $load_start at the start," \
            "$load_end at the end."
        echo "- OPENBLAS_NUM_THREADS=2, OMP_NUM_THREADS=2, n_threads = 2;" \
            "what is measured: see the comment at the top of" \
            "bench/bench_missing.c."
        echo
        echo "$table"
    } >"$md"
    cat "$md"
    echo "run.sh: wrote $md" >&2
fi

if [ -n "$hmm" ]; then
    hmmlearn=""
    peers_script="$root/../shared/peers/build-hmmlearn.sh"
    if [ -f "$peers_script" ]; then
        hmmlearn=$(sh "$peers_script" "$build/hmmlearn") ||
            { echo "run.sh: building hmmlearn failed; going on without" >&2
              hmmlearn=""; }
    else
        echo "run.sh: ../shared/peers/build-hmmlearn.sh not found;" \
            "hmmlearn is reported as missing" >&2
    fi
    "$python" "$here/hmm_bench.py" "$@" --build-dir "$build" \
        --data-dir "$data" --out-dir "$out" --command "$command" \
        ${hmmlearn:+--hmmlearn "$hmmlearn"}
fi
