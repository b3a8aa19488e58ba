/*
 * Hidden Markov models: the model object (start probabilities, transition
 * matrix, and the emissions: for Gaussian emissions one unweighted
 * mixture model with a component per state, for GMM emissions one
 * ordinary mixture per state), its accessors, and sampling.
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
    p->weights_prior = 1.0;
    /* NaN: the default of hmmlearn's class for the emission (GaussianHMM:
     * 1e-2 and 1; GMMHMM: per covariance type, see hmm_fit.c). */
    p->covars_prior = NAN;
    p->covars_weight = NAN;
    /* Every letter (w, the mixture weights, only means something for GMM
     * emissions; GaussianHMM's default "stmc" is the same). */
    strcpy(p->params, "stmcw");
    strcpy(p->init_params, "stmcw");
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

int emgmm__hmm_alloc(emgmm_hmm_emission emission, emgmm_covariance_type type,
                     size_t k, size_t n_mix, size_t d, emgmm_hmm **out)
{
    *out = NULL;
    emgmm_hmm *m = emgmm__calloc(1, sizeof *m);
    if (!m)
        return EMGMM_ERR_NOMEM;
    m->emission = emission;
    m->type = type;
    m->k = k;
    m->d = d;
    m->n_mix = emission == EMGMM_HMM_GMM ? n_mix : 1;
    m->startprob = emgmm__malloc(k, sizeof(double));
    m->transmat = emgmm__malloc(k * k, sizeof(double));
    int rc = m->startprob && m->transmat ? EMGMM_OK : EMGMM_ERR_NOMEM;
    if (rc == EMGMM_OK && emission == EMGMM_HMM_GAUSSIAN) {
        rc = emgmm__model_alloc(type, k, d, &m->emis);
        if (rc == EMGMM_OK) {
            m->emis->unweighted = 1;
            /* Uniform weights: not part of the density (unweighted), they
             * only make the kernels' centre the mean of the state means. */
            for (size_t s = 0; s < k; s++)
                m->emis->weights[s] = 1.0 / (double)k;
        }
    } else if (rc == EMGMM_OK) {
        const size_t mm = m->n_mix;
        m->mix = emgmm__calloc(k, sizeof *m->mix);
        m->mix_weights = emgmm__malloc(k * mm, sizeof(double));
        m->mix_means = emgmm__malloc(k * mm, d * sizeof(double));
        m->mix_covs = emgmm__malloc(k, emgmm__cov_size(type, mm, d) *
                                           sizeof(double));
        if (!m->mix || !m->mix_weights || !m->mix_means || !m->mix_covs)
            rc = EMGMM_ERR_NOMEM;
        for (size_t s = 0; s < k && rc == EMGMM_OK; s++)
            rc = emgmm__model_alloc(type, mm, d, &m->mix[s]);
    }
    if (rc != EMGMM_OK) {
        emgmm_hmm_free(&m);
        return rc;
    }
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
    if (m->mix)
        for (size_t s = 0; s < m->k; s++)
            emgmm_free(&m->mix[s]);
    emgmm__free(m->mix);
    emgmm__free(m->mix_weights);
    emgmm__free(m->mix_means);
    emgmm__free(m->mix_covs);
    emgmm__free(m);
    *model = NULL;
}

/* One state's mixture and its slices of the contiguous arrays. */
static void mix_slices(emgmm_hmm *m, size_t s, double **w, double **mu,
                       double **cov)
{
    const size_t mm = m->n_mix, d = m->d;
    *w = m->mix_weights + s * mm;
    *mu = m->mix_means + s * mm * d;
    *cov = m->mix_covs + s * emgmm__cov_size(m->type, mm, d);
}

void emgmm__hmm_scatter(emgmm_hmm *m)
{
    if (!m->mix)
        return;
    const size_t mm = m->n_mix, d = m->d;
    const size_t cs = emgmm__cov_size(m->type, mm, d);
    for (size_t s = 0; s < m->k; s++) {
        double *w, *mu, *cov;
        mix_slices(m, s, &w, &mu, &cov);
        memcpy(m->mix[s]->weights, w, mm * sizeof(double));
        memcpy(m->mix[s]->means, mu, mm * d * sizeof(double));
        memcpy(m->mix[s]->covariances, cov, cs * sizeof(double));
    }
}

void emgmm__hmm_gather(emgmm_hmm *m)
{
    if (!m->mix)
        return;
    const size_t mm = m->n_mix, d = m->d;
    const size_t cs = emgmm__cov_size(m->type, mm, d);
    for (size_t s = 0; s < m->k; s++) {
        double *w, *mu, *cov;
        mix_slices(m, s, &w, &mu, &cov);
        memcpy(w, m->mix[s]->weights, mm * sizeof(double));
        memcpy(mu, m->mix[s]->means, mm * d * sizeof(double));
        memcpy(cov, m->mix[s]->covariances, cs * sizeof(double));
    }
}

