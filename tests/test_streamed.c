/*
 * Streamed fits (emgmm_fit_streamed): rows read block by block through a
 * callback must give the in-memory fit of the same rows, for every
 * covariance type; a failed read, bad values and out-of-memory are
 * reported cleanly.
 */
#include "internal.h"
#include "test_util.h"

#include <math.h>
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

/* ---- sample weights and missing values ----------------------------- */

/* Rows and weights of one data set, for emgmm_fit_streamed_weighted. */
typedef struct weighted_source {
    source rows;
    const double *w;
    long w_calls;
    long w_fail_at; /* > 0: that call of the weight reader fails */
} weighted_source;

static int read_weighted_rows(size_t first, size_t count, double *rows,
                              void *user)
{
    return read_rows(first, count, rows, &((weighted_source *)user)->rows);
}

static int read_weights(size_t first, size_t count, double *w, void *user)
{
    weighted_source *s = user;
    if (++s->w_calls == s->w_fail_at)
        return 1;
    memcpy(w, s->w + first, count * sizeof(double));
    return 0;
}

/* make_data shifted by offset, with about 12 % of the values missing
 * (some rows entirely) when gaps is set. */
static double *make_gappy_data(size_t n, size_t d, uint64_t seed,
                               double offset, int gaps)
{
    double *X = make_data(n, d, seed);
    test_rng r = {seed + 100};
    for (size_t i = 0; i < n * d; i++) {
        X[i] += offset;
        if (gaps && test_rng_uniform(&r) < 0.12)
            X[i] = NAN;
    }
    for (size_t i = 0; gaps && i < n; i += 97) /* nothing observed */
        for (size_t j = 0; j < d; j++)
            X[i * d + j] = NAN;
    return X;
}

static double *make_weights(size_t n, uint64_t seed)
{
    test_rng r = {seed};
    double *w = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        w[i] = i % 53 == 5 ? 0.0 : 0.2 + 2.0 * test_rng_uniform(&r);
    return w;
}

/* |a - b| / max(|a|, |b|, floor): the largest over n values. */
static double max_rel_diff(const double *a, const double *b, size_t n,
                           double floor)
{
    double most = 0.0;
    for (size_t i = 0; i < n; i++) {
        double scale = fmax(fmax(fabs(a[i]), fabs(b[i])), floor);
        double r = fabs(a[i] - b[i]) / scale;
        most = r > most ? r : most;
    }
    return most;
}

/* Streamed against in-memory from the same start: weights, missing
 * values and both, every covariance type, near the origin and offset by
 * 1e6 (where uncentred sums would lose digits). */
