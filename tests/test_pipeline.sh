#!/bin/sh
# The README's SLURM pipeline (scripts/slurm-pipeline.sh) run with mpirun
# as its launcher: HDF5 in, fit --stream with a checkpoint, predict and
# score under the same launcher, HDF5 out, exit statuses checked.
#   - a whole run: exit 0; the labels and probabilities equal predict's
#     without mpirun on the same model; the score equals score's;
#   - a run that finds a checkpoint (of a fit stopped after 2 iterations)
#     resumes it and ends with the model of the whole run, bit for bit;
#   - a stage that fails stops the pipeline with its exit status.
# Needs EMGMM_PROG, EMGMM_MPIRUN (as the mpi suite) and python3 with
# numpy and h5py.
#   test_pipeline.sh SCRIPT
set -eu
script=$1
prog=${EMGMM_PROG:?}
mpirun=${EMGMM_MPIRUN:?}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
work=$(mktemp -d "${TMPDIR:-/tmp}/emgmm-pipeline.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "test_pipeline: $*" >&2; exit 1; }

"$py" - <<'EOF'
import numpy as np, h5py
r = np.random.default_rng(7)
X = np.concatenate([r.normal(m, 1.0 + m / 10, (2500, 3)) for m in (0, 4, 9)])
r.shuffle(X)
with h5py.File("data.h5", "w") as f:
    f.create_dataset("x", data=X, chunks=(1000, 3), compression="gzip")
EOF

export EMGMM="$prog" OMP_NUM_THREADS=1
export LAUNCH="$mpirun --oversubscribe -np 2"

# 1. A whole run.
sh "$script" data.h5:/x 3 whole > whole.log 2>&1 || {
    cat whole.log >&2; fail "the pipeline failed"; }
for f in model.json fit.json labels.h5 score.json; do
    [ -s "whole/$f" ] || fail "whole/$f is missing"
done
[ ! -e whole/checkpoint.json ] || fail "the checkpoint was left behind"
"$prog" predict whole/model.json data.h5:/x -o alone.npy --proba alone-proba.npy
"$prog" score whole/model.json data.h5:/x --json > alone-score.json
"$py" - <<'EOF'
import json, numpy as np, h5py
with h5py.File("whole/labels.h5", "r") as f:
    labels, proba = f["labels"][()], f["proba"][()]
assert labels.dtype == np.int32 and labels.shape == (7500,)
assert np.array_equal(labels, np.load("alone.npy")), "labels differ"
assert np.allclose(proba, np.load("alone-proba.npy"), rtol=0, atol=1e-10)
assert len(set(labels.tolist())) == 3
a = json.load(open("whole/score.json"))
b = json.load(open("alone-score.json"))
assert abs(a["log_likelihood"] - b["log_likelihood"]) <= 1e-10 * abs(b["log_likelihood"])
fit = json.load(open("whole/fit.json"))
assert fit["n_samples"] == 7500 and fit["converged"]
EOF

# 2. A job that finds the checkpoint of an earlier one resumes it. The
# earlier job started from another start (random, seed 3) than the
# pipeline's, so only a resumed fit ends with that start's model.
mkdir resumed
$LAUNCH "$prog" fit data.h5:/x -k 3 --stream --init random --seed 3 \
    --tol 1e-4 --max-iter 2 --checkpoint resumed/checkpoint.json \
    -o /dev/null 2>/dev/null
[ -s resumed/checkpoint.json ] || fail "no checkpoint to resume"
$LAUNCH "$prog" fit data.h5:/x -k 3 --stream --init random --seed 3 \
    --tol 1e-4 --max-iter 500 -o uninterrupted.json
! cmp -s uninterrupted.json whole/model.json ||
    fail "the two starts give the same model: the check below proves nothing"
sh "$script" data.h5:/x 3 resumed > resumed.log 2>&1 || {
    cat resumed.log >&2; fail "the resumed pipeline failed"; }
cmp -s uninterrupted.json resumed/model.json ||
    fail "the resumed model differs from the uninterrupted fit's"

# 3. A failing stage: its status, and a message naming it.
status=0
sh "$script" missing.h5:/x 3 broken > broken.log 2>&1 || status=$?
[ "$status" -eq 2 ] || { cat broken.log >&2; fail "status $status, not 2"; }
grep -q "slurm-pipeline: fit failed with exit status 2" broken.log ||
    fail "no message naming the failed stage"
[ ! -e broken/model.json ] || fail "a model was written"
echo "test_pipeline: ok"
