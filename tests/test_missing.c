/*
 * Missing values: the pattern-grouped fast path against a plain per-row
 * implementation of the textbook formulas (explicit marginal and
 * conditional Gaussians), imputation, and what EM with gaps buys over
 * simple imputations on mixture data.
 */
#include "internal.h"
#include "test_util.h"
#include "naive.h"

#include <stdlib.h>
#include <string.h>

static const emgmm_covariance_type TYPES[] = {
    EMGMM_COVARIANCE_FULL, EMGMM_COVARIANCE_TIED, EMGMM_COVARIANCE_DIAG,
    EMGMM_COVARIANCE_SPHERICAL};

/* ---- test data ------------------------------------------------------ */

/* n rows from k well-separated correlated Gaussians in d dimensions.
 * True parameters into w (k), mu (k x d), sigma (k x d x d). */
static double *mixture_data(size_t n, size_t d, size_t k, uint64_t seed,
                            double *w, double *mu, double *sigma)
{
    test_rng r = {seed};
    double *L = malloc(k * d * d * sizeof(double));
    for (size_t c = 0; c < k; c++) {
        w[c] = 1.0 / (double)k;
        for (size_t j = 0; j < d; j++)
            mu[c * d + j] = 6.0 * test_rng_normal(&r);
        double *s = sigma + c * d * d;
        random_spd(&r, d, 0.3, s);
        /* Cholesky factor (textbook) to draw with. */
        double *l = L + c * d * d;
        memset(l, 0, d * d * sizeof(double));
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j <= i; j++) {
                double v = s[i * d + j];
                for (size_t t = 0; t < j; t++)
                    v -= l[i * d + t] * l[j * d + t];
                l[i * d + j] = i == j ? sqrt(v) : v / l[j * d + j];
            }
    }
    double *X = malloc(n * d * sizeof(double));
    double *z = malloc(d * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        size_t c = i % k;
        for (size_t j = 0; j < d; j++)
            z[j] = test_rng_normal(&r);
        for (size_t a = 0; a < d; a++) {
            double v = mu[c * d + a];
            for (size_t b = 0; b <= a; b++)
                v += L[c * d * d + a * d + b] * z[b];
            X[i * d + a] = v;
        }
    }
    free(z);
    free(L);
    return X;
}

/* A copy of X with each entry removed (NaN) with probability frac. */
static double *with_gaps(const double *X, size_t n, size_t d, double frac,
                         uint64_t seed)
{
    test_rng r = {seed};
    double *Y = malloc(n * d * sizeof(double));
    for (size_t i = 0; i < n * d; i++)
        Y[i] = test_rng_uniform(&r) < frac ? NAN : X[i];
    return Y;
}

/* ---- the naive reference -------------------------------------------- */

/* The covariance of component c as a full d x d matrix. */
static void full_cov(const emgmm_model *m, size_t c, double *S)
{
    const size_t d = emgmm_n_features(m);
    const double *cov = emgmm_covariances(m);
    memset(S, 0, d * d * sizeof(double));
    switch (emgmm_get_covariance_type(m)) {
    case EMGMM_COVARIANCE_FULL:
        memcpy(S, cov + c * d * d, d * d * sizeof(double));
        break;
    case EMGMM_COVARIANCE_TIED:
        memcpy(S, cov, d * d * sizeof(double));
        break;
    case EMGMM_COVARIANCE_DIAG:
        for (size_t j = 0; j < d; j++)
            S[j * d + j] = cov[c * d + j];
        break;
    case EMGMM_COVARIANCE_SPHERICAL:
        for (size_t j = 0; j < d; j++)
            S[j * d + j] = cov[c];
        break;
    }
}

/* For one row x and component c: the marginal log w_c + log N(x_o) and
 * the completed row xhat (gaps = conditional mean) and the conditional
 * covariance C (d x d, zero outside the gaps), from
 *   xhat_m = mu_m + S_mo S_oo^-1 (x_o - mu_o)
 *   C_mm   = S_mm - S_mo S_oo^-1 S_om. */
