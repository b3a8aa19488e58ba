"""emgmm.GaussianHMM and emgmm.GMMHMM: hmmlearn 0.3.3's classes of the same
names on the emgmm library's hidden Markov models.

Constructor parameters and defaults, attributes (``startprob_``,
``transmat_``, ``means_``, ``covars_``, ``weights_``, ``monitor_``,
``n_features``) and methods are hmmlearn's. Baum-Welch, the forward-backward
passes and Viterbi run in C with the GIL released; from the same start
(``init_params=""`` and the parameters set) the numbers are hmmlearn's.

Differences (documented in README.md, "Python"):
- When ``init_params`` has letters, the library initialises them (uniform
  start and transition probabilities, its own k-means seeded from
  ``random_state`` for the means, the data's covariance plus ``min_covar``)
  instead of hmmlearn's random Dirichlet draws and scikit-learn's KMeans.
- Priors are scalars (an array must hold one value throughout).
- ``implementation`` is accepted but the library always runs its scaled
  forward-backward (the same numbers up to rounding).
- GMMHMM leaves ``covars_prior`` and ``covars_weight`` as given (hmmlearn
  replaces None by its defaults during fit).
- ``monitor_`` is filled after the fit from the library's history; a custom
  ConvergenceMonitor subclass is not consulted during it.
"""

import logging
import sys
from collections import deque
from numbers import Integral

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _core

_log = logging.getLogger(__name__)
COVARIANCE_TYPES = frozenset(("spherical", "diag", "full", "tied"))
DECODER_ALGORITHMS = frozenset(("viterbi", "map"))


def _f64(a):
    return np.ascontiguousarray(a, dtype=np.float64)


class ConvergenceMonitor:
    """hmmlearn's ConvergenceMonitor: ``history`` (the total log-likelihood
    at each E-step), ``iter``, and ``converged`` (the last change below
    ``tol``, or ``n_iter`` iterations done)."""

    _template = "{iter:>10d} {log_prob:>16.8f} {delta:>+16.8f}"

    def __init__(self, tol, n_iter, verbose):
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.history = deque()
        self.iter = 0

    def __repr__(self):
        class_name = self.__class__.__name__
        params = sorted(dict(vars(self), history=list(self.history)).items())
        return ("{}(\n".format(class_name)
                + "".join(map("    {}={},\n".format, *zip(*params)))
                + ")")

    def _reset(self):
        self.iter = 0
        self.history.clear()

    def report(self, log_prob):
        if self.verbose:
            delta = log_prob - self.history[-1] if self.history else np.nan
            message = self._template.format(
                iter=self.iter + 1, log_prob=log_prob, delta=delta)
            print(message, file=sys.stderr)
        precision = np.finfo(float).eps ** (1 / 2)
        if self.history and (log_prob - self.history[-1]) < -precision:
            delta = log_prob - self.history[-1]
            _log.warning(f"Model is not converging.  Current: {log_prob}"
                         f" is not greater than {self.history[-1]}."
                         f" Delta is {delta}")
        self.history.append(log_prob)
        self.iter += 1

    @property
    def converged(self):
        return (self.iter == self.n_iter or
                (len(self.history) >= 2 and
                 self.history[-1] - self.history[-2] < self.tol))


# --- hmmlearn's helpers (hmmlearn/utils.py, hmmlearn/_utils.py) ----------

def fill_covars(covars, covariance_type="full", n_components=1,
                n_features=1):
    if covariance_type == "full":
        return covars
    elif covariance_type == "diag":
        return np.array(list(map(np.diag, covars)))
    elif covariance_type == "tied":
        return np.tile(covars, (n_components, 1, 1))
    elif covariance_type == "spherical":
        covars = np.ravel(covars)
        eye = np.eye(n_features)[np.newaxis, :, :]
        covars = covars[:, np.newaxis, np.newaxis]
        return eye * covars


