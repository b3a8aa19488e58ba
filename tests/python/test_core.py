"""The extension emgmm._core itself: the buffer rules, the exceptions, the
references it holds (none after a call, whether it succeeds or fails),
memory, and the GIL released around every library call."""

import sys
import threading
import time

import numpy as np
import pytest

import emgmm
from emgmm import _core


def mixture(k=3, d=4, seed=0, cov="full"):
    rng = np.random.RandomState(seed)
    covs = {"full": np.tile(np.eye(d), (k, 1, 1)), "tied": np.eye(d),
            "diag": np.ones((k, d)), "spherical": np.ones(k)}[cov]
    return _core.mixture_create(cov, np.full(k, 1.0 / k), rng.randn(k, d),
                                covs)


def test_buffers_must_be_c_contiguous_float64():
    m = mixture()
    X = np.random.RandomState(1).randn(50, 4)
    labels = np.empty(50, dtype=np.int32)
    m.predict(X, labels)
    with pytest.raises(TypeError, match="float64"):
        m.predict(X.astype(np.float32), labels)
    # numpy refuses a C-contiguous view of a Fortran array (the Python
    # side converts first).
    with pytest.raises((ValueError, BufferError), match="contiguous"):
        m.predict(np.asfortranarray(X), labels)
    with pytest.raises(ValueError, match="features"):
        m.predict(X[:, :3].copy(), labels)
    with pytest.raises(ValueError, match="int32"):
        m.predict(X, np.empty(50, dtype=np.int64))
    with pytest.raises(ValueError, match="50 elements"):
        m.predict(X, np.empty(49, dtype=np.int32))
    ro = np.empty(50, dtype=np.int32)
    ro.setflags(write=False)
    with pytest.raises((ValueError, BufferError), match="read-only"):
        m.predict(X, ro)  # outputs must be writable
    X.setflags(write=False)  # inputs may be read-only
    m.predict(X, labels)
    # memoryview and array.array export buffers too.
    m.predict(memoryview(np.ascontiguousarray(X)), labels)


