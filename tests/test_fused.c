/*
 * The fused iteration (one pass over X per EM iteration, mstep.c) against
 * the separate E- and M-step passes: the same fits to 1e-10 relative for
 * every covariance type, near the origin and far from it; the same bits
 * for one and two threads; a resumed fit the same bits as an
 * uninterrupted one.
 */
#include "test_util.h"

#include "internal.h"
#include "emgmm_config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* k clusters in d dimensions, correlated within each, plus an offset. */
static double *cluster_data(size_t n, size_t d, size_t k, double offset,
                            uint64_t seed)
{
    double *X = malloc(n * d * sizeof(double));
    assert_non_null(X);
    test_rng r = {seed};
    for (size_t i = 0; i < n; i++) {
        const size_t c = i % k;
        double prev = 0.0;
        for (size_t j = 0; j < d; j++) {
            const double z = test_rng_normal(&r) * (0.5 + 0.25 * (double)c);
            const double v = z + 0.6 * prev;
            prev = v;
            X[i * d + j] = v + 5.0 * (double)c * (j % 3 == c % 3 ? 1.0 : 0.3) +
                           offset;
        }
    }
    return X;
}

static emgmm_model *fit(const double *X, size_t n, size_t d, int k,
                        emgmm_covariance_type type, const emgmm_model *start,
                        int fused, int threads, double tol,
                        emgmm_fit_info *info)
{
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = k;
    p.covariance_type = type;
    p.tol = tol;
    p.max_iter = 25;
    p.seed = 5;
    p.n_threads = threads;
    p.init_model = start;
    emgmm__set_fused(fused);
    emgmm_model *m = NULL;
    assert_int_equal(emgmm_fit(&p, X, n, d, d, &m, info), EMGMM_OK);
    emgmm__set_fused(0);
    return m;
}

/* The largest relative difference of two fits: weights and means
 * entry-wise, covariance entries relative to sqrt(a_ii a_jj). */
static double max_rel_diff(const emgmm_model *a, const emgmm_model *b)
{
    const size_t k = emgmm_n_components(a), d = emgmm_n_features(a);
    const emgmm_covariance_type type = emgmm_get_covariance_type(a);
    double worst = 0.0;
    for (size_t i = 0; i < k; i++) {
        const double x = emgmm_weights(a)[i], y = emgmm_weights(b)[i];
        worst = fmax(worst, fabs(x - y) / fmax(fabs(x), fabs(y)));
    }
    for (size_t i = 0; i < k * d; i++) {
        const double x = emgmm_means(a)[i], y = emgmm_means(b)[i];
        worst = fmax(worst, fabs(x - y) / fmax(fmax(fabs(x), fabs(y)), 1e-300));
    }
    const double *ca = emgmm_covariances(a), *cb = emgmm_covariances(b);
    if (type == EMGMM_COVARIANCE_FULL || type == EMGMM_COVARIANCE_TIED) {
        const size_t nm = type == EMGMM_COVARIANCE_FULL ? k : 1;
        for (size_t c = 0; c < nm; c++) {
            const double *x = ca + c * d * d, *y = cb + c * d * d;
            for (size_t i = 0; i < d; i++)
                for (size_t j = 0; j < d; j++)
                    worst = fmax(worst, fabs(x[i * d + j] - y[i * d + j]) /
                                            sqrt(x[i * d + i] * x[j * d + j]));
        }
    } else {
        const size_t cs = emgmm__cov_size(type, k, d);
        for (size_t i = 0; i < cs; i++)
            worst = fmax(worst, fabs(ca[i] - cb[i]) / fabs(ca[i]));
    }
    return worst;
}

static void assert_same_bits(const emgmm_model *a, const emgmm_model *b)
{
    const size_t k = emgmm_n_components(a), d = emgmm_n_features(a);
    const size_t cs = emgmm__cov_size(emgmm_get_covariance_type(a), k, d);
    assert_memory_equal(emgmm_weights(a), emgmm_weights(b),
                        k * sizeof(double));
    assert_memory_equal(emgmm_means(a), emgmm_means(b),
                        k * d * sizeof(double));
    assert_memory_equal(emgmm_covariances(a), emgmm_covariances(b),
                        cs * sizeof(double));
}

