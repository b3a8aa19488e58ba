/*
 * Float32 data (emgmm_fit_f32 and the *_f32 predict family) against the
 * float64 code on the same values: every float32 value is a double too,
 * so the float64 fit of the widened data from the same start is the
 * reference, and the difference is the float32 rounding of the kernels
 * alone.
 *
 * Tolerance on the final mean log-likelihood (tol 0, a fixed number of
 * iterations, so both fits run the same steps): |delta| <= 2e-6 |ll|
 * (the float32 BLAS path, full and tied with d >= 33; measured up to about
 * 1e-7 here, see bench/RESULTS.md) and 1e-12 |ll| on the widened path
 * (d <= 32, diag, spherical: float64 kernels on the same values, only the
 * order of some additions differs).
 */
#include "float32.h"
#include "internal.h"
#include "kernels.h"
#include "test_util.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#define TOL_BLAS 1e-7
#define TOL_WIDE 1e-12

/* A mixture of k Gaussians with correlated (random full) covariances in
 * d dimensions, every value shifted by `offset` and rounded to float32;
 * wide receives the same values as doubles. Spreads of a few units, so
 * that even at an offset of 1e6 (float32 steps of 0.0625) the data keep
 * their shape. */
static void make_data(size_t n, size_t d, size_t k, double offset,
                      uint64_t seed, float **xf, double **xd)
{
    test_rng r = {seed};
    double *mix = malloc(k * d * d * sizeof(double));
    double *mu = malloc(k * d * sizeof(double));
    *xf = malloc(n * d * sizeof(float));
    *xd = malloc(n * d * sizeof(double));
    assert_non_null(mix);
    assert_non_null(mu);
    assert_non_null(*xf);
    assert_non_null(*xd);
    for (size_t c = 0; c < k; c++) {
        for (size_t j = 0; j < d; j++)
            mu[c * d + j] = 1.0 * test_rng_normal(&r);
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++)
                mix[c * d * d + a * d + b] =
                    (a == b ? 2.0 + c : 0.0) +
                    0.6 * test_rng_normal(&r) / sqrt((double)d);
    }
    double *z = malloc(d * sizeof(double));
    assert_non_null(z);
    for (size_t i = 0; i < n; i++) {
        const size_t c = (size_t)(test_rng_uniform(&r) * (double)k) % k;
        for (size_t j = 0; j < d; j++)
            z[j] = test_rng_normal(&r);
        for (size_t a = 0; a < d; a++) {
            double v = offset + mu[c * d + a];
            for (size_t b = 0; b < d; b++)
                v += mix[c * d * d + a * d + b] * z[b];
            (*xf)[i * d + a] = (float)v;
            (*xd)[i * d + a] = (double)(float)v;
        }
    }
    free(z);
    free(mix);
    free(mu);
}

/* Every covariance of m admits a Cholesky factor (positive definite). */
static void assert_positive_definite(const emgmm_model *m)
{
    const size_t k = emgmm_n_components(m), d = emgmm_n_features(m);
    const double *cov = emgmm_covariances(m);
    const emgmm_covariance_type t = emgmm_get_covariance_type(m);
    if (t == EMGMM_COVARIANCE_DIAG || t == EMGMM_COVARIANCE_SPHERICAL) {
        const size_t count = t == EMGMM_COVARIANCE_DIAG ? k * d : k;
        for (size_t i = 0; i < count; i++)
            assert_true(cov[i] > 0.0);
        return;
    }
    const size_t mats = t == EMGMM_COVARIANCE_TIED ? 1 : k;
    double *a = malloc(d * d * sizeof(double));
    assert_non_null(a);
    for (size_t c = 0; c < mats; c++) {
        memcpy(a, cov + c * d * d, d * d * sizeof(double));
        assert_int_equal(emgmm__cholesky_lower(a, d), 0);
    }
    free(a);
}

/* A start for both fits: two float64 EM iterations from k-means. */
static emgmm_model *start_model(const double *xd, size_t n, size_t d,
                                size_t k, emgmm_covariance_type type)
{
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = (int)k;
    p.covariance_type = type;
    p.max_iter = 2;
    p.tol = 0.0;
    p.seed = 7;
    emgmm_model *m = NULL;
    assert_int_equal(emgmm_fit(&p, xd, n, d, d, &m, NULL), EMGMM_OK);
    return m;
}

/* Largest |a - b| / max(|b|, floor) over count values. */
static double max_rel(const double *a, const double *b, size_t count,
                      double floor)
{
    double worst = 0.0;
    for (size_t i = 0; i < count; i++) {
        const double s = fmax(fabs(b[i]), floor);
        const double e = fabs(a[i] - b[i]) / s;
        worst = e > worst ? e : worst;
    }
    return worst;
}

