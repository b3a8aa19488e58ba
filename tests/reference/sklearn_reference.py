#!/usr/bin/env python3
"""Reference results from scikit-learn for tests/test_reference.c.

Usage: sklearn_reference.py OUTDIR

For every dataset below this writes OUTDIR/<name>/:

  X.npy          the data (float64, C order)
  init.json      an emgmm model file (SPEC section 4, no "fit" record): the
                 starting parameters, from a fixed-seed k-means labelling
  expected.json  scikit-learn's GaussianMixture after exactly max_iter EM
                 iterations from that start (tol=0), with score(X), bic(X),
                 aic(X), lower_bound_ and the fitted parameters

scikit-learn is started from exactly the same model: weights_init,
means_init and precisions_init (the inverse covariances, symmetrised, in the
shape of the covariance type) are all given, so its own initialisation
(init_params='random', cheap) is overwritten.
All numbers are written with repr(), the shortest text that reads back as
the same double, so the C side sees exactly the values scikit-learn used.

Exit status: 0 on success, 77 when numpy or scikit-learn cannot be imported
(the test is then reported as skipped, not passed), 1 on any other failure.
"""

import json
import os
import sys
import warnings

try:
    import numpy as np
    import sklearn
    from sklearn import datasets
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture
except ImportError as exc:  # pragma: no cover - depends on the machine
    print("sklearn_reference.py: cannot import %s (%s): run with a Python "
          "that has numpy and scikit-learn, e.g. EMGMM_PYTHON=/usr/bin/python3"
          % (exc.name, exc), file=sys.stderr)
    sys.exit(77)


# --------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------

def random_rotation(rng, d):
    """A uniformly random rotation matrix (QR of a Gaussian matrix)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def synthetic():
    """600 points in 3-D from three overlapping, randomly rotated,
    elongated Gaussians of unequal size (fixed seed)."""
    rng = np.random.default_rng(20240501)
    sizes = (250, 200, 150)
    centres = np.array([[0.0, 0.0, 0.0], [3.0, 1.0, -1.0], [0.5, 3.5, 1.5]])
    scales = np.array([[2.0, 1.0, 0.4], [1.5, 0.8, 0.5], [1.2, 1.0, 0.3]])
    parts = []
    for n, mu, s in zip(sizes, centres, scales):
        a = random_rotation(rng, 3) * s  # columns scaled: cov = R S^2 R^T
        parts.append(mu + rng.standard_normal((n, 3)) @ a.T)
    x = np.concatenate(parts)
    return x[rng.permutation(len(x))]


def kmeans_labels(x, k):
    return KMeans(n_clusters=k, n_init=1, random_state=0).fit(x).labels_


def reduce_covariances(covs, weights, cov_type, reg_covar):
    """The full per-cluster covariances (with reg_covar on the diagonal)
    turned into the shape of another covariance type, as scikit-learn's
    M-step would form them from the same labelling."""
    k, d, _ = covs.shape
    if cov_type == "full":
        return covs
    if cov_type == "tied":
        eye = np.eye(d)
        t = sum(weights[j] * (covs[j] - reg_covar * eye) for j in range(k))
        t = 0.5 * (t + t.T)
        return t + reg_covar * eye
    diag = np.array([np.diag(c) for c in covs])
    if cov_type == "diag":
        return diag
    return diag.mean(axis=1)  # spherical


def precisions(covs, cov_type):
    """scikit-learn's precisions_init for covariances of a type."""
    if cov_type == "full":
        p = np.linalg.inv(covs)
        return 0.5 * (p + np.transpose(p, (0, 2, 1)))
    if cov_type == "tied":
        p = np.linalg.inv(covs)
        return 0.5 * (p + p.T)
    return 1.0 / covs  # diag and spherical


def initial_model(x, labels, k, reg_covar):
    """Per-cluster weights, means and (biased, two-pass) covariances of a
    hard labelling, plus reg_covar on the diagonal. Exactly symmetric."""
    n, d = x.shape
    weights = np.empty(k)
    means = np.empty((k, d))
    covs = np.empty((k, d, d))
    for j in range(k):
        xj = x[labels == j]
        nj = len(xj)
        if nj == 0:
            raise RuntimeError("k-means left cluster %d empty" % j)
        weights[j] = nj / n
        means[j] = xj.mean(axis=0)
        diff = xj - means[j]
        c = diff.T @ diff / nj
        c = 0.5 * (c + c.T)
        c[np.diag_indices(d)] += reg_covar
        covs[j] = c
    return weights, means, covs