static double naive_row(const emgmm_model *m, size_t c, const double *x,
                        double *xhat, double *C)
{
    const size_t d = emgmm_n_features(m);
    const double *mu = emgmm_means(m) + c * d;
    double *S = malloc(d * d * sizeof(double));
    full_cov(m, c, S);
    size_t o[64], mi[64], no = 0, nm = 0;
    for (size_t j = 0; j < d; j++) {
        if (isnan(x[j]))
            mi[nm++] = j;
        else
            o[no++] = j;
    }
    double *Soo = malloc(d * d * sizeof(double)),
           *inv = malloc(d * d * sizeof(double)),
           *xo = malloc(d * sizeof(double)), *so = malloc(d * sizeof(double));
    for (size_t a = 0; a < no; a++) {
        xo[a] = x[o[a]] - mu[o[a]];
        for (size_t b = 0; b < no; b++)
            Soo[a * no + b] = S[o[a] * d + o[b]];
    }
    double logp = log(emgmm_weights(m)[c]);
    if (no > 0) {
        double log_det = naive_inverse(Soo, no, inv);
        double q = 0.0;
        for (size_t a = 0; a < no; a++) {
            so[a] = 0.0;
            for (size_t b = 0; b < no; b++) {
                q += xo[a] * inv[a * no + b] * xo[b];
                so[a] += inv[a * no + b] * xo[b]; /* S_oo^-1 (x_o - mu_o) */
            }
        }
        logp -= 0.5 * ((double)no * log(2.0 * 3.14159265358979323846) + log_det + q);
    }
    memcpy(xhat, x, d * sizeof(double));
    memset(C, 0, d * d * sizeof(double));
    for (size_t a = 0; a < nm; a++) {
        double v = mu[mi[a]];
        for (size_t b = 0; b < no; b++)
            v += S[mi[a] * d + o[b]] * so[b];
        xhat[mi[a]] = v;
        for (size_t b = 0; b < nm; b++) {
            double cv = S[mi[a] * d + mi[b]];
            for (size_t s = 0; s < no; s++)
                for (size_t t = 0; t < no; t++)
                    cv -= S[mi[a] * d + o[s]] * inv[s * no + t] *
                          S[o[t] * d + mi[b]];
            C[mi[a] * d + mi[b]] = cv;
        }
    }
    free(S);
    free(Soo);
    free(inv);
    free(xo);
    free(so);
    return logp;
}

/* One EM iteration the slow way, on the rows that have something
 * observed. Writes the new parameters (in the model's shapes) and returns
 * the mean log-likelihood of the old ones. */
static double naive_em_step(const emgmm_model *m, const double *X, size_t n,
                            double reg, double *w_out, double *mu_out,
                            double *cov_out)
{
    const size_t k = emgmm_n_components(m), d = emgmm_n_features(m);
    const emgmm_covariance_type type = emgmm_get_covariance_type(m);
    double *resp = malloc(n * k * sizeof(double));
    double *xhat = malloc(n * k * d * sizeof(double));
    double *C = malloc(n * k * d * d * sizeof(double));
    double ll = 0.0;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t observed = 0;
        for (size_t j = 0; j < d; j++)
            observed += !isnan(X[i * d + j]);
        if (observed == 0) {
            for (size_t c = 0; c < k; c++)
                resp[i * k + c] = 0.0;
            continue;
        }
        used++;
        double lp[16], mx = -INFINITY;
        for (size_t c = 0; c < k; c++) {
            lp[c] = naive_row(m, c, X + i * d, xhat + (i * k + c) * d,
                              C + (i * k + c) * d * d);
            mx = fmax(mx, lp[c]);
        }
        double s = 0.0;
        for (size_t c = 0; c < k; c++)
            s += exp(lp[c] - mx);
        ll += mx + log(s);
        for (size_t c = 0; c < k; c++)
            resp[i * k + c] = exp(lp[c] - mx) / s;
    }
    double *S = calloc(k * d * d, sizeof(double)), nk[16], total = 0.0;
    for (size_t c = 0; c < k; c++) {
        nk[c] = 10.0 * 2.220446049250313e-16;
        for (size_t i = 0; i < n; i++)
            nk[c] += resp[i * k + c];
        total += nk[c];
    }
    for (size_t c = 0; c < k; c++) {
        w_out[c] = nk[c] / total;
        for (size_t j = 0; j < d; j++) {
            double v = 0.0;
            for (size_t i = 0; i < n; i++)
                if (resp[i * k + c] > 0.0)
                    v += resp[i * k + c] * xhat[(i * k + c) * d + j];
            mu_out[c * d + j] = v / nk[c];
        }
        for (size_t i = 0; i < n; i++) {
            const double r = resp[i * k + c];
            if (r == 0.0)
                continue;
            const double *xh = xhat + (i * k + c) * d;
            for (size_t a = 0; a < d; a++)
                for (size_t b = 0; b < d; b++)
                    S[c * d * d + a * d + b] +=
                        r * ((xh[a] - mu_out[c * d + a]) *
                                 (xh[b] - mu_out[c * d + b]) +
                             C[(i * k + c) * d * d + a * d + b]);
        }
    }
    for (size_t c = 0; c < k; c++)
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) {
                const double v = S[c * d * d + a * d + b];
                const double r = a == b ? reg : 0.0;
                switch (type) {
                case EMGMM_COVARIANCE_FULL:
                    cov_out[c * d * d + a * d + b] = v / nk[c] + r;
                    break;
                case EMGMM_COVARIANCE_TIED:
                    cov_out[a * d + b] =
                        (c == 0 ? 0.0 : cov_out[a * d + b]) + v / total +
                        (c == 0 ? r : 0.0);
                    break;
                case EMGMM_COVARIANCE_DIAG:
                    if (a == b)
                        cov_out[c * d + a] = v / nk[c] + r;
                    break;
                case EMGMM_COVARIANCE_SPHERICAL:
                    if (a == b)
                        cov_out[c] = (a == 0 ? 0.0 : cov_out[c]) +
                                     (v / nk[c] + r) / (double)d;
                    break;
                }
            }
    free(S);
    free(resp);
    free(xhat);
    free(C);
    return ll / (double)used;
}