/* The float32 fit and the float64 fit of the same values from the same
 * start; returns |delta ll| / |ll|. */
static double compare_fits(size_t n, size_t d, size_t k, double offset,
                           emgmm_covariance_type type, uint64_t seed,
                           double tol)
{
    float *xf;
    double *xd;
    make_data(n, d, k, offset, seed, &xf, &xd);
    emgmm_model *start = start_model(xd, n, d, k, type);
    emgmm_params p;
    emgmm_params_default(&p);
    p.init_model = start;
    p.max_iter = 12;
    p.tol = 0.0;
    p.n_threads = 1;
    emgmm_model *m32 = NULL, *m64 = NULL;
    emgmm_fit_info i32, i64;
    assert_int_equal(emgmm_fit_f32(&p, xf, n, d, d, &m32, &i32), EMGMM_OK);
    assert_int_equal(emgmm_fit(&p, xd, n, d, d, &m64, &i64), EMGMM_OK);
    assert_int_equal(i32.n_iter, i64.n_iter);
    assert_positive_definite(m32);
    const double rel = fabs(i32.log_likelihood - i64.log_likelihood) /
                       fabs(i64.log_likelihood);
    const double mean_rel = max_rel(emgmm_means(m32), emgmm_means(m64),
                                    k * d, 1.0 + fabs(offset));
    print_message("%-9s d=%3zu offset %-5g: ll %.10g, |dll|/|ll| = %.2e, "
                  "means %.2e\n",
                  emgmm_covariance_type_name(type), d, offset,
                  i64.log_likelihood, rel, mean_rel);
    assert_true(rel <= tol);
    assert_close(i32.lower_bound, i64.lower_bound, tol, 0.0);
    assert_true(mean_rel <= 1e-5);
    /* The model stays float64 and is scored on float32 rows as on their
     * widened copies. */
    double s32, s64;
    assert_int_equal(emgmm_score_f32(m32, xf, n, d, &s32), EMGMM_OK);
    assert_int_equal(emgmm_score(m32, xd, n, d, &s64), EMGMM_OK);
    assert_close(s32, s64, tol, 0.0);
    emgmm_free(&m32);
    emgmm_free(&m64);
    emgmm_free(&start);
    free(xf);
    free(xd);
    return rel;
}

static const emgmm_covariance_type all_types[4] = {
    EMGMM_COVARIANCE_FULL, EMGMM_COVARIANCE_TIED, EMGMM_COVARIANCE_DIAG,
    EMGMM_COVARIANCE_SPHERICAL};

/* d = 40, above EMGMM__F32_BLAS_MIN_D: full and tied on float32 BLAS
 * (kernels off), then on the float32 kernels of every path the CPU has
 * (the same tolerance: their error bounds are those of the BLAS path, see
 * float32.c). */
static void test_blas_path_matches_float64(void **state)
{
    (void)state;
    const double offsets[3] = {0.0, 1e3, 1e6};
    const emgmm__isa saved = emgmm__kernel_isa();
    for (int path = -1; path < EMGMM__ISA_COUNT; path++) {
        if (path < 0)
            emgmm__set_kernel_use(EMGMM__KERNELS_OFF);
        else if (emgmm__set_kernel_isa((emgmm__isa)path) != 0)
            continue;
        else
            emgmm__set_kernel_use(EMGMM__KERNELS_EVERYWHERE);
        print_message("%s\n", path < 0 ? "float32 BLAS"
                                        : emgmm__isa_name((emgmm__isa)path));
        for (int o = 0; o < 3; o++)
            for (int t = 0; t < 4; t++) {
                const int blas = t < 2;
                if (path >= 0 && !blas)
                    continue;
                compare_fits(2500, 40, 3, offsets[o], all_types[t],
                             100 + (uint64_t)(o * 4 + t),
                             blas ? TOL_BLAS : TOL_WIDE);
            }
    }
    emgmm__set_kernel_use(EMGMM__KERNELS_MEASURED);
    assert_int_equal(emgmm__set_kernel_isa(saved), 0);
}

/* d = 64, the float32 kernels' widest (this CPU's path, measured
 * ranges), near and far from the origin. */
static void test_kernel_path_d64_matches_float64(void **state)
{
    (void)state;
    for (int t = 0; t < 2; t++) {
        compare_fits(3000, 64, 4, 0.0, all_types[t], 150 + (uint64_t)t,
                     TOL_BLAS);
        compare_fits(3000, 64, 4, 1e6, all_types[t], 160 + (uint64_t)t,
                     TOL_BLAS);
    }
}

