/*
 * The E- and M-step kernels against naive loops (explicit inverse and
 * determinant) on small random problems, including data far from the
 * origin.
 */
#include "test_util.h"
#include "naive.h"

#include "float32.h"
#include "internal.h"
#include "kernels.h"
#include "vexp.h"

#include <float.h>
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

/* ---- vectorised exp and log (vexp.h), on every path the CPU has ---- */

/* The stated bound: SLEEF documents its u10 exp and log as within 1.0 ULP
 * of the exact result, libm's are within 1 ULP too; a path may differ
 * from libm by at most this many units in the last place. */
#define VEXP_MAX_ULP_FROM_LIBM 2
/* ... and from the exact value (long double, where it is wider) by at
 * most this many ULP: the documented 1.0 plus a margin. */
#define VEXP_MAX_ULP_EXACT 1.5

/* Doubles as integers in the order of the reals, so that the difference
 * of two is their distance in units in the last place. */
static int64_t ordered_bits(double x)
{
    int64_t i;
    memcpy(&i, &x, sizeof i);
    return i < 0 ? INT64_MIN - i : i;
}

static int64_t ulp_distance(double a, double b)
{
    int64_t d = ordered_bits(a) - ordered_bits(b);
    return d < 0 ? -d : d;
}

/* |y - exact| in units of the last place of the double nearest exact. */
static double ulp_error(double y, long double exact)
{
    double r = (double)exact;
    double ulp = fabs(r) < DBL_MIN ? 0x1p-1074
                                   : ldexp(1.0, ilogb(r) - (DBL_MANT_DIG - 1));
    return (double)(fabsl((long double)y - exact) / (long double)ulp);
}

/* Arguments of the exp sweep: what the log-sum-exp hands it (-745..0,
 * where the results run down through the subnormals to zero), specials,
 * and positive ones up to 709.7 (SLEEF's exp overflows from
 * 709.782712893384, where DBL_MAX's log lies; the log-sum-exp never
 * comes near). */
static size_t exp_arguments(double *x, size_t cap)
{
    test_rng r = {7};
    size_t n = 0;
    const double special[] = {0.0, -0.0, -INFINITY, -0x1p-1074, -DBL_MIN,
                              -1e-300, -1e-17, -1e-8, -0.5, -1.0,
                              -708.39641853226408, /* DBL_MIN's log */
                              -708.4, -720.0, -744.44007192138122,
                              -745.0, -745.13321910194111, -745.2, -746.0,
                              -800.0, -1000.0, -1e4, -1e300, 1e-300, 1.0,
                              20.0, 700.0, 709.7};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++)
        x[n++] = special[i];
    while (n < cap / 2) /* uniform over the log-sum-exp's range */
        x[n++] = -746.0 * test_rng_uniform(&r);
    while (n < cap * 3 / 4) /* the subnormal results */
        x[n++] = -708.0 - 37.5 * test_rng_uniform(&r);
    while (n < cap * 7 / 8) /* near 0, where exp(x) is close to 1 */
        x[n++] = -ldexp(test_rng_uniform(&r), -(int)(test_rng_next(&r) % 60));
    while (n < cap)
        x[n++] = 709.0 * test_rng_uniform(&r);
    return n;
}

static void test_vexp_bound(void **state)
{
    (void)state;
    enum { N = 200000 };
    double *x = malloc(N * sizeof(double)), *y = malloc(N * sizeof(double));
    const size_t n = exp_arguments(x, N);
    const emgmm__isa saved = emgmm__exp_isa();
    int tested = 0;
    for (int isa = 0; isa < EMGMM__ISA_COUNT; isa++) {
        if (emgmm__set_exp_isa((emgmm__isa)isa) != 0)
            continue;
        tested++;
        memcpy(y, x, n * sizeof(double));
        emgmm__vexp(y, n);
        int64_t worst = 0;
        double worst_exact = 0.0;
        for (size_t i = 0; i < n; i++) {
            const double ref = exp(x[i]);
            const int64_t d = ulp_distance(y[i], ref);
            if (d > VEXP_MAX_ULP_FROM_LIBM)
                fail_msg("%s: exp(%.17g) = %.17g, libm %.17g (%lld ULP)",
                         emgmm__exp_isa_name((emgmm__isa)isa), x[i], y[i],
                         ref, (long long)d);
            worst = d > worst ? d : worst;
#if LDBL_MANT_DIG > DBL_MANT_DIG
            const double e = ulp_error(y[i], expl((long double)x[i]));
            if (!(e <= VEXP_MAX_ULP_EXACT))
                fail_msg("%s: exp(%.17g) = %.17g is %.3g ULP from exact",
                         emgmm__exp_isa_name((emgmm__isa)isa), x[i], y[i],
                         e);
            worst_exact = e > worst_exact ? e : worst_exact;
#endif
        }
        print_message("exp, path %s: at most %lld ULP from libm, %.3f from "
                      "exact, over %zu arguments\n",
                      emgmm__exp_isa_name((emgmm__isa)isa), (long long)worst,
                      worst_exact, n);
        /* Exact where the log-sum-exp relies on it. */
        double sp[5] = {-INFINITY, 0.0, -0.0, NAN, INFINITY};
        emgmm__vexp(sp, 5);
        assert_true(sp[0] == 0.0 && !signbit(sp[0]));
        assert_true(sp[1] == 1.0 && sp[2] == 1.0);
        assert_true(isnan(sp[3]));
        assert_true(sp[4] == INFINITY);
        /* Every entry's result depends on its value alone, not on its
         * place in the array (vector tails, lanes): one entry at a time,
         * and arrays of every length up to three vectors, give the same
         * bits as the whole sweep. */
        for (size_t i = 0; i < 2000; i++) {
            double one = x[i];
            emgmm__vexp(&one, 1);
            assert_memory_equal(&one, &y[i], sizeof one);
        }
        for (size_t len = 1; len <= 24; len++) {
            double t[24];
            memcpy(t, x + 1000 + len, len * sizeof(double));
            emgmm__vexp(t, len);
            assert_memory_equal(t, y + 1000 + len, len * sizeof(double));
        }
    }
    assert_int_equal(emgmm__set_exp_isa(saved), 0);
    assert_true(tested >= 1);
    assert_true(emgmm__exp_isa_available(EMGMM__ISA_C));
    free(x);
    free(y);
}

