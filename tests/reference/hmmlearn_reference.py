#!/usr/bin/env python3
"""Reference results from hmmlearn for emgmm's hidden Markov models.

Usage:

  hmmlearn_reference.py fit DATA.npy START.json N_ITER [--lengths L]
      [--params CODES] [--startprob-prior X] [--transmat-prior X]
      [--weights-prior X] [--means-prior X] [--means-weight X]
      [--covars-prior X] [--covars-weight X]            > OUT.json
  hmmlearn_reference.py score MODEL.json DATA.npy [--lengths L] > OUT.json
  hmmlearn_reference.py check

DATA.npy is an N x D float array (one row per time step, the sequences one
after the other). L gives the length of each sequence, in order, summing to
N: an integer .npy array, or a text file with one integer per line; without
it the data are one sequence. START.json and MODEL.json are emgmm HMM model
files ("format": "emgmm-hmm", version 1; a "fit" record is ignored):

  "emission": "gaussian" | "gmm", "covariance_type": full|tied|diag|spherical,
  "n_states": K, "n_features": D, "n_mix": M (gmm; 1 if given for gaussian),
  "startprob": [K], "transmat": [K][K], "weights": [K][M] (gmm),
  "means": [K][D] (gaussian) or [K][M][D] (gmm),
  "covariances": hmmlearn's per-type shapes --
      gaussian: full K x D x D, diag K x D, spherical K, tied D x D
      gmm:      full K x M x D x D, diag K x M x D, spherical K x M,
                tied K x D x D (one matrix per state, shared by its mixture)

fit
  builds hmmlearn.hmm.GaussianHMM (or GMMHMM with n_mix=M) with
  init_params="" (nothing re-initialised), tol=-inf (exactly N_ITER
  iterations), implementation="log", params=CODES (default "stmc" for
  gaussian, "stmcw" for gmm) and the priors given (hmmlearn's defaults
  otherwise), sets the start parameters exactly as read, runs
  fit(X, lengths) and prints one JSON object: the fitted model in the same
  format, plus
    "history": the total log-likelihood of all sequences at each E-step
               (monitor_.history; entry i is the model after i M-steps, so
               the last entry is before the last M-step),
    "score":   score(X, lengths) of the returned model.
  The prior options are passed to hmmlearn under the same names (scalars,
  broadcast by hmmlearn). Their meaning differs between the two classes:
  for GaussianHMM, diag/spherical variances are
  (covars_prior + S) / (max(covars_weight - 1, 0) + n) and full/tied
  covariances (covars_prior + S) / (max(covars_weight - D, 0) + n), the
  scalar covars_prior added to every entry (default covars_prior=1e-2,
  covars_weight=1); for GMMHMM covars_prior/covars_weight are the
  inverse-gamma alpha/beta (diag, spherical) or the inverse-Wishart
  psi/nu (full, tied), and their defaults (None) give the maximum
  likelihood update except for spherical, whose denominator is then
  D * (n + 1) - M instead of D * n. --weights-prior is GMMHMM's only.

score
  prints {"log_likelihood": score(X, lengths),
          "viterbi_log_probability": decode(X, lengths, "viterbi")[0],
          "viterbi_states": [N], "posteriors": predict_proba(X, lengths)}.

check
  exits 0 when hmmlearn can be imported (printing its location), 77 when
  not, saying why on stderr.

hmmlearn is found by a plain import first; if that fails and the environment
variable HMMLEARN_PATH is set, that folder (e.g. the one printed by
../shared/peers/build-hmmlearn.sh OUT_DIR) is put on sys.path and the import
is tried again.

All numbers are written with repr() (json's default), the shortest text that
reads back as the same double.

Exit status: 0 on success, 2 for bad arguments or input files (one line on
stderr), 77 when numpy or hmmlearn cannot be imported (the calling test is
then reported as skipped), 1 on any other failure.
"""

import json
import logging
import math
import os
import sys
import warnings

