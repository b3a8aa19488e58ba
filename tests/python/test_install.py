"""`meson install` puts the package where Debian's Python looks, and the
installed package works (into a scratch DESTDIR; needs EMGMM_BUILD_ROOT,
set by meson test)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

BUILD = os.environ.get("EMGMM_BUILD_ROOT", "")


def test_installed_package_imports(tmp_path):
    meson = shutil.which("meson")
    if not BUILD or not os.path.isdir(BUILD) or not meson:
        pytest.skip("needs EMGMM_BUILD_ROOT (meson test sets it) and meson "
                    "on PATH")
    installed = json.loads(subprocess.run(
        [meson, "introspect", "--installed", BUILD], check=True,
        capture_output=True, text=True).stdout)
    targets = sorted(installed.values())
    ext = [p for p in targets
           if os.path.basename(os.path.dirname(p)) == "emgmm"
           and os.path.basename(p).startswith("_core")]
    assert len(ext) == 1, targets
    package = os.path.dirname(ext[0])
    site = os.path.dirname(package)
    for name in ("__init__.py", "_gmm.py", "_hmm.py", "_files.py"):
        assert os.path.join(package, name) in targets
    # Under prefix /usr or /usr/local, the folder is on this Python's path.
    if site.startswith(("/usr/local/", "/usr/lib/")):
        assert site in sys.path, (site, sys.path)

    dest = tmp_path / "root"
    subprocess.run([meson, "install", "-C", BUILD, "--no-rebuild",
                    "--destdir", str(dest)], check=True,
                   capture_output=True)
    libs = [p for p in targets if os.path.basename(p).startswith(
        "libemgmm.so")]
    env = dict(os.environ,
               PYTHONPATH=str(dest) + site,
               LD_LIBRARY_PATH=str(dest) + os.path.dirname(libs[0]))
    code = ("import emgmm, numpy as np; "
            "print(emgmm.__file__); "
            "g = emgmm.GaussianMixture(2, random_state=0)"
            ".fit(np.random.RandomState(0).randn(50, 2)); "
            "print(g.converged_)")
    out = subprocess.run([sys.executable, "-c", code], check=True, env=env,
                         capture_output=True, text=True,
                         cwd=str(tmp_path)).stdout.split()
    assert out[0].startswith(str(dest)), out
    assert out[1] == "True"
