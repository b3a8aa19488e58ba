/*
 * Streamed fits (emgmm_fit_streamed): rows read block by block through a
 * callback must give the in-memory fit of the same rows, for every
 * covariance type; a failed read, bad values and out-of-memory are
 * reported cleanly.
 */
#include "internal.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct source {
    const double *X;
    size_t d;
    long calls;
    long fail_at; /* > 0: that call fails */
    size_t most;  /* the largest block asked for */
} source;

static int read_rows(size_t first, size_t count, double *rows, void *user)
{
    source *s = user;
    if (++s->calls == s->fail_at)
        return 1;
    if (count > s->most)
        s->most = count;
    memcpy(rows, s->X + first * s->d, count * s->d * sizeof(double));
    return 0;
}

static double *make_data(size_t n, size_t d, uint64_t seed)
{
    test_rng r = {seed};
    double *X = malloc(n * d * sizeof(double));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            X[i * d + j] = (double)(i % 4) * 3.0 * (j % 2 ? 1.0 : -1.0) +
                           test_rng_normal(&r) + (j ? 0.4 * X[i * d + j - 1]
                                                    : 0.0);
    return X;
}

static size_t n_cov(const emgmm_model *m)
{
    return emgmm__cov_size(emgmm_get_covariance_type(m),
                           emgmm_n_components(m), emgmm_n_features(m));
}

static void test_streamed_equals_in_memory(void **state)
{
    (void)state;
    const size_t n = 5003, d = 6, k = 4;
    double *X = make_data(n, d, 1);
    const emgmm_covariance_type types[4] = {
        EMGMM_COVARIANCE_FULL, EMGMM_COVARIANCE_TIED, EMGMM_COVARIANCE_DIAG,
        EMGMM_COVARIANCE_SPHERICAL};
    for (int t = 0; t < 4; t++) {
        for (int conv = 0; conv < 2; conv++) {
            emgmm_params p;
            emgmm_params_default(&p);
            p.n_components = (int)k;
            p.covariance_type = types[t];
            p.max_iter = 0;
            emgmm_model *start = NULL;
            assert_int_equal(emgmm_fit(&p, X, n, d, d, &start, NULL),
                             EMGMM_OK);
            p.init_model = start;
            p.max_iter = conv ? 300 : 15;
            p.tol = conv ? 1e-6 : 0.0;
            emgmm_model *a = NULL, *b = NULL;
            emgmm_fit_info ia, ib;
            assert_int_equal(emgmm_fit(&p, X, n, d, d, &a, &ia), EMGMM_OK);
            source s = {X, d, 0, 0, 0};
            assert_int_equal(emgmm_fit_streamed(&p, n, d, read_rows, &s, &b,
                                                &ib),
                             EMGMM_OK);
            assert_int_equal(ia.n_iter, ib.n_iter);
            assert_int_equal(ia.converged, ib.converged);
            assert_close(ia.log_likelihood, ib.log_likelihood, 1e-12, 0);
            assert_close(ia.bic, ib.bic, 1e-12, 0);
            for (size_t i = 0; i < k; i++)
                assert_close(emgmm_weights(a)[i], emgmm_weights(b)[i], 1e-10,
                             1e-15);
            for (size_t i = 0; i < k * d; i++)
                assert_close(emgmm_means(a)[i], emgmm_means(b)[i], 1e-10,
                             1e-12);
            for (size_t i = 0; i < n_cov(a); i++)
                assert_close(emgmm_covariances(a)[i],
                             emgmm_covariances(b)[i], 1e-10, 1e-12);
            /* Blocks, not the whole data set, were asked for. */
            assert_true(s.most < n);
            emgmm_free(&a);
            emgmm_free(&b);
            emgmm_free(&start);
        }
    }
    free(X);
}

static void test_streamed_errors(void **state)
{
    (void)state;
    const size_t n = 3000, d = 3;
    double *X = make_data(n, d, 2);
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = 2;
    emgmm_model *m = NULL;
    source s = {X, d, 0, 0, 0};
    /* No starting model: refused. */
    assert_int_equal(emgmm_fit_streamed(&p, n, d, read_rows, &s, &m, NULL),
                     EMGMM_ERR_INVALID);
    p.max_iter = 0;
    emgmm_model *start = NULL;
    assert_int_equal(emgmm_fit(&p, X, n, d, d, &start, NULL), EMGMM_OK);
    p.init_model = start;
    p.max_iter = 5;
    /* A read that fails, at every read of a fit: the check, each
     * E-step and M-step pass, the final score. */
    s = (source){X, d, 0, 0, 0};
    assert_int_equal(emgmm_fit_streamed(&p, n, d, read_rows, &s, &m, NULL),
                     EMGMM_OK);
    emgmm_free(&m);
    const long reads = s.calls;
    assert_true(reads >= 12); /* 1 + 5 x 2 + 1 at least */
    for (long at = 1; at <= reads; at++) {
        s = (source){X, d, 0, at, 0};
        assert_int_equal(emgmm_fit_streamed(&p, n, d, read_rows, &s, &m,
                                            NULL),
                         EMGMM_ERR_IO);
        assert_null(m);
    }
    X[2000 * d + 1] = INFINITY;
    s = (source){X, d, 0, 0, 0};
    assert_int_equal(emgmm_fit_streamed(&p, n, d, read_rows, &s, &m, NULL),
                     EMGMM_ERR_NONFINITE);
    X[2000 * d + 1] = 0.0;
    /* Every allocation can fail, without a leak. */
    int points = 0;
    for (long fail = 1;; fail++) {
        const long live = emgmm__live_allocations();
        emgmm__fail_allocation_after(fail);
        s = (source){X, d, 0, 0, 0};
        int rc = emgmm_fit_streamed(&p, n, d, read_rows, &s, &m, NULL);
        emgmm__fail_allocation_after(0);
        emgmm_free(&m);
        assert_int_equal(emgmm__live_allocations(), live);
        if (rc == EMGMM_OK)
            break;
        assert_int_equal(rc, EMGMM_ERR_NOMEM);
        points++;
    }
    assert_true(points >= 8);
    emgmm_free(&start);
    free(X);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streamed_equals_in_memory),
        cmocka_unit_test(test_streamed_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
