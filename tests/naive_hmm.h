/*
 * A textbook hidden Markov model for the tests (Rabiner 1989, in log
 * space), with plain loops and the explicit inverse of each covariance
 * (naive.h): forward, backward, posteriors, transition counts, Viterbi,
 * one Baum-Welch iteration with hmmlearn's M-step and priors; and random
 * models to test with. Shares nothing with the library's recursions.
 */
#ifndef EMGMM_TEST_NAIVE_HMM_H
#define EMGMM_TEST_NAIVE_HMM_H

#include <stdlib.h>
#include <string.h>

#include "emgmm_hmm.h"
#include "test_util.h"
#include "naive.h"

static const emgmm_covariance_type TYPES[4] __attribute__((unused)) = {
    EMGMM_COVARIANCE_FULL, EMGMM_COVARIANCE_TIED, EMGMM_COVARIANCE_DIAG,
    EMGMM_COVARIANCE_SPHERICAL};

typedef struct naive_hmm {
    size_t k, d;
    emgmm_covariance_type type;
    double *pi, *a, *mu, *cov; /* the model's own shapes (GMM: k x mm x d
                                  means, GMMHMM's covariance shapes) */
    size_t mm;                 /* GMM: components per state; 0: Gaussian */
    double *w;                 /* GMM: k x mm weights */
} naive_hmm;

/* GMM: component c of state s's covariance as a full d x d matrix. */
static inline void component_cov(const naive_hmm *h, size_t s, size_t c,
                                 double *out)
{
    const size_t d = h->d, i0 = s * h->mm + c;
    memset(out, 0, d * d * sizeof(double));
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++)
            switch (h->type) {
            case EMGMM_COVARIANCE_FULL:
                out[i * d + j] = h->cov[i0 * d * d + i * d + j];
                break;
            case EMGMM_COVARIANCE_TIED:
                out[i * d + j] = h->cov[s * d * d + i * d + j];
                break;
            case EMGMM_COVARIANCE_DIAG:
                out[i * d + j] = i == j ? h->cov[i0 * d + i] : 0.0;
                break;
            case EMGMM_COVARIANCE_SPHERICAL:
                out[i * d + j] = i == j ? h->cov[i0] : 0.0;
                break;
            }
}

/* State s's covariance as a full d x d matrix. */
static inline void full_cov(const naive_hmm *h, size_t s, double *out)
{
    const size_t d = h->d;
    memset(out, 0, d * d * sizeof(double));
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++)
            switch (h->type) {
            case EMGMM_COVARIANCE_FULL:
                out[i * d + j] = h->cov[s * d * d + i * d + j];
                break;
            case EMGMM_COVARIANCE_TIED:
                out[i * d + j] = h->cov[i * d + j];
                break;
            case EMGMM_COVARIANCE_DIAG:
                out[i * d + j] = i == j ? h->cov[s * d + i] : 0.0;
                break;
            case EMGMM_COVARIANCE_SPHERICAL:
                out[i * d + j] = i == j ? h->cov[s] : 0.0;
                break;
            }
}

static inline double lse(const double *v, size_t n)
{
    double m = -INFINITY;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, v[i]);
    if (m == -INFINITY)
        return m;
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += exp(v[i] - m);
    return m + log(s);
}

/* log b_j(x_t) for every row and state (n x k). */
static inline double *naive_emissions(const naive_hmm *h, const double *X, size_t n)
{
    const size_t k = h->k, d = h->d, mm = h->mm;
    double *b = malloc(n * k * sizeof(double));
    double *c = malloc(d * d * sizeof(double));
    double v[16];
    for (size_t s = 0; s < k; s++) {
        if (mm == 0) {
            full_cov(h, s, c);
            for (size_t t = 0; t < n; t++)
                b[t * k + s] = naive_log_density(X + t * d, h->mu + s * d, c,
                                                 1.0, d);
            continue;
        }
        /* log sum_c w_c N(x | mu_c, Sigma_c) */
        for (size_t t = 0; t < n; t++) {
            for (size_t q = 0; q < mm; q++) {
                component_cov(h, s, q, c);
                v[q] = naive_log_density(X + t * d,
                                         h->mu + (s * mm + q) * d, c,
                                         h->w[s * mm + q], d);
            }
            b[t * k + s] = lse(v, mm);
        }
    }
    free(c);
    return b;
}

