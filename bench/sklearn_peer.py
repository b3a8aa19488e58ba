#!/usr/bin/env python3
"""scikit-learn peer for the benchmark:
    bench/sklearn_peer.py X.npy init.json ITERS REPEATS [REG_COVAR]

Fits GaussianMixture(covariance_type='full') to X from exactly the start in
init.json (an emgmm model file) with tol=0, so every run does exactly ITERS
EM iterations, REPEATS times, and prints one JSON line:

  {"peer": "scikit-learn", "version": ..., "seconds_per_iter_median": ...,
   "iter_seconds": [...], "runs": [seconds of each .fit()],
   "score": score(X), "maxrss_kb": ...}

The start is given in full: weights_init, means_init and
precisions_init (inverse covariances, symmetrised). init_params='random' so
that scikit-learn does not run k-means first; it still computes one set of
parameters from random responsibilities (one M-step's work) before the
given ones overwrite them, and fit() ends with one more E-step for the
labels. So that this overhead does not count as iteration time, every
iteration is timed on its own: the model's _e_step is wrapped to record the
time of each call, and iteration i lasts from the start of E-step i to the
start of E-step i+1 (its E-step, M-step and lower bound; the last one ends
at the final E-step of fit()). seconds_per_iter_median is the median over
all ITERS * REPEATS iterations; seconds_fit_median is the whole .fit().
With BENCH_BUDGET_S set in the environment, the repeats stop once the fits
have taken that many seconds in all (at least one runs); "repeats" in the
output is the number that ran.
BLAS threads follow OPENBLAS_NUM_THREADS / OMP_NUM_THREADS as usual.
"""
import json
import os
import resource
import statistics
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture


def main(argv):
    if len(argv) not in (5, 6):
        print("usage: sklearn_peer.py X.npy init.json ITERS REPEATS "
              "[REG_COVAR]", file=sys.stderr)
        return 2
    x = np.ascontiguousarray(np.load(argv[1]), dtype=np.float64)
    with open(argv[2], encoding="utf-8") as f:
        model = json.load(f)
    iters, repeats = int(argv[3]), int(argv[4])
    reg_covar = float(argv[5]) if len(argv) == 6 else 1e-6
    if model.get("covariance_type", "full") != "full":
        print("sklearn_peer.py: only full covariances", file=sys.stderr)
        return 2
    if iters < 1 or repeats < 1:
        print("sklearn_peer.py: ITERS and REPEATS must be >= 1",
              file=sys.stderr)
        return 2
    w0 = np.asarray(model["weights"], dtype=np.float64)
    mu0 = np.asarray(model["means"], dtype=np.float64)
    cov0 = np.asarray(model["covariances"], dtype=np.float64)
    k = len(w0)
    if x.ndim != 2 or mu0.shape != (k, x.shape[1]) or \
            cov0.shape != (k, x.shape[1], x.shape[1]):
        print("sklearn_peer.py: data and model shapes disagree",
              file=sys.stderr)
        return 2
    prec0 = np.linalg.inv(cov0)
    prec0 = 0.5 * (prec0 + np.transpose(prec0, (0, 2, 1)))

    budget = float(os.environ.get("BENCH_BUDGET_S", "0") or 0)
    runs = []
    iter_seconds = []
    gm = None
    for _ in range(repeats):
        gm = GaussianMixture(n_components=k, covariance_type="full",
                             tol=0.0, max_iter=iters, reg_covar=reg_covar,
                             weights_init=w0, means_init=mu0,
                             precisions_init=prec0, init_params="random",
                             random_state=0)
        stamps = []
        e_step = gm._e_step

        def timed_e_step(x_, e_step=e_step, stamps=stamps):
            stamps.append(time.perf_counter())
            return e_step(x_)

        gm._e_step = timed_e_step
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning (tol=0)
            t0 = time.perf_counter()
            gm.fit(x)
            runs.append(time.perf_counter() - t0)
        del gm._e_step
        if gm.n_iter_ != iters or len(stamps) != iters + 1:
            print("sklearn_peer.py: ran %d iterations (%d E-steps), not %d"
                  % (gm.n_iter_, len(stamps), iters), file=sys.stderr)
            return 1
        iter_seconds += [b - a for a, b in zip(stamps, stamps[1:])]
        if budget > 0 and sum(runs) >= budget:
            break
    median = statistics.median(runs)
    print(json.dumps({
        "peer": "scikit-learn",
        "version": sklearn.__version__,
        "n_samples": int(x.shape[0]), "n_features": int(x.shape[1]),
        "n_components": k, "iters": iters, "repeats": len(runs),
        "reg_covar": reg_covar,
        "seconds_per_iter_median": statistics.median(iter_seconds),
        "seconds_fit_median": median,
        "iter_seconds": iter_seconds,
        "runs": runs,
        "score": float(gm.score(x)),
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