/* A starting model of `type` near the truth (moment-matched shapes). */
static emgmm_model *start_model(emgmm_covariance_type type, size_t k,
                                size_t d, const double *w, const double *mu,
                                const double *sigma)
{
    double *cov = calloc(k * d * d, sizeof(double));
    for (size_t c = 0; c < k; c++)
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) {
                const double v = sigma[c * d * d + a * d + b];
                switch (type) {
                case EMGMM_COVARIANCE_FULL:
                    cov[c * d * d + a * d + b] = v;
                    break;
                case EMGMM_COVARIANCE_TIED:
                    cov[a * d + b] += v / (double)k;
                    break;
                case EMGMM_COVARIANCE_DIAG:
                    if (a == b)
                        cov[c * d + a] = v;
                    break;
                case EMGMM_COVARIANCE_SPHERICAL:
                    if (a == b)
                        cov[c] += v / (double)d;
                    break;
                }
            }
    emgmm_model *m = NULL;
    assert_int_equal(emgmm_model_create(type, k, d, w, mu, cov, &m, NULL),
                     EMGMM_OK);
    free(cov);
    return m;
}

static size_t cov_count(emgmm_covariance_type type, size_t k, size_t d)
{
    return emgmm__cov_size(type, k, d);
}

/* ---- tests ---------------------------------------------------------- */

/* Without any NaN, missing = 1 is the ordinary fit, bit for bit. */
static void test_no_gaps_is_ordinary_fit(void **state)
{
    (void)state;
    const size_t n = 500, d = 3, k = 3;
    double w[3], mu[9], sigma[27];
    double *X = mixture_data(n, d, k, 11, w, mu, sigma);
    for (size_t t = 0; t < 4; t++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.n_components = (int)k;
        p.covariance_type = TYPES[t];
        p.n_init = 2;
        emgmm_model *a = NULL, *b = NULL;
        emgmm_fit_info ia, ib;
        assert_int_equal(emgmm_fit(&p, X, n, d, d, &a, &ia), EMGMM_OK);
        p.missing = 1;
        assert_int_equal(emgmm_fit(&p, X, n, d, d, &b, &ib), EMGMM_OK);
        assert_memory_equal(emgmm_means(a), emgmm_means(b),
                            k * d * sizeof(double));
        assert_memory_equal(emgmm_covariances(a), emgmm_covariances(b),
                            cov_count(TYPES[t], k, d) * sizeof(double));
        assert_memory_equal(emgmm_weights(a), emgmm_weights(b),
                            k * sizeof(double));
        assert_true(ia.log_likelihood == ib.log_likelihood);
        assert_int_equal(ia.n_iter, ib.n_iter);
        assert_int_equal(ib.n_rows_all_missing, 0);
        emgmm_free(&a);
        emgmm_free(&b);
    }
    free(X);
}

/* Agreement of a model's parameters with naive ones, relative. */
static void assert_params_close(const emgmm_model *m, const double *w,
                                const double *mu, const double *cov,
                                double rtol)
{
    const size_t k = emgmm_n_components(m), d = emgmm_n_features(m);
    const size_t nc = cov_count(emgmm_get_covariance_type(m), k, d);
    for (size_t c = 0; c < k; c++)
        assert_close(emgmm_weights(m)[c], w[c], rtol, 1e-14);
    for (size_t i = 0; i < k * d; i++)
        assert_close(emgmm_means(m)[i], mu[i], rtol, rtol);
    for (size_t i = 0; i < nc; i++)
        assert_close(emgmm_covariances(m)[i], cov[i], rtol, rtol);
}

/* Three EM iterations from the same start: the fast path (patterns,
 * Schur corrections, refilled gaps) against the per-row textbook
 * formulas, every covariance type, gaps of every kind including rows
 * with one value and rows with none. */