/* Forward-backward on rows [a0, a0 + T) in log space: gamma (into
 * gamma rows), xi summed into xi (k x k), returns log p(x). */
static inline double naive_fb(const naive_hmm *h, const double *lb, size_t a0,
                       size_t T, double *gamma, double *xi)
{
    const size_t k = h->k;
    double *la = malloc(T * k * sizeof(double));
    double *lbeta = malloc(T * k * sizeof(double));
    double *v = malloc(k * sizeof(double));
    for (size_t j = 0; j < k; j++)
        la[j] = log(h->pi[j]) + lb[a0 * k + j];
    for (size_t t = 1; t < T; t++)
        for (size_t j = 0; j < k; j++) {
            for (size_t i = 0; i < k; i++)
                v[i] = la[(t - 1) * k + i] + log(h->a[i * k + j]);
            la[t * k + j] = lse(v, k) + lb[(a0 + t) * k + j];
        }
    for (size_t j = 0; j < k; j++)
        lbeta[(T - 1) * k + j] = 0.0;
    for (size_t t = T - 1; t-- > 0;)
        for (size_t i = 0; i < k; i++) {
            for (size_t j = 0; j < k; j++)
                v[j] = log(h->a[i * k + j]) + lb[(a0 + t + 1) * k + j] +
                       lbeta[(t + 1) * k + j];
            lbeta[t * k + i] = lse(v, k);
        }
    const double ll = lse(la + (T - 1) * k, k);
    for (size_t t = 0; t < T; t++)
        for (size_t j = 0; j < k; j++)
            gamma[(a0 + t) * k + j] =
                exp(la[t * k + j] + lbeta[t * k + j] - ll);
    for (size_t t = 0; t + 1 < T; t++)
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++)
                xi[i * k + j] +=
                    exp(la[t * k + i] + log(h->a[i * k + j]) +
                        lb[(a0 + t + 1) * k + j] + lbeta[(t + 1) * k + j] -
                        ll);
    free(la);
    free(lbeta);
    free(v);
    return ll;
}

/* Viterbi in log space on rows [a0, a0 + T); returns the path's log p. */
static inline double naive_viterbi(const naive_hmm *h, const double *lb, size_t a0,
                            size_t T, int32_t *path)
{
    const size_t k = h->k;
    double *dl = malloc(T * k * sizeof(double));
    int *bp = malloc(T * k * sizeof(int));
    for (size_t j = 0; j < k; j++)
        dl[j] = log(h->pi[j]) + lb[a0 * k + j];
    for (size_t t = 1; t < T; t++)
        for (size_t j = 0; j < k; j++) {
            double best = -INFINITY;
            int arg = 0;
            for (size_t i = 0; i < k; i++) {
                double v = dl[(t - 1) * k + i] + log(h->a[i * k + j]);
                if (v > best) {
                    best = v;
                    arg = (int)i;
                }
            }
            dl[t * k + j] = best + lb[(a0 + t) * k + j];
            bp[t * k + j] = arg;
        }
    int s = 0;
    for (size_t j = 1; j < k; j++)
        if (dl[(T - 1) * k + j] > dl[(T - 1) * k + (size_t)s])
            s = (int)j;
    const double lp = dl[(T - 1) * k + (size_t)s];
    for (size_t t = T; t-- > 0;) {
        path[a0 + t] = s;
        if (t > 0)
            s = bp[t * k + (size_t)s];
    }
    free(dl);
    free(bp);
    return lp;
}

/* GMMHMM's emission M-step (hmmlearn 0.3.3, hmm.py), state by state,
 * with r_tc = g_t(s) p(c | x_t, s): weights (N_c + wp - 1) / (N + M (wp -
 * 1)); means (mw mp + sum r x) / (N_c + mw); covariances from the scatter
 * about the OLD means (hmmlearn accumulates it in the E-step) plus the
 * prior terms, over GMMHMM's denominators. Priors left at NaN take
 * GMMHMM's per-type defaults. lb: the log-emissions (n x k). */
