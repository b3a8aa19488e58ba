/*
 * The kernels for the smallest dimensions (kernels.h, d <= 3) on every path
 * the CPU runs, against naive formulas (explicit inverses, long double
 * sums) and against the per-row code they replace, including data far
 * from the origin; and whole fits with them against fits without.
 */
#include "test_util.h"
#include "naive.h"

#include "internal.h"
#include "kernels.h"

#include <stdlib.h>
#include <string.h>

typedef struct small_problem {
    size_t n, d, k;
    double *X, *w, *mu, *sigma; /* sigma: k full matrices (tied: equal) */
    emgmm_model *m;
} small_problem;

static void make(small_problem *p, size_t n, size_t d, size_t k,
                 double offset, uint64_t seed, emgmm_covariance_type type)
{
    test_rng r = {seed};
    p->n = n, p->d = d, p->k = k;
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
        if (type == EMGMM_COVARIANCE_FULL || c == 0)
            random_spd(&r, d, 0.3, p->sigma + c * d * d);
        else
            memcpy(p->sigma + c * d * d, p->sigma, d * d * sizeof(double));
    for (size_t i = 0; i < n * d; i++)
        p->X[i] = offset + 3.0 * test_rng_normal(&r);
    assert_int_equal(emgmm_model_create(type, k, d, p->w, p->mu, p->sigma,
                                        &p->m, NULL),
                     EMGMM_OK);
}

static void release(small_problem *p)
{
    emgmm_free(&p->m);
    free(p->X);
    free(p->w);
    free(p->mu);
    free(p->sigma);
}

/* The factor arguments of the kernels (as estep.c passes them). */
static double run_estep(emgmm__small_estep_fn *f, const emgmm_model *m,
                        const double *X, size_t n, const double *weight,
                        double *logp, double *resp, double *lse, double *nk,
                        double *xsum)
{
    const int tied = m->type == EMGMM_COVARIANCE_TIED;
    return f(X, n, m->d, m->d, m->k, m->centre, m->prec,
             tied ? m->d : m->k * m->d, tied, m->mean_proj, m->log_norm,
             weight, logp, resp, lse, nk, xsum);
}

static const size_t ns[] = {1, 7, 64, 65, 131};
static const size_t ks[] = {1, 3, 7, EMGMM__SMALL_MAX_K};
static const emgmm_covariance_type types[] = {EMGMM_COVARIANCE_FULL,
                                              EMGMM_COVARIANCE_TIED};

/* Weights with some zeros (a zero weight ignores the row). */
static double *make_weights(size_t n, uint64_t seed)
{
    test_rng r = {seed};
    double *w = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        w[i] = i % 5 == 2 ? 0.0 : 0.1 + 2.0 * test_rng_uniform(&r);
    return w;
}

/* Log-densities against the explicit inverse; responsibilities and
 * log p(x) bit for bit as the per-row log-sum-exp makes them from the
 * kernel's own log-densities; the total and the first moments against
 * long double sums. On every path, at the origin and at 1e6. */
