"""Helpers of the Python suite: relative differences, and the table of the
largest ones measured against scikit-learn and hmmlearn (printed at the end
of the run by conftest.py)."""

import numpy as np

# (what, case) -> largest relative difference seen
PARITY = {}


def rel(a, b):
    """max |a - b| / max |b|: the difference relative to the magnitude of
    the reference (normwise, so that entries near zero do not dominate)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    if a.size == 0:
        return 0.0
    scale = np.max(np.abs(b))
    diff = np.max(np.abs(a - b))
    return float(diff / scale) if scale > 0 else float(diff)


def record(what, case, value):
    key = (what, case)
    PARITY[key] = max(PARITY.get(key, 0.0), value)


def assert_close(what, case, pairs, tol=1e-6):
    """Each (name, ours, reference) pair within tol relative; the largest
    difference goes into the table."""
    worst, worst_name = 0.0, None
    for name, ours, ref in pairs:
        r = rel(ours, ref)
        if r >= worst:
            worst, worst_name = r, name
        assert r <= tol, "%s %s: %s differs by %.3g relative" % (
            what, case, name, r)
    record(what, case, worst)
    return worst, worst_name
