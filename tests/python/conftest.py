"""Shared fixtures of the Python suite (tests/python/).

`meson test --suite python` runs it with Debian's Python on the build tree:
PYTHONPATH holds the build folder of the extension and the source's
python/, HMMLEARN_PATH the hmmlearn that scripts/test.sh builds from
../shared/peers, EMGMM_PROG the command-line program and EMGMM_BUILD_ROOT
the build folder.
"""

import os
import sys

import pytest


def pytest_report_header(config):
    import emgmm
    import numpy
    import sklearn
    return ("emgmm %s from %s; numpy %s, scikit-learn %s; python %s"
            % (emgmm.__version__, os.path.dirname(emgmm._core.__file__),
               numpy.__version__, sklearn.__version__, sys.executable))


@pytest.fixture
def global_random_seed():
    """scikit-learn's fixture (sklearn/conftest.py), which its test files
    expect: the seed from SKLEARN_TESTS_GLOBAL_RANDOM_SEED, 42 by default
    (scikit-learn's own default)."""
    value = os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED", "42")
    try:
        return int(value)
    except ValueError:
        return 42


@pytest.fixture(scope="session")
def hmmlearn_hmm():
    """hmmlearn.hmm: installed, or from HMMLEARN_PATH (built by
    scripts/test.sh from ../shared/peers); the test skips otherwise."""
    import logging
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    try:
        import hmmlearn.hmm
        return hmmlearn.hmm
    except ImportError:
        pass
    path = os.environ.get("HMMLEARN_PATH", "")
    if path and os.path.isdir(path):
        sys.path.append(path)
        try:
            import hmmlearn.hmm
            return hmmlearn.hmm
        except ImportError as exc:
            pytest.skip("hmmlearn 0.3.3 not importable from HMMLEARN_PATH=%s "
                        "(%s): run scripts/test.sh, which builds it from "
                        "../shared/peers" % (path, exc))
    pytest.skip("hmmlearn 0.3.3 is not installed and HMMLEARN_PATH is %s: "
                "run scripts/test.sh, which builds it from ../shared/peers"
                % ("not set" if not path else "not a folder (%s)" % path))


def pytest_terminal_summary(terminalreporter):
    """The largest relative differences against the reference
    implementations, for README.md's table."""
    import helpers
    if not helpers.PARITY:
        return
    terminalreporter.section("largest relative differences (emgmm vs reference)")
    for (what, case), value in sorted(helpers.PARITY.items()):
        terminalreporter.write_line("%-28s %-34s %.2e" % (what, case, value))
