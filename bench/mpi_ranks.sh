#!/bin/sh
# 1 against 2 MPI ranks on this machine: the same fit (the same start,
# --tol 0, a fixed number of iterations) without mpirun, and under mpirun
# with 1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1 thread,
# interleaved, 3 times.
# Writes bench/results-mpi.md and prints it.
#
#   bench/mpi_ranks.sh [--build-dir DIR] [--n N] [--d D] [--k K] [--iter I]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"
build=build-mpi-bench
n=200000 d=32 k=16 iter=10 repeats=3
while [ $# -gt 0 ]; do
    case "$1" in
        --build-dir) build="$2"; shift ;;
        --n) n="$2"; shift ;;
        --d) d="$2"; shift ;;
        --k) k="$2"; shift ;;
        --iter) iter="$2"; shift ;;
        *) echo "mpi_ranks.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
command -v mpirun >/dev/null || { echo "mpi_ranks.sh: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 1; }
[ -d "$build" ] || meson setup "$build" -Dbuildtype=release -Dmpi=enabled -Dtests=disabled >/dev/null
meson compile -C "$build" >/dev/null
emgmm="$build/tools/emgmm"
work=$(mktemp -d "${TMPDIR:-/tmp}/emgmm-mpi-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 bench/make_data.py "$n" "$d" "$k" 1 "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=1
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# seconds per iteration of one run: the fit's own wall time / iterations
run() { # label, then the command's prefix
    label=$1; shift
    "$@" "$emgmm" fit "$work/X.npy" --init-model "$work/init.json" --tol 0 \
        --max-iter "$iter" --json -o "$work/m.json" > "$work/out.json"
    /usr/bin/python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(sys.argv[2], j['seconds']/j['n_iter'], repr(j['log_likelihood']))" \
        "$work/out.json" "$label" >> "$work/times"
}
: > "$work/times"
for r in $(seq "$repeats"); do
    OMP_NUM_THREADS=2 run alone env
    run np1t1 mpirun --bind-to none -np 1 -x OMP_NUM_THREADS=1
    run np1 mpirun --bind-to none -np 1 -x OMP_NUM_THREADS=2
    run np2 mpirun --bind-to none -np 2 -x OMP_NUM_THREADS=1
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
dgemm=""
[ -x build-bench/bench/dgemm_rate ] && dgemm=$(build-bench/bench/dgemm_rate 2>/dev/null | tail -1 || true)

/usr/bin/python3 - "$work/times" "$n" "$d" "$k" "$iter" "$load_start" "$load_end" <<'PY' | tee bench/results-mpi.md
import statistics, sys
path, n, d, k, it, l0, l1 = sys.argv[1:8]
rows = [l.split() for l in open(path)]
by = {}
for label, s, ll in rows:
    by.setdefault(label, []).append((float(s), ll))
base = statistics.median(s for s, _ in by["alone"])
names = {"alone": "no mpirun, 2 OpenMP threads",
         "np1t1": "mpirun -np 1, 1 thread",
         "np1": "mpirun -np 1, 2 OpenMP threads",
         "np2": "mpirun -np 2, 1 thread each"}
print(f"# 1 against 2 MPI ranks — N={n}, D={d}, K={k}, full covariance, {it} iterations from the same start\n")
print(f"Command: `bench/mpi_ranks.sh` (defaults). Open MPI, shared memory between the ranks; 2 cores; load {l0} at the start, {l1} at the end. Medians of {len(by['alone'])} interleaved runs.\n")
one = statistics.median(s for s, _ in by["np1t1"])
print("| run | s / iteration | range | vs. no mpirun | speed-up over 1 rank x 1 thread | final mean log-likelihood |")
print("|---|---|---|---|---|---|")
for key in ("alone", "np1t1", "np1", "np2"):
    v = [s for s, _ in by[key]]
    print(f"| {names[key]} | {statistics.median(v):.4f} | {min(v):.4f}–{max(v):.4f} | {statistics.median(v)/base:.2f}× | {one/statistics.median(v):.2f}× | {by[key][0][1]} |")
PY