static void test_em_matches_naive(void **state)
{
    (void)state;
    const size_t n = 240, d = 5, k = 3;
    double w[3], mu[15], sigma[75];
    double *X0 = mixture_data(n, d, k, 5, w, mu, sigma);
    double *X = with_gaps(X0, n, d, 0.3, 77);
    for (size_t j = 0; j < d; j++) {
        X[7 * d + j] = NAN;                   /* nothing observed */
        X[8 * d + j] = j == 2 ? X0[8 * d + j] : NAN; /* one value */
    }
    size_t all_missing = 0;
    for (size_t i = 0; i < n; i++) {
        size_t gaps = 0;
        for (size_t j = 0; j < d; j++)
            gaps += isnan(X[i * d + j]) != 0;
        all_missing += gaps == d;
    }
    for (size_t t = 0; t < 4; t++) {
        emgmm_model *ref = start_model(TYPES[t], k, d, w, mu, sigma);
        double nw[3], nmu[15], ncov[75];
        for (int it = 1; it <= 3; it++) {
            double ll = naive_em_step(ref, X, n, 1e-6, nw, nmu, ncov);
            emgmm_free(&ref);
            assert_int_equal(emgmm_model_create(TYPES[t], k, d, nw, nmu,
                                                ncov, &ref, NULL),
                             EMGMM_OK);

            emgmm_model *start = start_model(TYPES[t], k, d, w, mu, sigma);
            emgmm_params p;
            emgmm_params_default(&p);
            p.init_model = start;
            p.max_iter = it;
            p.tol = 0.0;
            p.missing = 1;
            emgmm_model *fast = NULL;
            emgmm_fit_info info;
            assert_int_equal(emgmm_fit(&p, X, n, d, d, &fast, &info),
                             EMGMM_OK);
            assert_int_equal(info.n_rows_all_missing, all_missing);
            assert_int_equal(info.n_iter, it);
            assert_params_close(fast, nw, nmu, ncov, 1e-10);
            assert_close(info.lower_bound, ll, 1e-10, 1e-12);
            emgmm_free(&fast);
            emgmm_free(&start);
        }
        emgmm_free(&ref);
    }
    free(X0);
    free(X);
}

/* Wide gaps (more than 24 missing values in a row) go through LAPACK
 * instead of the small-block loops: the same check on them. */
static void test_wide_gaps_match_naive(void **state)
{
    (void)state;
    const size_t n = 90, d = 30, k = 2;
    double w[2], mu[60], sigma[2 * 900];
    double *X0 = mixture_data(n, d, k, 41, w, mu, sigma);
    double *X = with_gaps(X0, n, d, 0.1, 42);
    for (size_t i = 0; i < n; i += 3) /* every third row: 27 gaps */
        for (size_t j = 0; j < 27; j++)
            X[i * d + (j + i) % d] = NAN;
    emgmm_model *ref = start_model(EMGMM_COVARIANCE_FULL, k, d, w, mu, sigma);
    double nw[2], nmu[60], ncov[2 * 900];
    double ll = naive_em_step(ref, X, n, 1e-6, nw, nmu, ncov);
    emgmm_params p;
    emgmm_params_default(&p);
    p.init_model = ref;
    p.max_iter = 1;
    p.tol = 0.0;
    p.missing = 1;
    emgmm_model *fast = NULL;
    emgmm_fit_info info;
    assert_int_equal(emgmm_fit(&p, X, n, d, d, &fast, &info), EMGMM_OK);
    assert_params_close(fast, nw, nmu, ncov, 1e-9);
    assert_close(info.lower_bound, ll, 1e-10, 1e-12);
    double *out = malloc(n * d * sizeof(double));
    assert_int_equal(emgmm_impute_draws(fast, X, n, d, 1, 3, out), EMGMM_OK);
    for (size_t i = 0; i < n * d; i++)
        assert_true(isfinite(out[i]));
    free(out);
    emgmm_free(&fast);
    emgmm_free(&ref);
    free(X0);
    free(X);
}

/* EM with gaps never lowers the observed-data log-likelihood. */
static void test_missing_em_is_monotone(void **state)
{
    (void)state;
    const size_t n = 900, d = 4, k = 3;
    double w[3], mu[12], sigma[48];
    double *X0 = mixture_data(n, d, k, 9, w, mu, sigma);
    double *X = with_gaps(X0, n, d, 0.25, 3);
    for (size_t t = 0; t < 4; t++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.n_components = (int)k;
        p.covariance_type = TYPES[t];
        p.missing = 1;
        p.init = EMGMM_INIT_RANDOM;
        p.tol = 0.0;
        p.max_iter = 1;
        double previous = -INFINITY;
        for (int it = 1; it <= 25; it++) {
            p.max_iter = it;
            emgmm_model *m = NULL;
            emgmm_fit_info info;
            assert_int_equal(emgmm_fit(&p, X, n, d, d, &m, &info), EMGMM_OK);
            assert_true(info.log_likelihood >= previous - 1e-12);
            previous = info.log_likelihood;
            emgmm_free(&m);
        }
    }
    free(X0);
    free(X);
}

/* emgmm_impute against sum_c p(c | x_o) E[x_m | x_o, c] computed the
 * textbook way; observed entries keep their bits. */