static inline void naive_gmm_mstep(naive_hmm *h, const double *X, size_t n,
                                   const double *g, const double *lb,
                                   const emgmm_hmm_params *p)
{
    const size_t k = h->k, d = h->d, mm = h->mm;
    double cp, cw;
    switch (h->type) {
    case EMGMM_COVARIANCE_FULL: cp = 0.0, cw = -(double)(d + 2); break;
    case EMGMM_COVARIANCE_TIED: cp = 0.0, cw = -(double)(mm + d + 1); break;
    case EMGMM_COVARIANCE_DIAG: cp = -1.5, cw = 0.0; break;
    default: cp = -((double)mm + 2.0) / 2.0, cw = 0.0; break;
    }
    if (!isnan(p->covars_prior))
        cp = p->covars_prior;
    if (!isnan(p->covars_weight))
        cw = p->covars_weight;
    const double mw = p->means_weight, mp = p->means_prior,
                 wp = p->weights_prior;
    double *r = malloc(n * mm * sizeof(double));
    double *c = malloc(d * d * sizeof(double));
    double *sc = calloc(mm * d * d, sizeof(double));
    for (size_t s = 0; s < k; s++) {
        double nk[16] = {0}, xs[16 * 16] = {0}, post = 0.0;
        for (size_t t = 0; t < n; t++) {
            post += g[t * k + s];
            for (size_t q = 0; q < mm; q++) {
                component_cov(h, s, q, c);
                const double lp = naive_log_density(
                    X + t * d, h->mu + (s * mm + q) * d, c, h->w[s * mm + q],
                    d);
                r[t * mm + q] = g[t * k + s] * exp(lp - lb[t * k + s]);
            }
        }
        memset(sc, 0, mm * d * d * sizeof(double));
        for (size_t q = 0; q < mm; q++) {
            const double *mu_old = h->mu + (s * mm + q) * d;
            for (size_t t = 0; t < n; t++) {
                nk[q] += r[t * mm + q];
                for (size_t i = 0; i < d; i++) {
                    xs[q * d + i] += r[t * mm + q] * X[t * d + i];
                    for (size_t j = 0; j < d; j++)
                        sc[q * d * d + i * d + j] +=
                            r[t * mm + q] * (X[t * d + i] - mu_old[i]) *
                            (X[t * d + j] - mu_old[j]);
                }
            }
        }
        for (size_t q = 0; q < mm; q++) {
            h->w[s * mm + q] = (nk[q] + wp - 1.0) /
                               (post + (double)mm * (wp - 1.0));
            for (size_t i = 0; i < d; i++)
                h->mu[(s * mm + q) * d + i] =
                    (mw * mp + xs[q * d + i]) / (nk[q] + mw);
        }
        for (size_t q = 0; q < mm; q++) {
            const double *mu = h->mu + (s * mm + q) * d;
            const size_t i0 = s * mm + q;
            double sph_n = 0.0;
            for (size_t i = 0; i < d; i++)
                for (size_t j = 0; j < d; j++) {
                    const double prior = mw * (mu[i] - mp) * (mu[j] - mp);
                    const double stat = sc[q * d * d + i * d + j];
                    switch (h->type) {
                    case EMGMM_COVARIANCE_FULL:
                        h->cov[i0 * d * d + i * d + j] =
                            (cp + prior + stat) /
                            (nk[q] + 1.0 + cw + (double)d + 1.0);
                        break;
                    case EMGMM_COVARIANCE_TIED:
                        if (q == 0)
                            h->cov[s * d * d + i * d + j] = cp;
                        h->cov[s * d * d + i * d + j] += prior + stat;
                        break;
                    case EMGMM_COVARIANCE_DIAG:
                        if (i == j)
                            h->cov[i0 * d + i] =
                                (prior + 2.0 * cw + stat) /
                                (nk[q] + 1.0 + 2.0 * (cp + 1.0));
                        break;
                    case EMGMM_COVARIANCE_SPHERICAL:
                        if (i == j)
                            sph_n += prior + stat;
                        break;
                    }
                }
            if (h->type == EMGMM_COVARIANCE_SPHERICAL)
                h->cov[i0] = (sph_n + 2.0 * cw) /
                             ((double)d * (nk[q] + 1.0) + 2.0 * (cp + 1.0));
        }
        if (h->type == EMGMM_COVARIANCE_TIED)
            for (size_t i = 0; i < d * d; i++)
                h->cov[s * d * d + i] /=
                    post + (double)mm + cw + (double)d + 1.0;
    }
    free(r);
    free(c);
    free(sc);
}

