/*
 * The E- and M-step kernels against naive loops (explicit inverse and
 * determinant) on small random problems, including data far from the
 * origin.
 */
#include "test_util.h"
#include "naive.h"

#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct problem {
    size_t n, d, k;
    double *X, *w, *mu, *sigma;
    emgmm_model *m;
} problem;

static const emgmm_covariance_type all_types[] = {
    EMGMM_COVARIANCE_FULL, EMGMM_COVARIANCE_TIED, EMGMM_COVARIANCE_DIAG,
    EMGMM_COVARIANCE_SPHERICAL};

/* A random model of the given type; p->sigma always holds the k full
 * matrices it stands for, for the naive code. */
static void make_typed_problem(problem *p, size_t n, size_t d, size_t k,
                               double offset, uint64_t seed,
                               emgmm_covariance_type type)
{
    test_rng r = {seed};
    p->n = n;
    p->d = d;
    p->k = k;
    p->X = malloc(n * d * sizeof(double));
    p->w = malloc(k * sizeof(double));
    p->mu = malloc(k * d * sizeof(double));
    p->sigma = malloc(k * d * d * sizeof(double));
    double total = 0.0;
    for (size_t c = 0; c < k; c++)
        total += p->w[c] = 0.2 + test_rng_uniform(&r);
    for (size_t c = 0; c < k; c++)
        p->w[c] /= total;
    for (size_t i = 0; i < k * d; i++)
        p->mu[i] = offset + 3.0 * test_rng_normal(&r);
    for (size_t c = 0; c < k; c++)
        random_spd(&r, d, 0.3, p->sigma + c * d * d);
    for (size_t i = 0; i < n * d; i++)
        p->X[i] = offset + 3.0 * test_rng_normal(&r);
    double *cov = malloc(k * d * d * sizeof(double));
    for (size_t c = 0; c < k; c++) {
        double *s = p->sigma + c * d * d;
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) {
                if (type == EMGMM_COVARIANCE_TIED)
                    s[a * d + b] = p->sigma[a * d + b]; /* component 0's */
                else if (type == EMGMM_COVARIANCE_DIAG && a != b)
                    s[a * d + b] = 0.0;
                else if (type == EMGMM_COVARIANCE_SPHERICAL)
                    s[a * d + b] = a == b ? s[0] : 0.0;
            }
        for (size_t a = 0; a < d; a++) {
            if (type == EMGMM_COVARIANCE_DIAG)
                cov[c * d + a] = s[a * d + a];
            for (size_t b = 0; b < d; b++)
                if (type == EMGMM_COVARIANCE_FULL ||
                    (type == EMGMM_COVARIANCE_TIED && c == 0))
                    cov[c * d * d + a * d + b] = s[a * d + b];
        }
        if (type == EMGMM_COVARIANCE_SPHERICAL)
            cov[c] = s[0];
    }
    assert_int_equal(emgmm_model_create(type, k, d, p->w, p->mu, cov, &p->m,
                                        NULL),
                     EMGMM_OK);
    free(cov);
}

static void make_problem(problem *p, size_t n, size_t d, size_t k,
                         double offset, uint64_t seed)
{
    make_typed_problem(p, n, d, k, offset, seed, EMGMM_COVARIANCE_FULL);
}

static void free_problem(problem *p)
{
    emgmm_free(&p->m);
    free(p->X);
    free(p->w);
    free(p->mu);
    free(p->sigma);
}

static const size_t shapes[][3] = {
    {1, 1, 1}, {7, 2, 3}, {50, 5, 4}, {300, 17, 3}, {33, 3, 1}, {64, 8, 6},
    {120, 40, 3}}; /* d <= 3 unrolled, 4..31 stacked gemm, >= 32 trmm */