static void test_impute_matches_naive(void **state)
{
    (void)state;
    const size_t n = 150, d = 4, k = 3;
    double w[3], mu[12], sigma[48];
    double *X0 = mixture_data(n, d, k, 21, w, mu, sigma);
    double *X = with_gaps(X0, n, d, 0.35, 8);
    for (size_t j = 0; j < d; j++)
        X[3 * d + j] = NAN;
    X[5 * d + 1] = -0.0; /* a signed zero must survive */
    double *out = malloc(n * d * sizeof(double));
    double *xhat = malloc(k * d * sizeof(double)),
           *C = malloc(d * d * sizeof(double));
    for (size_t t = 0; t < 4; t++) {
        emgmm_model *m = start_model(TYPES[t], k, d, w, mu, sigma);
        assert_int_equal(emgmm_impute(m, X, n, d, out), EMGMM_OK);
        for (size_t i = 0; i < n; i++) {
            double lp[3], mx = -INFINITY, s = 0.0;
            for (size_t c = 0; c < k; c++) {
                lp[c] = naive_row(m, c, X + i * d, xhat + c * d, C);
                mx = fmax(mx, lp[c]);
            }
            for (size_t c = 0; c < k; c++)
                s += exp(lp[c] - mx);
            for (size_t j = 0; j < d; j++) {
                if (!isnan(X[i * d + j])) {
                    assert_memory_equal(&out[i * d + j], &X[i * d + j],
                                        sizeof(double));
                    continue;
                }
                double v = 0.0;
                for (size_t c = 0; c < k; c++)
                    v += exp(lp[c] - mx) / s * xhat[c * d + j];
                assert_close(out[i * d + j], v, 1e-10, 1e-10);
            }
        }
        /* Nothing observed: the mixture's mean. */
        for (size_t j = 0; j < d; j++) {
            double v = 0.0;
            for (size_t c = 0; c < k; c++)
                v += emgmm_weights(m)[c] * emgmm_means(m)[c * d + j];
            assert_close(out[3 * d + j], v, 1e-12, 1e-12);
        }
        emgmm_free(&m);
    }
    free(out);
    free(xhat);
    free(C);
    free(X0);
    free(X);
}

/* Posteriors given the observed part: the ordinary ones for complete
 * rows, the textbook marginal ones for the others. */
static void test_predict_proba_missing(void **state)
{
    (void)state;
    const size_t n = 200, d = 4, k = 3;
    double w[3], mu[12], sigma[48];
    double *X0 = mixture_data(n, d, k, 23, w, mu, sigma);
    double *X = with_gaps(X0, n, d, 0.2, 24);
    for (size_t j = 0; j < d; j++)
        X[9 * d + j] = NAN;
    double *proba = malloc(n * k * sizeof(double)),
           *plain = malloc(k * sizeof(double)),
           *logp = malloc(n * sizeof(double));
    double xhat[12], C[16];
    for (size_t t = 0; t < 4; t++) {
        emgmm_model *m = start_model(TYPES[t], k, d, w, mu, sigma);
        assert_int_equal(emgmm_predict_proba_missing(m, X, n, d, proba),
                         EMGMM_OK);
        assert_int_equal(emgmm_score_samples_missing(m, X, n, d, logp),
                         EMGMM_OK);
        for (size_t i = 0; i < n; i++) {
            int gap = 0;
            for (size_t j = 0; j < d; j++)
                gap |= isnan(X[i * d + j]);
            if (!gap) {
                assert_int_equal(emgmm_predict_proba(m, X + i * d, 1, d,
                                                     plain),
                                 EMGMM_OK);
                for (size_t c = 0; c < k; c++)
                    assert_close(proba[i * k + c], plain[c], 1e-12, 1e-14);
                continue;
            }
            double lp[3], mx = -INFINITY, s = 0.0;
            for (size_t c = 0; c < k; c++) {
                lp[c] = naive_row(m, c, X + i * d, xhat, C);
                mx = fmax(mx, lp[c]);
            }
            for (size_t c = 0; c < k; c++)
                s += exp(lp[c] - mx);
            for (size_t c = 0; c < k; c++)
                assert_close(proba[i * k + c], exp(lp[c] - mx) / s, 1e-10,
                             1e-12);
            assert_close(logp[i], mx + log(s), 1e-10, 1e-10);
        }
        assert_close(logp[9], 0.0, 0.0, 1e-15); /* nothing observed */
        for (size_t c = 0; c < k; c++)
            assert_close(proba[9 * k + c], emgmm_weights(m)[c], 1e-14, 0);
        /* No gap at all: the ordinary posteriors. */
        assert_int_equal(emgmm_predict_proba_missing(m, X0, 5, d, proba),
                         EMGMM_OK);
        emgmm_free(&m);
    }
    free(proba);
    free(plain);
    free(logp);
    free(X0);
    free(X);
}

/* Multiple imputation: reproducible, observed entries untouched, and the
 * draws of one gap average to its conditional expectation with the
 * spread of the conditional mixture. */
