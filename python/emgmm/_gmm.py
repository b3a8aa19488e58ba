"""emgmm.GaussianMixture: scikit-learn 1.2's GaussianMixture, fitted by the
emgmm library.

Each initialisation is computed exactly as scikit-learn's
``BaseMixture._initialize_parameters`` and ``GaussianMixture._initialize``
compute it (the same calls on the same ``random_state``: KMeans,
kmeans_plusplus, uniform draws, a choice of rows, then the initial M-step
or ``weights_init``/``means_init``/``precisions_init``), and the EM
iterations from there run in the library (``emgmm_fit`` with
``init_model``, ``max_iter`` and ``tol``). Restarts, the choice of the best
lower bound, ``n_iter_``, ``converged_``, ``lower_bound_``, warnings and
errors follow ``BaseMixture.fit_predict``.
"""

import math
import sys
import time
import warnings
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from . import _core

try:  # scikit-learn >= 1.2: its declarative parameter checks
    from sklearn.utils._param_validation import Interval, StrOptions
except ImportError:  # pragma: no cover - older scikit-learn
    Interval = StrOptions = None

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# scikit-learn's message for a covariance that is not positive definite.
_SINGULAR_MESSAGE = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples). Try to decrease the number of components, "
    "or increase reg_covar.")

# Below this, log(sum of the initial weights) changes no comparison with
# tol: the library's own stopping test is used (see _run_em).
_NEGLIGIBLE_SHIFT = 1e-13


def _f64(a):
    """A C-contiguous float64 array: `a` itself when it already is one (the
    extension then reads it in place), otherwise a converted copy."""
    return np.ascontiguousarray(a, dtype=np.float64)


def _lower_symmetric(cov, covariance_type):
    """The matrices with their upper triangle copied from the lower one:
    scikit-learn's Cholesky reads the lower triangle only, and the library
    wants exact symmetry."""
    if covariance_type not in ("full", "tied"):
        return cov
    lower = np.tril(cov)
    return lower + np.swapaxes(np.tril(cov, -1), -1, -2)


# --- scikit-learn 1.2's formulas (sklearn/mixture/_gaussian_mixture.py) ---
# Kept literally (including the tied covariance from X^T X and the
# 10 * eps added to the counts) so that the initial parameters are the
# same numbers; with sample weights, each row's responsibilities and its
# term in X^T X are scaled by its weight.

def _estimate_gaussian_parameters(X, resp, reg_covar, covariance_type,
                                  sample_weight=None):
    if sample_weight is not None:
        resp = resp * sample_weight[:, np.newaxis]
    nk = resp.sum(axis=0) + 10 * np.finfo(resp.dtype).eps
    means = np.dot(resp.T, X) / nk[:, np.newaxis]
    n_components, n_features = means.shape
    if covariance_type == "full":
        covariances = np.empty((n_components, n_features, n_features))
        for k in range(n_components):
            diff = X - means[k]
            covariances[k] = np.dot(resp[:, k] * diff.T, diff) / nk[k]
            covariances[k].flat[:: n_features + 1] += reg_covar
    elif covariance_type == "tied":
        if sample_weight is None:
            avg_X2 = np.dot(X.T, X)
        else:
            avg_X2 = np.dot(X.T * sample_weight, X)
        avg_means2 = np.dot(nk * means.T, means)
        covariances = avg_X2 - avg_means2
        covariances /= nk.sum()
        covariances.flat[:: len(covariances) + 1] += reg_covar
    else:
        avg_X2 = np.dot(resp.T, X * X) / nk[:, np.newaxis]
        avg_means2 = means**2
        avg_X_means = means * np.dot(resp.T, X) / nk[:, np.newaxis]
        covariances = avg_X2 - 2 * avg_X_means + avg_means2 + reg_covar
        if covariance_type == "spherical":
            covariances = covariances.mean(1)
    return nk, means, covariances