/* Fused and two-pass fits from the same start (the same seed, so the
 * same k-means start and first M-step) agree, with the same iterations,
 * near the origin (1e-10 relative) and offset by 1e6; every type, at
 * dimensions on each projection and scatter path (d = 3: plain loops;
 * 8: own kernels; 40: kernels or BLAS, by the CPU). Offset by 1e6, the
 * means carry rounding errors of eps * 1e6 ~ 2e-10 of the spread in
 * either computation, which move the next responsibilities: the
 * two-pass fit of the same rows in reverse order differs from itself by
 * up to 4e-10 here, so 1e-9 is asked there. */
static void test_fused_agrees_with_two_pass(void **state)
{
    (void)state;
    static const size_t dims[3] = {3, 8, 40};
    static const double offsets[2] = {0.0, 1e6};
    for (int o = 0; o < 2; o++)
        for (int di = 0; di < 3; di++) {
            const size_t n = 3000, d = dims[di];
            double *X = cluster_data(n, d, 3, offsets[o], 11 + (uint64_t)di);
            for (int t = 0; t < 4; t++) {
                for (int tol = 0; tol < 2; tol++) {
                    emgmm_fit_info ia, ib;
                    const double tv = tol ? 1e-3 : 0.0;
                    emgmm_model *a = fit(X, n, d, 3, (emgmm_covariance_type)t,
                                         NULL, 0, 1, tv, &ia);
                    emgmm_model *b = fit(X, n, d, 3, (emgmm_covariance_type)t,
                                         NULL, 1, 1, tv, &ib);
                    const double diff = max_rel_diff(a, b);
                    if (getenv("EMGMM_TEST_VERBOSE"))
                        print_message("offset %g d %zu type %d tol %g: "
                                      "%.3g, lower bound %.3g\n",
                                      offsets[o], d, t, tv, diff,
                                      fabs(ia.lower_bound - ib.lower_bound));
                    assert_true(diff <= (o ? 1e-9 : 1e-10));
                    assert_int_equal(ia.n_iter, ib.n_iter);
                    assert_int_equal(ia.converged, ib.converged);
                    const double ltol = o ? 1e-10 : 1e-12;
                    assert_close(ia.lower_bound, ib.lower_bound, ltol, 0.0);
                    assert_close(ia.log_likelihood, ib.log_likelihood, ltol,
                                 0.0);
                    emgmm_free(&a);
                    emgmm_free(&b);
                }
            }
            free(X);
        }
}

/* Data offset by 1e9, from a given start: the fused fit agrees with the
 * two-pass one there (to the means' rounding, eps * 1e9 ~ 2e-7 of the
 * spread, which either computation has), and with the fused fit of the
 * unshifted data (as the two-pass fits do, test_em.c). */
static void test_fused_far_from_origin(void **state)
{
    (void)state;
    const size_t n = 300, d = 3;
    test_rng r = {99};
    double *X = malloc(n * d * sizeof(double)), *Y = malloc(n * d * sizeof(double));
    assert_true(X && Y);
    for (size_t i = 0; i < n; i++) {
        X[i * 3] = test_rng_normal(&r) + (i % 2 ? 6.0 : 0.0);
        X[i * 3 + 1] = test_rng_normal(&r);
        X[i * 3 + 2] = test_rng_normal(&r);
    }
    for (size_t i = 0; i < n * d; i++)
        Y[i] = X[i] + 1e9;
    const double w0[2] = {0.5, 0.5}, cov0[18] = {1, 0, 0, 0, 1, 0, 0, 0, 1,
                                                 1, 0, 0, 0, 1, 0, 0, 0, 1};
    double mu0[6] = {0, 0, 0, 6, 0, 0}, mu1[6];
    for (size_t i = 0; i < 6; i++)
        mu1[i] = mu0[i] + 1e9;
    emgmm_model *s0 = NULL, *s1 = NULL;
    assert_int_equal(emgmm_model_create(EMGMM_COVARIANCE_FULL, 2, 3, w0, mu0,
                                        cov0, &s0, NULL),
                     EMGMM_OK);
    assert_int_equal(emgmm_model_create(EMGMM_COVARIANCE_FULL, 2, 3, w0, mu1,
                                        cov0, &s1, NULL),
                     EMGMM_OK);
    emgmm_model *a = fit(X, n, d, 2, EMGMM_COVARIANCE_FULL, s0, 1, 1, 0.0, NULL);
    emgmm_model *b = fit(Y, n, d, 2, EMGMM_COVARIANCE_FULL, s1, 1, 1, 0.0, NULL);
    emgmm_model *c = fit(Y, n, d, 2, EMGMM_COVARIANCE_FULL, s1, 0, 1, 0.0, NULL);
    const double diff = max_rel_diff(b, c);
    if (getenv("EMGMM_TEST_VERBOSE"))
        print_message("offset 1e9: fused vs two-pass %.3g\n", diff);
    assert_true(diff <= 1e-6);
    for (size_t i = 0; i < 18; i++)
        assert_close(emgmm_covariances(b)[i], emgmm_covariances(a)[i], 1e-5,
                     1e-6);
    for (size_t i = 0; i < 2; i++)
        assert_close(emgmm_weights(b)[i], emgmm_weights(a)[i], 1e-6, 0.0);
    emgmm_free(&a);
    emgmm_free(&b);
    emgmm_free(&c);
    emgmm_free(&s0);
    emgmm_free(&s1);
    free(X);
    free(Y);
}