/* One Baum-Welch iteration with hmmlearn's M-step (priors from p), in
 * place; returns the E-step's total log-likelihood. */
static inline double naive_iteration(naive_hmm *h, const double *X, size_t n,
                              const size_t *len, size_t n_seq,
                              const emgmm_hmm_params *p)
{
    const size_t k = h->k, d = h->d;
    double *lb = naive_emissions(h, X, n);
    double *g = calloc(n * k, sizeof(double));
    double *xi = calloc(k * k, sizeof(double));
    double *start = calloc(k, sizeof(double));
    double ll = 0.0;
    for (size_t q = 0, a0 = 0; q < n_seq; a0 += len[q], q++) {
        ll += naive_fb(h, lb, a0, len[q], g, xi);
        for (size_t j = 0; j < k; j++)
            start[j] += g[a0 * k + j];
    }
    /* Start and transitions: max(prior - 1 + count, 0), zeros kept. */
    double s = 0.0;
    for (size_t j = 0; j < k; j++) {
        double v = fmax(p->startprob_prior - 1.0 + start[j], 0.0);
        h->pi[j] = h->pi[j] == 0.0 ? 0.0 : v;
        s += h->pi[j];
    }
    for (size_t j = 0; j < k; j++)
        h->pi[j] /= s;
    for (size_t i = 0; i < k; i++) {
        s = 0.0;
        for (size_t j = 0; j < k; j++) {
            double v = fmax(p->transmat_prior - 1.0 + xi[i * k + j], 0.0);
            h->a[i * k + j] = h->a[i * k + j] == 0.0 ? 0.0 : v;
            s += h->a[i * k + j];
        }
        for (size_t j = 0; j < k; j++)
            h->a[i * k + j] /= s;
    }
    if (h->mm) {
        naive_gmm_mstep(h, X, n, g, lb, p);
        free(lb);
        free(g);
        free(xi);
        free(start);
        return ll;
    }
    /* Means, then covariances about the new means (centred sums). */
    double *nk = calloc(k, sizeof(double));
    for (size_t c = 0; c < k; c++) {
        double sx[64] = {0};
        for (size_t t = 0; t < n; t++) {
            nk[c] += g[t * k + c];
            for (size_t j = 0; j < d; j++)
                sx[j] += g[t * k + c] * X[t * d + j];
        }
        for (size_t j = 0; j < d; j++)
            h->mu[c * d + j] = (p->means_weight * p->means_prior + sx[j]) /
                               (p->means_weight + nk[c]);
    }
    double *sc = calloc(k * d * d, sizeof(double));
    for (size_t c = 0; c < k; c++)
        for (size_t t = 0; t < n; t++)
            for (size_t i = 0; i < d; i++)
                for (size_t j = 0; j < d; j++)
                    sc[c * d * d + i * d + j] +=
                        g[t * k + c] * (X[t * d + i] - h->mu[c * d + i]) *
                        (X[t * d + j] - h->mu[c * d + j]);
    /* NaN: GaussianHMM's defaults. */
    const double cp = isnan(p->covars_prior) ? 1e-2 : p->covars_prior;
    const double cw = isnan(p->covars_weight) ? 1.0 : p->covars_weight;
    const double mw = p->means_weight;
    const double dd = cw - (double)d > 0 ? cw - (double)d : 0.0;
    const double d1 = cw - 1.0 > 0 ? cw - 1.0 : 0.0;
    double total = 0.0;
    for (size_t c = 0; c < k; c++)
        total += nk[c];
    if (h->type == EMGMM_COVARIANCE_TIED)
        for (size_t i = 0; i < d * d; i++)
            h->cov[i] = cp;
    for (size_t c = 0; c < k; c++)
        for (size_t i = 0; i < d; i++) {
            const double di = h->mu[c * d + i] - p->means_prior;
            double avg = 0.0;
            for (size_t j = 0; j < d; j++) {
                const double dj = h->mu[c * d + j] - p->means_prior;
                const double cn = sc[c * d * d + i * d + j] + mw * di * dj;
                switch (h->type) {
                case EMGMM_COVARIANCE_FULL:
                    h->cov[c * d * d + i * d + j] = (cp + cn) / (dd + nk[c]);
                    break;
                case EMGMM_COVARIANCE_TIED:
                    h->cov[i * d + j] += cn;
                    break;
                default:
                    break;
                }
            }
            const double cn = sc[c * d * d + i * d + i] + mw * di * di;
            const double v = (cp + cn) / fmax(d1 + nk[c], 1e-5);
            if (h->type == EMGMM_COVARIANCE_DIAG)
                h->cov[c * d + i] = v;
            if (h->type == EMGMM_COVARIANCE_SPHERICAL) {
                avg = i == 0 ? 0.0 : h->cov[c];
                h->cov[c] = avg + v / (double)d;
            }
        }
    if (h->type == EMGMM_COVARIANCE_TIED)
        for (size_t i = 0; i < d * d; i++)
            h->cov[i] /= dd + total;
    free(lb);
    free(g);
    free(xi);
    free(start);
    free(nk);
    free(sc);
    return ll;
}

