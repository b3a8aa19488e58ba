#!/usr/bin/env python3
"""hmmlearn's side of the HMM benchmark (driven by bench/hmm_bench.py):

    hmm_peer.py X.npy LENGTHS START.json ITERS REPEATS IMPL[,IMPL...]

Fits hmmlearn's GaussianHMM to X (the sequences one after the other,
LENGTHS a text file of their lengths) from the emgmm-hmm model START.json:
init_params="", startprob_, transmat_, means_ and covars_ set from the
file, params="stmc", hmmlearn's default priors (emgmm's too), tol=-inf
and n_iter=ITERS, so that exactly ITERS Baum-Welch iterations run, the
same as bench_hmm's. IMPL is "scaling" or "log" (hmmlearn's
`implementation`); with several, each repeat runs them in an order
rotated by the repeat, REPEATS times (BENCH_BUDGET_S in the environment:
an implementation stops repeating once its fits have taken that many
seconds in all; at least one fit each).

Timing: every iteration on its own, from the start of its E-step
(`_do_estep`) to the end of its M-step (`_do_mstep`): the body of
hmmlearn's loop, as emgmm's progress callback times its iteration;
seconds_per_iter_median is the median over all timed iterations. Also
the whole fit() calls, divided by ITERS (fit() adds only the input checks
and hmmlearn's _init, which does nothing with init_params="": no final
scoring).

Prints one JSON line: per implementation the timings, the last E-step's
total log-likelihood (monitor_.history[-1]) and the returned model's
score(X, lengths) (computed once, untimed, after the last fit), and the
thread pools that threadpoolctl sees (where it is installed).
"""
import json
import os
import sys
import time

import numpy as np


def load_start(path):
    with open(path, encoding="utf-8") as f:
        m = json.load(f)
    if m.get("format") != "emgmm-hmm" or m.get("emission") != "gaussian":
        raise SystemExit("hmm_peer.py: %s is not a Gaussian emgmm-hmm model"
                         % path)
    return m


def make_model(GaussianHMM, m, impl, iters):
    class Timed(GaussianHMM):
        """GaussianHMM that records when each E-step starts and each
        M-step ends (nothing else changes)."""

        def _do_estep(self, X, lengths):
            self._t_start.append(time.perf_counter())
            return super()._do_estep(X, lengths)

        def _do_mstep(self, stats):
            super()._do_mstep(stats)
            self._t_end.append(time.perf_counter())

    h = Timed(n_components=m["n_states"],
              covariance_type=m["covariance_type"], n_iter=iters,
              tol=-np.inf, init_params="", params="stmc",
              implementation=impl)
    h._t_start, h._t_end = [], []
    h.startprob_ = np.array(m["startprob"], dtype=float)
    h.transmat_ = np.array(m["transmat"], dtype=float)
    h.means_ = np.array(m["means"], dtype=float)
    h.covars_ = np.array(m["covariances"], dtype=float)
    return h


def thread_pools():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return [{"api": p.get("internal_api"), "num_threads":
             p.get("num_threads"), "version": p.get("version"),
             "architecture": p.get("architecture")}
            for p in threadpool_info()]


def main(argv):
    if len(argv) != 7:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    x_path, len_path, start_path = argv[1:4]
    iters, repeats = int(argv[4]), int(argv[5])
    impls = argv[6].split(",")
    budget = float(os.environ.get("BENCH_BUDGET_S", "0") or 0)
    import hmmlearn
    from hmmlearn.hmm import GaussianHMM
    X = np.load(x_path)
    with open(len_path) as f:
        lengths = np.array([int(v) for v in f.read().split()])
    if lengths.sum() != X.shape[0]:
        raise SystemExit("hmm_peer.py: the lengths add up to %d, X has %d "
                         "rows" % (lengths.sum(), X.shape[0]))
    m = load_start(start_path)
    res = {i: {"iter_seconds": [], "call_seconds": [], "spent": 0.0}
           for i in impls}
    last = {}
    for r in range(repeats):
        order = impls[r % len(impls):] + impls[:r % len(impls)]
        for impl in order:
            st = res[impl]
            if r > 0 and budget > 0 and st["spent"] >= budget:
                continue
            h = make_model(GaussianHMM, m, impl, iters)
            t0 = time.perf_counter()
            h.fit(X, lengths)
            t = time.perf_counter() - t0
            st["spent"] += t
            st["call_seconds"].append(t)
            if len(h._t_start) != iters or len(h._t_end) != iters:
                raise SystemExit("hmm_peer.py: %s ran %d iterations, not %d"
                                 % (impl, len(h._t_end), iters))
            st["iter_seconds"] += [b - a for a, b in zip(h._t_start,
                                                         h._t_end)]
            st["last_estep"] = float(h.monitor_.history[-1])
            last[impl] = h
    out = {"peer": "hmmlearn",
           "version": getattr(hmmlearn, "__version__", "?"),
           "n_samples": int(X.shape[0]), "n_features": int(X.shape[1]),
           "n_states": int(m["n_states"]), "n_sequences": int(len(lengths)),
           "covariance_type": m["covariance_type"], "iters": iters,
           "numpy": np.__version__, "thread_pools": thread_pools(),
           "implementations": {}}
    for impl in impls:
        st = res[impl]
        score = float(last[impl].score(X, lengths))
        its = st["iter_seconds"]
        out["implementations"][impl] = {
            "seconds_per_iter_median": float(np.median(its)),
            "seconds_per_iter_call": float(np.median(st["call_seconds"]))
            / iters,
            "iter_seconds": its, "call_seconds": st["call_seconds"],
            "repeats": len(st["call_seconds"]),
            "last_estep": st["last_estep"], "log_likelihood": score}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