static void test_streamed_weights_missing(void **state)
{
    (void)state;
    const size_t n = 5003, d = 5, k = 3;
    const emgmm_covariance_type types[4] = {
        EMGMM_COVARIANCE_FULL, EMGMM_COVARIANCE_TIED, EMGMM_COVARIANCE_DIAG,
        EMGMM_COVARIANCE_SPHERICAL};
    /* the largest differences of weights, means and covariances, near
     * the origin and offset */
    double worst[2][3] = {{0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}};
    for (int offset_case = 0; offset_case < 2; offset_case++) {
        const double offset = offset_case ? 1e6 : 0.0;
        for (int kind = 0; kind < 3; kind++) { /* weights, gaps, both */
            const int weighted = kind != 1, gaps = kind != 0;
            double *X = make_gappy_data(n, d, 7 + (uint64_t)kind, offset,
                                        gaps);
            double *w = make_weights(n, 11);
            for (int t = 0; t < 4; t++) {
                emgmm_params p;
                emgmm_params_default(&p);
                p.n_components = (int)k;
                p.covariance_type = types[t];
                p.missing = gaps;
                p.sample_weight = weighted ? w : NULL;
                p.max_iter = 0;
                emgmm_model *start = NULL;
                assert_int_equal(emgmm_fit(&p, X, n, d, d, &start, NULL),
                                 EMGMM_OK);
                p.init_model = start;
                p.max_iter = 25;
                p.tol = 0.0;
                emgmm_model *a = NULL, *b = NULL;
                emgmm_fit_info ia, ib;
                assert_int_equal(emgmm_fit(&p, X, n, d, d, &a, &ia),
                                 EMGMM_OK);
                p.sample_weight = NULL; /* streamed instead */
                weighted_source s = {{X, d, 0, 0, 0}, w, 0, 0};
                assert_int_equal(emgmm_fit_streamed_weighted(
                                     &p, n, d, read_weighted_rows,
                                     weighted ? read_weights : NULL, &s, &b,
                                     &ib),
                                 EMGMM_OK);
                assert_true(s.rows.most < n);
                if (weighted) /* the weights were read with the rows */
                    assert_int_equal(s.w_calls, s.rows.calls);
                else
                    assert_int_equal(s.w_calls, 0);
                assert_int_equal(ia.n_iter, ib.n_iter);
                assert_int_equal(ia.n_rows_all_missing,
                                 ib.n_rows_all_missing);
                assert_true(ia.n_missing_values == ib.n_missing_values);
                if (gaps) {
                    assert_true(ib.n_rows_all_missing >= n / 97);
                    assert_true(ib.n_missing_values > n * d / 10);
                }
                /* Far from the origin, both fits sum R^T X uncentred for
                 * the means (the in-memory one in one gemm, the streamed
                 * one block by block), whose rounding, about 20 ulp of
                 * 1e6 (5e-9), is a part in 1e9 of the data's spread: the
                 * two agree to that, not to 1e-10 (the unweighted streamed
                 * fit, without gaps, alike). */
                const double tol = offset_case ? 1e-8 : 1e-10;
                assert_close(ia.log_likelihood, ib.log_likelihood, tol, 0);
                assert_close(ia.lower_bound, ib.lower_bound, tol, 0);
                assert_close(ia.bic, ib.bic, tol, 0);
                /* Means (less the offset) and covariances on the data's
                 * scale (about 1 to 10): relative to at least 1. */
                double ma[3 * 5], mb[3 * 5];
                for (size_t i = 0; i < k * d; i++) {
                    ma[i] = emgmm_means(a)[i] - offset;
                    mb[i] = emgmm_means(b)[i] - offset;
                }
                const double dw = max_rel_diff(emgmm_weights(a),
                                               emgmm_weights(b), k, 1e-3);
                const double dm = max_rel_diff(ma, mb, k * d, 1.0);
                const double dc = max_rel_diff(emgmm_covariances(a),
                                               emgmm_covariances(b),
                                               n_cov(a), 1.0);
                assert_true(dw <= tol);
                assert_true(dm <= tol);
                assert_true(dc <= tol);
                double *most = worst[offset_case];
                most[0] = dw > most[0] ? dw : most[0];
                most[1] = dm > most[1] ? dm : most[1];
                most[2] = dc > most[2] ? dc : most[2];
                /* The fit moved away from its start (so that the
                 * comparison covers EM, not only the start). */
                const double moved = max_rel_diff(emgmm_covariances(start),
                                                  emgmm_covariances(b),
                                                  n_cov(a), 1.0);
                assert_true(moved > 1e-6);
                emgmm_free(&a);
                emgmm_free(&b);
                emgmm_free(&start);
            }
            free(X);
            free(w);
        }
    }
    for (int o = 0; o < 2; o++)
        print_message("streamed vs in-memory, offset %g: largest relative "
                      "differences: weights %.2e, means %.2e, covariances "
                      "%.2e\n", o ? 1e6 : 0.0, worst[o][0], worst[o][1],
                      worst[o][2]);
}