def _compute_precision_cholesky(covariances, covariance_type):
    if covariance_type == "full":
        n_components, n_features, _ = covariances.shape
        precisions_chol = np.empty((n_components, n_features, n_features))
        for k, covariance in enumerate(covariances):
            try:
                cov_chol = linalg.cholesky(covariance, lower=True)
            except linalg.LinAlgError:
                raise ValueError(_SINGULAR_MESSAGE)
            precisions_chol[k] = linalg.solve_triangular(
                cov_chol, np.eye(n_features), lower=True).T
    elif covariance_type == "tied":
        _, n_features = covariances.shape
        try:
            cov_chol = linalg.cholesky(covariances, lower=True)
        except linalg.LinAlgError:
            raise ValueError(_SINGULAR_MESSAGE)
        precisions_chol = linalg.solve_triangular(
            cov_chol, np.eye(n_features), lower=True).T
    else:
        if np.any(np.less_equal(covariances, 0.0)):
            raise ValueError(_SINGULAR_MESSAGE)
        precisions_chol = 1.0 / np.sqrt(covariances)
    return precisions_chol


def _check_shape(param, param_shape, name):
    param = np.array(param)
    if param.shape != param_shape:
        raise ValueError(
            "The parameter '%s' should have the shape of %s, but got %s"
            % (name, param_shape, param.shape))


def _check_weights(weights, n_components):
    weights = check_array(weights, dtype=[np.float64, np.float32],
                          ensure_2d=False)
    _check_shape(weights, (n_components,), "weights")
    if any(np.less(weights, 0.0)) or any(np.greater(weights, 1.0)):
        raise ValueError(
            "The parameter 'weights' should be in the range "
            "[0, 1], but got max value %.5f, min value %.5f"
            % (np.min(weights), np.max(weights)))
    if not np.allclose(np.abs(1.0 - np.sum(weights)), 0.0):
        raise ValueError(
            "The parameter 'weights' should be normalized, but got "
            "sum(weights) = %.5f" % np.sum(weights))
    return weights


def _check_means(means, n_components, n_features):
    means = check_array(means, dtype=[np.float64, np.float32],
                        ensure_2d=False)
    _check_shape(means, (n_components, n_features), "means")
    return means


def _check_precisions(precisions, covariance_type, n_components, n_features):
    precisions = check_array(precisions, dtype=[np.float64, np.float32],
                             ensure_2d=False,
                             allow_nd=covariance_type == "full")
    shapes = {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }
    _check_shape(precisions, shapes[covariance_type],
                 "%s precision" % covariance_type)

    def check_matrix(p):
        if not (np.allclose(p, p.T) and np.all(linalg.eigvalsh(p) > 0.0)):
            raise ValueError("'%s precision' should be symmetric, "
                             "positive-definite" % covariance_type)

    if covariance_type == "full":
        for p in precisions:
            check_matrix(p)
    elif covariance_type == "tied":
        check_matrix(precisions)
    elif np.any(np.less_equal(precisions, 0.0)):
        raise ValueError("'%s precision' should be positive"
                         % covariance_type)
    return precisions


def _precisions_to_start(precisions, covariance_type):
    """Covariances and scikit-learn's precisions_cholesky_ for given
    precisions (GaussianMixture._initialize with precisions_init)."""
    precisions = np.asarray(precisions, dtype=np.float64)
    if covariance_type == "full":
        chol = np.array([linalg.cholesky(p, lower=True) for p in precisions])
        cov = np.array([linalg.inv(p) for p in precisions])
    elif covariance_type == "tied":
        chol = linalg.cholesky(precisions, lower=True)
        cov = linalg.inv(precisions)
    else:
        chol = np.sqrt(precisions)
        cov = 1.0 / precisions
    return _lower_symmetric(cov, covariance_type), chol