static inline size_t cov_size(emgmm_covariance_type t, size_t k, size_t d)
{
    switch (t) {
    case EMGMM_COVARIANCE_FULL: return k * d * d;
    case EMGMM_COVARIANCE_TIED: return d * d;
    case EMGMM_COVARIANCE_DIAG: return k * d;
    case EMGMM_COVARIANCE_SPHERICAL: return k;
    }
    return 0;
}

/* A random 3-state model in 3 dimensions with well-spread means. */
static inline naive_hmm random_model(emgmm_covariance_type type, uint64_t seed)
{
    const size_t k = 3, d = 3;
    test_rng r = {seed};
    naive_hmm h = {k, d, type, malloc(k * sizeof(double)),
                   malloc(k * k * sizeof(double)),
                   malloc(k * d * sizeof(double)),
                   malloc(cov_size(type, k, d) * sizeof(double)), 0, NULL};
    double s = 0.0;
    for (size_t j = 0; j < k; j++)
        s += h.pi[j] = 0.2 + test_rng_uniform(&r);
    for (size_t j = 0; j < k; j++)
        h.pi[j] /= s;
    for (size_t i = 0; i < k; i++) {
        s = 0.0;
        for (size_t j = 0; j < k; j++)
            s += h.a[i * k + j] = (i == j ? 3.0 : 0.3) + test_rng_uniform(&r);
        for (size_t j = 0; j < k; j++)
            h.a[i * k + j] /= s;
    }
    for (size_t i = 0; i < k * d; i++)
        h.mu[i] = 3.0 * test_rng_normal(&r);
    switch (type) {
    case EMGMM_COVARIANCE_FULL:
        for (size_t c = 0; c < k; c++)
            random_spd(&r, d, 0.5, h.cov + c * d * d);
        break;
    case EMGMM_COVARIANCE_TIED:
        random_spd(&r, d, 0.5, h.cov);
        break;
    case EMGMM_COVARIANCE_DIAG:
        for (size_t i = 0; i < k * d; i++)
            h.cov[i] = 0.5 + test_rng_uniform(&r);
        break;
    case EMGMM_COVARIANCE_SPHERICAL:
        for (size_t c = 0; c < k; c++)
            h.cov[c] = 0.5 + test_rng_uniform(&r);
        break;
    }
    return h;
}

static inline void naive_free(naive_hmm *h)
{
    free(h->w);
    free(h->pi);
    free(h->a);
    free(h->mu);
    free(h->cov);
}