# name, data, K, max_iter, reg_covar, labels (None = k-means on the data)
def dataset_list():
    syn = synthetic()
    syn_labels = kmeans_labels(syn, 3)
    # The digits have pixel columns that are zero in every image, and many
    # more that are constant within a k-means cluster: with the default
    # reg_covar=1e-6 those directions get variance 1e-6 against ~10-40
    # elsewhere (covariance condition numbers ~2e8). The fit is still
    # deterministic and stable (an independent NumPy EM, and the same EM
    # started 1e-12 away, agree with scikit-learn to ~1e-13), so "digits"
    # keeps the default as a conditioning stress test; "digits_reg" runs the
    # same data with reg_covar=1e-2 (pixels are 0..16; condition ~2e4), the
    # well-conditioned high-dimensional case.
    digits = datasets.load_digits().data
    iris = datasets.load_iris().data
    full = [
        ("synthetic", syn, 3, 20, 1e-6, syn_labels, "full"),
        ("iris", iris, 3, 15, 1e-6, None, "full"),
        ("wine", datasets.load_wine().data, 3, 15, 1e-6, None, "full"),
        ("digits", digits, 10, 10, 1e-6, None, "full"),
        ("digits_reg", digits, 10, 10, 1e-2, None, "full"),
        # The same points shifted by 1e6 (and the same labelling): the
        # covariances must come out as for "synthetic", which fails if an
        # implementation forms E[xx^T] - mu mu^T. (Only for full: for the
        # other types scikit-learn itself uses the uncentred formulas and
        # loses ~1e-4 there; emgmm's are checked against naive centred code
        # in the unit suite instead.)
        ("offset", syn + 1e6, 3, 20, 1e-6, syn_labels, "full"),
    ]
    others = []
    for cov_type in ("tied", "diag", "spherical"):
        others += [
            ("synthetic_" + cov_type, syn, 3, 20, 1e-6, syn_labels, cov_type),
            ("iris_" + cov_type, iris, 3, 15, 1e-6, None, cov_type),
            ("digits_reg_" + cov_type, digits, 10, 10, 1e-2, None, cov_type),
        ]
    return full + others


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

def dump_json(obj, path):
    # json writes Python floats with repr(): exact round trip.
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")


def run_one(outdir, name, x, k, max_iter, reg_covar, labels, cov_type):
    x = np.ascontiguousarray(x, dtype=np.float64)
    n, d = x.shape
    if labels is None:
        labels = kmeans_labels(x, k)
    w0, mu0, cov0 = initial_model(x, labels, k, reg_covar)
    cov0 = reduce_covariances(cov0, w0, cov_type, reg_covar)
    prec0 = precisions(cov0, cov_type)

    gm = GaussianMixture(n_components=k, covariance_type=cov_type, tol=0.0,
                         max_iter=max_iter, reg_covar=reg_covar,
                         weights_init=w0, means_init=mu0,
                         precisions_init=prec0, init_params="random",
                         random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0
        gm.fit(x)
    if gm.n_iter_ != max_iter:
        raise RuntimeError("%s: n_iter_ %d != max_iter %d"
                           % (name, gm.n_iter_, max_iter))

    sub = os.path.join(outdir, name)
    os.makedirs(sub, exist_ok=True)
    np.save(os.path.join(sub, "X.npy"), x)
    dump_json({
        "format": "emgmm-model", "version": 1,
        "covariance_type": cov_type, "n_components": k, "n_features": d,
        "weights": w0.tolist(), "means": mu0.tolist(),
        "covariances": cov0.tolist(),
    }, os.path.join(sub, "init.json"))
    expected = {
        "dataset": name,
        "covariance_type": cov_type,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "n_samples": n, "n_features": d, "n_components": k,
        "max_iter": max_iter, "reg_covar": reg_covar, "tol": 0.0,
        "n_iter": int(gm.n_iter_), "converged": bool(gm.converged_),
        "score": float(gm.score(x)),
        "bic": float(gm.bic(x)),
        "aic": float(gm.aic(x)),
        "lower_bound": float(gm.lower_bound_),
        "weights": gm.weights_.tolist(),
        "means": gm.means_.tolist(),
        "covariances": gm.covariances_.tolist(),
    }
    dump_json(expected, os.path.join(sub, "expected.json"))
    print("%-20s N=%-5d D=%-3d K=%-3d M=%-3d reg_covar=%-6g score=%.10g"
          % (name, n, d, k, max_iter, reg_covar, expected["score"]))


def main(argv):
    if len(argv) != 2:
        print("usage: sklearn_reference.py OUTDIR", file=sys.stderr)
        return 2
    outdir = argv[1]
    os.makedirs(outdir, exist_ok=True)
    print("scikit-learn %s, numpy %s" % (sklearn.__version__, np.__version__))
    for spec in dataset_list():
        run_one(outdir, *spec)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except SystemExit:
        raise
    except Exception as exc:  # one line, for the test's log
        print("sklearn_reference.py: %s: %s" % (type(exc).__name__, exc),
              file=sys.stderr)
        sys.exit(1)