/* A distribution checked and renormalised in place (model.c's rule). */
static int check_distribution(double *p, size_t k)
{
    double total;
    int rc = emgmm__check_distribution(p, k, &total);
    if (rc == EMGMM_OK)
        emgmm__copy_distribution(p, k, total, p);
    return rc;
}

static int finite(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

int emgmm__hmm_validate(emgmm_hmm *m, int *bad)
{
    const size_t k = m->k, d = m->d, mm = m->n_mix;
    int rc = check_distribution(m->startprob, k);
    for (size_t s = 0; s < k && rc == EMGMM_OK; s++)
        rc = check_distribution(m->transmat + s * k, k);
    for (size_t s = 0; s < k && rc == EMGMM_OK && m->mix; s++)
        rc = check_distribution(m->mix_weights + s * mm, mm);
    if (rc != EMGMM_OK)
        return rc;
    emgmm__hmm_scatter(m);
    const size_t n_models = m->mix ? k : 1;
    for (size_t s = 0; s < n_models; s++) {
        const emgmm_model *e = m->mix ? m->mix[s] : m->emis;
        if (!finite(e->means, e->k * d) ||
            !finite(e->covariances, emgmm__cov_size(e->type, e->k, d)))
            return EMGMM_ERR_INVALID;
    }
    double *scratch = emgmm__malloc(d, d * sizeof(double));
    if (!scratch)
        return EMGMM_ERR_NOMEM;
    for (size_t s = 0; s < n_models && rc == EMGMM_OK; s++) {
        emgmm_model *e = m->mix ? m->mix[s] : m->emis;
        rc = emgmm__model_update_derived(e, scratch, bad);
        if (rc == EMGMM_ERR_SINGULAR && bad && m->mix)
            *bad = (int)s; /* the state, not its component */
    }
    emgmm__free(scratch);
    return rc;
}

void emgmm__hmm_copy(emgmm_hmm *dst, const emgmm_hmm *src)
{
    const size_t k = src->k, mm = src->n_mix, d = src->d;
    memcpy(dst->startprob, src->startprob, k * sizeof(double));
    memcpy(dst->transmat, src->transmat, k * k * sizeof(double));
    if (src->emis)
        emgmm__model_copy(dst->emis, src->emis);
    if (src->mix) {
        for (size_t s = 0; s < k; s++)
            emgmm__model_copy(dst->mix[s], src->mix[s]);
        memcpy(dst->mix_weights, src->mix_weights, k * mm * sizeof(double));
        memcpy(dst->mix_means, src->mix_means, k * mm * d * sizeof(double));
        memcpy(dst->mix_covs, src->mix_covs,
               k * emgmm__cov_size(src->type, mm, d) * sizeof(double));
    }
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

/* Symmetric within 1e-10 relative (model.c's rule), then exactly: the
 * lower triangle is used. */
static int symmetrise(double *a, size_t n_mats, size_t d)
{
    for (size_t c = 0; c < n_mats; c++, a += d * d) {
        if (!emgmm__symmetric(a, d))
            return EMGMM_ERR_INVALID;
        emgmm__copy_lower(a, d, a);
    }
    return EMGMM_OK;
}

static int create(emgmm_hmm_emission emission, emgmm_covariance_type type,
                  size_t k, size_t mm, size_t d, const double *startprob,
                  const double *transmat, const double *weights,
                  const double *means, const double *covariances,
                  emgmm_hmm **model, int *bad_state)
{
    if (bad_state)
        *bad_state = -1;
    if (!model)
        return EMGMM_ERR_INVALID;
    *model = NULL;
    if (!emgmm_covariance_type_name(type) || k < 1 || d < 1 || mm < 1 ||
        !startprob || !transmat || !means || !covariances ||
        (emission == EMGMM_HMM_GMM && !weights))
        return EMGMM_ERR_INVALID;
    emgmm_hmm *m;
    int rc = emgmm__hmm_alloc(emission, type, k, mm, d, &m);
    if (rc != EMGMM_OK)
        return rc;
    memcpy(m->startprob, startprob, k * sizeof(double));
    memcpy(m->transmat, transmat, k * k * sizeof(double));
    /* Matrices per state (full: n_mix each; tied: one) in either layout. */
    size_t n_mats = 0;
    double *covs;
    if (emission == EMGMM_HMM_GAUSSIAN) {
        memcpy(m->emis->means, means, k * d * sizeof(double));
        covs = m->emis->covariances;
        memcpy(covs, covariances,
               emgmm__cov_size(type, k, d) * sizeof(double));
        n_mats = type == EMGMM_COVARIANCE_FULL ? k
                 : type == EMGMM_COVARIANCE_TIED ? 1 : 0;
    } else {
        memcpy(m->mix_weights, weights, k * mm * sizeof(double));
        memcpy(m->mix_means, means, k * mm * d * sizeof(double));
        covs = m->mix_covs;
        memcpy(covs, covariances,
               k * emgmm__cov_size(type, mm, d) * sizeof(double));
        n_mats = type == EMGMM_COVARIANCE_FULL ? k * mm
                 : type == EMGMM_COVARIANCE_TIED ? k : 0;
    }
    rc = symmetrise(covs, n_mats, d);
    if (rc == EMGMM_OK)
        rc = emgmm__hmm_validate(m, bad_state);
    if (rc != EMGMM_OK) {
        emgmm_hmm_free(&m);
        return rc;
    }
    *model = m;
    return EMGMM_OK;
}

int emgmm_hmm_create(emgmm_covariance_type type, size_t k, size_t d,
                     const double *startprob, const double *transmat,
                     const double *means, const double *covariances,
                     emgmm_hmm **model, int *bad_state)
{
    return create(EMGMM_HMM_GAUSSIAN, type, k, 1, d, startprob, transmat,
                  NULL, means, covariances, model, bad_state);
}

int emgmm_hmm_create_gmm(emgmm_covariance_type type, size_t k, size_t n_mix,
                         size_t d, const double *startprob,
                         const double *transmat, const double *weights,
                         const double *means, const double *covariances,
                         emgmm_hmm **model, int *bad_state)
{
    return create(EMGMM_HMM_GMM, type, k, n_mix, d, startprob, transmat,
                  weights, means, covariances, model, bad_state);
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
    return m ? m->type : EMGMM_COVARIANCE_DIAG;
}

const double *emgmm_hmm_startprob(const emgmm_hmm *m)
{
    return m ? m->startprob : NULL;
}
const double *emgmm_hmm_transmat(const emgmm_hmm *m)
{
    return m ? m->transmat : NULL;
}
const double *emgmm_hmm_weights(const emgmm_hmm *m)
{
    return m ? m->mix_weights : NULL;
}
const double *emgmm_hmm_means(const emgmm_hmm *m)
{
    return !m ? NULL : m->emis ? m->emis->means : m->mix_means;
}
const double *emgmm_hmm_covariances(const emgmm_hmm *m)
{
    return !m ? NULL : m->emis ? m->emis->covariances : m->mix_covs;
}

size_t emgmm_hmm_n_parameters(const emgmm_hmm *m, const char *params)
{
    if (!m)
        return 0;
    if (!params)
        params = m->mix ? "stmcw" : "stmc";
    const size_t k = m->k, d = m->d, mm = m->n_mix;
    size_t p = 0;
    /* hmmlearn's _get_n_fit_scalars_per_param, for the letters given;
     * for GMM emissions "w" counts n_mix - 1, as hmmlearn does (not
     * k (n_mix - 1)). */
    if (strchr(params, 's'))
        p += k - 1;
    if (strchr(params, 't'))
        p += k * (k - 1);
    if (strchr(params, 'm'))
        p += k * mm * d;
    if (strchr(params, 'c')) {
        switch (m->type) {
        case EMGMM_COVARIANCE_FULL: p += k * mm * d * (d + 1) / 2; break;
        case EMGMM_COVARIANCE_TIED:
            p += (m->mix ? k : 1) * d * (d + 1) / 2;
            break;
        case EMGMM_COVARIANCE_DIAG: p += k * mm * d; break;
        case EMGMM_COVARIANCE_SPHERICAL: p += k * mm; break;
        }
    }
    if (m->mix && strchr(params, 'w'))
        p += mm - 1;
    return p;
}

int emgmm_hmm_sample(const emgmm_hmm *m, size_t n, uint64_t seed, double *X,
                     int32_t *states)
{
    if (!m || !X || n == 0)
        return EMGMM_ERR_INVALID;
    const size_t k = m->k, n_models = m->mix ? k : 1;
    double **chol = emgmm__calloc(n_models, sizeof *chol);
    double *z = emgmm__malloc(m->d, sizeof(double));
    int rc = chol && z ? EMGMM_OK : EMGMM_ERR_NOMEM;
    for (size_t s = 0; s < n_models && rc == EMGMM_OK; s++)
        rc = emgmm__sample_factors(m->mix ? m->mix[s] : m->emis, &chol[s]);
    if (rc == EMGMM_OK) {
        emgmm_rng rng;
        emgmm__rng_seed(&rng, seed, UINT64_C(0x686d6d73616d70)); /* "hmmsamp" */
        size_t s = 0;
        for (size_t i = 0; i < n; i++) {
            s = i == 0 ? emgmm__sample_index(&rng, m->startprob, k)
                       : emgmm__sample_index(&rng, m->transmat + s * k, k);
            if (m->mix) {
                /* A component of the state's mixture, then a draw from it. */
                const emgmm_model *e = m->mix[s];
                const size_t c = emgmm__sample_index(&rng, e->weights, e->k);
                emgmm__sample_component(e, chol[s], c, &rng, z, X + i * m->d);
            } else {
                emgmm__sample_component(m->emis, chol[0], s, &rng, z,
                                        X + i * m->d);
            }
            if (states)
                states[i] = (int32_t)s;
        }
    }
    for (size_t s = 0; chol && s < n_models; s++)
        emgmm__free(chol[s]);
    emgmm__free(chol);
    emgmm__free(z);
    return rc;
}