static inline emgmm_hmm *to_model(const naive_hmm *h)
{
    emgmm_hmm *m = NULL;
    if (h->mm)
        assert_int_equal(emgmm_hmm_create_gmm(h->type, h->k, h->mm, h->d,
                                              h->pi, h->a, h->w, h->mu,
                                              h->cov, &m, NULL),
                         EMGMM_OK);
    else
        assert_int_equal(emgmm_hmm_create(h->type, h->k, h->d, h->pi, h->a,
                                          h->mu, h->cov, &m, NULL),
                         EMGMM_OK);
    return m;
}

/* A random 3-state model with mm components per state in 3 dimensions. */
static inline naive_hmm random_gmm_model(emgmm_covariance_type type,
                                         size_t mm, uint64_t seed)
{
    const size_t k = 3, d = 3;
    naive_hmm h = random_model(EMGMM_COVARIANCE_DIAG, seed);
    test_rng r = {seed * 7 + 1};
    h.type = type;
    h.mm = mm;
    free(h.mu);
    free(h.cov);
    h.w = malloc(k * mm * sizeof(double));
    h.mu = malloc(k * mm * d * sizeof(double));
    const size_t n_cov = type == EMGMM_COVARIANCE_FULL   ? k * mm * d * d
                         : type == EMGMM_COVARIANCE_TIED ? k * d * d
                         : type == EMGMM_COVARIANCE_DIAG ? k * mm * d
                                                         : k * mm;
    h.cov = malloc(n_cov * sizeof(double));
    for (size_t s = 0; s < k; s++) {
        double sum = 0.0;
        for (size_t q = 0; q < mm; q++)
            sum += h.w[s * mm + q] = 0.3 + test_rng_uniform(&r);
        for (size_t q = 0; q < mm; q++)
            h.w[s * mm + q] /= sum;
    }
    for (size_t i = 0; i < k * mm * d; i++)
        h.mu[i] = 2.5 * test_rng_normal(&r);
    if (type == EMGMM_COVARIANCE_FULL || type == EMGMM_COVARIANCE_TIED) {
        for (size_t i = 0; i < n_cov / (d * d); i++)
            random_spd(&r, d, 0.5, h.cov + i * d * d);
    } else {
        for (size_t i = 0; i < n_cov; i++)
            h.cov[i] = 0.5 + test_rng_uniform(&r);
    }
    return h;
}

/* Rows drawn from the model itself (so that every state is visited),
 * shifted by `offset`. */
static inline double *draw(const naive_hmm *h, size_t n, uint64_t seed,
                    double offset)
{
    emgmm_hmm *m = to_model(h);
    double *X = malloc(n * h->d * sizeof(double));
    assert_int_equal(emgmm_hmm_sample(m, n, seed, X, NULL), EMGMM_OK);
    for (size_t i = 0; i < n * h->d; i++)
        X[i] += offset;
    emgmm_hmm_free(&m);
    return X;
}

static inline void shift_means(naive_hmm *h, double offset)
{
    for (size_t i = 0; i < h->k * h->d; i++)
        h->mu[i] += offset;
}

static inline void expect_model_close(const emgmm_hmm *m, const naive_hmm *h,
                                      double rtol)
{
    const size_t k = h->k, d = h->d, mm = h->mm ? h->mm : 1;
    const size_t n_cov = !h->mm ? cov_size(h->type, k, d)
                         : h->type == EMGMM_COVARIANCE_TIED
                             ? k * d * d
                             : k * cov_size(h->type, mm, d);
    for (size_t i = 0; i < k; i++)
        assert_close(emgmm_hmm_startprob(m)[i], h->pi[i], rtol, 1e-13);
    for (size_t i = 0; i < k * k; i++)
        assert_close(emgmm_hmm_transmat(m)[i], h->a[i], rtol, 1e-13);
    for (size_t i = 0; h->mm && i < k * mm; i++)
        assert_close(emgmm_hmm_weights(m)[i], h->w[i], rtol, 1e-13);
    for (size_t i = 0; i < k * mm * d; i++)
        assert_close(emgmm_hmm_means(m)[i], h->mu[i], rtol, 1e-12);
    for (size_t i = 0; i < n_cov; i++)
        assert_close(emgmm_hmm_covariances(m)[i], h->cov[i], rtol, 1e-12);
}

/* ---- missing values (NaN), Gaussian emissions ----------------------- */