static void test_impute_draws(void **state)
{
    (void)state;
    const size_t d = 3, k = 2, n_draws = 20000;
    double w[2] = {0.3, 0.7}, mu[6] = {0, 0, 0, 3, 1, -2};
    double sigma[18] = {1, 0.5, 0.2, 0.5, 2, 0.3, 0.2, 0.3, 1,
                        1.5, -0.4, 0, -0.4, 1, 0.1, 0, 0.1, 0.5};
    emgmm_model *m = NULL;
    assert_int_equal(emgmm_model_create(EMGMM_COVARIANCE_FULL, k, d, w, mu,
                                        sigma, &m, NULL),
                     EMGMM_OK);
    const double X[6] = {1.5, NAN, NAN, 0.25, -1.0, NAN};
    double *a = malloc(n_draws * 2 * d * sizeof(double));
    double *b = malloc(n_draws * 2 * d * sizeof(double));
    assert_int_equal(emgmm_impute_draws(m, X, 2, d, n_draws, 42, a),
                     EMGMM_OK);
    assert_int_equal(emgmm_impute_draws(m, X, 2, d, n_draws, 42, b),
                     EMGMM_OK);
    assert_memory_equal(a, b, n_draws * 2 * d * sizeof(double));
    assert_int_equal(emgmm_impute_draws(m, X, 2, d, 3, 43, b), EMGMM_OK);
    assert_true(memcmp(a, b, 3 * 2 * d * sizeof(double)) != 0);

    double expect[6];
    assert_int_equal(emgmm_impute(m, X, 2, d, expect), EMGMM_OK);
    for (size_t i = 0; i < 2; i++)
        for (size_t j = 0; j < d; j++) {
            if (!isnan(X[i * d + j])) {
                for (size_t t = 0; t < n_draws; t++)
                    assert_true(a[t * 2 * d + i * d + j] == X[i * d + j]);
                continue;
            }
            double s = 0.0, s2 = 0.0;
            for (size_t t = 0; t < n_draws; t++) {
                double v = a[t * 2 * d + i * d + j];
                s += v;
                s2 += v * v;
            }
            double mean = s / (double)n_draws;
            double var = s2 / (double)n_draws - mean * mean;
            /* within 5 standard errors */
            assert_close(mean, expect[i * d + j], 0.0,
                         5.0 * sqrt(var / (double)n_draws));
            assert_true(var > 0.0);
        }
    free(a);
    free(b);
    emgmm_free(&m);
}

/* emgmm_impute_draws_rows on blocks of rows (any split, any draw) gives
 * the bits of emgmm_impute_draws on all of them; a block that runs past
 * total_rows is refused. */
static void test_impute_draws_rows_blocks(void **state)
{
    (void)state;
    const size_t d = 3, k = 2, n = 7, n_draws = 3;
    double w[2] = {0.4, 0.6}, mu[6] = {0, 0, 0, 3, 1, -2};
    double sigma[18] = {1, 0.5, 0.2, 0.5, 2, 0.3, 0.2, 0.3, 1,
                        1.5, -0.4, 0, -0.4, 1, 0.1, 0, 0.1, 0.5};
    emgmm_model *m = NULL;
    assert_int_equal(emgmm_model_create(EMGMM_COVARIANCE_FULL, k, d, w, mu,
                                        sigma, &m, NULL),
                     EMGMM_OK);
    const double X[21] = {1.5,  NAN, NAN,  0.25, -1.0, NAN, NAN, NAN, 2.0,
                          0.5,  0.5, 0.5,  NAN,  3.0,  NAN, 1.0, NAN, NAN,
                          -2.0, NAN, 4.0};
    double whole[3 * 21], part[3 * 21];
    assert_int_equal(emgmm_impute_draws(m, X, n, d, n_draws, 9, whole),
                     EMGMM_OK);
    const size_t cuts[][3] = {{0, 7, 7}, {0, 1, 7}, {2, 5, 7}, {0, 6, 7}};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        /* rows [0, a), [a, b), [b, n) as three blocks */
        const size_t edges[4] = {0, cuts[c][0] ? cuts[c][0] : cuts[c][1],
                                 cuts[c][1], cuts[c][2]};
        for (size_t t = 0; t < n_draws; t++)
            for (size_t e = 0; e < 3; e++) {
                const size_t first = edges[e], rows = edges[e + 1] - first;
                if (rows == 0)
                    continue;
                assert_int_equal(
                    emgmm_impute_draws_rows(m, X + first * d, rows, d, first,
                                            n, t, 9,
                                            part + (t * n + first) * d),
                    EMGMM_OK);
            }
        assert_memory_equal(part, whole, sizeof whole);
    }
    /* Rows 5 .. 7 of 7: past the end (three readable rows all the same). */
    assert_int_equal(emgmm_impute_draws_rows(m, X, 3, d, 5, 7, 0, 9, part),
                     EMGMM_ERR_INVALID);
    emgmm_free(&m);
}

/* RMSE of the imputed entries against the removed truth. */
static double rmse(const double *truth, const double *gappy,
                   const double *filled, size_t n, size_t d)
{
    double s = 0.0;
    size_t count = 0;
    for (size_t i = 0; i < n * d; i++)
        if (isnan(gappy[i])) {
            double e = filled[i] - truth[i];
            s += e * e;
            count++;
        }
    return sqrt(s / (double)count);
}

