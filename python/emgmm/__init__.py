"""Gaussian mixtures and hidden Markov models fitted by EM in the emgmm C
library, behind the interfaces of scikit-learn and hmmlearn.

- ``emgmm.GaussianMixture``: scikit-learn 1.2's ``GaussianMixture`` (same
  parameters, attributes, methods and numbers from the same
  ``random_state``), plus ``sample_weight``, missing values, ``n_threads``
  and JSON model files.
- ``emgmm.GaussianHMM`` and ``emgmm.GMMHMM``: hmmlearn 0.3.3's classes of
  the same names.
- ``emgmm.load(path)``: a model file written by ``save`` or by the ``emgmm``
  command line.

The computation is float64; float32 input is converted.
"""

import pkgutil

# The extension (emgmm._core) is built into the build tree's python/emgmm/
# while these files stay in the source's python/emgmm/: with both parents
# on sys.path, the package spans the two folders. Installed, they are one.
__path__ = pkgutil.extend_path(__path__, __name__)

from ._core import SingularError  # noqa: E402
from ._core import version as _library_version  # noqa: E402
from ._files import load  # noqa: E402
from ._gmm import GaussianMixture  # noqa: E402
from ._hmm import GMMHMM, ConvergenceMonitor, GaussianHMM  # noqa: E402

__version__ = _library_version()

__all__ = ["GaussianMixture", "GaussianHMM", "GMMHMM", "ConvergenceMonitor",
           "SingularError", "load", "__version__"]