static void test_vlog_bound(void **state)
{
    (void)state;
    enum { N = 100000 };
    double *x = malloc(N * sizeof(double)), *y = malloc(N * sizeof(double));
    test_rng r = {11};
    size_t n = 0;
    const double special[] = {1.0, 0x1p-1074, DBL_MIN, 0x1p-1060,
                              1.0 - 0x1p-53, 1.0 + 0x1p-52, 2.0, 3.0, 1e300,
                              DBL_MAX};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++)
        x[n++] = special[i];
    while (n < N / 2) /* the log-sum-exp's sums: between 1 and k */
        x[n++] = 1.0 + 63.0 * test_rng_uniform(&r);
    while (n < N * 3 / 4) /* just above 1, where log is small */
        x[n++] = 1.0 + ldexp(test_rng_uniform(&r),
                             -(int)(test_rng_next(&r) % 52));
    while (n < N) /* every binade, subnormals included */
        x[n++] = ldexp(1.0 + test_rng_uniform(&r),
                       (int)(test_rng_next(&r) % 2098) - 1074);
    const emgmm__isa saved = emgmm__exp_isa();
    for (int isa = 0; isa < EMGMM__ISA_COUNT; isa++) {
        if (emgmm__set_exp_isa((emgmm__isa)isa) != 0)
            continue;
        memcpy(y, x, n * sizeof(double));
        emgmm__vlog(y, n);
        int64_t worst = 0;
        double worst_exact = 0.0;
        for (size_t i = 0; i < n; i++) {
            const double ref = log(x[i]);
            const int64_t d = ulp_distance(y[i], ref);
            if (d > VEXP_MAX_ULP_FROM_LIBM)
                fail_msg("%s: log(%.17g) = %.17g, libm %.17g (%lld ULP)",
                         emgmm__exp_isa_name((emgmm__isa)isa), x[i], y[i],
                         ref, (long long)d);
            worst = d > worst ? d : worst;
#if LDBL_MANT_DIG > DBL_MANT_DIG
            if (x[i] != 1.0) {
                const double e = ulp_error(y[i], logl((long double)x[i]));
                if (!(e <= VEXP_MAX_ULP_EXACT))
                    fail_msg("%s: log(%.17g) = %.17g is %.3g ULP from exact",
                             emgmm__exp_isa_name((emgmm__isa)isa), x[i],
                             y[i], e);
                worst_exact = e > worst_exact ? e : worst_exact;
            }
#endif
        }
        print_message("log, path %s: at most %lld ULP from libm, %.3f from "
                      "exact, over %zu arguments\n",
                      emgmm__exp_isa_name((emgmm__isa)isa), (long long)worst,
                      worst_exact, n);
        double sp[5] = {1.0, 0.0, INFINITY, -1.0, NAN};
        emgmm__vlog(sp, 5);
        assert_true(sp[0] == 0.0 && !signbit(sp[0]));
        assert_true(sp[1] == -INFINITY);
        assert_true(sp[2] == INFINITY);
        assert_true(isnan(sp[3]) && isnan(sp[4]));
    }
    assert_int_equal(emgmm__set_exp_isa(saved), 0);
    free(x);
    free(y);
}

/* The log-sum-exp on every path against the naive formula in long
 * double, over shapes that cross the pass and vector boundaries, rows far
 * below zero (where lse's own rounding dominates), entries whose
 * exponentials underflow, rows with zero-density components and rows
 * with none at all, with and without sample weights. */
