"""emgmm.GaussianMixture as a scikit-learn estimator: check_estimator,
parameters, pickling, input types, errors, and the extras (sample_weight,
missing values, n_threads)."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError, SkipTestWarning
from sklearn.mixture import GaussianMixture as SkGM
from sklearn.utils.estimator_checks import check_estimator

import emgmm
from helpers import rel


def _checks():
    return [(getattr(check, "func", check).__name__ +
             "".join("[%s=%s]" % kv
                     for kv in getattr(check, "keywords", {}).items()), check)
            for _, check in check_estimator(emgmm.GaussianMixture(),
                                            generate_only=True)]


CHECKS = _checks()


@pytest.mark.parametrize("name,check", CHECKS, ids=[n for n, _ in CHECKS])
def test_check_estimator(name, check):
    """Every check of sklearn.utils.estimator_checks.check_estimator; none
    is excluded (the pandas one skips when pandas is not installed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", SkipTestWarning)
        try:
            check(emgmm.GaussianMixture())
        except Exception as exc:
            if type(exc).__name__ == "SkipTest":
                pytest.skip("check_estimator skipped %s: %s" % (name, exc))
            raise


def test_constructor_is_sklearns():
    # The same parameters and defaults as scikit-learn's, plus the extras.
    ours = emgmm.GaussianMixture().get_params()
    ref = SkGM().get_params()
    extras = {"missing": False, "n_threads": None}
    assert ours == dict(ref, **extras)


def data(n=300, seed=0):
    rng = np.random.RandomState(seed)
    return np.vstack([rng.randn(n // 2, 2) - 3, rng.randn(n - n // 2, 2) + 3])


def test_pickle_round_trip():
    X = data()
    gm = emgmm.GaussianMixture(n_components=2, random_state=0).fit(X)
    back = pickle.loads(pickle.dumps(gm))
    np.testing.assert_array_equal(back.means_, gm.means_)
    np.testing.assert_array_equal(back.predict_proba(X), gm.predict_proba(X))
    assert back.get_params() == gm.get_params()
    # A fitted clone has the parameters, not the fit.
    assert not hasattr(clone(gm), "means_")


def test_read_only_and_non_contiguous_input(tmp_path):
    X = data()
    gm = emgmm.GaussianMixture(n_components=2, random_state=0).fit(X)
    ro = X.copy()
    ro.setflags(write=False)
    np.testing.assert_array_equal(gm.predict_proba(ro), gm.predict_proba(X))
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")  # a read-only memory map
    np.testing.assert_array_equal(gm.score_samples(mm), gm.score_samples(X))
    again = emgmm.GaussianMixture(n_components=2, random_state=0).fit(mm)
    np.testing.assert_array_equal(again.means_, gm.means_)
    fortran = np.asfortranarray(X)
    np.testing.assert_array_equal(gm.predict(fortran), gm.predict(X))
    strided = np.hstack([X, X])[:, ::2]  # columns 0 and 0, a strided view
    np.testing.assert_array_equal(gm.predict(strided), gm.predict(X[:, [0, 0]]))
    as_list = X.tolist()
    np.testing.assert_array_equal(gm.predict(as_list), gm.predict(X))
    ints = np.round(X).astype(np.int64)
    assert gm.predict(ints).shape == (len(X),)


def test_no_copy_of_float64_c_contiguous():
    # The array handed to the library is the caller's own.
    from emgmm._gmm import _f64
    X = data()
    assert _f64(X) is X
    assert _f64(X.astype(np.float32)) is not X


def test_errors():
    X = data()
    gm = emgmm.GaussianMixture(n_components=2)
    with pytest.raises(NotFittedError):
        gm.predict(X)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gm.fit(bad)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        gm.fit(bad)
    with pytest.raises(ValueError, match="Expected 2D array"):
        gm.fit(X[:, 0])
    with pytest.raises(ValueError, match="Found array with dim 3"):
        gm.fit(X.reshape(-1, 2, 1))
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        emgmm.GaussianMixture(n_components=11).fit(X[:10])
    with pytest.raises(ValueError, match="covariance_type"):
        emgmm.GaussianMixture(covariance_type="round").fit(X)
    with pytest.raises(ValueError, match="n_threads"):
        emgmm.GaussianMixture(n_threads=0).fit(X)
    gm.fit(X)
    with pytest.raises(ValueError, match="X has 3 features"):
        gm.predict(np.ones((4, 3)))
    # A degenerate covariance without regularisation: scikit-learn's error.
    flat = np.vstack([np.ones((5, 3)), np.zeros((5, 3))])
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        emgmm.GaussianMixture(n_components=2, reg_covar=0).fit(flat)


def test_sample_weight_counts_rows():
    # Integer weights fit the model of repeated rows, zero weights the
    # model without those rows (from the same given start).
    X = data(200)
    rng = np.random.RandomState(1)
    w = rng.randint(0, 4, size=len(X)).astype(float)
    start = SkGM(n_components=2, max_iter=2, random_state=0).fit(X)
    for cov in ("full", "tied", "diag", "spherical"):
        first = SkGM(n_components=2, covariance_type=cov, max_iter=1,
                     random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            first.fit(X)
        kw = dict(n_components=2, covariance_type=cov, tol=0, max_iter=20,
                  weights_init=start.weights_, means_init=start.means_,
                  precisions_init=first.precisions_, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            weighted = emgmm.GaussianMixture(**kw).fit(X, sample_weight=w)
            repeated = emgmm.GaussianMixture(**kw).fit(
                np.repeat(X, w.astype(int), axis=0))
        for name in ("weights_", "means_", "covariances_"):
            assert rel(getattr(weighted, name),
                       getattr(repeated, name)) < 1e-10, (cov, name)
    with pytest.raises(ValueError, match="Negative values"):
        emgmm.GaussianMixture(n_components=2).fit(X, sample_weight=-w)
    with pytest.raises(ValueError, match="all zero"):
        emgmm.GaussianMixture(n_components=2).fit(X, sample_weight=0 * w)
    with pytest.raises(ValueError):
        emgmm.GaussianMixture(n_components=2).fit(X, sample_weight=w[:5])


def test_missing_values():
    X = data(400)
    gm = emgmm.GaussianMixture(n_components=2, random_state=0)
    full = emgmm.GaussianMixture(n_components=2, random_state=0,
                                 missing=True).fit(X)
    # Without any NaN, missing=True is the ordinary fit, bit for bit.
    gm.fit(X)
    np.testing.assert_array_equal(full.means_, gm.means_)
    np.testing.assert_array_equal(full.covariances_, gm.covariances_)
    rng = np.random.RandomState(2)
    gappy = X.copy()
    gappy[rng.rand(*X.shape) < 0.1] = np.nan
    gappy[7] = np.nan  # a row with nothing observed
    with pytest.raises(ValueError, match="NaN"):
        emgmm.GaussianMixture(n_components=2).fit(gappy)
    m = emgmm.GaussianMixture(n_components=2, random_state=0,
                              missing=True).fit(gappy)
    assert rel(m.means_, gm.means_) < 0.1
    assert np.isfinite(m.covariances_).all()
    labels = m.predict(gappy)
    proba = m.predict_proba(gappy)
    assert labels.shape == (len(X),) and np.allclose(proba.sum(axis=1), 1)
    assert np.isfinite(m.score_samples(gappy)).all()
    filled = m.impute(gappy)
    seen = ~np.isnan(gappy)
    np.testing.assert_array_equal(filled[seen], gappy[seen])
    assert np.isfinite(filled).all()
    # Complete rows: the same numbers as without missing values.
    complete = seen.all(axis=1)
    plain = clone(m).set_params(missing=False)
    plain._set_parameters(m.weights_, m.means_, m.covariances_)
    plain.n_features_in_ = 2
    assert rel(m.predict_proba(gappy[complete]),
               plain.predict_proba(gappy[complete])) < 1e-12


def test_n_threads_same_bits():
    rng = np.random.RandomState(3)
    X = np.vstack([rng.randn(20000, 6), rng.randn(20000, 6) + 2])
    kw = dict(n_components=4, random_state=0, tol=0, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = emgmm.GaussianMixture(n_threads=1, **kw).fit(X)
        two = emgmm.GaussianMixture(n_threads=2, **kw).fit(X)
    np.testing.assert_array_equal(one.means_, two.means_)
    np.testing.assert_array_equal(one.covariances_, two.covariances_)
