/*
 * Fuzz target: a small fit driven by the input. The first bytes choose
 * N <= 64, D <= 4, K <= 4, the covariance type, the initialisation, the
 * seed, max_iter <= 20, reg_covar (from a table), tol, sample weights and
 * a cancelling iteration; the rest are the data values (mostly small
 * finite numbers, sometimes NaN, infinity or extreme magnitudes).
 *
 * Invariants: the status is a known code; on success the weights sum to 1
 * within 1e-9 and every parameter and the log-likelihood are finite.
 */
#include "emgmm.h"
#include "fuzz_util.h"

#include <math.h>

static double value(fuzz_bytes *b)
{
    uint8_t tag = fuzz_u8(b);
    int8_t v = (int8_t)fuzz_u8(b);
    switch (tag) {
    case 0xff: return NAN;
    case 0xfe: return v < 0 ? -INFINITY : INFINITY;
    case 0xfd: return v * 1e160;  /* beyond EMGMM_ERR_RANGE */
    case 0xfc: return v * 1e-160;
    case 0xfb: return ldexp(1.0, v * 8);  /* 2^-1024 .. 2^1016 */
    default:   return (tag % 8) * 4.0 + v / 32.0;  /* a few clusters */
    }
}

static int cancel_at;

static int progress(const emgmm_iteration *it, void *user)
{
    (void)user;
    FUZZ_CHECK(it->iteration >= 1);
    return cancel_at > 0 && it->iteration >= cancel_at;
}

static size_t cov_size(emgmm_covariance_type t, size_t k, size_t d)
{
    switch (t) {
    case EMGMM_COVARIANCE_FULL: return k * d * d;
    case EMGMM_COVARIANCE_TIED: return d * d;
    case EMGMM_COVARIANCE_DIAG: return k * d;
    case EMGMM_COVARIANCE_SPHERICAL: return k;
    }
    __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const double reg[] = {1e-6, 0.0, 1e-12, 1e-3, 1.0, 1e-300};
    static const double tols[] = {1e-3, 0.0, 1e-8, 1.0};
    fuzz_bytes b = {data, size};

    emgmm_params p;
    emgmm_params_default(&p);
    size_t n = (size_t)fuzz_range(&b, 1, 64);
    size_t d = (size_t)fuzz_range(&b, 1, 4);
    p.n_components = fuzz_range(&b, 1, 4);
    p.covariance_type = (emgmm_covariance_type)fuzz_range(&b, 0, 3);
    p.init = (emgmm_init_method)fuzz_range(&b, 0, 3);
    p.max_iter = fuzz_range(&b, 0, 20);
    p.reg_covar = reg[fuzz_range(&b, 0, 5)];
    p.tol = tols[fuzz_range(&b, 0, 3)];
    p.n_init = fuzz_range(&b, 1, 2);
    p.n_threads = 1;
    uint8_t flags = fuzz_u8(&b);
    cancel_at = flags & 1 ? fuzz_range(&b, 1, 5) : 0;
    if (cancel_at)
        p.progress = progress;
    p.seed = fuzz_u64(&b);
    size_t ldx = d + (flags & 2 ? 1 : 0);

    double *X = calloc(n * ldx, sizeof *X);
    double *w = flags & 4 ? malloc(n * sizeof *w) : NULL;
    if (!X || (flags & 4 && !w))
        goto done;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            X[i * ldx + j] = value(&b);
    if (w) {
        for (size_t i = 0; i < n; i++) {
            uint8_t c = fuzz_u8(&b);
            w[i] = c == 0xff ? NAN : c == 0xfe ? -1.0 : (c % 4) * 0.5;
        }
        p.sample_weight = w;
    }

    emgmm_model *m = NULL;
    emgmm_fit_info info;
    int rc = emgmm_fit(&p, X, n, d, ldx, &m, &info);
    FUZZ_CHECK(rc <= 0 && rc >= EMGMM_ERR_RANGE);
    if (rc != EMGMM_OK) {
        FUZZ_CHECK(m == NULL);
        goto done;
    }
    size_t k = (size_t)p.n_components;
    FUZZ_CHECK(m != NULL && emgmm_n_components(m) == k &&
               emgmm_n_features(m) == d &&
               emgmm_get_covariance_type(m) == p.covariance_type);
    const double *wt = emgmm_weights(m), *mu = emgmm_means(m),
                 *cov = emgmm_covariances(m);
    double sum = 0.0;
    for (size_t i = 0; i < k; i++) {
        FUZZ_CHECK(isfinite(wt[i]) && wt[i] >= 0.0);
        sum += wt[i];
    }
    FUZZ_CHECK(fabs(sum - 1.0) <= 1e-9);
    for (size_t i = 0; i < k * d; i++)
        FUZZ_CHECK(isfinite(mu[i]));
    for (size_t i = 0; i < cov_size(p.covariance_type, k, d); i++)
        FUZZ_CHECK(isfinite(cov[i]));
    FUZZ_CHECK(isfinite(info.log_likelihood));
    FUZZ_CHECK(info.n_iter >= 0 && info.n_iter <= p.max_iter);
    emgmm_free(&m);
done:
    free(X);
    free(w);
    return 0;
}
