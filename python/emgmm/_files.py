"""emgmm.load: the JSON model files of the command line, as estimators."""

import json
import math

import numpy as np

from . import _core


def _fit_record(doc):
    record = doc.get("fit") if isinstance(doc, dict) else None
    return record if isinstance(record, dict) else {}


def load(path):
    """Read a model file written by ``save`` or by the ``emgmm`` program:
    a mixture ("format": "emgmm-model", or a file with only weights, means
    and covariances) as a fitted ``GaussianMixture``, an HMM ("format":
    "emgmm-hmm") as a fitted ``GaussianHMM`` or ``GMMHMM``. The library
    reads and checks the file; a malformed one raises ValueError naming the
    line and column."""
    from ._gmm import GaussianMixture
    from ._hmm import GMMHMM, GaussianHMM

    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except (ValueError, UnicodeDecodeError):
        doc = None  # the library's reader says where the file is wrong
    fmt = doc.get("format") if isinstance(doc, dict) else None
    record = _fit_record(doc)

    if fmt == "emgmm-hmm":
        model = _core.hmm_load(path)
        if model.emission == "gmm":
            est = GMMHMM(n_components=model.n_states, n_mix=model.n_mix,
                         covariance_type=model.covariance_type)
        else:
            est = GaussianHMM(n_components=model.n_states,
                              covariance_type=model.covariance_type)
        est._set_from(model)
        return est

    model = _core.mixture_load(path)
    est = GaussianMixture(n_components=model.n_components,
                          covariance_type=model.covariance_type)
    est._set_parameters(*GaussianMixture._parameters_of(model))
    est.n_features_in_ = model.n_features
    # The file's "fit" record, when there is one (a warm start goes on
    # from it as scikit-learn's would from the fitted estimator).
    lower_bound = record.get("lower_bound")
    est.converged_ = bool(record.get("converged", False))
    est.n_iter_ = int(record.get("n_iter", 0) or 0)
    est.lower_bound_ = (float(lower_bound)
                        if isinstance(lower_bound, (int, float))
                        and math.isfinite(lower_bound) else -np.inf)
    return est
