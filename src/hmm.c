/*
 * Hidden Markov models: the model object (start probabilities, transition
 * matrix, and the Gaussian emissions held as an unweighted mixture model,
 * one component per state), its accessors, and sampling.
 */
#include "internal.h"
#include "rng.h"

#include <math.h>
#include <string.h>

void emgmm_hmm_params_default(emgmm_hmm_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    /* hmmlearn 0.3.3's GaussianHMM defaults. */
    p->emission = EMGMM_HMM_GAUSSIAN;
    p->n_mix = 1;
    p->covariance_type = EMGMM_COVARIANCE_DIAG;
    p->max_iter = 10;
    p->tol = 1e-2;
    p->min_covar = 1e-3;
    p->startprob_prior = 1.0;
    p->transmat_prior = 1.0;
    p->means_prior = 0.0;
    p->means_weight = 0.0;
    p->covars_prior = 1e-2;
    p->covars_weight = 1.0;
    strcpy(p->params, "stmc");
    strcpy(p->init_params, "stmc");
    p->n_init = 1;
}

const char *emgmm_hmm_emission_name(emgmm_hmm_emission e)
{
    switch (e) {
    case EMGMM_HMM_GAUSSIAN: return "gaussian";
    case EMGMM_HMM_GMM: return "gmm";
    }
    return NULL;
}

int emgmm__hmm_alloc(emgmm_covariance_type type, size_t k, size_t d,
                     emgmm_hmm **out)
{
    *out = NULL;
    emgmm_hmm *m = emgmm__calloc(1, sizeof *m);
    if (!m)
        return EMGMM_ERR_NOMEM;
    m->emission = EMGMM_HMM_GAUSSIAN;
    m->k = k;
    m->d = d;
    m->n_mix = 1;
    m->startprob = emgmm__malloc(k, sizeof(double));
    m->transmat = emgmm__malloc(k * k, sizeof(double));
    int rc = m->startprob && m->transmat
                 ? emgmm__model_alloc(type, k, d, &m->emis)
                 : EMGMM_ERR_NOMEM;
    if (rc != EMGMM_OK) {
        emgmm_hmm_free(&m);
        return rc;
    }
    m->emis->unweighted = 1;
    /* Uniform weights: not part of the density (unweighted), they only
     * make the kernels' centre the mean of the state means. */
    for (size_t s = 0; s < k; s++)
        m->emis->weights[s] = 1.0 / (double)k;
    m->fit.log_likelihood = NAN;
    m->fit.last_estep = NAN;
    *out = m;
    return EMGMM_OK;
}

void emgmm_hmm_free(emgmm_hmm **model)
{
    if (!model || !*model)
        return;
    emgmm_hmm *m = *model;
    emgmm__free(m->startprob);
    emgmm__free(m->transmat);
    emgmm_free(&m->emis);
    emgmm__free(m);
    *model = NULL;
}

/* Non-negative, finite, summing to 1 within 1e-6: renormalised (kept bit
 * for bit when the sum is 1 up to rounding). */
static int check_distribution(double *p, size_t k)
{
    double sum = 0.0;
    for (size_t i = 0; i < k; i++) {
        if (!isfinite(p[i]) || p[i] < 0.0)
            return EMGMM_ERR_INVALID;
        sum += p[i];
    }
    if (fabs(sum - 1.0) > 1e-6)
        return EMGMM_ERR_INVALID;
    if (fabs(sum - 1.0) > 4.0 * (double)k * 1.1102230246251565e-16)
        for (size_t i = 0; i < k; i++)
            p[i] /= sum;
    return EMGMM_OK;
}

int emgmm__hmm_validate(emgmm_hmm *m, int *bad)
{
    const size_t k = m->k;
    int rc = check_distribution(m->startprob, k);
    for (size_t s = 0; s < k && rc == EMGMM_OK; s++)
        rc = check_distribution(m->transmat + s * k, k);
    if (rc != EMGMM_OK)
        return rc;
    for (size_t i = 0; i < m->k * m->d; i++)
        if (!isfinite(m->emis->means[i]))
            return EMGMM_ERR_INVALID;
    const size_t cs = emgmm__cov_size(m->emis->type, k, m->d);
    for (size_t i = 0; i < cs; i++)
        if (!isfinite(m->emis->covariances[i]))
            return EMGMM_ERR_INVALID;
    double *scratch = emgmm__malloc(m->d, m->d * sizeof(double));
    if (!scratch)
        return EMGMM_ERR_NOMEM;
    rc = emgmm__model_update_derived(m->emis, scratch, bad);
    emgmm__free(scratch);
    return rc;
}

void emgmm__hmm_copy(emgmm_hmm *dst, const emgmm_hmm *src)
{
    memcpy(dst->startprob, src->startprob, src->k * sizeof(double));
    memcpy(dst->transmat, src->transmat, src->k * src->k * sizeof(double));
    emgmm__model_copy(dst->emis, src->emis);
    dst->fit = src->fit;
}

int emgmm__hmm_bounds(const size_t *lengths, size_t n_seq, size_t n,
                      size_t **first)
{
    *first = NULL;
    if (!lengths)
        n_seq = 1;
    if (n_seq == 0)
        return EMGMM_ERR_INVALID;
    size_t *b = emgmm__malloc(n_seq + 1, sizeof(size_t));
    if (!b)
        return EMGMM_ERR_NOMEM;
    b[0] = 0;
    for (size_t q = 0; q < n_seq; q++) {
        const size_t len = lengths ? lengths[q] : n;
        if (len == 0 || len > n - b[q]) {
            emgmm__free(b);
            return EMGMM_ERR_INVALID;
        }
        b[q + 1] = b[q] + len;
    }
    if (b[n_seq] != n) {
        emgmm__free(b);
        return EMGMM_ERR_INVALID;
    }
    *first = b;
    return EMGMM_OK;
}