static void test_normalize_log_resp_every_path(void **state)
{
    (void)state;
    const size_t ks[] = {1, 2, 3, 5, 8, 17};
    const size_t ns[] = {1, 7, 63, 64, 65, 200};
    const double offsets[] = {0.0, -700.0, -1e4, -1e9, -1e15};
    const emgmm__isa saved = emgmm__exp_isa();
    for (int isa = 0; isa < EMGMM__ISA_COUNT; isa++) {
        if (emgmm__set_exp_isa((emgmm__isa)isa) != 0)
            continue;
        test_rng r = {100 + (uint64_t)isa}; /* the same data on each path */
        r.s = 100;
        for (size_t ik = 0; ik < sizeof ks / sizeof *ks; ik++)
            for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
                for (size_t io = 0; io < sizeof offsets / sizeof *offsets;
                     io++) {
                    const size_t k = ks[ik], n = ns[in];
                    double *a = malloc(n * k * sizeof(double));
                    double *resp = malloc(n * k * sizeof(double));
                    double *w = malloc(n * sizeof(double));
                    double *ln = malloc(n * sizeof(double));
                    for (size_t i = 0; i < n; i++) {
                        /* spreads from 1e-3 to 2000: some exponentials
                         * are subnormal or zero */
                        const double spread =
                            ldexp(1.0, (int)(test_rng_next(&r) % 22) - 10);
                        const double row_off =
                            offsets[io] * (0.5 + test_rng_uniform(&r));
                        for (size_t c = 0; c < k; c++)
                            a[i * k + c] =
                                row_off + spread * test_rng_normal(&r);
                        if (k > 1 && i % 5 == 3)
                            a[i * k + i % k] = -INFINITY;
                        if (i % 11 == 6)
                            for (size_t c = 0; c < k; c++)
                                a[i * k + c] = -INFINITY;
                        w[i] = i % 7 == 2 ? 0.0 : 0.25 + test_rng_uniform(&r);
                    }
                    for (int weighted = 0; weighted < 2; weighted++) {
                        const double *wt = weighted ? w : NULL;
                        memcpy(resp, a, n * k * sizeof(double));
                        const double total = emgmm__normalize_log_resp(
                            resp, n, k, wt, ln);
                        long double ref_total = 0.0L;
                        double scale = 0.0;
                        for (size_t i = 0; i < n; i++) {
                            const double *ai = a + i * k;
                            const double wi = wt ? wt[i] : 1.0;
                            long double mx = -INFINITY, s = 0.0L;
                            for (size_t c = 0; c < k; c++)
                                mx = ai[c] > mx ? ai[c] : mx;
                            if (mx == -INFINITY) {
                                assert_true(ln[i] == -INFINITY);
                                for (size_t c = 0; c < k; c++)
                                    assert_close(resp[i * k + c],
                                                 wi / (double)k, 1e-15, 0.0);
                                if (wi != 0.0)
                                    ref_total = -INFINITY;
                                continue;
                            }
                            /* The exponents a_c - max rounded to double
                             * as the formula has them (their rounding is
                             * the problem's conditioning, not the
                             * kernel's error), exponentials exact. */
                            for (size_t c = 0; c < k; c++)
                                s += expl(ai[c] - (double)mx);
                            const long double lse = mx + logl(s);
                            /* log s <= log k is computed to a few ULP,
                             * and the sum mx + log s rounds once. */
                            assert_close(ln[i], (double)lse, 4e-16,
                                         (double)(k + 2) * 0x1p-52);
                            for (size_t c = 0; c < k; c++)
                                assert_close(
                                    resp[i * k + c],
                                    (double)(wi * expl(ai[c] - (double)mx) /
                                             s),
                                    (double)(k + 4) * 0x1p-52, 1e-320);
                            if (wi != 0.0) {
                                ref_total += wi * lse;
                                scale += fabs(wi * (double)lse);
                            }
                        }
                        if (isinf((double)ref_total))
                            assert_true(total == (double)ref_total);
                        else
                            assert_close(total, (double)ref_total, 0.0,
                                         (double)(n + k + 4) * 0x1p-52 *
                                             (scale + 1.0));
                    }
                    free(a);
                    free(resp);
                    free(w);
                    free(ln);
                }
    }
    assert_int_equal(emgmm__set_exp_isa(saved), 0);
}

/* The portable path keeps the scalar formula's bits: a build without the
 * vector kernels computes what it always did. */