PROG = "hmmlearn_reference.py"
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


class InputError(Exception):
    """A bad argument or input file: exit status 2."""


class Unavailable(Exception):
    """numpy or hmmlearn cannot be imported: exit status 77."""


# --------------------------------------------------------------------------
# Finding hmmlearn
# --------------------------------------------------------------------------

def _forget_hmmlearn():
    for name in list(sys.modules):
        if name == "hmmlearn" or name.startswith("hmmlearn."):
            del sys.modules[name]


def import_hmmlearn():
    """Returns the hmmlearn.hmm module or raises Unavailable."""
    # With priors the likelihood may fall (the fit is MAP): hmmlearn logs a
    # warning per iteration then, which is expected here.
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    try:
        import numpy  # noqa: F401
    except ImportError as exc:
        raise Unavailable("cannot import numpy (%s): run with a Python that "
                          "has numpy, e.g. /usr/bin/python3" % exc)
    try:
        import hmmlearn.hmm
        return hmmlearn.hmm
    except ImportError as exc:
        first = exc
    path = os.environ.get("HMMLEARN_PATH", "")
    if not path:
        raise Unavailable("cannot import hmmlearn (%s) and HMMLEARN_PATH is "
                          "not set (build it with ../shared/peers/"
                          "build-hmmlearn.sh OUT_DIR and set HMMLEARN_PATH to "
                          "the folder it prints)" % first)
    _forget_hmmlearn()
    sys.path.insert(0, path)
    try:
        import hmmlearn.hmm
        return hmmlearn.hmm
    except ImportError as exc:
        raise Unavailable("cannot import hmmlearn, neither installed (%s) nor "
                          "from HMMLEARN_PATH=%s (%s)" % (first, path, exc))


# --------------------------------------------------------------------------
# Reading inputs
# --------------------------------------------------------------------------

def load_data(path):
    import numpy as np
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError("%s: cannot read as .npy: %s" % (path, exc))
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise InputError("%s: expected an N x D array, got shape %s"
                         % (path, x.shape))
    if not (np.issubdtype(x.dtype, np.floating)
            or np.issubdtype(x.dtype, np.integer)):
        raise InputError("%s: expected numbers, got dtype %s"
                         % (path, x.dtype))
    x = np.ascontiguousarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise InputError("%s: contains NaN or infinite values" % path)
    return x


def load_lengths(path, n):
    import numpy as np
    if path is None:
        return None
    try:
        if path.endswith(".npy"):
            raw = np.load(path, allow_pickle=False)
        else:
            raw = np.loadtxt(path, dtype=np.float64, ndmin=1)
    except (OSError, ValueError) as exc:
        raise InputError("%s: cannot read lengths: %s" % (path, exc))
    raw = np.asarray(raw)
    if raw.ndim != 1 or raw.size < 1:
        raise InputError("%s: expected a list of sequence lengths, got "
                         "shape %s" % (path, raw.shape))
    lengths = raw.astype(np.int64)
    if not np.array_equal(lengths, raw) or (lengths < 1).any():
        raise InputError("%s: lengths must be positive integers" % path)
    if int(lengths.sum()) != n:
        raise InputError("%s: lengths sum to %d, the data have %d rows"
                         % (path, int(lengths.sum()), n))
    return lengths


