#!/bin/sh
# A pipeline stage under SLURM: fit a mixture to an HDF5 dataset with
# every rank streaming its own rows, with a checkpoint that survives the
# time limit; then, under the same launcher, label every row into an
# HDF5 file and score the data; every exit status is checked.
#
#   sbatch scripts/slurm-pipeline.sh DATA.h5:/x K OUTDIR
#   LAUNCH="mpirun -np 4" scripts/slurm-pipeline.sh DATA.h5:/x K OUTDIR
#
# Exit status: 0 done (OUTDIR holds model.json, fit.json, labels.h5 with
# /labels and /proba, score.json); 3 stopped at the time limit after a
# checkpoint (under SLURM the rest is queued as a new job, which resumes);
# anything else: the failing stage's status, with a message.
#
#SBATCH --job-name=emgmm-pipeline
#SBATCH --nodes=4 --ntasks-per-node=1 --cpus-per-task=32
#SBATCH --time=04:00:00 --signal=TERM@120
set -u
if [ $# -ne 3 ]; then
    echo "usage: slurm-pipeline.sh DATA.h5:/dataset K OUTDIR" >&2
    exit 2
fi
data=$1 k=$2 out=$3
launch=${LAUNCH:-srun}      # srun inside a SLURM job
emgmm=${EMGMM:-emgmm}
# One rank per node, its cores as OpenMP threads.
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-${OMP_NUM_THREADS:-1}}"
mkdir -p "$out" || exit 1

stage() { # name, then the command; stops the pipeline on failure
    name=$1
    shift
    "$@"
    status=$?
    if [ "$status" -ne 0 ]; then
        echo "slurm-pipeline: $name failed with exit status $status" >&2
        exit "$status"
    fi
}

# 1. Fit. A checkpoint left by an earlier job is resumed, to the same
# model bit for bit as a fit that was never stopped.
resume=""
[ ! -f "$out/checkpoint.json" ] || resume="--resume $out/checkpoint.json"
# shellcheck disable=SC2086
$launch $emgmm fit "$data" -k "$k" --stream --tol 1e-4 --max-iter 500 \
    $resume --checkpoint "$out/checkpoint.json" \
    -o "$out/model.json" --json > "$out/fit.json"
status=$?
case $status in
    0) rm -f "$out/checkpoint.json" ;;
    3)  # SIGTERM at the time limit: the checkpoint is written
        if [ -n "${SLURM_JOB_ID:-}" ]; then
            sbatch "$0" "$@" || exit 1
        fi
        exit 3 ;;
    *)  echo "slurm-pipeline: fit failed with exit status $status" >&2
        exit "$status" ;;
esac

# 2. Label every row (each rank writes its rows of the one file) and
# score the data, under the same launcher.
# shellcheck disable=SC2086
stage predict $launch $emgmm predict "$out/model.json" "$data" --stream \
    -o "$out/labels.h5:/labels" --proba "$out/labels.h5:/proba"
# shellcheck disable=SC2086
stage score $launch $emgmm score "$out/model.json" "$data" --stream --json \
    > "$out/score.json"
echo "slurm-pipeline: done; $out/labels.h5 holds /labels and /proba"
