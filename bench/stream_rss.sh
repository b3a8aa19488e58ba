#!/bin/sh
# Peak memory of `emgmm fit` with the data loaded against --stream, for
# two file sizes (N and 4N rows): with --stream the peak must not grow
# with N. Same start (--init-model), --tol 0, a few iterations; and
# --stream with its own default start (k-means on an evenly spaced sample
# of the file), which must stay as flat. Then `emgmm predict` of the
# same file with the labels written to .npy, loaded against --stream
# (read and written a block of rows at a time): the two label files
# must be the same bytes. Then `emgmm impute` of a copy of the file with
# about 1% of its values missing (NaN at random places, a fixed seed),
# the completed data written to .npy, loaded against --stream: again the
# same bytes. Peak RSS from /usr/bin/time.
# Writes bench/results-stream.md and prints it.
#
#   bench/stream_rss.sh [--build-dir DIR] [--n N] [--d D] [--k K] [--iter I]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"
build=build-bench
n=1000000 d=16 k=8 iter=3
while [ $# -gt 0 ]; do
    case "$1" in
        --build-dir) build="$2"; shift ;;
        --n) n="$2"; shift ;;
        --d) d="$2"; shift ;;
        --k) k="$2"; shift ;;
        --iter) iter="$2"; shift ;;
        *) echo "stream_rss.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ -x /usr/bin/time ] || { echo "stream_rss.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
[ -d "$build" ] || meson setup "$build" -Dbuildtype=release >/dev/null
meson compile -C "$build" >/dev/null
emgmm="$build/tools/emgmm"
work=$(mktemp -d "${TMPDIR:-/tmp}/emgmm-stream-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
: > "$work/rows"
# `emgmm COMMAND m.json DATA -o OUT.npy` loaded (mode LOADED) and with
# --stream (mode STREAMED): a row each with the peak RSS and wall time,
# the streamed row saying SAME or DIFFER for the two outputs' bytes.
#   loaded_and_streamed COMMAND DATA LOADED STREAMED SAME DIFFER
loaded_and_streamed() {
    cmd=$1 data=$2 loaded=$3 streamed=$4 same_word=$5 differ_word=$6
    for mode in "$loaded" "$streamed"; do
        flag=""
        [ "$mode" = "$streamed" ] && flag="--stream"
        # shellcheck disable=SC2086
        /usr/bin/time -f "%M %e" -o "$work/time" "$emgmm" "$cmd" \
            "$work/m.json" "$data" $flag -o "$work/$mode.npy"
        set -- $(cat "$work/time")
        same=-
        if [ "$mode" = "$streamed" ]; then
            if cmp -s "$work/$loaded.npy" "$work/$streamed.npy"; then
                same=$same_word
            else
                same=$differ_word
            fi
        fi
        echo "$size $bytes $mode $1 $2 $same" >> "$work/rows"
    done
}
for size in "$n" $((4 * n)); do
    mkdir -p "$work/$size"
    /usr/bin/python3 bench/make_data.py "$size" "$d" "$k" 1 "$work/$size"
    bytes=$(stat -c %s "$work/$size/X.npy")
    for mode in load stream kmeans; do
        flag="--init-model $work/$size/init.json"
        [ "$mode" = stream ] && flag="$flag --stream"
        [ "$mode" = kmeans ] && flag="-k $k --stream"
        # shellcheck disable=SC2086
        /usr/bin/time -f "%M %e" -o "$work/time" "$emgmm" fit "$work/$size/X.npy" \
            --tol 0 --max-iter "$iter" \
            $flag --json -o "$work/m.json" > "$work/out.json"
        set -- $(cat "$work/time")
        ll=$(/usr/bin/python3 -c "import json,sys; print(repr(json.load(open(sys.argv[1]))['log_likelihood']))" "$work/out.json")
        echo "$size $bytes $mode $1 $2 $ll" >> "$work/rows"
    done
    loaded_and_streamed predict "$work/$size/X.npy" predict pstream \
        same-labels LABELS-DIFFER
    rm -f "$work/predict.npy" "$work/pstream.npy"
    # The data with gaps, written a block of rows at a time (numpy's
    # memory does not grow with N either).
    /usr/bin/python3 - "$work/$size/X.npy" "$work/$size/gaps.npy" <<'PY'
import sys
import numpy as np
x = np.load(sys.argv[1], mmap_mode="r")
out = np.lib.format.open_memmap(sys.argv[2], mode="w+", dtype=x.dtype,
                                shape=x.shape)
rng = np.random.default_rng(1)
step = 1 << 16
for i in range(0, x.shape[0], step):
    b = np.array(x[i:i + step])
    b[rng.random(b.shape) < 0.01] = np.nan
    out[i:i + step] = b
out.flush()
del out
PY
    loaded_and_streamed impute "$work/$size/gaps.npy" impute istream \
        same-filled FILLED-DIFFER
    rm -f "$work/impute.npy" "$work/istream.npy" "$work/$size/gaps.npy"
done
/usr/bin/python3 - "$work/rows" "$d" "$k" "$iter" <<'PY' | tee bench/results-stream.md
import sys
path, d, k, it = sys.argv[1:5]
print(f"# Peak memory, data loaded against --stream — D={d}, K={k}, full covariance, {it} iterations (the first two rows of each N from the same start)\n")
print("Command: `bench/stream_rss.sh` (defaults). 2 threads. Peak RSS from /usr/bin/time (%M); the file is float64 .npy.\n")
print("`predict` writes the labels to .npy with the model of the last fit; its last column says whether the --stream labels are the same bytes as the loaded run's. `impute` fills a copy of the file with about 1% of its values missing (NaN; about 15% of the rows have a gap) with that model and writes the completed data to .npy; its last column says whether --stream wrote the same bytes.\n")
print("| N | file | mode | peak RSS | wall | final mean log-likelihood |")
print("|---|---|---|---|---|---|")
for line in open(path):
    n, b, mode, rss, wall, ll = line.split()
    name = {"load": "fit (loaded)", "stream": "fit --stream",
            "kmeans": "fit --stream, default k-means start",
            "predict": "predict -o labels.npy (loaded)",
            "pstream": "predict --stream -o labels.npy",
            "impute": "impute -o filled.npy (loaded)",
            "istream": "impute --stream -o filled.npy"}[mode]
    ll = {"-": "", "same-labels": "labels: the same bytes",
          "LABELS-DIFFER": "labels DIFFER",
          "same-filled": "filled: the same bytes",
          "FILLED-DIFFER": "filled data DIFFER"}.get(ll, ll)
    print(f"| {int(n):,} | {int(b)/2**20:.0f} MiB | {name} | {int(rss)/1024:.0f} MiB | {float(wall):.1f} s | {ll} |")
PY