/* log w_k + log N(x_i | k) for every row and component. */
static void test_log_prob_matches_naive(void **state)
{
    (void)state;
    for (size_t t = 0; t < 4; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            problem p;
            make_typed_problem(&p, shapes[s][0], shapes[s][1], shapes[s][2],
                               0.0, 100 + s, all_types[t]);
            double *proj = malloc(p.n * (p.k * p.d + p.d) * sizeof(double));
            double *logp = malloc(p.n * p.k * sizeof(double));
            emgmm__log_prob_block(p.m, p.X, p.n, p.d, proj, logp);
            for (size_t i = 0; i < p.n; i++)
                for (size_t c = 0; c < p.k; c++) {
                    double ref = naive_log_density(
                        p.X + i * p.d, p.mu + c * p.d,
                        p.sigma + c * p.d * p.d, p.w[c], p.d);
                    assert_close(logp[i * p.k + c], ref, 1e-10, 1e-10);
                }
            free(proj);
            free(logp);
            free_problem(&p);
        }
}

/* Data offset by 1e6: the log-densities keep their digits, because rows
 * are shifted by the model's centre before projection. */
static void test_log_prob_far_from_origin(void **state)
{
    (void)state;
    /* One dimension for each path: unrolled, stacked gemm, trmm. */
    static const size_t dims[] = {3, 12, 36};
    for (size_t t = 0; t < 3; t++) {
        const size_t d = dims[t];
        const size_t n = 200, k = 3;
        for (size_t ty = 0; ty < 4; ty++) {
        problem near, far;
        make_typed_problem(&near, n, d, k, 0.0, 7, all_types[ty]);
        /* the same draws, moved by 1e6 */
        make_typed_problem(&far, n, d, k, 1e6, 7, all_types[ty]);
        double *proj = malloc(n * (k * d + d) * sizeof(double));
        double *a = malloc(n * k * sizeof(double));
        double *b = malloc(n * k * sizeof(double));
        emgmm__log_prob_block(near.m, near.X, n, d, proj, a);
        emgmm__log_prob_block(far.m, far.X, n, d, proj, b);
        for (size_t i = 0; i < n * k; i++)
            assert_close(b[i], a[i], 1e-8, 1e-8);
        free(proj);
        free(a);
        free(b);
        free_problem(&near);
        free_problem(&far);
        }
    }
}

static void test_normalize_log_resp(void **state)
{
    (void)state;
    /* Moderate values: compare with the plain formula. */
    double logp[6] = {-1.0, -2.5, -0.3, -4.0, -4.0, -4.0};
    double copy[6];
    memcpy(copy, logp, sizeof logp);
    double ln[2];
    double total = emgmm__normalize_log_resp(logp, 2, 3, NULL, ln);
    for (size_t i = 0; i < 2; i++) {
        double s = 0.0;
        for (size_t c = 0; c < 3; c++)
            s += exp(copy[i * 3 + c]);
        assert_close(ln[i], log(s), 1e-14, 0.0);
        for (size_t c = 0; c < 3; c++)
            assert_close(logp[i * 3 + c], exp(copy[i * 3 + c]) / s, 1e-14,
                         1e-300);
    }
    assert_close(total, ln[0] + ln[1], 1e-15, 0.0);

    /* Values whose exponentials underflow: the naive formula gives
     * log(0) = -inf, the stable one the exact answer. */
    double tiny[3] = {-2000.0, -2001.0, -3000.0};
    double t = emgmm__normalize_log_resp(tiny, 1, 3, NULL, NULL);
    assert_close(t, -2000.0 + log(1.0 + exp(-1.0)), 1e-14, 0.0);
    assert_close(tiny[0] + tiny[1] + tiny[2], 1.0, 1e-15, 0.0);
    assert_close(tiny[0], 1.0 / (1.0 + exp(-1.0)), 1e-14, 0.0);
}