/* Small d: widened blocks, float64 kernels. */
static void test_widened_path_matches_float64(void **state)
{
    (void)state;
    const size_t dims[3] = {2, 5, 20};
    for (int di = 0; di < 3; di++)
        for (int t = 0; t < 4; t++)
            compare_fits(1500, dims[di], 3, di == 1 ? 1e3 : 0.0,
                         all_types[t], 200 + (uint64_t)(di * 4 + t),
                         TOL_WIDE);
}

/* Same start from the data (k-means on the widened values), restarts and
 * sample weights: the same choices and results as emgmm_fit. */
static void test_init_restarts_weights(void **state)
{
    (void)state;
    const size_t n = 2000, d = 36, k = 3;
    float *xf;
    double *xd;
    make_data(n, d, k, 50.0, 300, &xf, &xd);
    double *w = malloc(n * sizeof(double));
    assert_non_null(w);
    test_rng r = {301};
    for (size_t i = 0; i < n; i++)
        w[i] = (double)(1 + test_rng_next(&r) % 3);
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = (int)k;
    p.n_init = 2;
    p.seed = 11;
    p.max_iter = 10;
    p.tol = 0.0;
    p.sample_weight = w;
    emgmm_model *m32 = NULL, *m64 = NULL;
    emgmm_fit_info i32, i64;
    assert_int_equal(emgmm_fit_f32(&p, xf, n, d, d, &m32, &i32), EMGMM_OK);
    assert_int_equal(emgmm_fit(&p, xd, n, d, d, &m64, &i64), EMGMM_OK);
    assert_int_equal(i32.best_init, i64.best_init);
    assert_close(i32.log_likelihood, i64.log_likelihood, TOL_BLAS, 0.0);
    assert_close(i32.bic, i64.bic, TOL_BLAS, 0.0);
    assert_true(max_rel(emgmm_weights(m32), emgmm_weights(m64), k, 1e-3) <
                1e-5);
    assert_positive_definite(m32);
    /* predict on float32 rows: the labels of the widened rows. */
    int32_t *l32 = malloc(n * sizeof(int32_t)), *l64 =
                                                  malloc(n * sizeof(int32_t));
    double *p32 = malloc(n * k * sizeof(double)),
           *p64 = malloc(n * k * sizeof(double));
    double *s32 = malloc(n * sizeof(double)), *s64 = malloc(n * sizeof(double));
    assert_non_null(l32);
    assert_non_null(l64);
    assert_non_null(p32);
    assert_non_null(p64);
    assert_non_null(s32);
    assert_non_null(s64);
    assert_int_equal(emgmm_predict_f32(m32, xf, n, d, l32), EMGMM_OK);
    assert_int_equal(emgmm_predict(m32, xd, n, d, l64), EMGMM_OK);
    assert_memory_equal(l32, l64, n * sizeof(int32_t));
    assert_int_equal(emgmm_predict_proba_f32(m32, xf, n, d, p32), EMGMM_OK);
    assert_int_equal(emgmm_predict_proba(m32, xd, n, d, p64), EMGMM_OK);
    for (size_t i = 0; i < n * k; i++)
        assert_close(p32[i], p64[i], 0.0, 1e-4);
    assert_int_equal(emgmm_score_samples_f32(m32, xf, n, d, s32), EMGMM_OK);
    assert_int_equal(emgmm_score_samples(m32, xd, n, d, s64), EMGMM_OK);
    for (size_t i = 0; i < n; i++)
        assert_close(s32[i], s64[i], 1e-5, 1e-5);
    free(l32);
    free(l64);
    free(p32);
    free(p64);
    free(s32);
    free(s64);
    free(w);
    emgmm_free(&m32);
    emgmm_free(&m64);
    free(xf);
    free(xd);
}

/* Cholesky of a float32 d x d matrix (lower, in place, in float32):
 * 0, or -1 if not positive definite. */
static int cholesky_f32(float *a, size_t d)
{
    for (size_t j = 0; j < d; j++) {
        float s = a[j * d + j];
        for (size_t t = 0; t < j; t++)
            s -= a[j * d + t] * a[j * d + t];
        if (!(s > 0.0f))
            return -1;
        const float l = sqrtf(s);
        a[j * d + j] = l;
        for (size_t i = j + 1; i < d; i++) {
            float v = a[i * d + j];
            for (size_t t = 0; t < j; t++)
                v -= a[i * d + t] * a[j * d + t];
            a[i * d + j] = v / l;
        }
    }
    return 0;
}