static void test_estep_every_path(void **state)
{
    (void)state;
    const emgmm__isa saved = emgmm__kernel_isa();
    int paths = 0;
    for (int isa = 0; isa < EMGMM__ISA_COUNT; isa++) {
        if (emgmm__set_kernel_isa((emgmm__isa)isa) != 0)
            continue;
        paths++;
        for (size_t d = 1; d <= EMGMM__SMALL_MAX_D; d++)
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
                for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
                    for (int ty = 0; ty < 2; ty++)
                        for (int far = 0; far < 2; far++) {
            const size_t n = ns[ni], k = ks[ki];
            small_problem p;
            make(&p, n, d, k, far ? 1e6 : 0.0, 1000 * d + 10 * ki + ni,
                 types[ty]);
            emgmm__small_estep_fn *f = emgmm__small_estep(d, k);
            assert_non_null(f);
            double *logp = malloc(n * k * sizeof(double));
            double *ref = malloc(n * k * sizeof(double));
            double *resp = malloc(n * k * sizeof(double));
            double *lse = malloc(n * sizeof(double));
            double *ref_lse = malloc(n * sizeof(double));
            double nk[EMGMM__SMALL_MAX_K], xsum[EMGMM__SMALL_MAX_K * 3];
            double *wt = make_weights(n, 7 + n);
            run_estep(f, p.m, p.X, n, NULL, logp, NULL, NULL, NULL, NULL);
            for (size_t i = 0; i < n; i++)
                for (size_t c = 0; c < k; c++) {
                    const double v = naive_log_density(
                        p.X + i * d, p.mu + c * d, p.sigma + c * d * d,
                        p.w[c], d);
                    /* At 1e6 the naive x - mu itself rounds (1e-10). */
                    assert_close(logp[i * k + c], v, far ? 1e-8 : 1e-11,
                                 far ? 1e-8 : 1e-11);
                }
            for (int weighted = 0; weighted < 2; weighted++) {
                const double *w = weighted ? wt : NULL;
                memcpy(ref, logp, n * k * sizeof(double));
                const double ref_total =
                    emgmm__normalize_log_resp(ref, n, k, w, ref_lse);
                const double total = run_estep(f, p.m, p.X, n, w, NULL,
                                               resp, lse, nk, xsum);
                assert_memory_equal(resp, ref, n * k * sizeof(double));
                assert_memory_equal(lse, ref_lse, n * sizeof(double));
                /* Summed per lane: another order than row by row. */
                assert_close(total, ref_total, 1e-14, 1e-12);
                for (size_t c = 0; c < k; c++) {
                    long double s = 0.0L, m = 0.0L;
                    for (size_t i = 0; i < n; i++)
                        s += ref[i * k + c];
                    assert_close(nk[c], (double)s, 1e-14, 1e-300);
                    for (size_t a = 0; a < d; a++) {
                        s = m = 0.0L;
                        for (size_t i = 0; i < n; i++) {
                            s += (long double)ref[i * k + c] * p.X[i * d + a];
                            m += fabsl((long double)ref[i * k + c] *
                                       p.X[i * d + a]);
                        }
                        assert_close(xsum[c * d + a], (double)s, 0.0,
                                     1e-14 * (double)m + 1e-300);
                    }
                }
            }
            free(wt);
            free(logp);
            free(ref);
            free(resp);
            free(lse);
            free(ref_lse);
            release(&p);
                        }
    }
    assert_true(paths >= 1);
    assert_int_equal(emgmm__set_kernel_isa(saved), 0);
}

/* A model whose every component has zero weight: every row has zero
 * density. Its responsibilities are spread evenly (times the weight),
 * log p(x) is -inf, and a row of weight zero is left out of the total. */
static void test_estep_zero_density(void **state)
{
    (void)state;
    const emgmm__isa saved = emgmm__kernel_isa();
    for (int isa = 0; isa < EMGMM__ISA_COUNT; isa++) {
        if (emgmm__set_kernel_isa((emgmm__isa)isa) != 0)
            continue;
        small_problem p;
        make(&p, 11, 2, 3, 0.0, 5, EMGMM_COVARIANCE_FULL);
        for (size_t c = 0; c < 3; c++)
            p.m->log_norm[c] = -INFINITY;
        double resp[33], lse[11];
        double w[11] = {1, 2, 0, 1, 1, 1, 1, 1, 1, 1, 3};
        double t = run_estep(emgmm__small_estep(2, 3), p.m, p.X, 11, NULL,
                             NULL, resp, lse, NULL, NULL);
        assert_true(isinf(t) && t < 0);
        for (size_t i = 0; i < 33; i++)
            assert_true(resp[i] == 1.0 / 3.0);
        for (size_t i = 0; i < 11; i++)
            assert_true(isinf(lse[i]) && lse[i] < 0);
        double nk[3], xsum[6];
        t = run_estep(emgmm__small_estep(2, 3), p.m, p.X, 11, w, NULL, resp,
                      NULL, nk, xsum);
        assert_true(isinf(t) && t < 0);
        for (size_t i = 0; i < 11; i++)
            for (size_t c = 0; c < 3; c++)
                assert_true(resp[i * 3 + c] == w[i] / 3.0);
        assert_close(nk[0], 13.0 / 3.0, 1e-15, 0.0);
        /* All rows of weight zero: nothing is added. */
        double zeros[11] = {0};
        t = run_estep(emgmm__small_estep(2, 3), p.m, p.X, 11, zeros, NULL,
                      resp, NULL, NULL, NULL);
        assert_true(t == 0.0);
        release(&p);
    }
    assert_int_equal(emgmm__set_kernel_isa(saved), 0);
}