static void test_normalize_log_resp_portable_bits(void **state)
{
    (void)state;
    const emgmm__isa saved = emgmm__exp_isa();
    assert_int_equal(emgmm__set_exp_isa(EMGMM__ISA_C), 0);
    enum { N = 150, K = 4 };
    double a[N * K], resp[N * K], ln[N], w[N];
    test_rng r = {5};
    for (size_t i = 0; i < N * K; i++)
        a[i] = -300.0 + 50.0 * test_rng_normal(&r);
    for (size_t i = 0; i < N; i++)
        w[i] = test_rng_uniform(&r);
    memcpy(resp, a, sizeof a);
    const double total = emgmm__normalize_log_resp(resp, N, K, w, ln);
    double ref_total = 0.0;
    for (size_t i = 0; i < N; i++) {
        const double *ai = a + i * K;
        size_t cm = 0;
        for (size_t c = 1; c < K; c++)
            if (ai[c] > ai[cm])
                cm = c;
        double e[K], s = 0.0;
        for (size_t c = 0; c < K; c++)
            s += e[c] = c == cm ? 1.0 : exp(ai[c] - ai[cm]);
        const double lse = ai[cm] + log(s), inv = w[i] / s;
        for (size_t c = 0; c < K; c++) {
            const double v = e[c] * inv;
            assert_memory_equal(&resp[i * K + c], &v, sizeof v);
        }
        assert_memory_equal(&ln[i], &lse, sizeof lse);
        ref_total += w[i] * lse;
    }
    assert_memory_equal(&total, &ref_total, sizeof total);
    assert_int_equal(emgmm__set_exp_isa(saved), 0);
}

/* On each path, the E-step gives the same bits for 1, 2 and 3 threads
 * (the determinism promise, which holds per path, not across them). */