static void test_streamed_weights_missing_errors(void **state)
{
    (void)state;
    const size_t n = 3000, d = 3;
    double *X = make_gappy_data(n, d, 3, 0.0, 1);
    double *w = make_weights(n, 4);
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = 2;
    p.missing = 1;
    p.sample_weight = w;
    p.max_iter = 0;
    emgmm_model *start = NULL, *m = NULL;
    assert_int_equal(emgmm_fit(&p, X, n, d, d, &start, NULL), EMGMM_OK);
    p.init_model = start;
    p.max_iter = 4;
    weighted_source s = {{X, d, 0, 0, 0}, w, 0, 0};
    /* Weights as an n-long array: refused (they are streamed). */
    assert_int_equal(emgmm_fit_streamed_weighted(&p, n, d,
                                                 read_weighted_rows,
                                                 read_weights, &s, &m, NULL),
                     EMGMM_ERR_INVALID);
    assert_null(m);
    p.sample_weight = NULL;
    s = (weighted_source){{X, d, 0, 0, 0}, w, 0, 0};
    assert_int_equal(emgmm_fit_streamed_weighted(&p, n, d,
                                                 read_weighted_rows,
                                                 read_weights, &s, &m, NULL),
                     EMGMM_OK);
    emgmm_free(&m);
    /* A weight read that fails, at each of them. */
    const long reads = s.w_calls;
    assert_true(reads >= 10);
    for (long at = 1; at <= reads; at++) {
        s = (weighted_source){{X, d, 0, 0, 0}, w, 0, at};
        assert_int_equal(emgmm_fit_streamed_weighted(
                             &p, n, d, read_weighted_rows, read_weights, &s,
                             &m, NULL),
                         EMGMM_ERR_IO);
        assert_null(m);
    }
    /* And a row read. */
    for (long at = 1; at <= reads; at += 3) {
        s = (weighted_source){{X, d, 0, at, 0}, w, 0, 0};
        assert_int_equal(emgmm_fit_streamed_weighted(
                             &p, n, d, read_weighted_rows, read_weights, &s,
                             &m, NULL),
                         EMGMM_ERR_IO);
        assert_null(m);
    }
    /* A negative or non-finite weight. */
    w[1234] = -1.0;
    s = (weighted_source){{X, d, 0, 0, 0}, w, 0, 0};
    assert_int_equal(emgmm_fit_streamed_weighted(&p, n, d,
                                                 read_weighted_rows,
                                                 read_weights, &s, &m, NULL),
                     EMGMM_ERR_INVALID);
    w[1234] = NAN;
    s = (weighted_source){{X, d, 0, 0, 0}, w, 0, 0};
    assert_int_equal(emgmm_fit_streamed_weighted(&p, n, d,
                                                 read_weighted_rows,
                                                 read_weights, &s, &m, NULL),
                     EMGMM_ERR_INVALID);
    w[1234] = 1.0;
    /* Infinity stays an error with missing values; NaN without them. */
    const double kept = X[2001 * d + 2];
    X[2001 * d + 2] = INFINITY;
    s = (weighted_source){{X, d, 0, 0, 0}, w, 0, 0};
    assert_int_equal(emgmm_fit_streamed_weighted(&p, n, d,
                                                 read_weighted_rows,
                                                 read_weights, &s, &m, NULL),
                     EMGMM_ERR_NONFINITE);
    X[2001 * d + 2] = kept;
    p.missing = 0;
    s = (weighted_source){{X, d, 0, 0, 0}, w, 0, 0};
    assert_int_equal(emgmm_fit_streamed_weighted(&p, n, d,
                                                 read_weighted_rows,
                                                 read_weights, &s, &m, NULL),
                     EMGMM_ERR_NONFINITE);
    p.missing = 1;
    /* Every allocation can fail, without a leak (a short fit: the gaps
     * of each block are laid out anew, so there are many). */
    p.max_iter = 2;
    int points = 0;
    for (long fail = 1;; fail++) {
        const long live = emgmm__live_allocations();
        emgmm__fail_allocation_after(fail);
        s = (weighted_source){{X, d, 0, 0, 0}, w, 0, 0};
        int rc = emgmm_fit_streamed_weighted(&p, n, d, read_weighted_rows,
                                             read_weights, &s, &m, NULL);
        emgmm__fail_allocation_after(0);
        if (rc != EMGMM_OK)
            assert_null(m);
        emgmm_free(&m);
        assert_int_equal(emgmm__live_allocations(), live);
        if (rc == EMGMM_OK)
            break;
        assert_int_equal(rc, EMGMM_ERR_NOMEM);
        points++;
    }
    assert_true(points >= 30);
    /* A column with nothing observed. */
    for (size_t i = 0; i < n; i++)
        X[i * d + 1] = NAN;
    s = (weighted_source){{X, d, 0, 0, 0}, w, 0, 0};
    assert_int_equal(emgmm_fit_streamed_weighted(&p, n, d,
                                                 read_weighted_rows,
                                                 read_weights, &s, &m, NULL),
                     EMGMM_ERR_INVALID);
    emgmm_free(&start);
    free(X);
    free(w);
}

/* first_init: restarts run one per call draw the starts of one call's
 * restarts (how a streamed or distributed fit runs n_init > 1). */
static void test_first_init_restarts(void **state)
{
    (void)state;
    const size_t n = 1500, d = 3;
    double *X = make_data(n, d, 5);
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = 5;
    p.n_init = 3;
    p.seed = 42;
    emgmm_model *all = NULL;
    emgmm_fit_info ia;
    assert_int_equal(emgmm_fit(&p, X, n, d, d, &all, &ia), EMGMM_OK);
    p.n_init = 1;
    double scores[3];
    emgmm_model *one[3] = {NULL, NULL, NULL};
    for (int r = 0; r < 3; r++) {
        emgmm_fit_info ir;
        p.first_init = r;
        assert_int_equal(emgmm_fit(&p, X, n, d, d, &one[r], &ir), EMGMM_OK);
        assert_int_equal(ir.best_init, r);
        scores[r] = ir.log_likelihood;
    }
    int best = 0;
    for (int r = 1; r < 3; r++)
        if (scores[r] > scores[best])
            best = r;
    assert_int_equal(ia.best_init, best);
    assert_memory_equal(emgmm_means(all), emgmm_means(one[best]),
                        5 * d * sizeof(double));
    /* The starts differ (otherwise the restarts would test nothing). */
    assert_true(max_rel_diff(emgmm_means(one[0]), emgmm_means(one[1]),
                             5 * d, 1.0) > 1e-6 ||
                max_rel_diff(emgmm_means(one[0]), emgmm_means(one[2]),
                             5 * d, 1.0) > 1e-6);
    p.first_init = -1;
    emgmm_model *bad = NULL;
    assert_int_equal(emgmm_fit(&p, X, n, d, d, &bad, NULL),
                     EMGMM_ERR_INVALID);
    for (int r = 0; r < 3; r++)
        emgmm_free(&one[r]);
    emgmm_free(&all);
    free(X);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streamed_equals_in_memory),
        cmocka_unit_test(test_streamed_errors),
        cmocka_unit_test(test_streamed_weights_missing),
        cmocka_unit_test(test_streamed_weights_missing_errors),
        cmocka_unit_test(test_first_init_restarts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