def _validate_covars(covars, covariance_type, n_components):
    if covariance_type == "spherical":
        if len(covars) != n_components:
            raise ValueError("'spherical' covars have length n_components")
        elif np.any(covars <= 0):
            raise ValueError("'spherical' covars must be positive")
    elif covariance_type == "tied":
        if covars.shape[0] != covars.shape[1]:
            raise ValueError("'tied' covars must have shape (n_dim, n_dim)")
        elif (not np.allclose(covars, covars.T)
              or np.any(linalg.eigvalsh(covars) <= 0)):
            raise ValueError("'tied' covars must be symmetric, "
                             "positive-definite")
    elif covariance_type == "diag":
        if len(covars.shape) != 2:
            raise ValueError("'diag' covars must have shape "
                             "(n_components, n_dim)")
        elif np.any(covars <= 0):
            raise ValueError("'diag' covars must be positive")
    elif covariance_type == "full":
        if len(covars.shape) != 3:
            raise ValueError("'full' covars must have shape "
                             "(n_components, n_dim, n_dim)")
        elif covars.shape[1] != covars.shape[2]:
            raise ValueError("'full' covars must have shape "
                             "(n_components, n_dim, n_dim)")
        for n, cv in enumerate(covars):
            if (not np.allclose(cv, cv.T)
                    or np.any(linalg.eigvalsh(cv) <= 0)):
                raise ValueError("component %d of 'full' covars must be "
                                 "symmetric, positive-definite" % n)
    else:
        raise ValueError("covariance_type must be one of "
                         "'spherical', 'tied', 'diag', 'full'")


def _scalar(value, name, default=None):
    """A prior as the scalar the library takes (hmmlearn also takes arrays:
    one holding a single value throughout is fine)."""
    if value is None:
        return default
    a = np.asarray(value, dtype=np.float64)
    if a.size == 0 or not np.all(a == a.flat[0]):
        raise NotImplementedError(
            f"{name}: the library takes one value for every state; an "
            f"array of different values is not supported")
    return float(a.flat[0])


def _seed(random_state):
    """The library's seed for random_state: an int as it is, otherwise a
    draw from the generator (None: NumPy's global one)."""
    if isinstance(random_state, Integral) and 0 <= random_state < 2**64:
        return int(random_state)
    rng = check_random_state(random_state)
    return int(rng.randint(0, 2**62, dtype=np.int64))