static void test_estep_threads_every_path(void **state)
{
    (void)state;
    problem p;
    make_problem(&p, 4500, 2, 3, 0.0, 9);
    double *resp[3];
    double total[3];
    const emgmm__isa saved = emgmm__exp_isa();
    for (int isa = 0; isa < EMGMM__ISA_COUNT; isa++) {
        if (emgmm__set_exp_isa((emgmm__isa)isa) != 0)
            continue;
        for (int t = 0; t < 3; t++) {
            emgmm_workspace ws = {0};
            assert_int_equal(emgmm__workspace_alloc(&ws, p.n, p.k, p.d, t + 1),
                             EMGMM_OK);
            resp[t] = malloc(p.n * p.k * sizeof(double));
            total[t] = emgmm__estep(p.m, p.X, p.n, p.d, NULL, resp[t], &ws);
            emgmm__workspace_free(&ws);
        }
        for (int t = 1; t < 3; t++) {
            assert_memory_equal(&total[t], &total[0], sizeof(double));
            assert_memory_equal(resp[t], resp[0],
                                p.n * p.k * sizeof(double));
        }
        for (int t = 0; t < 3; t++)
            free(resp[t]);
    }
    assert_int_equal(emgmm__set_exp_isa(saved), 0);
    free_problem(&p);
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

/* ---- own kernels (kernels.h), every path the CPU has ----------------- */

/* The E-step kernel of every path against the naive density, for every d
 * it may serve, full and tied, K = 1, 3, 8, row counts that are not
 * multiples of any vector width and cross the kernels' chunks, a row
 * stride wider than d, and data offset by 1e6 (where the shift by the
 * centre keeps the digits). */
static void test_logp_kernel_every_path(void **state)
{
    (void)state;
    static const size_t ks[] = {1, 3, 8};
    static const size_t ns[] = {1, 7, 133};
    for (int isa = 0; isa < EMGMM__ISA_COUNT; isa++) {
        const emgmm__kernel_path *path = emgmm__kernel_path_of((emgmm__isa)isa);
        if (!path)
            continue;
        for (size_t d = 4; d <= EMGMM__KERNEL_MAX_D; d++)
            for (size_t ik = 0; ik < 3; ik++)
                for (int ty = 0; ty < 2; ty++)
                    for (int far = 0; far < 2; far++) {
                        const size_t k = ks[ik], n = ns[(d + ik) % 3];
                        const size_t ldx = d + (size_t)far;
                        problem p;
                        make_typed_problem(&p, n, d, k, far ? 1e6 : 0.0,
                                           1000 + d * 10 + ik,
                                           all_types[ty]);
                        double *x = malloc(n * ldx * sizeof(double));
                        for (size_t i = 0; i < n; i++)
                            memcpy(x + i * ldx, p.X + i * d,
                                   d * sizeof(double));
                        double *logp = malloc(n * k * sizeof(double));
                        const int tied = all_types[ty] == EMGMM_COVARIANCE_TIED;
                        path->logp(x, n, ldx, d, k, p.m->centre, p.m->prec,
                                   tied ? d : k * d, tied, p.m->mean_proj,
                                   p.m->log_norm, logp);
                        double *inv = malloc(d * d * sizeof(double));
                        for (size_t c = 0; c < k; c++) {
                            const double log_det =
                                naive_inverse(p.sigma + c * d * d, d, inv);
                            for (size_t i = 0; i < n; i++) {
                                const double ref = naive_log_density_inv(
                                    p.X + i * d, p.mu + c * d, inv, log_det,
                                    p.w[c], d);
                                if (far)
                                    assert_close(logp[i * k + c], ref, 1e-8,
                                                 1e-8);
                                else
                                    assert_close(logp[i * k + c], ref, 1e-10,
                                                 1e-10);
                            }
                        }
                        free(inv);
                        free(logp);
                        free(x);
                        free_problem(&p);
                    }
    }
}

/* The M-step kernel of every path against the naive centred scatter in
 * long double: full (components in groups that do not start at 0) and
 * tied (every component added into one matrix), d = 4 .. 32, K = 1, 3,
 * 8, some responsibilities exactly zero, data offset by 1e6. The upper
 * triangle is left alone. */
/* Every d the lane kernels reach, then a few beyond, where the M-step
 * kernels work by rows alone (up to EMGMM__SCATTER_MAX_D). */
static size_t next_scatter_d(size_t d)
{
    static const size_t beyond[] = {65, 96, 129, EMGMM__SCATTER_MAX_D};
    if (d < EMGMM__KERNEL_MAX_D)
        return d + 1;
    for (size_t i = 0; i < sizeof beyond / sizeof *beyond; i++)
        if (beyond[i] > d)
            return beyond[i];
    return EMGMM__SCATTER_MAX_D + 1;
}

static void test_scatter_kernel_every_path(void **state)
{
    (void)state;
    static const size_t ks[] = {1, 3, 8};
    static const size_t ns[] = {5, 133, 301};
    for (int isa = 0; isa < EMGMM__ISA_COUNT; isa++) {
        const emgmm__kernel_path *path = emgmm__kernel_path_of((emgmm__isa)isa);
        if (!path)
            continue;
        for (size_t d = 4; d <= EMGMM__SCATTER_MAX_D; d = next_scatter_d(d))
            for (size_t ik = 0; ik < 3; ik++)
                for (int far = 0; far < 2; far++) {
                    const size_t k = ks[ik], n = ns[(d + ik) % 3];
                    test_rng r = {77 + d * 7 + ik};
                    double *X = malloc(n * d * sizeof(double));
                    double *resp = malloc(n * k * sizeof(double));
                    double *mu = malloc(k * d * sizeof(double));
                    for (size_t i = 0; i < n * d; i++)
                        X[i] = (far ? 1e6 : 0.0) + 3.0 * test_rng_normal(&r);
                    for (size_t i = 0; i < n * k; i++)
                        resp[i] = i % 7 == 3 ? 0.0 : test_rng_uniform(&r);
                    for (size_t c = 0; c < k; c++)
                        for (size_t a = 0; a < d; a++) {
                            double sw = 0.0, sx = 0.0;
                            for (size_t i = 0; i < n; i++) {
                                sw += resp[i * k + c];
                                sx += resp[i * k + c] * X[i * d + a];
                            }
                            mu[c * d + a] = sw > 0.0 ? sx / sw : X[a];
                        }
                    double *work =
                        malloc(emgmm__scatter_work_size(d) * sizeof(double));
                    double *cov = malloc(k * d * d * sizeof(double));
                    double *tied = malloc(d * d * sizeof(double));
                    for (size_t i = 0; i < k * d * d; i++)
                        cov[i] = (i % d) > (i / d) % d ? 7.0 : 0.0;
                    for (size_t i = 0; i < d * d; i++)
                        tied[i] = i % d > i / d ? 7.0 : 0.0;
                    /* groups of 3 (the last one shorter), then all */
                    for (size_t c0 = 0; c0 < k; c0 += 3)
                        path->scatter(X, n, d, d, resp, k, c0,
                                      c0 + 3 < k ? c0 + 3 : k, mu, cov,
                                      d * d, work);
                    for (size_t c0 = 0; c0 < k; c0 += EMGMM__SCATTER_GROUP)
                        path->scatter(X, n, d, d, resp, k, c0,
                                      c0 + EMGMM__SCATTER_GROUP < k
                                          ? c0 + EMGMM__SCATTER_GROUP
                                          : k,
                                      mu, tied, 0, work);
                    double *ref = malloc(d * d * sizeof(double));
                    double *mag = malloc(d * d * sizeof(double));
                    double *tref = calloc(d * d, sizeof(double));
                    double *tmag = calloc(d * d, sizeof(double));
                    for (size_t c = 0; c < k; c++) {
                        naive_scatter(X, n, d, resp + c, k, mu + c * d, ref,
                                      mag);
                        const double *got = cov + c * d * d;
                        for (size_t a = 0; a < d; a++)
                            for (size_t b = 0; b < d; b++) {
                                tref[a * d + b] += ref[a * d + b];
                                tmag[a * d + b] += mag[a * d + b];
                                if (b > a)
                                    assert_true(got[a * d + b] == 7.0);
                                else
                                    assert_close(got[a * d + b],
                                                 ref[a * d + b], 0.0,
                                                 1e-12 * mag[a * d + b] +
                                                     1e-300);
                            }
                    }
                    for (size_t a = 0; a < d; a++)
                        for (size_t b = 0; b < d; b++) {
                            if (b > a)
                                assert_true(tied[a * d + b] == 7.0);
                            else
                                assert_close(tied[a * d + b], tref[a * d + b],
                                             0.0,
                                             1e-12 * tmag[a * d + b] + 1e-300);
                        }
                    free(X);
                    free(resp);
                    free(mu);
                    free(work);
                    free(cov);
                    free(tied);
                    free(ref);
                    free(mag);
                    free(tref);
                    free(tmag);
                }
    }
}

/* ---- float32 kernels (kernels.h), every path the CPU has -------------- */

/* Unit roundoff of float32. */
#define U32 0x1p-24

/* The float32 E-step kernel of every path against the naive float64
 * density of the same (float32) values, for every d in its reach, full
 * and tied, K = 1, 3, 8, ragged row counts, a row stride wider than d and
 * data offset by 1e6. Tolerance: float32.c's bound with the row's own
 * numbers. The projection's float32 error is at most eps g_b per column,
 * eps = (d + 4) u (d + 1 accumulated terms, the rounding of the shifted
 * row and of U), g_b = sum_a |x_a - shift_a| |U_ab| (+ |init_proj_b|),
 * so the squared norm is off by at most 2 ||y|| eps ||g|| + (eps ||g||)^2
 * and the log-density by half that; the float64 parts (the reference's
 * included) add a relative 1e-9 far from the origin, 1e-11 near it. */
static void test_logp_f32_kernel_every_path(void **state)
{
    (void)state;
    static const size_t ks[] = {1, 3, 8};
    static const size_t ns[] = {1, 17, 133};
    for (int isa = 0; isa < EMGMM__ISA_COUNT; isa++) {
        const emgmm__kernel_path *path = emgmm__kernel_path_of((emgmm__isa)isa);
        if (!path || !path->logp_f32)
            continue;
        for (size_t d = 4; d <= EMGMM__KERNEL_MAX_D; d++)
            for (size_t ik = 0; ik < 3; ik++)
                for (int ty = 0; ty < 2; ty++)
                    for (int far = 0; far < 2; far++) {
                        const size_t k = ks[ik], n = ns[(d + ik) % 3];
                        const size_t ldx = d + (size_t)far;
                        const int tied = all_types[ty] == EMGMM_COVARIANCE_TIED;
                        problem p;
                        make_typed_problem(&p, n, d, k, far ? 1e6 : 0.0,
                                           3000 + d * 10 + ik,
                                           all_types[ty]);
                        float *xf = malloc(n * ldx * sizeof(float));
                        for (size_t i = 0; i < n; i++)
                            for (size_t a = 0; a < d; a++) {
                                xf[i * ldx + a] = (float)p.X[i * d + a];
                                p.X[i * d + a] = xf[i * ldx + a];
                            }
                        const size_t ldu = tied ? d : k * d;
                        float *u = malloc(d * ldu * sizeof(float));
                        float *shift = malloc(k * d * sizeof(float));
                        float *init = malloc(k * d * sizeof(float));
                        double *tproj = malloc(k * d * sizeof(double));
                        assert_int_equal(emgmm__f32_kernel_model(p.m, u, shift,
                                                                 init, tproj),
                                         1);
                        double *logp = malloc(n * k * sizeof(double));
                        path->logp_f32(xf, n, ldx, d, k, tied ? shift : NULL,
                                       tied ? NULL : shift, u, ldu, tied, init,
                                       tproj, p.m->log_norm, logp);
                        double *inv = malloc(d * d * sizeof(double));
                        const double eps = (double)(d + 4) * U32;
                        for (size_t c = 0; c < k; c++) {
                            const double log_det =
                                naive_inverse(p.sigma + c * d * d, d, inv);
                            const double *uc = p.m->prec + (tied ? 0 : c * d);
                            const float *sc = shift + (tied ? 0 : c * d);
                            for (size_t i = 0; i < n; i++) {
                                const double *x = p.X + i * d;
                                const double ref = naive_log_density_inv(
                                    x, p.mu + c * d, inv, log_det, p.w[c], d);
                                double yy = 0.0, gg = 0.0;
                                for (size_t b = 0; b < d; b++) {
                                    double y = 0.0, g = 0.0;
                                    for (size_t a = 0; a <= b; a++) {
                                        y += (x[a] - p.mu[c * d + a]) *
                                             uc[a * ldu + b];
                                        g += fabs(x[a] - (double)sc[a]) *
                                             fabs(uc[a * ldu + b]);
                                    }
                                    if (!tied)
                                        g += fabs((double)init[c * d + b]);
                                    yy += y * y;
                                    gg += g * g;
                                }
                                const double bound =
                                    sqrt(yy) * eps * sqrt(gg) +
                                    0.5 * eps * eps * gg;
                                assert_close(logp[i * k + c], ref, 0.0,
                                             bound + (far ? 1e-9 : 1e-11) *
                                                         (1.0 + fabs(ref)));
                            }
                        }
                        free(inv);
                        free(logp);
                        free(u);
                        free(shift);
                        free(init);
                        free(tproj);
                        free(xf);
                        free_problem(&p);
                    }
    }
}

/* The float32 M-step kernel of every path against the naive centred
 * scatter (long double) of the same values, as the float64 one is tested
 * (full in groups, tied into one matrix, zero responsibilities, offset
 * 1e6), with the scale of float32.c (N_c; tied: the total). Tolerance:
 * each product w_a w_b carries the roundings of r / N_c, its square root,
 * the two subtractions and the product (within 8 u of its size), and each
 * lane's float32 sum takes at most ceil(n / 4) of them (4: the fewest
 * lanes of any path; fewer than MIX_LANE_ROWS here), so an entry is off
 * by at most (ceil(n / 4) + 12) u times sum r |z_a z_b|. */
static void test_scatter_f32_kernel_every_path(void **state)
{
    (void)state;
    static const size_t ks[] = {1, 3, 8};
    static const size_t ns[] = {5, 133, 301};
    for (int isa = 0; isa < EMGMM__ISA_COUNT; isa++) {
        const emgmm__kernel_path *path = emgmm__kernel_path_of((emgmm__isa)isa);
        if (!path || !path->scatter_f32)
            continue;
        for (size_t d = 4; d <= EMGMM__SCATTER_MAX_D; d = next_scatter_d(d))
            for (size_t ik = 0; ik < 3; ik++)
                for (int far = 0; far < 2; far++) {
                    const size_t k = ks[ik], n = ns[(d + ik) % 3];
                    test_rng r = {91 + d * 7 + ik};
                    float *xf = malloc(n * d * sizeof(float));
                    double *X = malloc(n * d * sizeof(double));
                    double *resp = malloc(n * k * sizeof(double));
                    double *mu = malloc(k * d * sizeof(double));
                    double *nk = calloc(k, sizeof(double));
                    double tscale[EMGMM__SCATTER_GROUP];
                    for (size_t i = 0; i < n * d; i++) {
                        xf[i] = (float)((far ? 1e6 : 0.0) +
                                        3.0 * test_rng_normal(&r));
                        X[i] = xf[i];
                    }
                    for (size_t i = 0; i < n * k; i++)
                        resp[i] = i % 7 == 3 ? 0.0 : test_rng_uniform(&r);
                    double total = 0.0;
                    for (size_t c = 0; c < k; c++) {
                        for (size_t i = 0; i < n; i++)
                            nk[c] += resp[i * k + c];
                        total += nk[c];
                        for (size_t a = 0; a < d; a++) {
                            double sx = 0.0;
                            for (size_t i = 0; i < n; i++)
                                sx += resp[i * k + c] * X[i * d + a];
                            mu[c * d + a] = nk[c] > 0.0 ? sx / nk[c] : X[a];
                        }
                    }
                    for (size_t g = 0; g < EMGMM__SCATTER_GROUP; g++)
                        tscale[g] = total;
                    double *work = malloc(emgmm__scatter_f32_work_size(d) *
                                          sizeof(double));
                    double *cov = malloc(k * d * d * sizeof(double));
                    double *tied = malloc(d * d * sizeof(double));
                    for (size_t i = 0; i < k * d * d; i++)
                        cov[i] = (i % d) > (i / d) % d ? 7.0 : 0.0;
                    for (size_t i = 0; i < d * d; i++)
                        tied[i] = i % d > i / d ? 7.0 : 0.0;
                    for (size_t c0 = 0; c0 < k; c0 += 3)
                        path->scatter_f32(xf, n, d, d, resp, k, c0,
                                          c0 + 3 < k ? c0 + 3 : k, mu,
                                          nk + c0, cov, d * d, work);
                    for (size_t c0 = 0; c0 < k; c0 += EMGMM__SCATTER_GROUP)
                        path->scatter_f32(xf, n, d, d, resp, k, c0,
                                          c0 + EMGMM__SCATTER_GROUP < k
                                              ? c0 + EMGMM__SCATTER_GROUP
                                              : k,
                                          mu, tscale, tied, 0, work);
                    const double rel = (double)((n + 3) / 4 + 12) * U32;
                    double *ref = malloc(d * d * sizeof(double));
                    double *mag = malloc(d * d * sizeof(double));
                    double *tref = calloc(d * d, sizeof(double));
                    double *tmag = calloc(d * d, sizeof(double));
                    for (size_t c = 0; c < k; c++) {
                        naive_scatter(X, n, d, resp + c, k, mu + c * d, ref,
                                      mag);
                        const double *got = cov + c * d * d;
                        for (size_t a = 0; a < d; a++)
                            for (size_t b = 0; b < d; b++) {
                                tref[a * d + b] += ref[a * d + b];
                                tmag[a * d + b] += mag[a * d + b];
                                if (b > a)
                                    assert_true(got[a * d + b] == 7.0);
                                else
                                    assert_close(got[a * d + b],
                                                 ref[a * d + b], 0.0,
                                                 rel * mag[a * d + b] +
                                                     1e-300);
                            }
                    }
                    for (size_t a = 0; a < d; a++)
                        for (size_t b = 0; b < d; b++) {
                            if (b > a)
                                assert_true(tied[a * d + b] == 7.0);
                            else
                                assert_close(tied[a * d + b], tref[a * d + b],
                                             0.0,
                                             rel * tmag[a * d + b] + 1e-300);
                        }
                    free(xf);
                    free(X);
                    free(resp);
                    free(mu);
                    free(nk);
                    free(work);
                    free(cov);
                    free(tied);
                    free(ref);
                    free(mag);
                    free(tref);
                    free(tmag);
                }
    }
}

/* On every path, with its kernels at every d they reach: the E-step (responsibilities, total) and the M-step
 * (weights, means, covariances) give the same bits for 1 and 2 threads,
 * full and tied. */
static void test_kernels_threads_every_path(void **state)
{
    (void)state;
    const emgmm__isa saved = emgmm__kernel_isa();
    static const size_t dims[] = {9, 16, 33};
    emgmm__set_kernel_use(EMGMM__KERNELS_EVERYWHERE);
    for (int isa = 0; isa < EMGMM__ISA_COUNT; isa++) {
        if (emgmm__set_kernel_isa((emgmm__isa)isa) != 0)
            continue;
        for (size_t di = 0; di < 3; di++)
            for (int ty = 0; ty < 2; ty++) {
                const size_t n = 3001, d = dims[di], k = 8;
                double *resp[2], total[2], *cov[2];
                for (int t = 0; t < 2; t++) {
                    problem p;
                    make_typed_problem(&p, n, d, k, 0.0, 31 + di,
                                       all_types[ty]);
                    emgmm_workspace ws = {0};
                    assert_int_equal(
                        emgmm__workspace_alloc(&ws, n, k, d, t + 1),
                        EMGMM_OK);
                    resp[t] = malloc(n * k * sizeof(double));
                    total[t] = emgmm__estep(p.m, p.X, n, d, NULL, resp[t],
                                            &ws);
                    int bad = -1;
                    assert_int_equal(emgmm__mstep(p.m, p.X, n, d, resp[t],
                                                  1e-6, &ws, &bad),
                                     EMGMM_OK);
                    const size_t cs = emgmm__cov_size(all_types[ty], k, d);
                    cov[t] = malloc(cs * sizeof(double));
                    memcpy(cov[t], p.m->covariances, cs * sizeof(double));
                    emgmm__workspace_free(&ws);
                    free_problem(&p);
                }
                assert_memory_equal(&total[0], &total[1], sizeof(double));
                assert_memory_equal(resp[0], resp[1], n * k * sizeof(double));
                assert_memory_equal(
                    cov[0], cov[1],
                    emgmm__cov_size(all_types[ty], k, d) * sizeof(double));
                for (int t = 0; t < 2; t++) {
                    free(resp[t]);
                    free(cov[t]);
                }
            }
    }
    emgmm__set_kernel_use(EMGMM__KERNELS_MEASURED);
    assert_int_equal(emgmm__set_kernel_isa(saved), 0);
}

/* The M-step through the dispatch (this CPU's path) against the naive
 * one, for data near and far from the origin, with the kernels off
 * (BLAS), in their measured ranges, and at every d they reach, so that
 * every route stays tested on every machine. */
static void check_mstep(size_t n, size_t d, size_t k, double offset,
                        uint64_t seed, int threads);
static void test_mstep_kernels_and_blas(void **state)
{
    (void)state;
    for (int use = 0; use < 3; use++) {
        emgmm__set_kernel_use((emgmm__kernel_use)use);
        check_mstep(333, 6, 3, 0.0, 11, 2);
        check_mstep(700, 16, 8, 1e6, 12, 2);
        check_mstep(257, 31, 2, 1e6, 13, 1);
    }
    emgmm__set_kernel_use(EMGMM__KERNELS_MEASURED);
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
    /* Both sides of linalg.c's switch from loops to LAPACK (d = 8). */
    static const size_t dims[] = {1, 2, 3, 4, 7, 8, 9, 12};
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
        const size_t d = dims[di];
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
        cmocka_unit_test(test_vexp_bound),
        cmocka_unit_test(test_vlog_bound),
        cmocka_unit_test(test_normalize_log_resp_every_path),
        cmocka_unit_test(test_normalize_log_resp_portable_bits),
        cmocka_unit_test(test_estep_matches_naive),
        cmocka_unit_test(test_estep_threads_every_path),
        cmocka_unit_test(test_mstep_matches_naive),
        cmocka_unit_test(test_mstep_far_from_origin),
        cmocka_unit_test(test_precision_factor),
        cmocka_unit_test(test_logp_kernel_every_path),
        cmocka_unit_test(test_scatter_kernel_every_path),
        cmocka_unit_test(test_logp_f32_kernel_every_path),
        cmocka_unit_test(test_scatter_f32_kernel_every_path),
        cmocka_unit_test(test_kernels_threads_every_path),
        cmocka_unit_test(test_mstep_kernels_and_blas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