def _fill_missing(X):
    """X with each NaN replaced by its column's mean (what the library's
    k-means sees with missing values), and X itself when it has none."""
    gaps = np.isnan(X)
    if not gaps.any():
        return X
    observed = (~gaps).sum(axis=0)
    if (observed == 0).any():
        raise ValueError("column %d has no observed value"
                         % int(np.flatnonzero(observed == 0)[0]))
    means = np.nansum(X, axis=0) / observed
    return np.where(gaps, means, X)


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by EM in the emgmm library, with the
    interface and results of scikit-learn 1.2's ``GaussianMixture``.

    The parameters, attributes and methods are scikit-learn's (see its
    documentation); from the same ``random_state`` the fitted model is
    scikit-learn's to about 1e-12 relative. The initialisation is
    scikit-learn's own (computed with scikit-learn); the EM runs in C with
    the GIL released.

    Extras, all optional keywords:

    missing : bool, default=False
        Treat NaN in X as missing values (missing at random): the fit
        maximises the likelihood of the observed values; ``predict``,
        ``predict_proba``, ``score_samples`` and ``score`` use each row's
        observed values; ``impute(X)`` fills the gaps. Initialisation
        runs on X with each gap replaced by its column's mean.
    n_threads : int or None, default=None
        Threads of the library's loops (None: OpenMP's default,
        OMP_NUM_THREADS). The BLAS thread setting is process-wide.

    ``fit(X, y=None, sample_weight=None)`` takes frequency weights (a row
    of weight w counts as w copies); k-means initialisation uses them,
    the random ones do not. ``save(path)`` writes the JSON model file of
    the command line; ``emgmm.load(path)`` reads one.

    The computation is float64: float32 input is converted (scikit-learn
    computes parts of the fit in float32 then; the results agree to
    float32 rounding, not to 1e-12).
    """

    if Interval is not None:
        _parameter_constraints: dict = {
            "n_components": [Interval(Integral, 1, None, closed="left")],
            "tol": [Interval(Real, 0.0, None, closed="left")],
            "reg_covar": [Interval(Real, 0.0, None, closed="left")],
            "max_iter": [Interval(Integral, 0, None, closed="left")],
            "n_init": [Interval(Integral, 1, None, closed="left")],
            "init_params": [StrOptions({"kmeans", "random",
                                        "random_from_data", "k-means++"})],
            "random_state": ["random_state"],
            "warm_start": ["boolean"],
            "verbose": ["verbose"],
            "verbose_interval": [Interval(Integral, 1, None,
                                          closed="left")],
            "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
            "weights_init": ["array-like", None],
            "means_init": ["array-like", None],
            "precisions_init": ["array-like", None],
            "missing": ["boolean"],
            "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        }

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3,
                 reg_covar=1e-6, max_iter=100, n_init=1,
                 init_params="kmeans", weights_init=None, means_init=None,
                 precisions_init=None, random_state=None, warm_start=False,
                 verbose=0, verbose_interval=10, missing=False,
                 n_threads=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.missing = missing
        self.n_threads = n_threads

    # --- checks -----------------------------------------------------------

    def _check_params(self):
        if Interval is not None:
            self._validate_params()
        elif self.covariance_type not in COVARIANCE_TYPES:  # pragma: no cover
            raise ValueError("Invalid value for 'covariance_type': %r"
                             % (self.covariance_type,))

    def _check_parameters(self, X):
        _, n_features = X.shape
        if self.weights_init is not None:
            self.weights_init = _check_weights(self.weights_init,
                                               self.n_components)
        if self.means_init is not None:
            self.means_init = _check_means(self.means_init,
                                           self.n_components, n_features)
        if self.precisions_init is not None:
            self.precisions_init = _check_precisions(
                self.precisions_init, self.covariance_type,
                self.n_components, n_features)

    def _finite(self):
        return "allow-nan" if self.missing else True

    def _check_X(self, X):
        """X for predict & co: validated as scikit-learn does, as float64."""
        check_is_fitted(self)
        X = self._validate_data(X, reset=False,
                                force_all_finite=self._finite())
        return _f64(X)

    # --- fitting ------------------------------------------------------------

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters by EM (scikit-learn's ``fit``; see the
        class for ``sample_weight``). Returns self."""
        self.fit_predict(X, y, sample_weight=sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit as ``fit`` does and return the labels of X."""
        self._check_params()
        X = self._validate_data(X, dtype=[np.float64, np.float32],
                                ensure_min_samples=2,
                                force_all_finite=self._finite())
        if X.shape[0] < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, "
                f"n_samples = {X.shape[0]}")
        self._check_parameters(X)
        X64 = _f64(X)  # no copy for C-contiguous float64 input
        sw = None
        if sample_weight is not None:
            sw = _f64(_check_sample_weight(sample_weight, X,
                                           dtype=np.float64,
                                           only_non_negative=True))
            if not sw.sum() > 0:
                raise ValueError("sample_weight must not be all zero")
        # Initialisation sees X as scikit-learn's does (its dtype; with
        # missing values, the gaps filled by column means).
        X_init = _fill_missing(X) if self.missing else X
        X64_init = X64 if X_init is X else _f64(X_init)

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        max_lower_bound = -np.inf
        self.converged_ = False
        random_state = check_random_state(self.random_state)

        best = None
        best_n_iter = 0
        for init in range(n_init):
            self._print_init_begin(init)
            if do_init:
                start = self._initial_parameters(X_init, X64_init,
                                                 random_state, sw)
            else:
                start = (self.weights_, self.means_, self.covariances_,
                         None)
            previous = -np.inf if do_init else self.lower_bound_
            if self.max_iter == 0:
                best, best_n_iter = start, 0
                continue
            fitted, n_iter, converged, lower_bound, values, seconds = \
                self._run_em(X64, start, previous, sw)
            if converged:
                self.converged_ = True
            self._print_iterations(values, seconds)
            self._print_init_end(lower_bound)
            if lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                max_lower_bound = lower_bound
                best, best_n_iter = fitted, n_iter

        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Initialization %d did not converge. Try different init "
                "parameters, or increase max_iter, tol or check for "
                "degenerate data." % (init + 1), ConvergenceWarning)
        self._set_parameters(*best)
        self.n_iter_ = best_n_iter
        self.lower_bound_ = max_lower_bound
        # scikit-learn's closing E-step: the labels of the kept model.
        return self._labels(X64)

    def _initial_parameters(self, X, X64, random_state, sample_weight):
        """scikit-learn's initial (weights, means, covariances,
        precisions_cholesky or None), drawing from random_state exactly as
        BaseMixture._initialize_parameters does."""
        n_samples = X.shape[0]
        k = self.n_components
        if self.init_params == "kmeans":
            resp = np.zeros((n_samples, k))
            label = KMeans(n_clusters=k, n_init=1,
                           random_state=random_state).fit(
                               X, sample_weight=sample_weight).labels_
            resp[np.arange(n_samples), label] = 1
        elif self.init_params == "random":
            resp = random_state.uniform(size=(n_samples, k))
            resp /= resp.sum(axis=1)[:, np.newaxis]
        elif self.init_params == "random_from_data":
            resp = np.zeros((n_samples, k))
            indices = random_state.choice(n_samples, size=k, replace=False)
            resp[indices, np.arange(k)] = 1
        elif self.init_params == "k-means++":
            resp = np.zeros((n_samples, k))
            _, indices = kmeans_plusplus(X, k, random_state=random_state)
            resp[indices, np.arange(k)] = 1
        else:  # pragma: no cover - rejected by the parameter checks
            raise ValueError("Unimplemented initialization method '%s'"
                             % self.init_params)
        weights, means, covariances = _estimate_gaussian_parameters(
            X64, resp, self.reg_covar, self.covariance_type, sample_weight)
        weights /= n_samples if sample_weight is None else sample_weight.sum()
        if self.weights_init is not None:
            weights = np.asarray(self.weights_init, dtype=np.float64)
        if self.means_init is not None:
            means = np.asarray(self.means_init, dtype=np.float64)
        chol = None
        if self.precisions_init is not None:
            covariances, chol = _precisions_to_start(self.precisions_init,
                                                     self.covariance_type)
        return weights, means, covariances, chol

    def _run_em(self, X, start, previous, sample_weight):
        """EM in the library from `start`. scikit-learn's initial weights
        need not sum to 1 (nk / n with nk + 10 eps, or the K rows of
        'random_from_data' and 'k-means++' only): the library gets them
        normalised, which changes no responsibility, and the first
        E-step's value is shifted by log(sum) as scikit-learn's is. When
        that shift matters or a warm start compares its first value with
        the previous lower_bound_, scikit-learn's stopping test runs in
        the progress callback; otherwise the library's own (the same
        |change| < tol). Returns (parameters, n_iter, converged,
        lower_bound, values, seconds)."""
        weights, means, covariances = start[:3]
        model, shift = self._make_model(weights, means, covariances)
        custom = previous != -np.inf or abs(shift) > _NEGLIGIBLE_SHIFT
        try:
            fitted, n_iter, converged, lower_bound, values, seconds, _, _ = \
                _core.fit_mixture(
                    X, model, max_iter=int(self.max_iter),
                    tol=float(self.tol), reg_covar=float(self.reg_covar),
                    n_threads=self._threads(),
                    sample_weight=sample_weight, missing=bool(self.missing),
                    previous=float(previous), first_shift=shift,
                    custom=custom)
        except _core.SingularError as exc:
            raise ValueError(_SINGULAR_MESSAGE) from exc
        return (self._parameters_of(fitted) + (None,), n_iter, converged,
                lower_bound, values, seconds)

    def _threads(self):
        return 0 if self.n_threads is None else int(self.n_threads)

    # --- the library's model of the current parameters ----------------------

    def _make_model(self, weights, means, covariances):
        """(model, log of the weights' sum) for parameters in scikit-learn's
        shapes. Weights summing to 1 up to rounding go in unchanged (the
        library keeps them bit for bit); others are normalised, and the
        log of their sum is what scikit-learn's log-densities carry more."""
        weights = np.asarray(weights, dtype=np.float64)
        covariances = np.asarray(covariances, dtype=np.float64)
        total = weights.sum()
        shift = 0.0
        if abs(total - 1.0) > 1e-12 and total > 0:
            shift = math.log(total)
            weights = weights / total
        if (self.covariance_type in ("diag", "spherical")
                and np.any(np.less_equal(covariances, 0.0))):
            raise ValueError(_SINGULAR_MESSAGE)
        try:
            model = _core.mixture_create(
                self.covariance_type, _f64(weights), _f64(means),
                _f64(_lower_symmetric(covariances, self.covariance_type)))
        except _core.SingularError as exc:
            raise ValueError(_SINGULAR_MESSAGE) from exc
        return model, shift

    def _model(self):
        return self._make_model(self.weights_, self.means_,
                                self.covariances_)

    @staticmethod
    def _parameters_of(model):
        k, d = model.n_components, model.n_features
        shape = {"full": (k, d, d), "tied": (d, d), "diag": (k, d),
                 "spherical": (k,)}[model.covariance_type]
        weights, means = np.empty(k), np.empty((k, d))
        covariances = np.empty(shape)
        model.parameters(weights, means, covariances)
        return weights, means, covariances

    def _set_parameters(self, weights, means, covariances, chol=None):
        """scikit-learn's _set_parameters: the precision factors from the
        covariances (or as given: precisions_init with max_iter=0)."""
        self.weights_ = weights
        self.means_ = means
        self.covariances_ = covariances
        self.precisions_cholesky_ = (
            chol if chol is not None
            else _compute_precision_cholesky(covariances,
                                             self.covariance_type))
        if self.covariance_type == "full":
            self.precisions_ = np.empty(self.precisions_cholesky_.shape)
            for k, prec_chol in enumerate(self.precisions_cholesky_):
                self.precisions_[k] = np.dot(prec_chol, prec_chol.T)
        elif self.covariance_type == "tied":
            self.precisions_ = np.dot(self.precisions_cholesky_,
                                      self.precisions_cholesky_.T)
        else:
            self.precisions_ = self.precisions_cholesky_**2

    def _labels(self, X):
        model, _ = self._model()
        if self.missing and np.isnan(X).any():
            proba = np.empty((X.shape[0], model.n_components))
            model.predict_proba(X, proba, True)
            return proba.argmax(axis=1)
        labels = np.empty(X.shape[0], dtype=np.int32)
        model.predict(X, labels)
        return labels.astype(np.intp)

    # --- using the model ------------------------------------------------------

    def predict(self, X):
        """The most probable component of each row of X."""
        return self._labels(self._check_X(X))

    def predict_proba(self, X):
        """Posterior probability of each component for each row."""
        X = self._check_X(X)
        model, _ = self._model()
        out = np.empty((X.shape[0], model.n_components))
        model.predict_proba(X, out, bool(self.missing))
        return out

    def score_samples(self, X):
        """log p(x) of each row under the mixture."""
        X = self._check_X(X)
        model, shift = self._model()
        out = np.empty(X.shape[0])
        model.score_samples(X, out, bool(self.missing))
        if shift:
            out += shift
        return out

    def score(self, X, y=None):
        """Mean log-likelihood per row of X."""
        return self.score_samples(X).mean()

    def _n_parameters(self):
        _, n_features = self.means_.shape
        if self.covariance_type == "full":
            cov_params = self.n_components * n_features * (n_features + 1) / 2.0
        elif self.covariance_type == "diag":
            cov_params = self.n_components * n_features
        elif self.covariance_type == "tied":
            cov_params = n_features * (n_features + 1) / 2.0
        else:
            cov_params = self.n_components
        mean_params = n_features * self.n_components
        return int(cov_params + mean_params + self.n_components - 1)

    def bic(self, X):
        """Bayesian information criterion on X (lower is better)."""
        return (-2 * self.score(X) * X.shape[0]
                + self._n_parameters() * np.log(X.shape[0]))

    def aic(self, X):
        """Akaike information criterion on X (lower is better)."""
        return -2 * self.score(X) * X.shape[0] + 2 * self._n_parameters()

    def sample(self, n_samples=1):
        """Draw n_samples rows; returns (X, component labels). The draws are
        scikit-learn's (NumPy's generator from random_state, in its order),
        so the same random_state gives the same samples."""
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                "Invalid value for 'n_samples': %d . The sampling requires "
                "at least one sample." % (self.n_components))
        _, n_features = self.means_.shape
        rng = check_random_state(self.random_state)
        n_samples_comp = rng.multinomial(n_samples, self.weights_)
        if self.covariance_type == "full":
            X = np.vstack([
                rng.multivariate_normal(mean, covariance, int(sample))
                for (mean, covariance, sample) in zip(
                    self.means_, self.covariances_, n_samples_comp)])
        elif self.covariance_type == "tied":
            X = np.vstack([
                rng.multivariate_normal(mean, self.covariances_, int(sample))
                for (mean, sample) in zip(self.means_, n_samples_comp)])
        else:
            X = np.vstack([
                mean + rng.standard_normal(size=(sample, n_features))
                * np.sqrt(covariance)
                for (mean, covariance, sample) in zip(
                    self.means_, self.covariances_, n_samples_comp)])
        y = np.concatenate([np.full(sample, j, dtype=int)
                            for j, sample in enumerate(n_samples_comp)])
        return X, y

    def impute(self, X):
        """X with each NaN replaced by its conditional expectation given the
        row's observed values (needs missing=True)."""
        check_is_fitted(self)
        X = _f64(self._validate_data(X, reset=False,
                                     force_all_finite="allow-nan"))
        model, _ = self._model()
        out = np.empty(X.shape)
        model.impute(X, out)
        return out

    def save(self, path):
        """Write the model as the JSON model file of the command line
        (``emgmm predict MODEL DATA`` reads it; ``emgmm.load`` too)."""
        check_is_fitted(self)
        model, _ = self._model()
        model.save(path)

    # --- scikit-learn's verbose output ----------------------------------------

    def _print_init_begin(self, n_init):
        if self.verbose >= 1:
            print("Initialization %d" % n_init)
        if self.verbose >= 2:
            self._init_prev_time = time.time()

    def _print_iterations(self, values, seconds):
        """The per-iteration lines scikit-learn prints, after the fact (the
        fit ran in C without the GIL)."""
        if self.verbose < 1:
            return
        previous, lapse = -np.inf, 0.0
        for n_iter, (value, secs) in enumerate(zip(values, seconds), 1):
            lapse += secs
            if n_iter % self.verbose_interval == 0:
                if self.verbose == 1:
                    print("  Iteration %d" % n_iter)
                else:
                    print("  Iteration %d\t time lapse %.5fs\t ll change "
                          "%.5f" % (n_iter, lapse, value - previous))
                lapse = 0.0
            previous = value
        sys.stdout.flush()

    def _print_init_end(self, ll):
        if self.verbose == 1:
            print("Initialization converged: %s" % self.converged_)
        elif self.verbose >= 2:
            print("Initialization converged: %s\t time lapse %.5fs\t ll %.5f"
                  % (self.converged_, time.time() - self._init_prev_time, ll))