int emgmm_hmm_create(emgmm_covariance_type type, size_t k, size_t d,
                     const double *startprob, const double *transmat,
                     const double *means, const double *covariances,
                     emgmm_hmm **model, int *bad_state)
{
    if (bad_state)
        *bad_state = -1;
    if (!model)
        return EMGMM_ERR_INVALID;
    *model = NULL;
    if (!emgmm_covariance_type_name(type) || k < 1 || d < 1 || !startprob ||
        !transmat || !means || !covariances)
        return EMGMM_ERR_INVALID;
    emgmm_hmm *m;
    int rc = emgmm__hmm_alloc(type, k, d, &m);
    if (rc != EMGMM_OK)
        return rc;
    memcpy(m->startprob, startprob, k * sizeof(double));
    memcpy(m->transmat, transmat, k * k * sizeof(double));
    memcpy(m->emis->means, means, k * d * sizeof(double));
    memcpy(m->emis->covariances, covariances,
           emgmm__cov_size(type, k, d) * sizeof(double));
    /* Symmetric matrices: the lower triangle is used, as for mixtures. */
    if (type == EMGMM_COVARIANCE_FULL || type == EMGMM_COVARIANCE_TIED) {
        const size_t n_mats = type == EMGMM_COVARIANCE_FULL ? k : 1;
        for (size_t c = 0; c < n_mats; c++) {
            double *a = m->emis->covariances + c * d * d;
            for (size_t i = 0; i < d; i++)
                for (size_t j = 0; j < i; j++) {
                    const double lo = a[i * d + j], up = a[j * d + i];
                    if (fabs(lo - up) > 1e-10 * fmax(fabs(lo), fabs(up)))
                        rc = EMGMM_ERR_INVALID;
                    a[j * d + i] = lo;
                }
        }
    }
    if (rc == EMGMM_OK)
        rc = emgmm__hmm_validate(m, bad_state);
    if (rc != EMGMM_OK) {
        emgmm_hmm_free(&m);
        return rc;
    }
    *model = m;
    return EMGMM_OK;
}

size_t emgmm_hmm_n_states(const emgmm_hmm *m) { return m ? m->k : 0; }
size_t emgmm_hmm_n_features(const emgmm_hmm *m) { return m ? m->d : 0; }
size_t emgmm_hmm_n_mix(const emgmm_hmm *m) { return m ? m->n_mix : 0; }

emgmm_hmm_emission emgmm_hmm_get_emission(const emgmm_hmm *m)
{
    return m ? m->emission : EMGMM_HMM_GAUSSIAN;
}

emgmm_covariance_type emgmm_hmm_get_covariance_type(const emgmm_hmm *m)
{
    return m ? m->emis->type : EMGMM_COVARIANCE_DIAG;
}

const double *emgmm_hmm_startprob(const emgmm_hmm *m)
{
    return m ? m->startprob : NULL;
}
const double *emgmm_hmm_transmat(const emgmm_hmm *m)
{
    return m ? m->transmat : NULL;
}
const double *emgmm_hmm_means(const emgmm_hmm *m)
{
    return m ? m->emis->means : NULL;
}
const double *emgmm_hmm_covariances(const emgmm_hmm *m)
{
    return m ? m->emis->covariances : NULL;
}

size_t emgmm_hmm_n_parameters(const emgmm_hmm *m, const char *params)
{
    if (!m)
        return 0;
    if (!params)
        params = "stmc";
    const size_t k = m->k, d = m->d;
    size_t p = 0;
    /* hmmlearn's _get_n_fit_scalars_per_param, for the letters given. */
    if (strchr(params, 's'))
        p += k - 1;
    if (strchr(params, 't'))
        p += k * (k - 1);
    if (strchr(params, 'm'))
        p += k * d;
    if (strchr(params, 'c')) {
        switch (m->emis->type) {
        case EMGMM_COVARIANCE_FULL: p += k * d * (d + 1) / 2; break;
        case EMGMM_COVARIANCE_TIED: p += d * (d + 1) / 2; break;
        case EMGMM_COVARIANCE_DIAG: p += k * d; break;
        case EMGMM_COVARIANCE_SPHERICAL: p += k; break;
        }
    }
    return p;
}

int emgmm_hmm_sample(const emgmm_hmm *m, size_t n, uint64_t seed, double *X,
                     int32_t *states)
{
    if (!m || !X || n == 0)
        return EMGMM_ERR_INVALID;
    const size_t k = m->k;
    double *chol = NULL;
    double *z = emgmm__malloc(m->d, sizeof(double));
    int rc = z ? emgmm__sample_factors(m->emis, &chol) : EMGMM_ERR_NOMEM;
    if (rc != EMGMM_OK) {
        emgmm__free(z);
        return rc;
    }
    emgmm_rng rng;
    emgmm__rng_seed(&rng, seed, UINT64_C(0x686d6d73616d70)); /* "hmmsamp" */
    size_t s = 0;
    for (size_t i = 0; i < n; i++) {
        s = i == 0 ? emgmm__sample_index(&rng, m->startprob, k)
                   : emgmm__sample_index(&rng, m->transmat + s * k, k);
        emgmm__sample_component(m->emis, chol, s, &rng, z, X + i * m->d);
        if (states)
            states[i] = (int32_t)s;
    }
    emgmm__free(chol);
    emgmm__free(z);
    return EMGMM_OK;
}