/* A start far from the data (means moved by 50 spreads): the first
 * correction would cancel most digits, so that iteration's scatter is
 * recomputed about the new means; the fits still agree. */
static void test_fused_far_start(void **state)
{
    (void)state;
    const size_t n = 2000, d = 5;
    double *X = cluster_data(n, d, 2, 1e6, 3);
    for (int t = 0; t < 4; t++) {
        const emgmm_covariance_type type = (emgmm_covariance_type)t;
        double w0[2] = {0.5, 0.5}, mu[10], cov[50];
        for (size_t j = 0; j < d; j++) {
            mu[j] = 1e6 + 50.0;
            mu[d + j] = 1e6 - 50.0;
        }
        const size_t cs = emgmm__cov_size(type, 2, d);
        for (size_t i = 0; i < cs; i++)
            cov[i] = 0.0;
        if (type == EMGMM_COVARIANCE_FULL || type == EMGMM_COVARIANCE_TIED) {
            for (size_t c = 0; c < cs / (d * d); c++)
                for (size_t j = 0; j < d; j++)
                    cov[c * d * d + j * d + j] = 1.0;
        } else {
            for (size_t i = 0; i < cs; i++)
                cov[i] = 1.0;
        }
        emgmm_model *s = NULL;
        assert_int_equal(emgmm_model_create(type, 2, d, w0, mu, cov, &s, NULL),
                         EMGMM_OK);
        emgmm_model *a = fit(X, n, d, 2, type, s, 0, 1, 0.0, NULL);
        emgmm_model *b = fit(X, n, d, 2, type, s, 1, 1, 0.0, NULL);
        const double diff = max_rel_diff(a, b);
        if (getenv("EMGMM_TEST_VERBOSE"))
            print_message("far start type %d: %.3g\n", t, diff);
        assert_true(diff <= 1e-10);
        emgmm_free(&a);
        emgmm_free(&b);
        emgmm_free(&s);
    }
    free(X);
}

/* Large enough for two threads: the fused fit does not change by a bit
 * with the thread count (sizes on the kernels' and on the BLAS paths,
 * weighted and not). */
static void test_fused_two_threads_same_bits(void **state)
{
    (void)state;
    static const size_t dims[2] = {12, 40};
    for (int di = 0; di < 2; di++) {
        const size_t n = 20000, d = dims[di], k = 4;
        double *X = cluster_data(n, d, k, 100.0, 21);
        double *w = malloc(n * sizeof(double));
        assert_non_null(w);
        for (size_t i = 0; i < n; i++)
            w[i] = 0.5 + (double)(i % 7) / 4.0;
        for (int t = 0; t < 4; t++)
            for (int weighted = 0; weighted < 2; weighted++) {
                emgmm_model *m[2] = {NULL, NULL};
                emgmm_fit_info info[2];
                for (int i = 0; i < 2; i++) {
                    emgmm_params p;
                    emgmm_params_default(&p);
                    p.n_components = (int)k;
                    p.covariance_type = (emgmm_covariance_type)t;
                    p.max_iter = 8;
                    p.n_threads = i + 1;
                    p.sample_weight = weighted ? w : NULL;
                    emgmm__set_fused(1);
                    assert_int_equal(emgmm_fit(&p, X, n, d, d, &m[i], &info[i]),
                                     EMGMM_OK);
                    emgmm__set_fused(0);
                }
                assert_same_bits(m[0], m[1]);
                assert_memory_equal(&info[0].lower_bound, &info[1].lower_bound,
                                    sizeof(double));
                assert_memory_equal(&info[0].log_likelihood,
                                    &info[1].log_likelihood, sizeof(double));
                emgmm_free(&m[0]);
                emgmm_free(&m[1]);
            }
        free(w);
        free(X);
    }
}

