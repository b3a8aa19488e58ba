"""Model files: save / emgmm.load round trips (the same bits), and the files
shared with the command line (EMGMM_PROG, set by meson test)."""

import json
import os
import subprocess

import numpy as np
import pytest

import emgmm

PROG = os.environ.get("EMGMM_PROG", "")


def need_prog():
    if not (PROG and os.access(PROG, os.X_OK)):
        pytest.skip("EMGMM_PROG does not name the emgmm program (meson test "
                    "sets it): the command-line checks need it")


def data(n=400, seed=0):
    rng = np.random.RandomState(seed)
    return np.vstack([rng.randn(n // 2, 3) - 2, rng.randn(n - n // 2, 3) + 2])


@pytest.mark.parametrize("cov", ["full", "tied", "diag", "spherical"])
def test_mixture_round_trip(tmp_path, cov):
    X = data()
    gm = emgmm.GaussianMixture(n_components=2, covariance_type=cov,
                               random_state=0).fit(X)
    path = str(tmp_path / "model.json")
    gm.save(path)
    back = emgmm.load(path)
    assert isinstance(back, emgmm.GaussianMixture)
    assert back.covariance_type == cov and back.n_components == 2
    for name in ("weights_", "means_", "covariances_", "precisions_",
                 "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(gm, name))
    np.testing.assert_array_equal(back.predict_proba(X), gm.predict_proba(X))
    assert back.n_features_in_ == 3
    doc = json.load(open(path))
    assert doc["format"] == "emgmm-model" and doc["covariance_type"] == cov


@pytest.mark.parametrize("cls,cov", [(c, t) for c in ("GaussianHMM", "GMMHMM")
                                     for t in ("full", "tied", "diag",
                                               "spherical")])
def test_hmm_round_trip(tmp_path, cls, cov):
    X = data(300)
    kw = dict(n_components=2, covariance_type=cov, random_state=0, n_iter=5)
    if cls == "GMMHMM":
        kw["n_mix"] = 2
    h = getattr(emgmm, cls)(**kw).fit(X, [100, 200])
    path = str(tmp_path / "hmm.json")
    h.save(path)
    back = emgmm.load(path)
    assert type(back) is type(h)
    for name in ("startprob_", "transmat_", "means_", "covars_") + (
            ("weights_",) if cls == "GMMHMM" else ()):
        np.testing.assert_array_equal(getattr(back, name), getattr(h, name))
    if cls == "GaussianHMM":  # the same values; spherical ones untiled
        np.testing.assert_array_equal(back._per_type_covars(),
                                      h._per_type_covars())
    assert back.score(X, [100, 200]) == h.score(X, [100, 200])


def test_command_line_reads_saved_model(tmp_path):
    need_prog()
    X = data()
    gm = emgmm.GaussianMixture(n_components=2, random_state=0).fit(X)
    model, x_path = str(tmp_path / "m.json"), str(tmp_path / "x.npy")
    gm.save(model)
    np.save(x_path, X)
    out = subprocess.run([PROG, "score", model, x_path, "--json"],
                         check=True, capture_output=True, text=True).stdout
    assert abs(json.loads(out)["log_likelihood"] - gm.score(X)) <= \
        1e-12 * abs(gm.score(X))
    labels = str(tmp_path / "labels.csv")
    subprocess.run([PROG, "predict", model, x_path, "-o", labels],
                   check=True, capture_output=True)
    np.testing.assert_array_equal(np.loadtxt(labels, dtype=int),
                                  gm.predict(X))


def test_load_model_fitted_by_command_line(tmp_path):
    need_prog()
    X = data()
    x_path, model = str(tmp_path / "x.npy"), str(tmp_path / "m.json")
    np.save(x_path, X)
    out = subprocess.run([PROG, "fit", x_path, "-k", "2", "-c", "diag",
                          "-o", model, "--json"],
                         check=True, capture_output=True, text=True).stdout
    summary = json.loads(out)
    gm = emgmm.load(model)
    assert gm.covariance_type == "diag"
    # The file's fit record: converged_, n_iter_, lower_bound_.
    assert gm.converged_ == summary["converged"]
    assert gm.n_iter_ == summary["n_iter"]
    assert np.isfinite(gm.lower_bound_)
    assert abs(gm.score(X) - summary["log_likelihood"]) <= \
        1e-12 * abs(summary["log_likelihood"])


def test_command_line_reads_saved_hmm(tmp_path):
    need_prog()
    X = data(300)
    h = emgmm.GaussianHMM(n_components=2, random_state=0).fit(X, [100, 200])
    model, x_path = str(tmp_path / "h.json"), str(tmp_path / "x.npy")
    h.save(model)
    np.save(x_path, X)
    out = subprocess.run([PROG, "hmm", "score", model, x_path, "--lengths",
                          "100,200"], check=True, capture_output=True,
                         text=True).stdout
    assert abs(float(out) - h.score(X, [100, 200])) <= \
        1e-12 * abs(h.score(X, [100, 200]))