def _array(model, key, shape, path):
    import numpy as np
    if key not in model:
        raise InputError("%s: missing \"%s\"" % (path, key))
    try:
        a = np.array(model[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("%s: \"%s\" is not a (nested) list of numbers"
                         % (path, key))
    if a.shape != shape:
        raise InputError("%s: \"%s\" has shape %s, expected %s"
                         % (path, key, a.shape, shape))
    if not np.isfinite(a).all():
        raise InputError("%s: \"%s\" has non-finite values" % (path, key))
    return a


def _positive_int(model, key, path):
    v = model.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise InputError("%s: \"%s\" must be a positive integer" % (path, key))
    return v


def _check_distribution(a, key, path):
    import numpy as np
    if (a < 0).any() or not np.allclose(a.sum(axis=-1), 1.0,
                                        rtol=0, atol=1e-8):
        raise InputError("%s: \"%s\" must be non-negative and sum to 1 "
                         "(per row)" % (path, key))


def _check_spd(mats, key, path):
    import numpy as np
    for i, c in enumerate(mats.reshape((-1,) + mats.shape[-2:])):
        if not np.allclose(c, c.T, rtol=1e-10,
                           atol=1e-12 * np.abs(c).max()):
            raise InputError("%s: \"%s\" matrix %d is not symmetric"
                             % (path, key, i))
        if np.linalg.eigvalsh(c).min() <= 0:
            raise InputError("%s: \"%s\" matrix %d is not positive definite"
                             % (path, key, i))


def load_model(path):
    """Reads an emgmm-hmm model file into a dict of numpy arrays."""
    try:
        with open(path, encoding="utf-8") as f:
            model = json.load(f)
    except OSError as exc:
        raise InputError("%s: %s" % (path, exc.strerror or exc))
    except ValueError as exc:
        raise InputError("%s: not valid JSON: %s" % (path, exc))
    if not isinstance(model, dict):
        raise InputError("%s: expected a JSON object" % path)
    if model.get("format") != "emgmm-hmm":
        raise InputError("%s: \"format\" is not \"emgmm-hmm\"" % path)
    if model.get("version") != 1:
        raise InputError("%s: unsupported \"version\" %r"
                         % (path, model.get("version")))
    emission = model.get("emission")
    if emission not in ("gaussian", "gmm"):
        raise InputError("%s: \"emission\" must be \"gaussian\" or \"gmm\""
                         % path)
    cov_type = model.get("covariance_type")
    if cov_type not in COVARIANCE_TYPES:
        raise InputError("%s: \"covariance_type\" must be one of %s"
                         % (path, ", ".join(COVARIANCE_TYPES)))
    k = _positive_int(model, "n_states", path)
    d = _positive_int(model, "n_features", path)
    if emission == "gmm":
        m = _positive_int(model, "n_mix", path)
    else:
        m = 1
        if "n_mix" in model and model["n_mix"] != 1:
            raise InputError("%s: \"n_mix\" must be 1 for gaussian emissions"
                             % path)

    out = {"emission": emission, "covariance_type": cov_type,
           "n_states": k, "n_features": d, "n_mix": m}
    out["startprob"] = _array(model, "startprob", (k,), path)
    out["transmat"] = _array(model, "transmat", (k, k), path)
    _check_distribution(out["startprob"], "startprob", path)
    _check_distribution(out["transmat"], "transmat", path)
    if emission == "gaussian":
        out["means"] = _array(model, "means", (k, d), path)
        shape = {"full": (k, d, d), "diag": (k, d), "spherical": (k,),
                 "tied": (d, d)}[cov_type]
    else:
        out["weights"] = _array(model, "weights", (k, m), path)
        _check_distribution(out["weights"], "weights", path)
        out["means"] = _array(model, "means", (k, m, d), path)
        shape = {"full": (k, m, d, d), "diag": (k, m, d),
                 "spherical": (k, m), "tied": (k, d, d)}[cov_type]
    cov = _array(model, "covariances", shape, path)
    if cov_type in ("full", "tied"):
        _check_spd(cov, "covariances", path)
    elif (cov <= 0).any():
        raise InputError("%s: \"covariances\" must be positive" % path)
    out["covariances"] = cov
    return out


# --------------------------------------------------------------------------
# hmmlearn models
# --------------------------------------------------------------------------

def build(hmm, model, n_iter, params, priors):
    """An hmmlearn model holding exactly the parameters of `model`."""
    import numpy as np
    k, cov_type = model["n_states"], model["covariance_type"]
    common = dict(n_components=k, covariance_type=cov_type, n_iter=n_iter,
                  tol=-np.inf, init_params="", implementation="log")
    if model["emission"] == "gaussian":
        h = hmm.GaussianHMM(params=params or "stmc", **common, **priors)
        h.startprob_ = model["startprob"].copy()
        h.transmat_ = model["transmat"].copy()
        h.means_ = model["means"].copy()
        # The setter validates and stores the per-type array in _covars_
        # (the getter returns full K x D x D matrices).
        h.covars_ = model["covariances"].copy()
    else:
        h = hmm.GMMHMM(n_mix=model["n_mix"], params=params or "stmcw",
                       **common, **priors)
        h.startprob_ = model["startprob"].copy()
        h.transmat_ = model["transmat"].copy()
        h.weights_ = model["weights"].copy()
        h.means_ = model["means"].copy()
        h.covars_ = model["covariances"].copy()  # a plain attribute
    return h


def _finite_list(a, what):
    import numpy as np
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        raise RuntimeError("hmmlearn produced non-finite %s" % what)
    return a.tolist()


def dump_model(h, model):
    """The hmmlearn model `h` as an emgmm-hmm dict."""
    import numpy as np
    k, d = model["n_states"], model["n_features"]
    cov_type = model["covariance_type"]
    out = {"format": "emgmm-hmm", "version": 1,
           "emission": model["emission"], "covariance_type": cov_type,
           "n_states": k, "n_features": d}
    if model["emission"] == "gmm":
        out["n_mix"] = model["n_mix"]
    out["startprob"] = _finite_list(h.startprob_, "startprob")
    out["transmat"] = _finite_list(h.transmat_, "transmat")
    if model["emission"] == "gaussian":
        cov = np.asarray(h._covars_)
        if cov_type == "spherical" and cov.ndim == 2:
            # GaussianHMM's M-step stores spherical variances tiled to
            # K x D (all columns equal); the per-type shape is K.
            cov = cov[:, 0]
    else:
        out["weights"] = _finite_list(h.weights_, "weights")
        cov = np.asarray(h.covars_)
    out["means"] = _finite_list(h.means_, "means")
    out["covariances"] = _finite_list(cov, "covariances")
    return out


def _float(v, what):
    v = float(v)
    if not math.isfinite(v):
        raise RuntimeError("hmmlearn produced a non-finite %s" % what)
    return v


def print_json(obj):
    json.dump(obj, sys.stdout, allow_nan=False, separators=(",", ":"))
    sys.stdout.write("\n")


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------

PRIOR_OPTIONS = {
    "--startprob-prior": "startprob_prior",
    "--transmat-prior": "transmat_prior",
    "--weights-prior": "weights_prior",
    "--means-prior": "means_prior",
    "--means-weight": "means_weight",
    "--covars-prior": "covars_prior",
    "--covars-weight": "covars_weight",
}


def parse_options(args, allowed):
    """Splits args into positionals and {option: value}."""
    positional, options = [], {}
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, value = a.partition("=")
        if a.startswith("--") and name in allowed:
            if not eq:
                if i + 1 >= len(args):
                    raise InputError("%s needs a value" % name)
                i += 1
                value = args[i]
            if name in options:
                raise InputError("%s given twice" % name)
            options[name] = value
        elif a.startswith("--"):
            raise InputError("unknown option %s" % a)
        else:
            positional.append(a)
        i += 1
    return positional, options


def parse_float(text, what):
    try:
        v = float(text)
    except ValueError:
        raise InputError("%s: not a number: %r" % (what, text))
    if not math.isfinite(v):
        raise InputError("%s: must be finite" % what)
    return v


def cmd_fit(args):
    allowed = ["--lengths", "--params"] + list(PRIOR_OPTIONS)
    pos, opts = parse_options(args, allowed)
    if len(pos) != 3:
        raise InputError("usage: %s fit DATA.npy START.json N_ITER "
                         "[--lengths L] [--params CODES] [prior options]"
                         % PROG)
    data_path, start_path, n_iter_text = pos
    hmm = import_hmmlearn()
    try:
        n_iter = int(n_iter_text)
    except ValueError:
        n_iter = -1
    if n_iter < 1:
        raise InputError("N_ITER must be a positive integer, got %r"
                         % n_iter_text)
    x = load_data(data_path)
    lengths = load_lengths(opts.get("--lengths"), len(x))
    model = load_model(start_path)
    if x.shape[1] != model["n_features"]:
        raise InputError("%s has %d columns, the model %d features"
                         % (data_path, x.shape[1], model["n_features"]))
    params = opts.get("--params")
    if params is not None:
        codes = "stmc" + ("w" if model["emission"] == "gmm" else "")
        if not params or any(c not in codes for c in params):
            raise InputError("--params: letters from \"%s\" expected, got %r"
                             % (codes, params))
    priors = {}
    for opt, name in PRIOR_OPTIONS.items():
        if opt in opts:
            if opt == "--weights-prior" and model["emission"] != "gmm":
                raise InputError("--weights-prior is for gmm emissions only")
            priors[name] = parse_float(opts[opt], opt)

    h = build(hmm, model, n_iter, params, priors)
    with warnings.catch_warnings():
        # e.g. scikit-learn's KMeans, which GMMHMM runs (and discards) even
        # with init_params="".
        warnings.simplefilter("ignore")
        h.fit(x, lengths)
        history = [_float(v, "log-likelihood") for v in h.monitor_.history]
        if len(history) != n_iter:
            raise RuntimeError("hmmlearn ran %d iterations, not %d"
                               % (len(history), n_iter))
        out = dump_model(h, model)
        out["history"] = history
        out["score"] = _float(h.score(x, lengths), "score")
    print_json(out)
    return 0


def cmd_score(args):
    pos, opts = parse_options(args, ["--lengths"])
    if len(pos) != 2:
        raise InputError("usage: %s score MODEL.json DATA.npy [--lengths L]"
                         % PROG)
    model_path, data_path = pos
    hmm = import_hmmlearn()
    model = load_model(model_path)
    x = load_data(data_path)
    lengths = load_lengths(opts.get("--lengths"), len(x))
    if x.shape[1] != model["n_features"]:
        raise InputError("%s has %d columns, the model %d features"
                         % (data_path, x.shape[1], model["n_features"]))
    h = build(hmm, model, 1, None, {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log_likelihood = h.score(x, lengths)
        vit_logprob, states = h.decode(x, lengths, algorithm="viterbi")
        posteriors = h.predict_proba(x, lengths)
    print_json({
        "log_likelihood": _float(log_likelihood, "log-likelihood"),
        "viterbi_log_probability": _float(vit_logprob,
                                          "Viterbi log-probability"),
        "viterbi_states": [int(s) for s in states],
        "posteriors": _finite_list(posteriors, "posteriors"),
    })
    return 0


def cmd_check(args):
    if args:
        raise InputError("usage: %s check" % PROG)
    hmm = import_hmmlearn()
    import hmmlearn
    print("hmmlearn from %s" % os.path.dirname(hmmlearn.__file__))
    del hmm
    return 0


def main(argv):
    commands = {"fit": cmd_fit, "score": cmd_score, "check": cmd_check}
    if len(argv) < 2 or argv[1] not in commands:
        print("usage: %s fit|score|check ... (see the docstring)" % PROG,
              file=sys.stderr)
        return 2
    try:
        return commands[argv[1]](argv[2:])
    except InputError as exc:
        print("%s: %s" % (PROG, exc), file=sys.stderr)
        return 2
    except Unavailable as exc:
        print("%s: %s" % (PROG, exc), file=sys.stderr)
        return 77


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except SystemExit:
        raise
    except Exception as exc:  # one line, for the test's log
        print("%s: %s: %s" % (PROG, type(exc).__name__, exc), file=sys.stderr)
        sys.exit(1)