/* The blocked, threaded E-step equals the naive total and posteriors. */
static void test_estep_matches_naive(void **state)
{
    (void)state;
    problem p;
    make_problem(&p, 5000, 3, 4, 0.0, 42); /* several blocks */
    double *resp = malloc(p.n * p.k * sizeof(double));
    emgmm_workspace ws = {0};
    assert_int_equal(emgmm__workspace_alloc(&ws, p.n, p.k, p.d, 2), EMGMM_OK);
    double total = emgmm__estep(p.m, p.X, p.n, p.d, NULL, resp, &ws);
    double ref_total = 0.0;
    for (size_t i = 0; i < p.n; i++) {
        double lp[4], mx = -INFINITY, s = 0.0;
        for (size_t c = 0; c < p.k; c++) {
            lp[c] = naive_log_density(p.X + i * p.d, p.mu + c * p.d,
                                      p.sigma + c * p.d * p.d, p.w[c], p.d);
            mx = fmax(mx, lp[c]);
        }
        for (size_t c = 0; c < p.k; c++)
            s += exp(lp[c] - mx);
        ref_total += mx + log(s);
        for (size_t c = 0; c < p.k; c++)
            assert_close(resp[i * p.k + c], exp(lp[c] - mx) / s, 1e-9,
                         1e-12);
    }
    assert_close(total, ref_total, 1e-11, 0.0);
    emgmm__workspace_free(&ws);
    free(resp);
    free_problem(&p);
}

/* Naive M-step: loops, two-pass, in long double. */
static void naive_mstep(const double *X, size_t n, size_t d, size_t k,
                        const double *resp, double reg, double *w,
                        double *mu, double *sigma)
{
    long double total = 0.0L;
    for (size_t c = 0; c < k; c++) {
        long double nk = 0.0L;
        for (size_t i = 0; i < n; i++)
            nk += resp[i * k + c];
        nk += 10.0L * 2.220446049250313e-16L;
        w[c] = (double)nk;
        total += nk;
        for (size_t j = 0; j < d; j++) {
            long double s = 0.0L;
            for (size_t i = 0; i < n; i++)
                s += resp[i * k + c] * X[i * d + j];
            mu[c * d + j] = (double)(s / nk);
        }
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) {
                long double s = 0.0L;
                for (size_t i = 0; i < n; i++)
                    s += resp[i * k + c] *
                         ((long double)X[i * d + a] - mu[c * d + a]) *
                         ((long double)X[i * d + b] - mu[c * d + b]);
                sigma[c * d * d + a * d + b] =
                    (double)(s / nk) + (a == b ? reg : 0.0);
            }
    }
    for (size_t c = 0; c < k; c++)
        w[c] = (double)(w[c] / total);
}

/* The covariances of `type` from the naive full ones (sigma, with reg on
 * their diagonals) and the naive component weights N_k (nk). */
static void reduce_naive(emgmm_covariance_type type, size_t d, size_t k,
                         const double *sigma, const double *nk, double reg,
                         double *out)
{
    double total = 0.0;
    for (size_t c = 0; c < k; c++)
        total += nk[c];
    for (size_t c = 0; c < k; c++) {
        const double *s = sigma + c * d * d;
        double trace = 0.0;
        for (size_t a = 0; a < d; a++) {
            trace += s[a * d + a];
            if (type == EMGMM_COVARIANCE_DIAG)
                out[c * d + a] = s[a * d + a];
            for (size_t b = 0; b < d; b++) {
                if (type == EMGMM_COVARIANCE_FULL)
                    out[c * d * d + a * d + b] = s[a * d + b];
                if (type == EMGMM_COVARIANCE_TIED)
                    out[a * d + b] = (c ? out[a * d + b] : 0.0) +
                                     (s[a * d + b] - (a == b ? reg : 0.0)) *
                                         nk[c] / total +
                                     (c + 1 == k && a == b ? reg : 0.0);
            }
        }
        if (type == EMGMM_COVARIANCE_SPHERICAL)
            out[c] = trace / (double)d;
    }
}