/* log N(x_o | mu_o, Sigma_oo) of the observed coordinates of x (0 when
 * nothing is observed); with cond (d) and cov (d x d) not NULL, also
 * x with its gaps at E[x_m | x_o] and Cov[x_m | x_o] in the gaps' block
 * (zero elsewhere), from explicit sub-matrix inverses. */
static inline double naive_marginal(const double *x, const double *mu,
                                    const double *sigma, size_t d,
                                    double *cond, double *cov)
{
    size_t o[64], mi[64], no = 0, nm = 0;
    for (size_t j = 0; j < d; j++) {
        if (isnan(x[j]))
            mi[nm++] = j;
        else
            o[no++] = j;
    }
    double *soo = malloc((no * no + 1) * sizeof(double));
    double *inv = malloc((no * no + 1) * sizeof(double));
    double *w = malloc((no + 1) * sizeof(double));
    for (size_t a = 0; a < no; a++)
        for (size_t b = 0; b < no; b++)
            soo[a * no + b] = sigma[o[a] * d + o[b]];
    double lp = 0.0;
    if (no > 0) {
        double xo[64], mo[64];
        for (size_t a = 0; a < no; a++)
            xo[a] = x[o[a]], mo[a] = mu[o[a]];
        lp = naive_log_density(xo, mo, soo, 1.0, no);
        naive_inverse(soo, no, inv);
    }
    if (cond) {
        /* w = Sigma_oo^-1 (x_o - mu_o) */
        for (size_t a = 0; a < no; a++) {
            w[a] = 0.0;
            for (size_t b = 0; b < no; b++)
                w[a] += inv[a * no + b] * (x[o[b]] - mu[o[b]]);
        }
        memset(cov, 0, d * d * sizeof(double));
        for (size_t j = 0; j < d; j++)
            cond[j] = x[j];
        for (size_t a = 0; a < nm; a++) {
            double v = mu[mi[a]];
            for (size_t b = 0; b < no; b++)
                v += sigma[mi[a] * d + o[b]] * w[b];
            cond[mi[a]] = v;
            for (size_t c = 0; c < nm; c++) {
                double q = sigma[mi[a] * d + mi[c]];
                for (size_t e = 0; e < no; e++)
                    for (size_t f = 0; f < no; f++)
                        q -= sigma[mi[a] * d + o[e]] * inv[e * no + f] *
                             sigma[o[f] * d + mi[c]];
                cov[mi[a] * d + mi[c]] = q;
            }
        }
    }
    free(soo);
    free(inv);
    free(w);
    return lp;
}

/* log b_j(x_t) of the observed coordinates, every row and state. */
static inline double *naive_gappy_emissions(const naive_hmm *h,
                                            const double *X, size_t n)
{
    const size_t k = h->k, d = h->d;
    double *b = malloc(n * k * sizeof(double));
    double *c = malloc(d * d * sizeof(double));
    for (size_t s = 0; s < k; s++) {
        full_cov(h, s, c);
        for (size_t t = 0; t < n; t++)
            b[t * k + s] = naive_marginal(X + t * d, h->mu + s * d, c, d,
                                          NULL, NULL);
    }
    free(c);
    return b;
}

/* One Baum-Welch iteration on data with gaps (Gaussian emissions, the
 * GaussianHMM M-step with the expected sufficient statistics: each gap at
 * its conditional mean given the state, plus the conditional covariance
 * in the scatter); returns the E-step's total log-likelihood. */
