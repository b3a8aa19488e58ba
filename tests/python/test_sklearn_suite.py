"""scikit-learn's own tests of GaussianMixture, run against
emgmm.GaussianMixture.

The test file is Debian's (python3-sklearn ships
sklearn/mixture/tests/test_gaussian_mixture.py and test_mixture.py); its
source is read, its `from sklearn.mixture import GaussianMixture` turned
into `from emgmm import GaussianMixture`, and its tests run here. Excluded
(skipped, with the reason) are the tests that exercise scikit-learn's
private helper functions only (they never construct the estimator, so
they would test scikit-learn, not emgmm) and, in test_mixture.py, the
BayesianGaussianMixture cases (emgmm has no variational mixture).
"""

import os

import pytest
import sklearn

_HERE = os.path.dirname(sklearn.__file__)
_IMPORT = "from sklearn.mixture import GaussianMixture"

# Tests of scikit-learn's private functions (_estimate_gaussian_covariances_*,
# _compute_precision_cholesky, _compute_log_det_cholesky,
# _estimate_log_gaussian_prob): they do not use GaussianMixture at all.
PRIVATE_ONLY = {
    "test_suffstat_sk_full": "scikit-learn's _estimate_gaussian_covariances_full "
                             "and _compute_precision_cholesky only",
    "test_suffstat_sk_tied": "scikit-learn's _estimate_gaussian_covariances_tied "
                             "and _compute_precision_cholesky only",
    "test_suffstat_sk_diag": "scikit-learn's _estimate_gaussian_covariances_diag "
                             "and _compute_precision_cholesky only",
    "test_gaussian_suffstat_sk_spherical": "scikit-learn's "
                             "_estimate_gaussian_covariances_spherical only",
    "test_compute_log_det_cholesky": "scikit-learn's _compute_log_det_cholesky "
                                     "only",
    "test_gaussian_mixture_log_probabilities": "scikit-learn's "
                                               "_estimate_log_gaussian_prob only",
}


def _load(name):
    path = os.path.join(_HERE, "mixture", "tests", name)
    if not os.path.isfile(path):
        return None, path
    with open(path, encoding="utf-8") as f:
        source = f.read()
    if source.count(_IMPORT) != 1:
        raise RuntimeError("%s: expected one line %r" % (path, _IMPORT))
    return source.replace(_IMPORT, "from emgmm import GaussianMixture"), path


_source, _path = _load("test_gaussian_mixture.py")
if _source is None:
    pytest.skip("scikit-learn's test file is not installed (%s): Debian's "
                "python3-sklearn ships it" % _path, allow_module_level=True)

# Its tests become this module's (pytest collects them from here).
exec(compile(_source, _path, "exec"), globals())

for _name, _why in PRIVATE_ONLY.items():
    if _name not in globals():
        raise RuntimeError("%s has no %s any more: update PRIVATE_ONLY"
                           % (_path, _name))
    globals()[_name] = pytest.mark.skip(
        reason="excluded: tests %s, not the estimator" % _why)(
            globals()[_name])


# test_mixture.py: its two tests are parametrised over GaussianMixture and
# BayesianGaussianMixture; the GaussianMixture cases, on emgmm's class.
_mixture_source, _mixture_path = _load("test_mixture.py")
if _mixture_source is not None:
    _ns = {}
    exec(compile(_mixture_source, _mixture_path, "exec"), _ns)
    from emgmm import GaussianMixture as _GM

    @pytest.mark.parametrize("test", ["test_gaussian_mixture_n_iter",
                                      "test_mixture_n_components_greater_"
                                      "than_n_samples_error"])
    def test_mixture_file(test):
        # Called directly: its own parametrisation names scikit-learn's
        # estimators; here it gets emgmm's.
        _ns[test](_GM())