/* On mixture data with 10 % and 30 % of the entries removed at random,
 * the mixture's conditional expectation beats both a single Gaussian's
 * conditional expectation and column means. */
static void test_rmse_beats_baselines(void **state)
{
    (void)state;
    const size_t n = 3000, d = 5, k = 3;
    double w[3], mu[15], sigma[75];
    double *X0 = mixture_data(n, d, k, 31, w, mu, sigma);
    const double fracs[2] = {0.1, 0.3};
    for (int f = 0; f < 2; f++) {
        double *X = with_gaps(X0, n, d, fracs[f], 100 + (uint64_t)f);
        double *out = malloc(n * d * sizeof(double));
        double rm[2];
        for (int kk = 0; kk < 2; kk++) {
            emgmm_params p;
            emgmm_params_default(&p);
            p.n_components = kk == 0 ? (int)k : 1;
            p.missing = 1;
            p.n_init = 3;
            emgmm_model *m = NULL;
            assert_int_equal(emgmm_fit(&p, X, n, d, d, &m, NULL), EMGMM_OK);
            assert_int_equal(emgmm_impute(m, X, n, d, out), EMGMM_OK);
            rm[kk] = rmse(X0, X, out, n, d);
            emgmm_free(&m);
        }
        for (size_t j = 0; j < d; j++) {
            double s = 0.0;
            size_t c = 0;
            for (size_t i = 0; i < n; i++)
                if (!isnan(X[i * d + j])) {
                    s += X[i * d + j];
                    c++;
                }
            for (size_t i = 0; i < n; i++)
                out[i * d + j] = isnan(X[i * d + j]) ? s / (double)c
                                                     : X[i * d + j];
        }
        double rm_mean = rmse(X0, X, out, n, d);
        print_message("%2.0f%% missing: RMSE mixture %.4f, one Gaussian "
                      "%.4f, column means %.4f\n",
                      100 * fracs[f], rm[0], rm[1], rm_mean);
        assert_true(rm[0] < 0.8 * rm[1]);
        assert_true(rm[1] < rm_mean);
        free(out);
        free(X);
    }
    free(X0);
}

/* Largest relative difference of means and covariances. */
static double param_distance(const emgmm_model *a, const emgmm_model *b)
{
    const size_t k = emgmm_n_components(a), d = emgmm_n_features(a);
    double worst = 0.0;
    for (size_t i = 0; i < k * d; i++)
        worst = fmax(worst, fabs(emgmm_means(a)[i] - emgmm_means(b)[i]));
    for (size_t i = 0; i < k * d * d; i++)
        worst = fmax(worst, fabs(emgmm_covariances(a)[i] -
                                 emgmm_covariances(b)[i]));
    return worst;
}

/* With 20 % missing at random, the fitted parameters approach the
 * complete-data fit as N grows (both estimate the same truth). */
static void test_approaches_complete_fit(void **state)
{
    (void)state;
    const size_t d = 3, k = 2;
    const size_t sizes[3] = {500, 5000, 50000};
    double dist[3];
    for (int s = 0; s < 3; s++) {
        const size_t n = sizes[s];
        double w[2], mu[6], sigma[18];
        double *X0 = mixture_data(n, d, k, 57, w, mu, sigma);
        double *X = with_gaps(X0, n, d, 0.2, 58);
        emgmm_model *start = start_model(EMGMM_COVARIANCE_FULL, k, d, w, mu,
                                         sigma);
        emgmm_params p;
        emgmm_params_default(&p);
        p.init_model = start;
        p.tol = 1e-8;
        p.max_iter = 500;
        emgmm_model *full = NULL, *gappy = NULL;
        assert_int_equal(emgmm_fit(&p, X0, n, d, d, &full, NULL), EMGMM_OK);
        p.missing = 1;
        assert_int_equal(emgmm_fit(&p, X, n, d, d, &gappy, NULL), EMGMM_OK);
        dist[s] = param_distance(full, gappy);
        print_message("N = %zu: largest parameter difference %.4f\n", n,
                      dist[s]);
        emgmm_free(&start);
        emgmm_free(&full);
        emgmm_free(&gappy);
        free(X0);
        free(X);
    }
    assert_true(dist[1] < dist[0]);
    assert_true(dist[2] < dist[1]);
    assert_true(dist[2] < 0.05);
}