class _BaseHMM(BaseEstimator):
    """What GaussianHMM and GMMHMM share: hmmlearn's BaseHMM on the library."""

    _emission = None  # "gaussian" or "gmm"
    _letters = "stmc"  # the parameters of the emission

    # --- hmmlearn's checks ---------------------------------------------------

    def _check_sum_1(self, name):
        s = getattr(self, name).sum(axis=-1)
        if not np.allclose(s, 1):
            raise ValueError(
                f"{name} must sum to 1 (got {s:.4f})"
                if s.ndim == 0
                else f"{name} rows must sum to 1 (got row sums of {s})"
                if s.ndim == 1
                else "Expected 1D or 2D array")

    def _check(self):
        self.startprob_ = np.asarray(self.startprob_)
        if len(self.startprob_) != self.n_components:
            raise ValueError("startprob_ must have length n_components")
        self._check_sum_1("startprob_")
        self.transmat_ = np.asarray(self.transmat_)
        if self.transmat_.shape != (self.n_components, self.n_components):
            raise ValueError(
                "transmat_ must have shape (n_components, n_components)")
        self._check_sum_1("transmat_")
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {COVARIANCE_TYPES}")
        if self.implementation not in ("log", "scaling"):
            raise ValueError(f"implementation must be 'log' or 'scaling', "
                             f"got {self.implementation!r}")

    def _check_and_set_n_features(self, X):
        _, n_features = X.shape
        if hasattr(self, "n_features"):
            if self.n_features != n_features:
                raise ValueError(
                    f"Unexpected number of dimensions, got {n_features} but "
                    f"expected {self.n_features}")
        else:
            self.n_features = n_features

    def _finite(self):
        return "allow-nan" if getattr(self, "missing", False) else True

    def _lengths(self, X, lengths):
        if lengths is None:
            return None
        lengths = np.ascontiguousarray(lengths, dtype=np.int64)
        if lengths.ndim != 1 or lengths.size == 0:
            raise ValueError("lengths must be a non-empty 1-D array")
        if lengths.sum() != X.shape[0]:
            raise ValueError(f"lengths array {lengths} doesn't sum to "
                             f"{X.shape[0]} samples")
        return lengths

    def _prepare(self, X, lengths):
        """(model, X, lengths) for the inference calls."""
        check_is_fitted(self, "startprob_")
        self._check()
        X = _f64(check_array(X, force_all_finite=self._finite()))
        return self._model(), X, self._lengths(X, lengths)

    # --- inference -----------------------------------------------------------

    def score(self, X, lengths=None):
        """Total log-likelihood of the sequences in X."""
        model, X, lengths = self._prepare(X, lengths)
        return model.score(X, lengths, self._missing())

    def _posteriors(self, model, X, lengths):
        out = np.empty((X.shape[0], self.n_components))
        model.predict_proba(X, lengths, out, self._missing())
        return out

    def score_samples(self, X, lengths=None):
        """(log-likelihood, posteriors): hmmlearn's score_samples."""
        model, X, lengths = self._prepare(X, lengths)
        return (model.score(X, lengths, self._missing()),
                self._posteriors(model, X, lengths))

    def predict_proba(self, X, lengths=None):
        """Posterior probability of each state at each row."""
        model, X, lengths = self._prepare(X, lengths)
        return self._posteriors(model, X, lengths)

    def decode(self, X, lengths=None, algorithm=None):
        """(log-probability, states): Viterbi (the path's log-probability),
        or "map" (each row's most probable state; hmmlearn's log_prob is
        then the sum of the maximal posteriors)."""
        algorithm = algorithm or self.algorithm
        if algorithm not in DECODER_ALGORITHMS:
            raise ValueError(f"Unknown decoder {algorithm!r}")
        model, X, lengths = self._prepare(X, lengths)
        if algorithm == "map":
            posteriors = self._posteriors(model, X, lengths)
            return (np.max(posteriors, axis=1).sum(),
                    np.argmax(posteriors, axis=1))
        states = np.empty(X.shape[0], dtype=np.int32)
        log_prob = model.decode(X, lengths, states, self._missing())
        return log_prob, states.astype(int)

    def predict(self, X, lengths=None):
        """The most likely state of each row (by ``algorithm``)."""
        return self.decode(X, lengths)[1]

    def sample(self, n_samples=1, random_state=None, currstate=None):
        """hmmlearn's sampling (NumPy's generator, in hmmlearn's order: the
        same random_state gives hmmlearn's draws). Returns (X, states)."""
        check_is_fitted(self, "startprob_")
        self._check()
        if random_state is None:
            random_state = self.random_state
        random_state = check_random_state(random_state)
        transmat_cdf = np.cumsum(self.transmat_, axis=1)
        if currstate is None:
            startprob_cdf = np.cumsum(self.startprob_)
            currstate = (startprob_cdf > random_state.rand()).argmax()
        state_sequence = [currstate]
        X = [self._generate_sample_from_state(currstate, random_state)]
        for _ in range(n_samples - 1):
            currstate = (transmat_cdf[currstate]
                         > random_state.rand()).argmax()
            state_sequence.append(currstate)
            X.append(self._generate_sample_from_state(currstate,
                                                      random_state))
        return np.atleast_2d(X), np.array(state_sequence, dtype=int)

    def get_stationary_distribution(self):
        """The stationary distribution of the states."""
        check_is_fitted(self, "transmat_")
        eigvals, eigvecs = linalg.eig(self.transmat_.T)
        eigvec = np.real_if_close(eigvecs[:, np.argmax(eigvals)])
        return eigvec / eigvec.sum()

    def aic(self, X, lengths=None):
        n_params = sum(self._get_n_fit_scalars_per_param().values())
        return -2 * self.score(X, lengths=lengths) + 2 * n_params

    def bic(self, X, lengths=None):
        n_params = sum(self._get_n_fit_scalars_per_param().values())
        return (-2 * self.score(X, lengths=lengths)
                + n_params * np.log(len(X)))

    def save(self, path):
        """Write the model as the command line's HMM model file (JSON)."""
        check_is_fitted(self, "startprob_")
        self._check()
        self._model().save(path)

    # --- fitting ------------------------------------------------------------

    def _needs_init(self, code, name):
        if code in self.init_params:
            if hasattr(self, name):
                _log.warning(
                    "Even though the %r attribute is set, it will be "
                    "overwritten during initialization because "
                    "'init_params' contains %r", name, code)
            return True
        return not hasattr(self, name)

    def fit(self, X, lengths=None):
        """Baum-Welch in the library. Parameters whose letters are in
        init_params (or that are not set) are initialised by the library;
        the others start from their current values. Returns self."""
        X = _f64(check_array(X, force_all_finite=self._finite()))
        lengths = self._lengths(X, lengths)
        self._check_and_set_n_features(X)
        names = {"s": "startprob_", "t": "transmat_", "m": "means_",
                 "c": "covars_", "w": "weights_"}
        init = "".join(c for c in self._letters
                       if self._needs_init(c, names[c]))
        start = None
        if init != self._letters:
            self._fill_placeholders(init)
            self._check()
            start = self._model()
        params = "".join(c for c in self._letters if c in self.params)
        # hmmlearn stops on its monitor_, made by the constructor: its tol
        # and n_iter (hmmlearn's loop also ends at self.n_iter).
        monitor = self.monitor_
        result = _core.fit_hmm(
            X, lengths, start, emission=self._emission,
            covariance_type=self.covariance_type,
            n_states=int(self.n_components), n_mix=int(self._n_mix()),
            max_iter=int(min(self.n_iter, monitor.n_iter)),
            tol=float(monitor.tol), min_covar=float(self.min_covar),
            startprob_prior=_scalar(self.startprob_prior, "startprob_prior"),
            transmat_prior=_scalar(self.transmat_prior, "transmat_prior"),
            weights_prior=_scalar(getattr(self, "weights_prior", 1.0),
                                  "weights_prior"),
            means_prior=_scalar(self.means_prior, "means_prior"),
            means_weight=_scalar(self.means_weight, "means_weight"),
            covars_prior=_scalar(self.covars_prior, "covars_prior", np.nan),
            covars_weight=_scalar(self.covars_weight, "covars_weight",
                                  np.nan),
            params=params,
            init_params=init if start is not None else self._letters,
            seed=_seed(self.random_state), n_init=1,
            n_threads=0 if self.n_threads is None else int(self.n_threads),
            missing=self._missing())
        model, n_iter, _, _, _, history = result[:6]
        self._set_from(model, covars_updated="c" in init or start is None
                       or ("c" in params and n_iter > 0))
        monitor._reset()
        for value in history:
            monitor.report(value)
        return self

    def _missing(self):
        return bool(getattr(self, "missing", False))

    def _n_mix(self):
        return 1

    def _fill_placeholders(self, init):
        """Values for the parameters the library initialises but that are
        not set yet (so that a start model can be built; the library
        overwrites them)."""
        k, d = self.n_components, self.n_features
        if not hasattr(self, "startprob_"):
            self.startprob_ = np.full(k, 1.0 / k)
        if not hasattr(self, "transmat_"):
            self.transmat_ = np.full((k, k), 1.0 / k)
        self._fill_emission_placeholders(k, d)