static inline double naive_gappy_iteration(naive_hmm *h, const double *X,
                                           size_t n, const size_t *len,
                                           size_t n_seq,
                                           const emgmm_hmm_params *p)
{
    const size_t k = h->k, d = h->d;
    double *lb = naive_gappy_emissions(h, X, n);
    double *g = calloc(n * k, sizeof(double));
    double *xi = calloc(k * k, sizeof(double));
    double *start = calloc(k, sizeof(double));
    double ll = 0.0;
    for (size_t q = 0, a0 = 0; q < n_seq; a0 += len[q], q++) {
        ll += naive_fb(h, lb, a0, len[q], g, xi);
        for (size_t j = 0; j < k; j++)
            start[j] += g[a0 * k + j];
    }
    for (size_t i = 0; i <= k; i++) { /* pi (i == k), then the rows of A */
        double *row = i == k ? h->pi : h->a + i * k;
        const double *cnt = i == k ? start : xi + i * k;
        const double prior = i == k ? p->startprob_prior : p->transmat_prior;
        double sum = 0.0;
        for (size_t j = 0; j < k; j++) {
            double v = fmax(prior - 1.0 + cnt[j], 0.0);
            row[j] = row[j] == 0.0 ? 0.0 : v;
            sum += row[j];
        }
        for (size_t j = 0; j < k; j++)
            row[j] /= sum;
    }
    /* Expected statistics under the old parameters. */
    double *xh = malloc(n * k * d * sizeof(double));
    double *cc = malloc(n * k * d * d * sizeof(double));
    double *sig = malloc(d * d * sizeof(double));
    for (size_t s = 0; s < k; s++) {
        full_cov(h, s, sig);
        for (size_t t = 0; t < n; t++)
            naive_marginal(X + t * d, h->mu + s * d, sig, d,
                           xh + (t * k + s) * d, cc + (t * k + s) * d * d);
    }
    const double cp = isnan(p->covars_prior) ? 1e-2 : p->covars_prior;
    const double cw = isnan(p->covars_weight) ? 1.0 : p->covars_weight;
    const double mw = p->means_weight, mp = p->means_prior;
    double *nk = calloc(k, sizeof(double));
    double *S = calloc(k * d * d, sizeof(double));
    for (size_t c = 0; c < k; c++) {
        double sx[64] = {0};
        for (size_t t = 0; t < n; t++) {
            nk[c] += g[t * k + c];
            for (size_t j = 0; j < d; j++)
                sx[j] += g[t * k + c] * xh[(t * k + c) * d + j];
        }
        for (size_t j = 0; j < d; j++)
            h->mu[c * d + j] = (mw * mp + sx[j]) / (mw + nk[c]);
        for (size_t t = 0; t < n; t++) {
            const double *x = xh + (t * k + c) * d;
            for (size_t i = 0; i < d; i++)
                for (size_t j = 0; j < d; j++)
                    S[c * d * d + i * d + j] +=
                        g[t * k + c] *
                        ((x[i] - h->mu[c * d + i]) * (x[j] - h->mu[c * d + j]) +
                         cc[(t * k + c) * d * d + i * d + j]);
        }
    }
    const double dd = cw - (double)d > 0 ? cw - (double)d : 0.0;
    const double d1 = cw - 1.0 > 0 ? cw - 1.0 : 0.0;
    double total = 0.0;
    for (size_t c = 0; c < k; c++)
        total += nk[c];
    for (size_t i = 0; h->type == EMGMM_COVARIANCE_TIED && i < d * d; i++)
        h->cov[i] = cp;
    for (size_t c = 0; c < k; c++) {
        double avg = 0.0;
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j < d; j++) {
                const double di = h->mu[c * d + i] - mp,
                             dj = h->mu[c * d + j] - mp;
                const double cn = S[c * d * d + i * d + j] + mw * di * dj;
                if (h->type == EMGMM_COVARIANCE_FULL)
                    h->cov[c * d * d + i * d + j] = (cp + cn) / (dd + nk[c]);
                else if (h->type == EMGMM_COVARIANCE_TIED)
                    h->cov[i * d + j] += cn;
                else if (i == j) {
                    const double v = (cp + cn) / fmax(d1 + nk[c], 1e-5);
                    if (h->type == EMGMM_COVARIANCE_DIAG)
                        h->cov[c * d + i] = v;
                    else
                        avg += v / (double)d;
                }
            }
        if (h->type == EMGMM_COVARIANCE_SPHERICAL)
            h->cov[c] = avg;
    }
    for (size_t i = 0; h->type == EMGMM_COVARIANCE_TIED && i < d * d; i++)
        h->cov[i] /= dd + total;
    free(lb);
    free(g);
    free(xi);
    free(start);
    free(xh);
    free(cc);
    free(sig);
    free(nk);
    free(S);
    return ll;
}

#endif