/* Near-singular data far from the origin: the last column is the mean of
 * the first three (up to float32 rounding), at an offset of 1e3. The
 * uncentred float32 covariance, sum x x^T / N - mu mu^T + reg I, is not
 * positive definite (shown here); the float32 fit's covariances must be,
 * and agree with the float64 fit's. */
static void test_near_singular_stays_positive_definite(void **state)
{
    (void)state;
    const size_t n = 4000, d = 40, k = 2;
    float *xf;
    double *xd;
    make_data(n, d, k, 1e3, 400, &xf, &xd);
    for (size_t i = 0; i < n; i++) {
        const double v = ((double)xf[i * d] + (double)xf[i * d + 1] +
                          (double)xf[i * d + 2]) / 3.0;
        xf[i * d + d - 1] = (float)v;
        xd[i * d + d - 1] = (double)(float)v;
    }
    /* The one-pass float32 covariance of all rows, as a float32 code
     * with uncentred sums would compute it. */
    float *s = calloc(d * d, sizeof(float));
    float *mu = calloc(d, sizeof(float));
    assert_non_null(s);
    assert_non_null(mu);
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < d; a++) {
            mu[a] += xf[i * d + a];
            for (size_t b = 0; b <= a; b++)
                s[a * d + b] += xf[i * d + a] * xf[i * d + b];
        }
    for (size_t a = 0; a < d; a++)
        mu[a] /= (float)n;
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b <= a; b++)
            s[a * d + b] = s[a * d + b] / (float)n - mu[a] * mu[b] +
                           (a == b ? 1e-6f : 0.0f);
    assert_int_equal(cholesky_f32(s, d), -1);
    free(s);
    free(mu);

    for (int t = 0; t < 2; t++) {
        emgmm_model *start = start_model(xd, n, d, k, all_types[t]);
        emgmm_params p;
        emgmm_params_default(&p);
        p.init_model = start;
        p.max_iter = 8;
        p.tol = 0.0;
        emgmm_model *m32 = NULL, *m64 = NULL;
        emgmm_fit_info i32, i64;
        assert_int_equal(emgmm_fit_f32(&p, xf, n, d, d, &m32, &i32),
                         EMGMM_OK);
        assert_int_equal(emgmm_fit(&p, xd, n, d, d, &m64, &i64), EMGMM_OK);
        assert_positive_definite(m32);
        assert_close(i32.log_likelihood, i64.log_likelihood, TOL_BLAS, 0.0);
        emgmm_free(&m32);
        emgmm_free(&m64);
        emgmm_free(&start);
    }
    free(xf);
    free(xd);
}

/* 1 and 2 threads: the same bits, with float32 BLAS (kernels off) and
 * with the kernels of every path the CPU has. */
static void test_threads_same_bits(void **state)
{
    (void)state;
    const size_t n = 12000, d = 40, k = 4;
    float *xf;
    double *xd;
    make_data(n, d, k, 10.0, 500, &xf, &xd);
    const emgmm__isa saved = emgmm__kernel_isa();
    for (int path = -1; path < EMGMM__ISA_COUNT; path++) {
    if (path < 0)
        emgmm__set_kernel_use(EMGMM__KERNELS_OFF);
    else if (emgmm__set_kernel_isa((emgmm__isa)path) != 0)
        continue;
    else
        emgmm__set_kernel_use(EMGMM__KERNELS_EVERYWHERE);
    for (int t = 0; t < 4; t++) {
        emgmm_model *start = start_model(xd, n, d, k, all_types[t]);
        emgmm_model *m[2] = {NULL, NULL};
        emgmm_fit_info info[2];
        for (int th = 0; th < 2; th++) {
            emgmm_params p;
            emgmm_params_default(&p);
            p.init_model = start;
            p.max_iter = 5;
            p.tol = 0.0;
            p.n_threads = th + 1;
            assert_int_equal(emgmm_fit_f32(&p, xf, n, d, d, &m[th],
                                           &info[th]),
                             EMGMM_OK);
        }
        assert_memory_equal(&info[0].log_likelihood,
                            &info[1].log_likelihood, sizeof(double));
        assert_memory_equal(emgmm_means(m[0]), emgmm_means(m[1]),
                            k * d * sizeof(double));
        const size_t cs = emgmm__cov_size(all_types[t], k, d);
        assert_memory_equal(emgmm_covariances(m[0]), emgmm_covariances(m[1]),
                            cs * sizeof(double));
        emgmm_free(&m[0]);
        emgmm_free(&m[1]);
        emgmm_free(&start);
    }
    }
    emgmm__set_kernel_use(EMGMM__KERNELS_MEASURED);
    assert_int_equal(emgmm__set_kernel_isa(saved), 0);
    free(xf);
    free(xd);
}