class GaussianHMM(_BaseHMM):
    """Hidden Markov model with Gaussian emissions: hmmlearn 0.3.3's
    GaussianHMM on the emgmm library (see the module's docstring for the
    differences). ``missing=True`` (an extra) treats NaN as missing values;
    ``n_threads`` sets the library's threads.

    ``covars_`` returns full matrices (n_components, n_features,
    n_features), as hmmlearn's; ``_covars_`` holds them in the shape of the
    covariance type (spherical: tiled to (n_components, n_features) after
    fit, as hmmlearn's).
    """

    _emission = "gaussian"
    _letters = "stmc"

    def __init__(self, n_components=1, covariance_type="diag",
                 min_covar=1e-3, startprob_prior=1.0, transmat_prior=1.0,
                 means_prior=0, means_weight=0, covars_prior=1e-2,
                 covars_weight=1, algorithm="viterbi", random_state=None,
                 n_iter=10, tol=1e-2, verbose=False, params="stmc",
                 init_params="stmc", implementation="log", *,
                 missing=False, n_threads=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.min_covar = min_covar
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.missing = missing
        self.n_threads = n_threads
        self.monitor_ = ConvergenceMonitor(self.tol, self.n_iter,
                                           self.verbose)

    @property
    def covars_(self):
        """Covariances as full matrices, (n_components, n_features,
        n_features), as hmmlearn's getter (which, for a fitted spherical
        model, flattens its tiled _covars_ into n_components * n_features
        matrices; this one reads one variance per state)."""
        return fill_covars(self._per_type_covars(), self.covariance_type,
                           self.n_components, self.n_features)

    @covars_.setter
    def covars_(self, covars):
        covars = np.array(covars, copy=True)
        _validate_covars(covars, self.covariance_type, self.n_components)
        self._covars_ = covars

    def _check(self):
        super()._check()
        self.means_ = np.asarray(self.means_)
        self.n_features = self.means_.shape[1]

    def _get_n_fit_scalars_per_param(self):
        nc, nf = self.n_components, self.n_features
        return {
            "s": nc - 1,
            "t": nc * (nc - 1),
            "m": nc * nf,
            "c": {"spherical": nc, "diag": nc * nf,
                  "full": nc * nf * (nf + 1) // 2,
                  "tied": nf * (nf + 1) // 2}[self.covariance_type],
        }

    def _per_type_covars(self):
        """_covars_ in the library's shape (spherical: one value per
        state, the first column of hmmlearn's tiled array)."""
        cov = np.asarray(self._covars_, dtype=np.float64)
        if self.covariance_type == "spherical" and cov.ndim == 2:
            cov = cov[:, 0]
        return cov

    def _model(self):
        return _core.hmm_create(
            "gaussian", self.covariance_type, _f64(self.startprob_),
            _f64(self.transmat_), None, _f64(self.means_),
            _f64(self._per_type_covars()))

    def _fill_emission_placeholders(self, k, d):
        if not hasattr(self, "means_"):
            self.means_ = np.zeros((k, d))
        if not hasattr(self, "_covars_"):
            self._covars_ = {"full": np.tile(np.eye(d), (k, 1, 1)),
                             "tied": np.eye(d), "diag": np.ones((k, d)),
                             "spherical": np.ones(k)}[self.covariance_type]

    def _set_from(self, model, covars_updated=False):
        k, d = model.n_states, model.n_features
        shape = {"full": (k, d, d), "tied": (d, d), "diag": (k, d),
                 "spherical": (k,)}[self.covariance_type]
        startprob, transmat = np.empty(k), np.empty((k, k))
        means, covars = np.empty((k, d)), np.empty(shape)
        model.parameters(startprob, transmat, None, means, covars)
        self.startprob_, self.transmat_, self.means_ = startprob, transmat, means
        if self.covariance_type == "spherical" and covars_updated:
            # hmmlearn's initialisation and M-step store spherical
            # variances tiled to (n_components, n_features).
            covars = np.tile(covars[:, None], (1, d))
        self._covars_ = covars
        self.n_features = d

    def _generate_sample_from_state(self, state, random_state):
        return random_state.multivariate_normal(self.means_[state],
                                                self.covars_[state])


class GMMHMM(_BaseHMM):
    """Hidden Markov model with Gaussian-mixture emissions: hmmlearn 0.3.3's
    GMMHMM on the emgmm library (see the module's docstring for the
    differences). covars_prior and covars_weight None mean hmmlearn's
    defaults for the covariance type. ``covars_`` is a plain attribute in
    the type's shape: full (n_components, n_mix, n_features, n_features),
    tied (n_components, n_features, n_features), diag (n_components, n_mix,
    n_features), spherical (n_components, n_mix).
    """

    _emission = "gmm"
    _letters = "stmcw"

    def __init__(self, n_components=1, n_mix=1, min_covar=1e-3,
                 startprob_prior=1.0, transmat_prior=1.0, weights_prior=1.0,
                 means_prior=0.0, means_weight=0.0, covars_prior=None,
                 covars_weight=None, algorithm="viterbi",
                 covariance_type="diag", random_state=None, n_iter=10,
                 tol=1e-2, verbose=False, params="stmcw",
                 init_params="stmcw", implementation="log", *,
                 n_threads=None):
        self.n_components = n_components
        self.n_mix = n_mix
        self.min_covar = min_covar
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.weights_prior = weights_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight
        self.algorithm = algorithm
        self.covariance_type = covariance_type
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.n_threads = n_threads
        self.monitor_ = ConvergenceMonitor(self.tol, self.n_iter,
                                           self.verbose)

    def _n_mix(self):
        return self.n_mix

    def _get_n_fit_scalars_per_param(self):
        nc, nf, nm = self.n_components, self.n_features, self.n_mix
        return {
            "s": nc - 1,
            "t": nc * (nc - 1),
            "m": nc * nm * nf,
            "c": {"spherical": nc * nm, "diag": nc * nm * nf,
                  "full": nc * nm * nf * (nf + 1) // 2,
                  "tied": nc * nf * (nf + 1) // 2}[self.covariance_type],
            "w": nm - 1,
        }

    def _check(self):
        super()._check()
        if not hasattr(self, "n_features"):
            self.n_features = self.means_.shape[2]
        nc, nf, nm = self.n_components, self.n_features, self.n_mix
        self.weights_ = np.array(self.weights_)
        if self.weights_.shape != (nc, nm):
            raise ValueError(
                f"weights_ must have shape (n_components, n_mix), "
                f"actual shape: {self.weights_.shape}")
        self._check_sum_1("weights_")
        self.means_ = np.array(self.means_)
        if self.means_.shape != (nc, nm, nf):
            raise ValueError(
                f"means_ must have shape (n_components, n_mix, n_features), "
                f"actual shape: {self.means_.shape}")
        self.covars_ = np.array(self.covars_)
        needed_shape = {"spherical": (nc, nm), "tied": (nc, nf, nf),
                        "diag": (nc, nm, nf),
                        "full": (nc, nm, nf, nf)}[self.covariance_type]
        if self.covars_.shape != needed_shape:
            raise ValueError(
                f"{self.covariance_type!r} mixture covars must have shape "
                f"{needed_shape}, actual shape: {self.covars_.shape}")
        if self.covariance_type in ("spherical", "diag"):
            if np.any(self.covars_ < 0):
                raise ValueError(f"{self.covariance_type!r} mixture covars "
                                 f"must be non-negative")
        elif self.covariance_type == "tied":
            for i, covar in enumerate(self.covars_):
                if not np.allclose(covar, covar.T):
                    raise ValueError(
                        f"Covariance of state #{i} is not symmetric")
                if linalg.eigvalsh(covar).min() < 0:
                    raise ValueError(
                        f"Covariance of state #{i} is not positive definite")
        else:
            for i, mix_covars in enumerate(self.covars_):
                for j, covar in enumerate(mix_covars):
                    if not np.allclose(covar, covar.T):
                        raise ValueError(
                            f"Covariance of state #{i}, mixture #{j} is not "
                            f"symmetric")
                    if linalg.eigvalsh(covar).min() < 0:
                        raise ValueError(
                            f"Covariance of state #{i}, mixture #{j} is not "
                            f"positive definite")

    def _model(self):
        return _core.hmm_create(
            "gmm", self.covariance_type, _f64(self.startprob_),
            _f64(self.transmat_), _f64(self.weights_), _f64(self.means_),
            _f64(self.covars_))

    def _fill_emission_placeholders(self, k, d):
        m = self.n_mix
        if not hasattr(self, "weights_"):
            self.weights_ = np.full((k, m), 1.0 / m)
        if not hasattr(self, "means_"):
            self.means_ = np.zeros((k, m, d))
        if not hasattr(self, "covars_"):
            self.covars_ = {"full": np.tile(np.eye(d), (k, m, 1, 1)),
                            "tied": np.tile(np.eye(d), (k, 1, 1)),
                            "diag": np.ones((k, m, d)),
                            "spherical": np.ones((k, m))
                            }[self.covariance_type]

    def _set_from(self, model, covars_updated=False):
        k, m, d = model.n_states, model.n_mix, model.n_features
        shape = {"full": (k, m, d, d), "tied": (k, d, d), "diag": (k, m, d),
                 "spherical": (k, m)}[self.covariance_type]
        startprob, transmat = np.empty(k), np.empty((k, k))
        weights, means = np.empty((k, m)), np.empty((k, m, d))
        covars = np.empty(shape)
        model.parameters(startprob, transmat, weights, means, covars)
        self.startprob_, self.transmat_ = startprob, transmat
        self.weights_, self.means_, self.covars_ = weights, means, covars
        self.n_features = d

    def _generate_sample_from_state(self, state, random_state):
        cur_weights = self.weights_[state]
        i_gauss = random_state.choice(self.n_mix, p=cur_weights)
        if self.covariance_type == "tied":
            covs = self.covars_
        else:
            covs = self.covars_[:, i_gauss]
            covs = fill_covars(covs, self.covariance_type,
                               self.n_components, self.n_features)
        return random_state.multivariate_normal(
            self.means_[state, i_gauss], covs[state])


# hmmlearn's BaseHMM name, for code that checks isinstance.
BaseHMM = _BaseHMM
__all__ = ["GaussianHMM", "GMMHMM", "ConvergenceMonitor", "BaseHMM"]
