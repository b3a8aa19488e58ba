"""emgmm.GaussianHMM and emgmm.GMMHMM: hmmlearn 0.3.3's interface, and its
numbers from the same start (init_params="" and the parameters set) for
every covariance type of both classes, on several sequences. The
comparisons need hmmlearn (HMMLEARN_PATH, built by scripts/test.sh from
../shared/peers) and skip without it."""

import inspect
import pickle
import warnings

import numpy as np
import pytest

import emgmm
from helpers import assert_close, rel

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
LENGTHS = [150, 230, 120]
K, D, M = 3, 2, 2


def make_data(seed=0):
    """Three sequences from a sticky 3-state chain with well-separated
    Gaussian emissions (each a pair of close blobs, for GMMHMM)."""
    rng = np.random.RandomState(seed)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    trans = np.full((K, K), 0.1) + 0.7 * np.eye(K)
    parts = []
    for n in LENGTHS:
        s = rng.randint(K)
        for _ in range(n):
            offset = 0.8 if rng.rand() < 0.4 else -0.8
            parts.append(centres[s] + [offset, 0.0] + 0.6 * rng.randn(D))
            s = rng.choice(K, p=trans[s])
    return np.array(parts)


X = make_data()


def start(cls, cov, seed=1):
    """Parameters near the truth, in hmmlearn's shapes."""
    rng = np.random.RandomState(seed)
    p = {"startprob_": np.array([0.5, 0.3, 0.2]),
         "transmat_": np.full((K, K), 0.15) + 0.55 * np.eye(K)}
    centres = np.array([[0.2, -0.1], [4.7, 0.3], [0.1, 4.8]])
    if cls == "GaussianHMM":
        p["means_"] = centres + 0.1 * rng.randn(K, D)
        p["covars_"] = {
            "full": np.array([[[1.0, 0.1], [0.1, 0.8]]] * K),
            "tied": np.array([[1.1, 0.05], [0.05, 0.9]]),
            "diag": rng.uniform(0.6, 1.4, (K, D)),
            "spherical": rng.uniform(0.6, 1.4, K)}[cov]
    else:
        p["weights_"] = np.array([[0.5, 0.5], [0.4, 0.6], [0.6, 0.4]])
        p["means_"] = (centres[:, None, :] + [[[-0.7, 0.0], [0.7, 0.0]]]
                       + 0.1 * rng.randn(K, M, D))
        p["covars_"] = {
            "full": np.tile([[0.5, 0.05], [0.05, 0.4]], (K, M, 1, 1)),
            "tied": np.tile([[0.5, 0.02], [0.02, 0.45]], (K, 1, 1)),
            "diag": rng.uniform(0.3, 0.6, (K, M, D)),
            "spherical": rng.uniform(0.3, 0.6, (K, M))}[cov]
    return p


def build(module, cls, cov, values, **kw):
    kw = dict(n_components=K, covariance_type=cov, init_params="", **kw)
    if cls == "GMMHMM":
        kw["n_mix"] = M
    h = getattr(module, cls)(**kw)
    for name, value in values.items():
        setattr(h, name, value.copy())
    return h


def compare(ours, ref, cls, case, Xs=X, lengths=LENGTHS):
    names = ["startprob_", "transmat_", "means_", "covars_"]
    names += ["weights_"] if cls == "GMMHMM" else ["_covars_"]
    pairs = [(n, getattr(ours, n), getattr(ref, n)) for n in names]
    if cls == "GaussianHMM" and ours.covariance_type == "spherical":
        # hmmlearn's getter flattens a fitted spherical model's tiled
        # _covars_ into K * D matrices; ours gives K (compared with the
        # matrices of hmmlearn's variances).
        variances = np.asarray(ref._covars_).reshape(K, -1)[:, 0]
        pairs[3] = ("covars_", ours.covars_,
                    emgmm._hmm.fill_covars(variances, "spherical", K, D))
    assert ours.monitor_.iter == ref.monitor_.iter, case
    assert ours.monitor_.converged == ref.monitor_.converged, case
    pairs.append(("monitor_.history", list(ours.monitor_.history),
                  list(ref.monitor_.history)))
    pairs.append(("score", ours.score(Xs, lengths), ref.score(Xs, lengths)))
    lo, so = ours.decode(Xs, lengths)
    lr, sr = ref.decode(Xs, lengths)
    np.testing.assert_array_equal(so, sr)
    pairs.append(("viterbi log-probability", lo, lr))
    pairs.append(("predict_proba", ours.predict_proba(Xs, lengths),
                  ref.predict_proba(Xs, lengths)))
    lo, so = ours.decode(Xs, lengths, algorithm="map")
    lr, sr = ref.decode(Xs, lengths, algorithm="map")
    np.testing.assert_array_equal(so, sr)
    pairs.append(("map log-probability", lo, lr))
    pairs.append(("bic", ours.bic(Xs, lengths), ref.bic(Xs, lengths)))
    pairs.append(("aic", ours.aic(Xs, lengths), ref.aic(Xs, lengths)))
    return assert_close(cls, case, pairs)