/* The first moments and the scatter about given means against long
 * double sums, components in groups (full) and summed in order (tied),
 * at the origin and at 1e6 (two-pass: the error is relative to the
 * spread, not to the offset). */
static void test_sums_and_scatter_every_path(void **state)
{
    (void)state;
    const emgmm__isa saved = emgmm__kernel_isa();
    for (int isa = 0; isa < EMGMM__ISA_COUNT; isa++) {
        if (emgmm__set_kernel_isa((emgmm__isa)isa) != 0)
            continue;
        for (size_t d = 1; d <= EMGMM__SMALL_MAX_D; d++)
            for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
                for (int far = 0; far < 2; far++) {
            const size_t n = ns[ni], k = 11; /* two groups of components */
            small_problem p;
            make(&p, n, d, k, far ? 1e6 : 0.0, 77 + ni, EMGMM_COVARIANCE_FULL);
            double *resp = malloc(n * k * sizeof(double));
            test_rng r = {3 + n};
            for (size_t i = 0; i < n * k; i++)
                resp[i] = i % 7 == 3 ? 0.0 : test_rng_uniform(&r);
            double nk[11], xsum[33];
            emgmm__small_sums(d, k)(p.X, n, d, d, resp, k, nk, xsum);
            double *cov = calloc(k * d * d, sizeof(double));
            double tied[9] = {0}, tied_ref[9] = {0}, tied_mag[9] = {0};
            emgmm__scatter_fn *sc = emgmm__small_scatter(d);
            assert_non_null(sc);
            sc(p.X, n, d, d, resp, k, 0, EMGMM__SCATTER_GROUP, p.mu, cov,
               d * d, NULL);
            sc(p.X, n, d, d, resp, k, EMGMM__SCATTER_GROUP, k, p.mu, cov,
               d * d, NULL);
            for (size_t c0 = 0; c0 < k; c0 += EMGMM__SCATTER_GROUP)
                sc(p.X, n, d, d, resp, k, c0,
                   k - c0 < EMGMM__SCATTER_GROUP ? k : c0 + EMGMM__SCATTER_GROUP,
                   p.mu, tied, 0, NULL);
            for (size_t c = 0; c < k; c++) {
                long double s = 0.0L;
                for (size_t i = 0; i < n; i++)
                    s += resp[i * k + c];
                assert_close(nk[c], (double)s, 1e-14, 1e-300);
                for (size_t a = 0; a < d; a++) {
                    long double v = 0.0L, m = 0.0L;
                    for (size_t i = 0; i < n; i++) {
                        v += (long double)resp[i * k + c] * p.X[i * d + a];
                        m += fabsl((long double)resp[i * k + c] *
                                   p.X[i * d + a]);
                    }
                    assert_close(xsum[c * d + a], (double)v, 0.0,
                                 1e-14 * (double)m + 1e-300);
                }
                double ref[9], mag[9];
                naive_scatter(p.X, n, d, resp + c, k, p.mu + c * d, ref, mag);
                for (size_t a = 0; a < d; a++)
                    for (size_t b = 0; b <= a; b++) {
                        assert_close(cov[c * d * d + a * d + b],
                                     ref[a * d + b], 0.0,
                                     1e-13 * mag[a * d + b] + 1e-300);
                        tied_ref[a * d + b] += ref[a * d + b];
                        tied_mag[a * d + b] += mag[a * d + b];
                    }
                /* The strict upper triangle is not touched. */
                for (size_t a = 0; a < d; a++)
                    for (size_t b = a + 1; b < d; b++)
                        assert_true(cov[c * d * d + a * d + b] == 0.0);
            }
            for (size_t a = 0; a < d; a++)
                for (size_t b = 0; b <= a; b++)
                    assert_close(tied[a * d + b], tied_ref[a * d + b], 0.0,
                                 1e-13 * tied_mag[a * d + b] + 1e-300);
            free(cov);
            free(resp);
            release(&p);
                }
    }
    assert_int_equal(emgmm__set_kernel_isa(saved), 0);
}

