#!/usr/bin/env python3
"""HMM benchmark data: bench/make_hmm_data.py N_SEQ SEQ_LEN D K SEED OUTDIR

Writes into OUTDIR:
  X.npy           (N_SEQ * SEQ_LEN) x D float64, C order: the sequences one
                  after the other
  lengths.txt     N_SEQ lines, each SEQ_LEN (emgmm's and hmmlearn's lengths)
  start.json      the common starting model: an emgmm-hmm file, full
                  covariances ("covariance_type": "full")
  start-diag.json the same start with diagonal covariances (the diagonals)
  truth.json      the model that generated X (for reference only)
The same arguments always give the same bytes.

The truth: a sticky K-state chain (stay with probability 0.95, the other
0.05 spread over the other states by Dirichlet(2) draws; start
probabilities Dirichlet(5)) with Gaussian emissions that OVERLAP, so that
state posteriors are soft (never exactly 0 or 1) and the forward-backward
recursions and the M-step's weighted sums do real work on every row:
  - covariances: one random base matrix (random rotation, eigenvalues
    log-spaced from 1 to 10) blended with a random SPD matrix per state,
    0.8 * base + 0.2 * W_s (W_s a random rotation with eigenvalues from
    0.5 to 2, scaled to the base's mean variance), so that the states'
    shapes differ only moderately also in many dimensions;
  - means: in the base's whitened coordinates, N(0, s^2 I) with s chosen
    so that two means are about 2.5 standard deviations apart.
bench_hmm reports how soft the posteriors are under the start (the share
of rows whose largest posterior is below 0.99).

The start: the truth perturbed. Means moved by N(0, (0.5/sqrt(D))^2) in
whitened units (about half a standard deviation in all); each covariance
0.7 * its own + 0.3 * the base, times a factor in [0.8, 1.25]; the
transition matrix 0.7 * the truth's + 0.3 * uniform; uniform start
probabilities.
"""
import bisect
import json
import os
import sys

import numpy as np


def random_rotation(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def make(n_seq, seq_len, d, k, seed):
    rng = np.random.default_rng(seed)
    # The chain.
    stay = 0.95
    transmat = np.empty((k, k))
    for i in range(k):
        if k == 1:
            transmat[i] = 1.0
            continue
        other = rng.dirichlet(np.full(k - 1, 2.0)) * (1.0 - stay)
        transmat[i] = np.insert(other, i, stay)
    startprob = rng.dirichlet(np.full(k, 5.0))

    # The emissions.
    base_eig = np.logspace(0.0, 1.0, d)
    q = random_rotation(rng, d)
    base = (q * base_eig) @ q.T
    base_chol = np.linalg.cholesky(base)
    covs = np.empty((k, d, d))
    for s in range(k):
        r = random_rotation(rng, d)
        w = (r * np.linspace(0.5, 2.0, d)) @ r.T * base_eig.mean()
        c = 0.8 * base + 0.2 * w
        covs[s] = 0.5 * (c + c.T)
    spread = 2.5 / np.sqrt(2.0 * d)
    means = rng.normal(0.0, spread, (k, d)) @ base_chol.T

    # The states, one sequence after the other (bisect on the cumulative
    # rows of the transition matrix: a draw u falls in state j when
    # cum[j - 1] <= u < cum[j]).
    n = n_seq * seq_len
    cum_a = np.cumsum(transmat, axis=1)
    cum_a[:, -1] = 1.0
    cum_s = np.cumsum(startprob)
    cum_s[-1] = 1.0
    rows_a = [list(r) for r in cum_a]
    u = rng.random(n).tolist()
    z = np.empty(n, dtype=np.int64)
    zl = [0] * n
    for q in range(n_seq):
        t0 = q * seq_len
        s = bisect.bisect_right(list(cum_s), u[t0])
        zl[t0] = s
        for t in range(t0 + 1, t0 + seq_len):
            s = bisect.bisect_right(rows_a[s], u[t])
            zl[t] = s
    z[:] = zl

    # The rows.
    x = rng.standard_normal((n, d))
    for s in range(k):
        rows = np.nonzero(z == s)[0]
        x[rows] = means[s] + x[rows] @ np.linalg.cholesky(covs[s]).T

    # The start.
    means0 = means + rng.normal(0.0, 0.5 / np.sqrt(d), (k, d)) @ base_chol.T
    covs0 = np.empty_like(covs)
    for s in range(k):
        c = (0.7 * covs[s] + 0.3 * base) * np.exp(rng.uniform(np.log(0.8),
                                                             np.log(1.25)))
        covs0[s] = 0.5 * (c + c.T)
    transmat0 = 0.7 * transmat + 0.3 / k
    transmat0 /= transmat0.sum(axis=1, keepdims=True)
    startprob0 = np.full(k, 1.0 / k)

    def model(sp, a, mu, cov, ctype):
        return {"format": "emgmm-hmm", "version": 1, "emission": "gaussian",
                "covariance_type": ctype, "n_states": k, "n_features": d,
                "startprob": sp.tolist(), "transmat": a.tolist(),
                "means": mu.tolist(), "covariances": cov.tolist()}

    diag0 = np.array([np.diag(c) for c in covs0])
    return (np.ascontiguousarray(x), [seq_len] * n_seq,
            model(startprob0, transmat0, means0, covs0, "full"),
            model(startprob0, transmat0, means0, diag0, "diag"),
            model(startprob, transmat, means, covs, "full"))


def write_json(path, obj):
    # json writes floats with repr: the shortest string that reads back as
    # the same double.
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(obj, f)
        f.write("\n")
    os.replace(path + ".tmp", path)


def main(argv):
    if len(argv) != 7:
        print("usage: make_hmm_data.py N_SEQ SEQ_LEN D K SEED OUTDIR",
              file=sys.stderr)
        return 2
    n_seq, seq_len, d, k, seed = (int(a) for a in argv[1:6])
    out = argv[6]
    os.makedirs(out, exist_ok=True)
    x, lengths, start, start_diag, truth = make(n_seq, seq_len, d, k, seed)
    with open(os.path.join(out, "lengths.txt.tmp"), "w") as f:
        f.write("".join("%d\n" % v for v in lengths))
    os.replace(os.path.join(out, "lengths.txt.tmp"),
               os.path.join(out, "lengths.txt"))
    write_json(os.path.join(out, "start.json"), start)
    write_json(os.path.join(out, "start-diag.json"), start_diag)
    write_json(os.path.join(out, "truth.json"), truth)
    # X last: its presence marks a complete folder.
    np.save(os.path.join(out, "X.tmp.npy"), x)
    os.replace(os.path.join(out, "X.tmp.npy"), os.path.join(out, "X.npy"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