def fit_both(hmm, cls, cov, p=None, **kw):
    p = start(cls, cov) if p is None else p
    ours = build(emgmm, cls, cov, p, **kw)
    ref = build(hmm, cls, cov, p, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GMMHMM's unused KMeans
        ours.fit(X, LENGTHS)
        ref.fit(X, LENGTHS)
    return ours, ref


CASES = [(c, t) for c in ("GaussianHMM", "GMMHMM") for t in COVARIANCE_TYPES]


@pytest.mark.parametrize("cls,cov", CASES)
def test_fixed_iterations_match_hmmlearn(hmmlearn_hmm, cls, cov):
    ours, ref = fit_both(hmmlearn_hmm, cls, cov, n_iter=12, tol=-np.inf)
    assert ours.monitor_.iter == 12
    compare(ours, ref, cls, "%s 12 iterations" % cov)


@pytest.mark.parametrize("cls,cov", CASES)
def test_convergence_matches_hmmlearn(hmmlearn_hmm, cls, cov):
    ours, ref = fit_both(hmmlearn_hmm, cls, cov, n_iter=200)  # tol=1e-2
    assert ours.monitor_.iter < 200
    compare(ours, ref, cls, "%s to convergence" % cov)


@pytest.mark.parametrize("cls,cov", CASES)
def test_priors_and_params_match_hmmlearn(hmmlearn_hmm, cls, cov):
    priors = dict(startprob_prior=2.0, transmat_prior=3.0, means_prior=0.5,
                  means_weight=2.0)
    if cls == "GaussianHMM":
        priors.update(covars_prior=0.1, covars_weight=3.0)
    else:
        priors.update(weights_prior=2.0)
        if cov in ("diag", "spherical"):
            priors.update(covars_prior=0.5, covars_weight=0.2)
    ours, ref = fit_both(hmmlearn_hmm, cls, cov, n_iter=8, tol=-np.inf,
                         **priors)
    compare(ours, ref, cls, "%s priors" % cov)
    # Only some parameters updated.
    ours, ref = fit_both(hmmlearn_hmm, cls, cov, n_iter=8, tol=-np.inf,
                         params="tm")
    np.testing.assert_array_equal(ours.startprob_, start(cls, cov)["startprob_"])
    compare(ours, ref, cls, "%s params=tm" % cov)


@pytest.mark.parametrize("cls,cov", CASES)
def test_sample_matches_hmmlearn(hmmlearn_hmm, cls, cov):
    p = start(cls, cov)
    ours = build(emgmm, cls, cov, p)
    ref = build(hmmlearn_hmm, cls, cov, p)
    ours.n_features = ref.n_features = D
    xo, so = ours.sample(40, random_state=3)
    xr, sr = ref.sample(40, random_state=3)
    np.testing.assert_array_equal(so, sr)
    assert_close(cls, "%s sample" % cov, [("sample", xo, xr)], tol=1e-12)


@pytest.mark.parametrize("cls", ["GaussianHMM", "GMMHMM"])
def test_constructor_is_hmmlearns(hmmlearn_hmm, cls):
    ours = inspect.signature(getattr(emgmm, cls)).parameters
    ref = inspect.signature(getattr(hmmlearn_hmm, cls)).parameters
    extras = {"missing", "n_threads"}
    assert [n for n in ours if n not in extras] == list(ref)
    for name, p in ref.items():
        assert ours[name].default == p.default, name


def test_defaults_without_hmmlearn():
    # hmmlearn 0.3.3's defaults, checked even where hmmlearn is absent.
    g = emgmm.GaussianHMM().get_params()
    assert g == dict(n_components=1, covariance_type="diag", min_covar=1e-3,
                     startprob_prior=1.0, transmat_prior=1.0, means_prior=0,
                     means_weight=0, covars_prior=1e-2, covars_weight=1,
                     algorithm="viterbi", random_state=None, n_iter=10,
                     tol=1e-2, verbose=False, params="stmc",
                     init_params="stmc", implementation="log",
                     missing=False, n_threads=None)
    m = emgmm.GMMHMM().get_params()
    assert m["n_mix"] == 1 and m["covars_prior"] is None
    assert m["covars_weight"] is None and m["params"] == "stmcw"
    assert m["weights_prior"] == 1.0 and m["covariance_type"] == "diag"


@pytest.mark.parametrize("cls,cov", CASES)
def test_own_initialisation(cls, cov):
    kw = dict(n_components=K, covariance_type=cov, random_state=0,
              n_iter=20)
    if cls == "GMMHMM":
        kw["n_mix"] = M
    a = getattr(emgmm, cls)(**kw).fit(X, LENGTHS)
    b = getattr(emgmm, cls)(**kw).fit(X, LENGTHS)
    np.testing.assert_array_equal(a.means_, b.means_)  # seeded
    history = np.array(a.monitor_.history)
    assert len(history) == a.monitor_.iter >= 2
    assert history[-1] > history[0]
    assert np.isfinite(a.score(X, LENGTHS))
    assert a.covars_.shape[-2:] == (D, D) or cls == "GMMHMM"
    if cls == "GaussianHMM":
        shape = {"full": (K, D, D), "tied": (D, D), "diag": (K, D),
                 "spherical": (K, D)}[cov]  # spherical tiled, as hmmlearn
        assert a._covars_.shape == shape
        assert a.covars_.shape == (K, D, D)
    # Refitting with init_params="" goes on from the fitted parameters.
    a.set_params(init_params="", n_iter=3)
    a.monitor_ = emgmm.ConvergenceMonitor(-np.inf, 3, False)
    a.fit(X, LENGTHS)
    assert a.monitor_.history[0] >= history[-1] - 1e-6 * abs(history[-1])


def test_covars_setter_and_errors():
    h = emgmm.GaussianHMM(n_components=2, covariance_type="full")
    with pytest.raises(ValueError, match="symmetric, positive-definite"):
        h.covars_ = np.array([[[1.0, 2.0], [2.0, 1.0]]] * 2)
    h = emgmm.GaussianHMM(n_components=2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="doesn't sum to"):
        h.score(X, [10, 20])
    with pytest.raises(ValueError, match="Unknown decoder"):
        h.decode(X, algorithm="forward")
    bad = X.copy()
    bad[5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        h.score(bad)
    with pytest.raises(ValueError, match="Unexpected number of dimensions"):
        h.fit(np.ones((20, 3)))
    h.startprob_ = np.array([0.7, 0.7])
    with pytest.raises(ValueError, match="startprob_ must sum to 1"):
        h.score(X)
    with pytest.raises(NotImplementedError, match="array of different values"):
        emgmm.GaussianHMM(n_components=2, transmat_prior=[[1, 2], [3, 4]],
                          random_state=0).fit(X)


def test_missing_values_gaussian_hmm():
    kw = dict(n_components=K, covariance_type="diag", random_state=0,
              n_iter=10)
    plain = emgmm.GaussianHMM(**kw).fit(X, LENGTHS)
    gappy_ok = emgmm.GaussianHMM(missing=True, **kw).fit(X, LENGTHS)
    # No NaN: the ordinary fit, bit for bit.
    np.testing.assert_array_equal(plain.means_, gappy_ok.means_)
    np.testing.assert_array_equal(plain.transmat_, gappy_ok.transmat_)
    rng = np.random.RandomState(5)
    gappy = X.copy()
    gappy[rng.rand(*X.shape) < 0.1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        emgmm.GaussianHMM(**kw).fit(gappy, LENGTHS)
    h = emgmm.GaussianHMM(missing=True, **kw).fit(gappy, LENGTHS)
    assert rel(h.means_[np.argsort(h.means_[:, 0] + 2 * h.means_[:, 1])],
               plain.means_[np.argsort(plain.means_[:, 0]
                                       + 2 * plain.means_[:, 1])]) < 0.1
    assert np.isfinite(h.score(gappy, LENGTHS))
    assert h.predict(gappy, LENGTHS).shape == (len(X),)
    assert np.allclose(h.predict_proba(gappy, LENGTHS).sum(axis=1), 1)


def test_negative_tol_stops_at_a_fall():
    # hmmlearn stops once the log-likelihood falls by more than |tol|
    # (the library runs every iteration for any negative tol; the
    # extension applies the rule). A strong prior pulling the means to
    # 0 makes the likelihood fall.
    prior = dict(means_prior=0.0, means_weight=2000.0)
    p = start("GaussianHMM", "diag")
    every = build(emgmm, "GaussianHMM", "diag", p, n_iter=10, tol=-np.inf,
                  **prior)
    every.fit(X, LENGTHS)
    h = np.array(every.monitor_.history)
    falls = np.flatnonzero(np.diff(h) < -1.0)
    assert falls.size > 0, h
    stop = falls[0] + 2  # iterations run when it stops
    again = build(emgmm, "GaussianHMM", "diag", p, n_iter=10, tol=-1.0,
                  **prior)
    again.fit(X, LENGTHS)
    assert again.monitor_.iter == stop
    exact = build(emgmm, "GaussianHMM", "diag", p, n_iter=stop, tol=-np.inf,
                  **prior)
    exact.fit(X, LENGTHS)
    np.testing.assert_array_equal(again.means_, exact.means_)
    np.testing.assert_array_equal(again.transmat_, exact.transmat_)


@pytest.mark.parametrize("cls", ["GaussianHMM", "GMMHMM"])
def test_pickle_and_clone(cls):
    from sklearn.base import clone
    kw = dict(n_components=2, random_state=0, n_iter=5)
    if cls == "GMMHMM":
        kw["n_mix"] = 2
    h = getattr(emgmm, cls)(**kw).fit(X, LENGTHS)
    back = pickle.loads(pickle.dumps(h))
    assert back.score(X, LENGTHS) == h.score(X, LENGTHS)
    assert list(back.monitor_.history) == list(h.monitor_.history)
    fresh = clone(h)
    assert fresh.get_params() == h.get_params()
    assert not hasattr(fresh, "startprob_")