static void fit(const double *X, size_t n, size_t d, size_t k, int threads,
                int n_init, emgmm_covariance_type type, emgmm_model **m,
                emgmm_fit_info *info)
{
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = (int)k;
    p.covariance_type = type;
    p.n_threads = threads;
    p.n_init = n_init;
    p.tol = 0.0;
    p.max_iter = 15;
    p.seed = 11;
    assert_int_equal(emgmm_fit(&p, X, n, d, d, m, info), EMGMM_OK);
}

static void assert_models_close(const emgmm_model *a, const emgmm_model *b,
                                double tol)
{
    const size_t k = a->k, d = a->d;
    for (size_t i = 0; i < k; i++)
        assert_close(a->weights[i], b->weights[i], tol, tol);
    for (size_t i = 0; i < k * d; i++)
        assert_close(a->means[i], b->means[i], tol, tol);
    for (size_t i = 0; i < emgmm__cov_size(a->type, k, d); i++)
        assert_close(a->covariances[i], b->covariances[i], tol, tol);
}

/* Whole fits at d = 2 (several blocks): the same bits on 1 and 2 threads
 * (the E-step's first moments are summed per block, in block order), and
 * the fit of the per-row code within rounding, with one start and with
 * restarts (each restart's first M-step must use its own start, not the
 * moments the previous restart's last E-step left). */
static void test_fit_with_and_without(void **state)
{
    (void)state;
    small_problem p;
    make(&p, 30000, 2, 3, 0.0, 21, EMGMM_COVARIANCE_FULL);
    for (int ty = 0; ty < 2; ty++)
        for (int n_init = 1; n_init <= 3; n_init += 2) {
            emgmm_model *one, *two, *off;
            emgmm_fit_info i1, i2, i3;
            fit(p.X, p.n, 2, 3, 1, n_init, types[ty], &one, &i1);
            fit(p.X, p.n, 2, 3, 2, n_init, types[ty], &two, &i2);
            assert_memory_equal(one->means, two->means,
                                6 * sizeof(double));
            assert_memory_equal(one->covariances, two->covariances,
                                emgmm__cov_size(types[ty], 3, 2) *
                                    sizeof(double));
            assert_memory_equal(&i1.log_likelihood, &i2.log_likelihood,
                                sizeof(double));
            emgmm__set_kernel_use(EMGMM__KERNELS_OFF);
            fit(p.X, p.n, 2, 3, 1, n_init, types[ty], &off, &i3);
            emgmm__set_kernel_use(EMGMM__KERNELS_MEASURED);
            assert_int_equal(i1.best_init, i3.best_init);
            assert_close(i1.log_likelihood, i3.log_likelihood, 1e-12, 0.0);
            assert_models_close(one, off, 1e-9);
            emgmm_free(&one);
            emgmm_free(&two);
            emgmm_free(&off);
        }
    release(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_estep_every_path),
        cmocka_unit_test(test_estep_zero_density),
        cmocka_unit_test(test_sums_and_scatter_every_path),
        cmocka_unit_test(test_fit_with_and_without),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