def test_exceptions():
    with pytest.raises(ValueError, match="covariance type"):
        _core.mixture_create("round", np.ones(1), np.zeros((1, 2)),
                             np.ones(1))
    bad = np.tile(np.eye(2), (2, 1, 1))
    bad[1] = [[1.0, 2.0], [2.0, 1.0]]  # symmetric, not positive definite
    with pytest.raises(_core.SingularError, match="component or state 1"):
        _core.mixture_create("full", np.full(2, 0.5), np.zeros((2, 2)), bad)
    assert issubclass(emgmm.SingularError, ValueError)
    with pytest.raises(ValueError, match="dimension 0"):
        _core.mixture_create("diag", np.full(2, 0.5), np.zeros((2, 2)),
                             np.ones((3, 2)))
    with pytest.raises(ValueError):  # weights not summing to 1
        _core.mixture_create("spherical", np.ones(2), np.zeros((2, 2)),
                             np.ones(2))
    with pytest.raises(FileNotFoundError):
        _core.mixture_load("/nonexistent/model.json")
    m = mixture()
    X = np.random.RandomState(0).randn(20, 4)
    X[2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        m.score_samples(X, np.empty(20))
    with pytest.raises(TypeError, match="cannot create"):
        _core.Mixture()
    with pytest.raises(ValueError, match="negative"):
        h = _core.hmm_create("gaussian", "diag", np.full(2, 0.5),
                             np.full((2, 2), 0.5), None, np.zeros((2, 1)),
                             np.ones((2, 1)))
        h.score(np.zeros((3, 1)), np.array([4, -1], dtype=np.int64))


def test_malformed_file_names_line_and_column(tmp_path):
    path = tmp_path / "model.json"
    path.write_text('{"weights": [1.0],\n "means": [[0.0]], "covariances": '
                    '[[[1.0]]] oops}\n')
    with pytest.raises(ValueError, match=r"model.json:2:\d+"):
        _core.mixture_load(str(path))
    with pytest.raises(ValueError, match=r"model.json:2:\d+"):
        emgmm.load(str(path))


def test_no_reference_kept():
    """Every buffer taken is released, on success and on every error path
    (a held buffer keeps a reference to its exporter)."""
    m = mixture()
    rng = np.random.RandomState(0)
    X = rng.randn(30, 4)
    out = np.empty((30, 3))
    labels = np.empty(30, dtype=np.int32)
    logp = np.empty(30)
    wrong = rng.randn(30, 5)
    arrays = [X, out, labels, logp, wrong]
    before = [sys.getrefcount(a) for a in arrays]
    for _ in range(50):
        m.predict(X, labels)
        m.predict_proba(X, out)
        m.score_samples(X, logp)
        for call in (lambda: m.predict(wrong, labels),
                     lambda: m.predict_proba(X, logp),
                     lambda: m.score_samples(X, labels),
                     lambda: _core.fit_mixture(wrong, m, max_iter=1)):
            with pytest.raises((ValueError, TypeError)):
                call()
        fitted = _core.fit_mixture(X, m, max_iter=3, tol=0.0)
        del fitted
    assert [sys.getrefcount(a) for a in arrays] == before
    assert sys.getrefcount(m) == 2  # the local name and the argument


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="reads /proc/self/statm (Linux)")
def test_no_leak():
    """Models of 200 KiB each, made, fitted, used and dropped 300 times:
    the resident size must not grow by what leaking them would cost."""
    rng = np.random.RandomState(0)
    k, d = 10, 50
    X = rng.randn(200, d)
    covs = np.tile(np.eye(d), (k, 1, 1))

    def cycle():
        m = _core.mixture_create("full", np.full(k, 1.0 / k),
                                 rng.randn(k, d), covs)
        fitted = _core.fit_mixture(X, m, max_iter=1, tol=0.0,
                                   reg_covar=1e-3)[0]
        fitted.predict_proba(X, np.empty((200, k)))
        with pytest.raises(ValueError):
            fitted.predict(X[:, :3].copy(), np.empty(200, dtype=np.int32))

    for _ in range(30):  # warm-up: allocator pools, caches
        cycle()
    before = _rss_bytes()
    for _ in range(300):
        cycle()
    grown = _rss_bytes() - before
    assert grown < 20 * 2**20, "resident size grew by %d bytes" % grown


def _without_gil(call, min_seconds=0.3):
    """Runs call() in a thread while this one loops; returns (seconds the
    call took, longest pause of this loop meanwhile). The call starts
    only once the loop runs, so a call that held the GIL would stop the
    loop for all of its time."""
    looping = threading.Event()
    done = threading.Event()
    took = []

    def worker():
        looping.wait()
        t0 = time.perf_counter()
        call()
        took.append(time.perf_counter() - t0)
        done.set()

    t = threading.Thread(target=worker)
    t.start()
    last = time.perf_counter()
    longest = 0.0
    looping.set()
    while not done.is_set():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
    t.join()
    assert took[0] >= min_seconds * 0.5, "call too short to tell: %.3f s" % took[0]
    return took[0], longest


@pytest.fixture(scope="module")
def big():
    rng = np.random.RandomState(0)
    X = rng.randn(100000, 12)
    X[:50000] += 3.0
    return X


def _repeat_to(call, seconds):
    t0 = time.perf_counter()
    call()
    once = time.perf_counter() - t0
    return max(1, int(seconds / max(once, 1e-6)) + 1)