static void check_mstep(size_t n, size_t d, size_t k, double offset,
                        uint64_t seed, int threads)
{
    for (size_t t = 0; t < 4; t++) {
        problem p;
        make_typed_problem(&p, n, d, k, offset, seed, all_types[t]);
        test_rng r = {seed * 3 + 1};
        double *resp = malloc(n * k * sizeof(double));
        for (size_t i = 0; i < n; i++) {
            double s = 0.0;
            for (size_t c = 0; c < k; c++)
                s += resp[i * k + c] = test_rng_uniform(&r) + 0.01;
            for (size_t c = 0; c < k; c++)
                resp[i * k + c] /= s;
        }
        double *w = malloc(k * sizeof(double)), *mu = malloc(k * d * 8),
               *sigma = malloc(k * d * d * 8), *want = malloc(k * d * d * 8),
               *nk = malloc(k * sizeof(double));
        naive_mstep(p.X, n, d, k, resp, 1e-6, w, mu, sigma);
        for (size_t c = 0; c < k; c++) {
            nk[c] = 10.0 * 2.220446049250313e-16;
            for (size_t i = 0; i < n; i++)
                nk[c] += resp[i * k + c];
        }
        reduce_naive(all_types[t], d, k, sigma, nk, 1e-6, want);

        emgmm_workspace ws = {0};
        assert_int_equal(emgmm__workspace_alloc(&ws, n, k, d, threads),
                         EMGMM_OK);
        int bad = -1;
        assert_int_equal(
            emgmm__mstep(p.m, p.X, n, d, resp, 1e-6, &ws, &bad), EMGMM_OK);
        for (size_t c = 0; c < k; c++)
            assert_close(p.m->weights[c], w[c], 1e-12, 0.0);
        for (size_t i = 0; i < k * d; i++)
            assert_close(p.m->means[i], mu[i], 1e-12, 1e-12);
        /* Covariances are ~1-10 here; an absolute 1e-9 on data offset by
         * 1e6 still proves the sums were centred (the one-pass formula
         * would be wrong in the 3rd digit there). */
        const size_t cs = emgmm__cov_size(all_types[t], k, d);
        for (size_t i = 0; i < cs; i++)
            assert_close(p.m->covariances[i], want[i], 1e-10, 1e-9);
        emgmm__workspace_free(&ws);
        free(resp);
        free(w);
        free(mu);
        free(sigma);
        free(want);
        free(nk);
        free_problem(&p);
    }
}

static void test_mstep_matches_naive(void **state)
{
    (void)state;
    check_mstep(1, 1, 1, 0.0, 1, 1);
    check_mstep(40, 3, 2, 0.0, 2, 1);
    check_mstep(3000, 5, 3, 0.0, 3, 2); /* several blocks, two threads */
    check_mstep(500, 12, 4, 0.0, 4, 1);
    check_mstep(700, 4, 3, 0.0, 6, 2); /* the largest unrolled size */
}

static void test_mstep_far_from_origin(void **state)
{
    (void)state;
    check_mstep(2000, 4, 3, 1e6, 5, 2);  /* unrolled path */
    check_mstep(2000, 10, 3, 1e6, 8, 2); /* gathered syrk path */
}

/* The precision factor: U U^T Sigma = I, and log det U = -1/2 log det S. */
static void test_precision_factor(void **state)
{
    (void)state;
    test_rng r = {9};
    for (size_t d = 1; d <= 12; d += 3) {
        double *s = malloc(d * d * 8), *l = malloc(d * d * 8),
               *u = malloc(d * d * 8), *inv = malloc(d * d * 8);
        random_spd(&r, d, 0.1, s);
        memcpy(l, s, d * d * 8);
        assert_int_equal(emgmm__cholesky_lower(l, d), 0);
        double log_det_u = emgmm__precision_factor(l, d, u, d);
        double log_det_s = naive_inverse(s, d, inv);
        assert_close(log_det_u, -0.5 * log_det_s, 1e-12, 1e-12);
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j < d; j++) {
                double v = 0.0;
                for (size_t t = 0; t < d; t++)
                    v += u[i * d + t] * u[j * d + t];
                assert_close(v, inv[i * d + j], 1e-10, 1e-10);
            }
        free(s);
        free(l);
        free(u);
        free(inv);
    }
    /* Not positive definite: detected, not NaN. */
    double bad[4] = {1.0, 2.0, 2.0, 1.0};
    assert_int_not_equal(emgmm__cholesky_lower(bad, 2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_prob_matches_naive),
        cmocka_unit_test(test_log_prob_far_from_origin),
        cmocka_unit_test(test_normalize_log_resp),
        cmocka_unit_test(test_estep_matches_naive),
        cmocka_unit_test(test_mstep_matches_naive),
        cmocka_unit_test(test_mstep_far_from_origin),
        cmocka_unit_test(test_precision_factor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
