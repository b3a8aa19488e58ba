"""emgmm.GaussianMixture against scikit-learn's from the same random_state:
every covariance type and initialisation method, restarts, warm starts,
given starts, max_iter 0 and 1, fixed iteration counts. Everything fitted
must agree to 1e-6 relative (measured: about 1e-12 or better; the table at
the end of the run lists the largest differences)."""

import io
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGM

import emgmm
from helpers import assert_close

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
INITS = ["kmeans", "k-means++", "random", "random_from_data"]


def synthetic():
    """600 points in 3-D from three overlapping, rotated, elongated
    Gaussians (as tests/reference/sklearn_reference.py)."""
    rng = np.random.default_rng(20240501)
    parts = []
    for n, mu, s in zip((250, 200, 150),
                        ([0.0, 0.0, 0.0], [3.0, 1.0, -1.0], [0.5, 3.5, 1.5]),
                        ([2.0, 1.0, 0.4], [1.5, 0.8, 0.5], [1.2, 1.0, 0.3])):
        q, r = np.linalg.qr(rng.standard_normal((3, 3)))
        a = q * np.sign(np.diag(r)) * s
        parts.append(np.asarray(mu) + rng.standard_normal((n, 3)) @ a.T)
    x = np.concatenate(parts)
    return x[rng.permutation(len(x))]


DATA = {"synthetic": (synthetic(), 3), "iris": (datasets.load_iris().data, 3)}


def fit_both(X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = emgmm.GaussianMixture(**kw).fit(X)
        ref = SkGM(**kw).fit(X)
    return ours, ref


def compare(ours, ref, X, case, what="GaussianMixture"):
    assert ours.n_iter_ == ref.n_iter_, case
    assert ours.converged_ == ref.converged_, case
    assert (ours.lower_bound_ == ref.lower_bound_ == -np.inf
            or abs(ours.lower_bound_ - ref.lower_bound_)
            <= 1e-6 * abs(ref.lower_bound_)), case
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    x_s, y_s = ours.sample(50)
    x_r, y_r = ref.sample(50)
    np.testing.assert_array_equal(y_s, y_r)
    return assert_close(what, case, [
        ("weights_", ours.weights_, ref.weights_),
        ("means_", ours.means_, ref.means_),
        ("covariances_", ours.covariances_, ref.covariances_),
        ("precisions_", ours.precisions_, ref.precisions_),
        ("precisions_cholesky_", ours.precisions_cholesky_,
         ref.precisions_cholesky_),
        ("predict_proba", ours.predict_proba(X), ref.predict_proba(X)),
        ("score_samples", ours.score_samples(X), ref.score_samples(X)),
        ("score", ours.score(X), ref.score(X)),
        ("bic", ours.bic(X), ref.bic(X)),
        ("aic", ours.aic(X), ref.aic(X)),
        ("sample", x_s, x_r),
    ] + ([("lower_bound_", ours.lower_bound_, ref.lower_bound_)]
         if np.isfinite(ref.lower_bound_) else []))


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_same_model_as_sklearn(cov, init, data):
    X, k = DATA[data]
    kw = dict(n_components=k, covariance_type=cov, init_params=init,
              random_state=0)
    ours, ref = fit_both(X, **kw)
    compare(ours, ref, X, "%s %s" % (cov, init))
    # fit_predict: the labels of the final model, as scikit-learn's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        np.testing.assert_array_equal(
            emgmm.GaussianMixture(**kw).fit_predict(X),
            SkGM(**kw).fit_predict(X))


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_restarts_keep_the_best_lower_bound(cov):
    X, k = DATA["synthetic"]
    ours, ref = fit_both(X, n_components=k + 1, covariance_type=cov,
                         init_params="random", n_init=4, random_state=7)
    compare(ours, ref, X, "%s n_init=4" % cov)


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_exact_iterations_tol_zero(cov):
    # tol=0 runs max_iter iterations in both; converged_ stays False.
    X, k = DATA["synthetic"]
    ours, ref = fit_both(X, n_components=k, covariance_type=cov, tol=0.0,
                         max_iter=25, random_state=3)
    assert ours.n_iter_ == 25 and not ours.converged_
    compare(ours, ref, X, "%s tol=0 max_iter=25" % cov)


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("max_iter", [0, 1, 2])
def test_max_iter_zero_one_two(init, max_iter):
    # max_iter=0: the initial parameters, n_iter_ 0, lower_bound_ -inf, no
    # warning; 1 and 2: the first lower bounds as scikit-learn reports them
    # (its initial weights from 'random_from_data' and 'k-means++' sum to
    # K/N, which shifts the first E-step's value).
    X, k = DATA["iris"]
    ours, ref = fit_both(X, n_components=k, init_params=init,
                         max_iter=max_iter, random_state=1,
                         covariance_type="diag")
    compare(ours, ref, X, "diag %s max_iter=%d" % (init, max_iter))


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_given_start(cov):
    # weights_init, means_init and precisions_init from another fit.
    X, k = DATA["synthetic"]
    first = SkGM(n_components=k, covariance_type=cov, max_iter=3,
                 random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first.fit(X)
    kw = dict(n_components=k, covariance_type=cov,
              weights_init=first.weights_, means_init=first.means_,
              precisions_init=first.precisions_, random_state=0)
    ours, ref = fit_both(X, **kw)
    compare(ours, ref, X, "%s given start" % cov)
    # Only the means given: the covariances still come from k-means.
    ours, ref = fit_both(X, n_components=k, covariance_type=cov,
                         means_init=first.means_, random_state=0)
    compare(ours, ref, X, "%s means_init" % cov)


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_warm_start_sequence(cov):
    # Each warm fit compares its first lower bound with the previous
    # lower_bound_ (scikit-learn's rule) and counts its own iterations.
    X, k = DATA["synthetic"]
    kw = dict(n_components=k, covariance_type=cov, warm_start=True,
              max_iter=2, tol=1e-4, random_state=5)
    ours, ref = emgmm.GaussianMixture(**kw), SkGM(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for step in range(15):
            ours.fit(X)
            ref.fit(X)
            compare(ours, ref, X, "%s warm start" % cov)
            if ref.converged_:
                break
    assert ref.converged_ and ours.converged_


def test_verbose_output_is_sklearns():
    X, k = DATA["iris"]
    kw = dict(n_components=k, verbose=1, verbose_interval=2, n_init=2,
              random_state=0)
    outs = []
    for cls in (emgmm.GaussianMixture, SkGM):
        buf = io.StringIO()
        with redirect_stdout(buf):
            cls(**kw).fit(X)
        outs.append(buf.getvalue())
    assert outs[0] == outs[1]
    assert "Iteration 2" in outs[0]


def test_float32_input():
    # The library computes in float64: float32 input is converted, so it
    # gives exactly the fit of the same values in float64 (scikit-learn
    # computes parts of its fit in float32; the two agree to float32's
    # precision).
    X, k = DATA["synthetic"]
    X32 = X.astype(np.float32)
    a = emgmm.GaussianMixture(n_components=k, random_state=0).fit(X32)
    b = emgmm.GaussianMixture(n_components=k, random_state=0).fit(
        X32.astype(np.float64))
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.covariances_, b.covariances_)
    assert a.means_.dtype == np.float64
    ref = SkGM(n_components=k, random_state=0).fit(X32)
    assert_close("GaussianMixture float32", "full kmeans",
                 [("means_", a.means_, ref.means_),
                  ("covariances_", a.covariances_, ref.covariances_)],
                 tol=1e-4)
    assert a.predict(X32).tolist() == ref.predict(X32).tolist()