def test_gil_released_during_fit_and_predict(big):
    k, d = 8, big.shape[1]
    m = _core.mixture_create("full", np.full(k, 1.0 / k),
                             big[:: len(big) // k][:k].copy(),
                             np.tile(np.eye(d), (k, 1, 1)))
    # Size the work to about half a second.
    iters = _repeat_to(lambda: _core.fit_mixture(big, m, max_iter=1, tol=0.0),
                       0.5)
    took, pause = _without_gil(
        lambda: _core.fit_mixture(big, m, max_iter=iters, tol=0.0))
    assert pause < 0.5 * took, (took, pause)
    # One long inference call: many components over the same rows.
    kk = 64
    many = _core.mixture_create("full", np.full(kk, 1.0 / kk),
                                big[:: len(big) // kk][:kk].copy(),
                                np.tile(np.eye(d), (kk, 1, 1)))
    # One call must last long enough to tell: as many copies of the rows
    # as about 0.4 s of work takes (the kernels are fast).
    logp = np.empty(len(big))
    copies = min(_repeat_to(lambda: many.score_samples(big, logp), 0.4), 32)
    rows = np.tile(big, (copies, 1))
    logp = np.empty(len(rows))
    took, pause = _without_gil(lambda: many.score_samples(rows, logp),
                               min_seconds=0.2)
    assert pause < 0.5 * took, (took, pause)


def test_gil_released_during_hmm_fit(big):
    X = big[:40000, :4].copy()
    h = emgmm.GaussianHMM(n_components=4, covariance_type="full",
                          n_iter=1, tol=-np.inf, random_state=0)
    h.fit(X)
    start = h._model()
    iters = _repeat_to(lambda: _core.fit_hmm(X, None, start, max_iter=1,
                                             init_params="",
                                             covariance_type="full",
                                             tol=-1.0), 0.5)
    took, pause = _without_gil(
        lambda: _core.fit_hmm(X, None, start, max_iter=iters,
                              init_params="", covariance_type="full",
                              tol=-np.inf))
    assert pause < 0.5 * took, (took, pause)


def test_two_fits_in_two_threads_match_sequential():
    rng = np.random.RandomState(4)
    Xs = [np.vstack([rng.randn(3000, 5), rng.randn(3000, 5) + 2.5])
          for _ in range(2)]
    kw = dict(n_components=3, random_state=0, tol=0, max_iter=30)
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        alone = [emgmm.GaussianMixture(**kw).fit(X) for X in Xs]
        together = [emgmm.GaussianMixture(**kw) for _ in Xs]
        threads = [threading.Thread(target=g.fit, args=(X,))
                   for g, X in zip(together, Xs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a.means_, b.means_)
        np.testing.assert_array_equal(a.covariances_, b.covariances_)


def test_hmm_create_errors_release_buffers():
    sp, tm = np.full(2, 0.5), np.full((2, 2), 0.5)
    means, w = np.zeros((2, 3, 1)), np.full((2, 3), 1 / 3)
    covs = np.ones((2, 3, 1))
    arrays = [sp, tm, means, w, covs]
    before = [sys.getrefcount(a) for a in arrays]
    for _ in range(20):
        h = _core.hmm_create("gmm", "diag", sp, tm, w, means, covs)
        assert (h.n_states, h.n_mix, h.n_features) == (2, 3, 1)
        bad_calls = [
            lambda: _core.hmm_create("gmm", "diag", sp, tm, None, means, covs),
            lambda: _core.hmm_create("gaussian", "diag", sp, tm, w, means,
                                     covs),
            lambda: _core.hmm_create("gmm", "full", sp, tm, w, means, covs),
            lambda: _core.hmm_create("gmm", "diag", sp, tm[:1].copy(), w,
                                     means, covs),
            lambda: _core.hmm_create("gmm", "diag", sp, tm, w[:, :2].copy(),
                                     means, covs),
            lambda: _core.hmm_create("gmm", "diag", sp, tm, w, means,
                                     -covs),
            lambda: _core.hmm_create("mixture", "diag", sp, tm, w, means,
                                     covs),
            lambda: h.parameters(sp.copy(), tm.copy(), None, means.copy(),
                                 covs.copy()),
        ]
        for call in bad_calls:
            with pytest.raises((ValueError, TypeError)):
                call()
        del h
    assert [sys.getrefcount(a) for a in arrays] == before