typedef struct checkpointer {
    int at;
    const char *path;
    int saved;
} checkpointer;

static int save_checkpoint(const emgmm_iteration *it, void *user)
{
    checkpointer *c = user;
    if (it->iteration == c->at) {
        assert_int_equal(emgmm_save(it->model, c->path), EMGMM_OK);
        c->saved = 1;
    }
    return 0;
}

/* With the fused iteration, a fit resumed from a checkpoint ends exactly
 * where the uninterrupted fit ends. */
static void test_fused_resume_is_bit_exact(void **state)
{
    (void)state;
    const size_t n = 6000, d = 6;
    double *X = cluster_data(n, d, 3, 1e6, 17);
    char path[] = "/tmp/emgmm-fused-ckpt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    static const double tols[2] = {0.0, 1e-6};
    emgmm__set_fused(1);
    for (int t = 0; t < 8; t++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.covariance_type = (emgmm_covariance_type)(t % 4);
        p.tol = tols[t / 4];
        p.max_iter = 40;
        p.n_components = 4; /* one more than the data: a slow EM */
        p.n_threads = 2;
        checkpointer c = {3, path, 0};
        p.progress = save_checkpoint;
        p.progress_data = &c;
        emgmm_model *whole = NULL, *ckpt = NULL, *resumed = NULL;
        emgmm_fit_info a, b;
        assert_int_equal(emgmm_fit(&p, X, n, d, d, &whole, &a), EMGMM_OK);
        assert_true(c.saved);
        assert_true(a.n_iter > 3);
        emgmm_error err;
        assert_int_equal(emgmm_load(path, &ckpt, &err), EMGMM_OK);
        p.progress = NULL;
        p.init_model = ckpt;
        p.resume = 1;
        assert_int_equal(emgmm_fit(&p, X, n, d, d, &resumed, &b), EMGMM_OK);
        assert_int_equal(b.n_iter, a.n_iter);
        assert_int_equal(b.converged, a.converged);
        assert_memory_equal(&a.log_likelihood, &b.log_likelihood,
                            sizeof(double));
        assert_memory_equal(&a.lower_bound, &b.lower_bound, sizeof(double));
        assert_same_bits(whole, resumed);
        emgmm_free(&whole);
        emgmm_free(&ckpt);
        emgmm_free(&resumed);
    }
    emgmm__set_fused(0);
    unlink(path);
    free(X);
}

/* Every allocation of a fused fit may fail: a clean error, nothing left
 * allocated. */
static void test_fused_allocation_failures(void **state)
{
    (void)state;
    const size_t n = 500, d = 4;
    double *X = cluster_data(n, d, 2, 0.0, 8);
    emgmm__set_fused(1);
    for (long f = 1; f < 40; f++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.n_components = 2;
        p.max_iter = 3;
        emgmm_model *m = NULL;
        const long live = emgmm__live_allocations();
        emgmm__fail_allocation_after(f);
        const int rc = emgmm_fit(&p, X, n, d, d, &m, NULL);
        emgmm__fail_allocation_after(0);
        if (rc == EMGMM_OK) {
            emgmm_free(&m);
        } else {
            assert_int_equal(rc, EMGMM_ERR_NOMEM);
            assert_null(m);
        }
        assert_int_equal(emgmm__live_allocations(), live);
    }
    emgmm__set_fused(0);
    free(X);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fused_agrees_with_two_pass),
        cmocka_unit_test(test_fused_far_from_origin),
        cmocka_unit_test(test_fused_far_start),
        cmocka_unit_test(test_fused_two_threads_same_bits),
        cmocka_unit_test(test_fused_resume_is_bit_exact),
        cmocka_unit_test(test_fused_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
