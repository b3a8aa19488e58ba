/*
 * Fuzz target: the model-file loader (emgmm_load). A model that loads is
 * written back and loaded again (the same bits must come back), then used
 * on a few points derived from the input.
 */
#include "emgmm.h"
#include "fuzz_util.h"

#include <math.h>

static size_t cov_size(const emgmm_model *m)
{
    size_t k = emgmm_n_components(m), d = emgmm_n_features(m);
    switch (emgmm_get_covariance_type(m)) {
    case EMGMM_COVARIANCE_FULL: return k * d * d;
    case EMGMM_COVARIANCE_TIED: return d * d;
    case EMGMM_COVARIANCE_DIAG: return k * d;
    case EMGMM_COVARIANCE_SPHERICAL: return k;
    }
    __builtin_trap();
}

static int same_model(const emgmm_model *a, const emgmm_model *b)
{
    size_t k = emgmm_n_components(a), d = emgmm_n_features(a);
    return k == emgmm_n_components(b) && d == emgmm_n_features(b) &&
           emgmm_get_covariance_type(a) == emgmm_get_covariance_type(b) &&
           memcmp(emgmm_weights(a), emgmm_weights(b), k * sizeof(double)) == 0 &&
           memcmp(emgmm_means(a), emgmm_means(b), k * d * sizeof(double)) == 0 &&
           memcmp(emgmm_covariances(a), emgmm_covariances(b),
                  cov_size(a) * sizeof(double)) == 0;
}

static void use_model(const emgmm_model *m, const uint8_t *data, size_t size)
{
    enum { N = 3 };
    size_t k = emgmm_n_components(m), d = emgmm_n_features(m);
    FUZZ_CHECK(k >= 1 && d >= 1);
    double *x = malloc(N * d * sizeof *x);
    double *logp = malloc(N * sizeof *logp);
    double *proba = malloc(N * k * sizeof *proba);
    int32_t labels[N];
    if (!x || !logp || !proba)
        goto done;
    /* Near a component's mean, shifted by input bytes. */
    const double *means = emgmm_means(m);
    for (size_t i = 0; i < N * d; i++) {
        size_t row = i / d, col = i % d;
        int8_t s = size ? (int8_t)data[i % size] : 0;
        x[i] = means[(row % k) * d + col] + s / 16.0;
    }
    double ll;
    int rc = emgmm_score(m, x, N, d, &ll);
    FUZZ_CHECK(rc == EMGMM_OK || rc == EMGMM_ERR_NOMEM);
    if (rc == EMGMM_OK)
        FUZZ_CHECK(!isnan(ll));
    rc = emgmm_score_samples(m, x, N, d, logp);
    FUZZ_CHECK(rc == EMGMM_OK || rc == EMGMM_ERR_NOMEM);
    rc = emgmm_predict(m, x, N, d, labels);
    FUZZ_CHECK(rc == EMGMM_OK || rc == EMGMM_ERR_NOMEM);
    if (rc == EMGMM_OK)
        for (size_t i = 0; i < N; i++)
            FUZZ_CHECK(labels[i] >= 0 && (size_t)labels[i] < k);
    rc = emgmm_predict_proba(m, x, N, d, proba);
    FUZZ_CHECK(rc == EMGMM_OK || rc == EMGMM_ERR_NOMEM);
    rc = emgmm_sample(m, N, size, x, labels);
    FUZZ_CHECK(rc == EMGMM_OK || rc == EMGMM_ERR_NOMEM);
done:
    free(x);
    free(logp);
    free(proba);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_file(data, size);
    if (!path)
        return 0;
    emgmm_model *m = NULL;
    emgmm_error err;
    int rc = emgmm_load(path, &m, &err);
    if (rc != EMGMM_OK) {
        FUZZ_CHECK(m == NULL && rc < 0 && rc >= EMGMM_ERR_RANGE);
        FUZZ_CHECK(memchr(err.message, '\0', sizeof err.message) != NULL);
        return 0;
    }
    FUZZ_CHECK(m != NULL);

    /* Written back and read again: the same model, bit for bit. */
    FILE *f = fopen(path, "w");
    if (f) {
        int wrc = emgmm_write(m, f);
        int crc = fclose(f);
        FUZZ_CHECK(wrc == EMGMM_OK && crc == 0);
        emgmm_model *again = NULL;
        rc = emgmm_load(path, &again, &err);
        FUZZ_CHECK(rc == EMGMM_OK && same_model(m, again));
        emgmm_free(&again);
    }
    use_model(m, data, size);
    emgmm_free(&m);
    FUZZ_CHECK(m == NULL);
    return 0;
}