static void test_errors(void **state)
{
    (void)state;
    const size_t n = 50, d = 3;
    double w[2], mu[6], sigma[18];
    double *X = mixture_data(n, d, 2, 4, w, mu, sigma);
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = 2;
    emgmm_model *m = NULL;
    X[4 * d + 1] = NAN;
    assert_int_equal(emgmm_fit(&p, X, n, d, d, &m, NULL),
                     EMGMM_ERR_NONFINITE);
    p.missing = 1;
    X[6 * d + 2] = INFINITY;
    assert_int_equal(emgmm_fit(&p, X, n, d, d, &m, NULL),
                     EMGMM_ERR_NONFINITE);
    X[6 * d + 2] = 1.0;
    for (size_t i = 0; i < n; i++)
        X[i * d + 0] = NAN; /* a column with nothing observed */
    assert_int_equal(emgmm_fit(&p, X, n, d, d, &m, NULL), EMGMM_ERR_INVALID);
    assert_null(m);
    /* Too few rows with anything observed. */
    double Y[6] = {NAN, NAN, NAN, 1.0, 2.0, 3.0};
    p.n_components = 2;
    emgmm_fit_info info;
    assert_int_equal(emgmm_fit(&p, Y, 2, d, d, &m, &info),
                     EMGMM_ERR_TOO_FEW_SAMPLES);
    assert_int_equal(info.n_rows_all_missing, 1);
    double out[6];
    emgmm_model *g = start_model(EMGMM_COVARIANCE_FULL, 2, d, w, mu, sigma);
    Y[0] = -INFINITY;
    assert_int_equal(emgmm_impute(g, Y, 2, d, out), EMGMM_ERR_NONFINITE);
    assert_int_equal(emgmm_impute_draws(g, Y + 3, 1, d, 0, 1, out),
                     EMGMM_ERR_INVALID);
    emgmm_free(&g);
    free(X);
}

/* Same seed, same bits on one and two threads, with gaps. */
static void test_two_threads_same_bits(void **state)
{
    (void)state;
    const size_t n = 8000, d = 12, k = 4;
    double w[4], mu[48], sigma[4 * 144];
    double *X0 = mixture_data(n, d, k, 71, w, mu, sigma);
    double *X = with_gaps(X0, n, d, 0.05, 72);
    for (size_t t = 0; t < 4; t++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.n_components = (int)k;
        p.covariance_type = TYPES[t];
        p.missing = 1;
        p.max_iter = 8;
        p.tol = 0.0;
        emgmm_model *a = NULL, *b = NULL;
        p.n_threads = 1;
        assert_int_equal(emgmm_fit(&p, X, n, d, d, &a, NULL), EMGMM_OK);
        p.n_threads = 2;
        assert_int_equal(emgmm_fit(&p, X, n, d, d, &b, NULL), EMGMM_OK);
        assert_memory_equal(emgmm_means(a), emgmm_means(b),
                            k * d * sizeof(double));
        assert_memory_equal(emgmm_covariances(a), emgmm_covariances(b),
                            cov_count(TYPES[t], k, d) * sizeof(double));
        emgmm_free(&a);
        emgmm_free(&b);
    }
    free(X0);
    free(X);
}

/* Every allocation of a fit with gaps and of imputation can fail:
 * EMGMM_ERR_NOMEM, and nothing leaks. */
static void test_allocation_failures(void **state)
{
    (void)state;
    const size_t n = 120, d = 3, k = 2;
    double w[2], mu[6], sigma[18];
    double *X0 = mixture_data(n, d, k, 13, w, mu, sigma);
    double *X = with_gaps(X0, n, d, 0.2, 14);
    for (size_t j = 0; j < d; j++)
        X[2 * d + j] = NAN;
    emgmm_model *g = start_model(EMGMM_COVARIANCE_FULL, k, d, w, mu, sigma);
    double *out = malloc(2 * n * d * sizeof(double));
    int points = 0;
    for (int what = 0; what < 3; what++) {
        for (long fail = 1;; fail++) {
            const long live = emgmm__live_allocations();
            emgmm__fail_allocation_after(fail);
            int rc;
            if (what == 0) {
                emgmm_params p;
                emgmm_params_default(&p);
                p.n_components = (int)k;
                p.missing = 1;
                p.n_init = 2;
                p.max_iter = 3;
                emgmm_model *m = NULL;
                rc = emgmm_fit(&p, X, n, d, d, &m, NULL);
                emgmm_free(&m);
            } else if (what == 1) {
                rc = emgmm_impute(g, X, n, d, out);
            } else {
                rc = emgmm_impute_draws(g, X, n, d, 2, 5, out);
            }
            emgmm__fail_allocation_after(0);
            assert_int_equal(emgmm__live_allocations(), live);
            if (rc == EMGMM_OK)
                break;
            assert_int_equal(rc, EMGMM_ERR_NOMEM);
            points++;
        }
    }
    assert_true(points > 20);
    emgmm_free(&g);
    free(out);
    free(X0);
    free(X);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_gaps_is_ordinary_fit),
        cmocka_unit_test(test_em_matches_naive),
        cmocka_unit_test(test_wide_gaps_match_naive),
        cmocka_unit_test(test_missing_em_is_monotone),
        cmocka_unit_test(test_impute_matches_naive),
        cmocka_unit_test(test_predict_proba_missing),
        cmocka_unit_test(test_impute_draws),
        cmocka_unit_test(test_impute_draws_rows_blocks),
        cmocka_unit_test(test_rmse_beats_baselines),
        cmocka_unit_test(test_approaches_complete_fit),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_two_threads_same_bits),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