static void test_errors(void **state)
{
    (void)state;
    const size_t n = 200, d = 3;
    float *xf;
    double *xd;
    make_data(n, d, 2, 0.0, 600, &xf, &xd);
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = 2;
    emgmm_model *m = NULL;
    assert_int_equal(emgmm_fit_f32(&p, NULL, n, d, d, &m, NULL),
                     EMGMM_ERR_INVALID);
    assert_int_equal(emgmm_fit_f32(&p, xf, n, d, d - 1, &m, NULL),
                     EMGMM_ERR_INVALID);
    xf[5] = NAN;
    assert_int_equal(emgmm_fit_f32(&p, xf, n, d, d, &m, NULL),
                     EMGMM_ERR_NONFINITE);
    p.missing = 1; /* missing values are float64 only */
    assert_int_equal(emgmm_fit_f32(&p, xf, n, d, d, &m, NULL),
                     EMGMM_ERR_UNSUPPORTED);
    assert_null(m);
    p.missing = 0;
    xf[5] = INFINITY;
    assert_int_equal(emgmm_fit_f32(&p, xf, n, d, d, &m, NULL),
                     EMGMM_ERR_NONFINITE);
    xf[5] = 1.0f;
    p.missing = 1; /* without NaN: the ordinary fit */
    assert_int_equal(emgmm_fit_f32(&p, xf, n, d, d, &m, NULL), EMGMM_OK);
    int32_t labels[4];
    double v;
    assert_int_equal(emgmm_predict_f32(m, NULL, 4, d, labels),
                     EMGMM_ERR_INVALID);
    xf[1] = NAN;
    assert_int_equal(emgmm_predict_f32(m, xf, 4, d, labels),
                     EMGMM_ERR_NONFINITE);
    assert_int_equal(emgmm_score_f32(m, xf + d, 4, d, NULL),
                     EMGMM_ERR_INVALID);
    assert_int_equal(emgmm_score_f32(m, xf + d, 4, d, &v), EMGMM_OK);
    emgmm_free(&m);
    free(xf);
    free(xd);
}

/* Every allocation of a float32 fit (k-means start, float32 BLAS path)
 * and of the predict family, made to fail in turn. */
static void test_allocation_failures(void **state)
{
    (void)state;
    const size_t n = 400, d = 34, k = 2;
    float *xf;
    double *xd;
    make_data(n, d, k, 0.0, 700, &xf, &xd);
    const long live = emgmm__live_allocations();
    long failures = 0;
    for (long nth = 1; nth < 1000; nth++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.n_components = (int)k;
        p.max_iter = 3;
        emgmm_model *m = NULL;
        emgmm__fail_allocation_after(nth);
        int rc = emgmm_fit_f32(&p, xf, n, d, d, &m, NULL);
        emgmm__fail_allocation_after(0);
        if (rc == EMGMM_OK) {
            double *out = malloc(n * k * sizeof(double));
            int32_t *labels = malloc(n * sizeof(int32_t));
            assert_non_null(out);
            assert_non_null(labels);
            for (int op = 0; op < 4; op++)
                for (long j = 1; j < 100; j++) {
                    double v;
                    emgmm__fail_allocation_after(j);
                    int r2 = op == 0   ? emgmm_predict_f32(m, xf, n, d,
                                                           labels)
                             : op == 1 ? emgmm_predict_proba_f32(m, xf, n, d,
                                                                 out)
                             : op == 2 ? emgmm_score_samples_f32(m, xf, n, d,
                                                                 out)
                                       : emgmm_score_f32(m, xf, n, d, &v);
                    emgmm__fail_allocation_after(0);
                    if (r2 == EMGMM_OK)
                        break;
                    assert_int_equal(r2, EMGMM_ERR_NOMEM);
                    failures++;
                }
            free(out);
            free(labels);
            emgmm_free(&m);
            assert_int_equal(emgmm__live_allocations(), live);
            break;
        }
        assert_int_equal(rc, EMGMM_ERR_NOMEM);
        assert_null(m);
        assert_int_equal(emgmm__live_allocations(), live);
        failures++;
    }
    assert_true(failures > 15);
    free(xf);
    free(xd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blas_path_matches_float64),
        cmocka_unit_test(test_kernel_path_d64_matches_float64),
        cmocka_unit_test(test_widened_path_matches_float64),
        cmocka_unit_test(test_init_restarts_weights),
        cmocka_unit_test(test_near_singular_stays_positive_definite),
        cmocka_unit_test(test_threads_same_bits),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
