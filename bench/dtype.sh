#!/bin/sh
# float32 against float64 (emgmm_fit_f32 against emgmm_fit), side by side
# in one run: full covariance, the same float32-representable values and
# the same start, ITERS iterations (tol 0) per process, the dtypes
# alternating, REPEATS processes each (each process its own peak RSS).
# Prints a Markdown table: medians over every timed iteration, the peak
# RSS (median over the processes), and the final log-likelihoods.
#
#   bench/dtype.sh [BUILD_DIR [REPEATS [ITERS]]]
set -eu
build=${1:-build}
repeats=${2:-3}
iters=${3:-5}
bench="$build/bench/bench_emgmm"
[ -x "$bench" ] || { echo "dtype.sh: no $bench (build first)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for case in "100000 64 16" "20000 256 8"; do
    set -- $case
    for threads in 1 2; do
        for r in $(seq "$repeats"); do
            for dtype in float64 float32; do
                OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 \
                    "$bench" dtype "$dtype" "$1" "$2" "$3" "$iters" 1 \
                    "$threads" >> "$tmp/$1-$2-$3-$threads-$dtype.json"
            done
        done
    done
done
python3 - "$tmp" <<'PY'
import glob, json, os, statistics, sys
runs = {}
for path in glob.glob(os.path.join(sys.argv[1], "*.json")):
    n, d, k, t, dt = os.path.basename(path)[:-5].split("-")
    rows = [json.loads(line) for line in open(path)]
    runs[(int(n), int(d), int(k), int(t), dt)] = rows
print("| N | D | K | threads | float64 s/iter | float32 s/iter | speed-up "
      "| peak RSS float64 | peak RSS float32 | final ll float64 "
      "| final ll float32 | abs(dll)/abs(ll) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for key in sorted({k[:4] for k in runs}, key=lambda x: (-x[0], x[3])):
    r64, r32 = runs[key + ("float64",)], runs[key + ("float32",)]
    t = {}
    for name, rows in (("64", r64), ("32", r32)):
        its = [s for r in rows for s in r["iter_seconds"]]
        t[name] = (statistics.median(its),
                   statistics.median(r["maxrss_kb"] for r in rows) / 1024,
                   rows[0]["score"])
    rel = abs(t["32"][2] - t["64"][2]) / abs(t["64"][2])
    print(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {t['64'][0]:.3f} "
          f"| {t['32'][0]:.3f} | {t['64'][0] / t['32'][0]:.2f}x "
          f"| {t['64'][1]:.0f} MiB | {t['32'][1]:.0f} MiB "
          f"| {t['64'][2]:.10f} | {t['32'][2]:.10f} | {rel:.1e} |")
PY
