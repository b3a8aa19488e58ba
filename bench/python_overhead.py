#!/usr/bin/env python3
"""The Python layer's cost: emgmm.GaussianMixture against the C library
(the emgmm program's own fit time for the same start and iterations) and
against scikit-learn's GaussianMixture, from the same start.

    PYTHONPATH=BUILD/python:python /usr/bin/python3 bench/python_overhead.py \
        BUILD/tools/emgmm [--repeats R] [--iters M]

All three start from the same weights, means and precisions (one k-means
fit computed once), run exactly M EM iterations (tol 0: |change| < 0 never holds,
so neither stops early), on N=100,000 rows, D=16,
K=8 (and N=100,000, D=64, K=16), full covariance. The classes' time per
iteration is (fit with M iterations - fit with 0 (scikit-learn: 1))
divided by the iterations added, so that the initialisation, which
scikit-learn 1.2 runs in full even with given parameters, is left out;
the library's is the program's own fit time ("seconds"), divided by M.
Medians of R repeats, alternating the implementations. Prints a Markdown
table.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def make_data(n, d, k, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(k, d))
    labels = rng.integers(k, size=n)
    X = centres[labels] + rng.normal(size=(n, d)) @ np.diag(
        rng.uniform(0.5, 1.5, size=d))
    return np.ascontiguousarray(X)


def main():
    import emgmm
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture as SkGMM

    prog = sys.argv[1]
    repeats = 5
    iters = 10
    args = sys.argv[2:]
    while args:
        if args[0] == "--repeats":
            repeats = int(args[1])
        elif args[0] == "--iters":
            iters = int(args[1])
        args = args[2:]
    rows = []
    for n, d, k in [(100_000, 16, 8), (100_000, 64, 16)]:
        X = make_data(n, d, k, 1)
        labels = KMeans(n_clusters=k, n_init=1, random_state=0).fit(X).labels_
        resp = np.zeros((n, k))
        resp[np.arange(n), labels] = 1.0
        nk = resp.sum(0)
        means = resp.T @ X / nk[:, None]
        covs = np.empty((k, d, d))
        for c in range(k):
            z = X - means[c]
            covs[c] = (resp[:, c, None] * z).T @ z / nk[c] + 1e-6 * np.eye(d)
        weights = nk / n
        precisions = np.linalg.inv(covs)
        with tempfile.TemporaryDirectory() as tmp:
            np.save(os.path.join(tmp, "X.npy"), X)
            start = {"weights": weights.tolist(), "means": means.tolist(),
                     "covariances": covs.tolist(),
                     "covariance_type": "full"}
            with open(os.path.join(tmp, "start.json"), "w") as f:
                json.dump(start, f)
            times = {"emgmm.GaussianMixture": [], "library (emgmm fit)": [],
                     "scikit-learn": []}
            ll = {}
            def timed(make):
                """Seconds of fit with `iters` iterations minus those of
                fit with none (the initialisation, which scikit-learn 1.2
                runs in full even with given parameters), per iteration."""
                spent = []
                for m in (iters, 0):
                    est = make(m)
                    t0 = time.perf_counter()
                    est.fit(X)
                    spent.append(time.perf_counter() - t0)
                return (spent[0] - spent[1]) / iters, est

            for _ in range(repeats):
                t, gm = timed(lambda m: emgmm.GaussianMixture(
                    n_components=k, weights_init=weights, means_init=means,
                    precisions_init=precisions, max_iter=m, tol=0.0,
                    reg_covar=1e-6))
                times["emgmm.GaussianMixture"].append(t)
                gm = emgmm.GaussianMixture(
                    n_components=k, weights_init=weights, means_init=means,
                    precisions_init=precisions, max_iter=iters, tol=0.0,
                    reg_covar=1e-6).fit(X)
                ll["emgmm.GaussianMixture"] = gm.score(X)
                out = subprocess.run(
                    [prog, "fit", os.path.join(tmp, "X.npy"), "--init-model",
                     os.path.join(tmp, "start.json"), "--tol", "0",
                     "--max-iter", str(iters), "--reg-covar", "1e-6",
                     "--json"], check=True, capture_output=True, text=True)
                j = json.loads(out.stdout)
                times["library (emgmm fit)"].append(j["seconds"] / iters)
                ll["library (emgmm fit)"] = j["log_likelihood"]
                t, _ = timed(lambda m: SkGMM(
                    n_components=k, weights_init=weights, means_init=means,
                    precisions_init=precisions, max_iter=max(m, 1),
                    tol=0.0, reg_covar=1e-6))
                times["scikit-learn"].append(t * iters / (iters - 1))
                sk = SkGMM(n_components=k, weights_init=weights,
                           means_init=means, precisions_init=precisions,
                           max_iter=iters, tol=0.0, reg_covar=1e-6).fit(X)
                ll["scikit-learn"] = sk.score(X)
            lib = float(np.median(times["library (emgmm fit)"]))
            for name, t in times.items():
                med = float(np.median(t))
                rows.append((n, d, k, name, med, med / lib, ll[name]))
    print(f"| N | D | K | implementation | s / iteration (median of {repeats}, "
          f"{iters} iterations) | ÷ library | final mean log-likelihood |")
    print("|---|---|---|---|---|---|---|")
    for n, d, k, name, med, ratio, l in rows:
        print(f"| {n:,} | {d} | {k} | {name} | {med:.4f} | {ratio:.3f}x | "
              f"{l:.12f} |")


if __name__ == "__main__":
    main()
