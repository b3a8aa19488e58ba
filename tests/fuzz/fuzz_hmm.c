/*
 * Fuzz target: the HMM model-file loader (emgmm_hmm_load). A model that
 * loads is written back and loaded again (the same bits must come back),
 * then scored, decoded and sampled on a few rows derived from the input,
 * with and without a missing value.
 */
#include "emgmm_hmm.h"
#include "fuzz_util.h"

#include <math.h>

/* The doubles of a model's covariances (GMM shapes for GMM emissions). */
static size_t cov_size(const emgmm_hmm *m)
{
    const size_t k = emgmm_hmm_n_states(m), d = emgmm_hmm_n_features(m);
    const int gmm = emgmm_hmm_get_emission(m) == EMGMM_HMM_GMM;
    const size_t c = gmm ? k * emgmm_hmm_n_mix(m) : k;
    switch (emgmm_hmm_get_covariance_type(m)) {
    case EMGMM_COVARIANCE_FULL: return c * d * d;
    case EMGMM_COVARIANCE_TIED: return (gmm ? k : 1) * d * d;
    case EMGMM_COVARIANCE_DIAG: return c * d;
    case EMGMM_COVARIANCE_SPHERICAL: return c;
    }
    __builtin_trap();
}

static int same_model(const emgmm_hmm *a, const emgmm_hmm *b)
{
    const size_t k = emgmm_hmm_n_states(a), d = emgmm_hmm_n_features(a),
                 mm = emgmm_hmm_n_mix(a);
    if (k != emgmm_hmm_n_states(b) || d != emgmm_hmm_n_features(b) ||
        mm != emgmm_hmm_n_mix(b) ||
        emgmm_hmm_get_emission(a) != emgmm_hmm_get_emission(b) ||
        emgmm_hmm_get_covariance_type(a) != emgmm_hmm_get_covariance_type(b))
        return 0;
    if ((emgmm_hmm_weights(a) == NULL) != (emgmm_hmm_weights(b) == NULL))
        return 0;
    return memcmp(emgmm_hmm_startprob(a), emgmm_hmm_startprob(b),
                  k * sizeof(double)) == 0 &&
           memcmp(emgmm_hmm_transmat(a), emgmm_hmm_transmat(b),
                  k * k * sizeof(double)) == 0 &&
           (!emgmm_hmm_weights(a) ||
            memcmp(emgmm_hmm_weights(a), emgmm_hmm_weights(b),
                   k * mm * sizeof(double)) == 0) &&
           memcmp(emgmm_hmm_means(a), emgmm_hmm_means(b),
                  k * mm * d * sizeof(double)) == 0 &&
           memcmp(emgmm_hmm_covariances(a), emgmm_hmm_covariances(b),
                  cov_size(a) * sizeof(double)) == 0;
}

static void use_model(const emgmm_hmm *m, const uint8_t *data, size_t size)
{
    enum { N = 4 };
    const size_t k = emgmm_hmm_n_states(m), d = emgmm_hmm_n_features(m);
    FUZZ_CHECK(k >= 1 && d >= 1);
    double *x = malloc(N * d * sizeof *x);
    double *proba = malloc(N * k * sizeof *proba);
    int32_t states[N];
    if (!x || !proba)
        goto done;
    /* Near the first means, shifted by input bytes; two sequences. */
    const double *means = emgmm_hmm_means(m);
    for (size_t i = 0; i < N * d; i++) {
        int8_t s = size ? (int8_t)data[i % size] : 0;
        x[i] = means[i % d] + s / 8.0;
    }
    const size_t lengths[2] = {1, N - 1};
    double ll, lp;
    int rc = emgmm_hmm_score(m, x, N, d, lengths, 2, &ll);
    FUZZ_CHECK(rc == EMGMM_OK || rc == EMGMM_ERR_NOMEM);
    if (rc == EMGMM_OK)
        FUZZ_CHECK(!isnan(ll));
    rc = emgmm_hmm_predict_proba(m, x, N, d, lengths, 2, proba);
    FUZZ_CHECK(rc == EMGMM_OK || rc == EMGMM_ERR_NOMEM);
    for (size_t i = 0; rc == EMGMM_OK && i < N * k; i++)
        FUZZ_CHECK(proba[i] >= 0.0 && proba[i] <= 1.0 + 1e-9);
    rc = emgmm_hmm_decode(m, x, N, d, lengths, 2, states, &lp);
    FUZZ_CHECK(rc == EMGMM_OK || rc == EMGMM_ERR_NOMEM);
    for (size_t i = 0; rc == EMGMM_OK && i < N; i++)
        FUZZ_CHECK(states[i] >= 0 && (size_t)states[i] < k);
    /* A gap: marginalised for Gaussian emissions, refused for GMM. */
    x[0] = NAN;
    rc = emgmm_hmm_score_missing(m, x, N, d, lengths, 2, &ll);
    FUZZ_CHECK(rc == EMGMM_OK || rc == EMGMM_ERR_NOMEM ||
               (rc == EMGMM_ERR_UNSUPPORTED &&
                emgmm_hmm_get_emission(m) == EMGMM_HMM_GMM));
    rc = emgmm_hmm_sample(m, N, size, x, states);
    FUZZ_CHECK(rc == EMGMM_OK || rc == EMGMM_ERR_NOMEM);
done:
    free(x);
    free(proba);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_file(data, size);
    if (!path)
        return 0;
    emgmm_hmm *m = NULL;
    emgmm_error err;
    int rc = emgmm_hmm_load(path, &m, &err);
    if (rc != EMGMM_OK) {
        FUZZ_CHECK(m == NULL && rc < 0 && rc >= EMGMM_ERR_EMPTY_COMPONENT);
        FUZZ_CHECK(memchr(err.message, '\0', sizeof err.message) != NULL);
        return 0;
    }
    FUZZ_CHECK(m != NULL);

    /* Written back and read again: the same model, bit for bit. */
    FILE *f = fopen(path, "w");
    if (f) {
        int wrc = emgmm_hmm_write(m, f);
        int crc = fclose(f);
        FUZZ_CHECK(wrc == EMGMM_OK && crc == 0);
        emgmm_hmm *again = NULL;
        rc = emgmm_hmm_load(path, &again, &err);
        FUZZ_CHECK(rc == EMGMM_OK && same_model(m, again));
        emgmm_hmm_free(&again);
    }
    use_model(m, data, size);
    emgmm_hmm_free(&m);
    FUZZ_CHECK(m == NULL);
    return 0;
}
