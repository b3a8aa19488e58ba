#!/usr/bin/env python3
"""Benchmark data: bench/make_data.py N D K SEED OUTDIR

Writes OUTDIR/X.npy (N x D float64, C order) and OUTDIR/init.json (an emgmm
model file, SPEC section 4: the common starting point for every
implementation). The same arguments always give the same bytes.

The data: K Gaussian components with Dirichlet(5) weights, each with its own
random rotation and covariance eigenvalues log-spaced from 1 to 100
(condition number 100), means drawn from N(0, s^2 I) with s chosen so
that two means are about two typical standard deviations apart. In a few
dimensions the components overlap (D=4, K=4: ~30% of points have no
component above 0.9 posterior; D=16, K=8: ~3%); in many dimensions their
different orientations alone tell them apart. Rows are shuffled.

The start: K distinct random rows, each moved three quarters of the way
towards the data's mean, as means; every covariance the identity times the
data's mean per-feature variance; equal weights. Deterministic, reasonable
(each component starts where data are, at the data's scale) and cheap to
compute for any N.

Why the rows are shrunk: in many dimensions the distances to K raw rows
differ by tens of nats, so the first responsibilities are nearly hard and
one Voronoi cell can hold fewer points than dimensions. At N=20,000, D=256,
K=8 the raw rows left a component with 97 points after one iteration: its
covariance is singular, and implementations without scikit-learn's
additive reg_covar (Armadillo, OpenCV, mclust) then fail or wander off, so
their log-likelihoods cannot prove that they did the same work. Shrunk
means give soft first responsibilities; every benchmark case keeps more
points than dimensions in every component (at least ~900 at D=256, 1,800
at D=64, K=16) without any regularisation, and the peers agree.
"""
import json
import os
import sys

import numpy as np


def random_rotation(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def make(n, d, k, seed):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 5.0))
    counts = rng.multinomial(n, weights)
    eig = np.logspace(0.0, 2.0, d) if d > 1 else np.array([10.0])
    sd_typical = np.sqrt(eig.mean())
    spread = 2.0 * sd_typical / np.sqrt(2.0 * d)
    x = np.empty((n, d))
    row = 0
    for j in range(k):
        mean = rng.normal(0.0, spread, d)
        a = random_rotation(rng, d) * np.sqrt(rng.permutation(eig))
        m = counts[j]
        x[row:row + m] = mean + rng.standard_normal((m, d)) @ a.T
        row += m
    x = x[rng.permutation(n)]

    # The starting model.
    idx = rng.choice(n, size=k, replace=False)
    center = x.mean(axis=0)
    means0 = center + 0.25 * (x[np.sort(idx)] - center)
    var = float(x.var(axis=0).mean())
    covs0 = np.broadcast_to(np.eye(d) * var, (k, d, d))
    init = {
        "format": "emgmm-model", "version": 1,
        "covariance_type": "full", "n_components": k, "n_features": d,
        "weights": [1.0 / k] * k,
        "means": means0.tolist(),
        "covariances": covs0.tolist(),
    }
    return np.ascontiguousarray(x), init


def main(argv):
    if len(argv) != 6:
        print("usage: make_data.py N D K SEED OUTDIR", file=sys.stderr)
        return 2
    try:
        n, d, k, seed = (int(a) for a in argv[1:5])
    except ValueError:
        print("make_data.py: N, D, K and SEED must be integers",
              file=sys.stderr)
        return 2
    if n < 1 or d < 1 or k < 1 or k > n or seed < 0:
        print("make_data.py: need N >= K >= 1, D >= 1, SEED >= 0",
              file=sys.stderr)
        return 2
    outdir = argv[5]
    os.makedirs(outdir, exist_ok=True)
    x, init = make(n, d, k, seed)
    np.save(os.path.join(outdir, "X.npy"), x)
    with open(os.path.join(outdir, "init.json"), "w", encoding="utf-8") as f:
        json.dump(init, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")
    print("wrote %s/X.npy (%d x %d) and init.json (K=%d, seed %d)"
          % (outdir, n, d, k, seed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
