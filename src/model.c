/* The model object: lifetime, validation of given parameters, accessors. */
#include "internal.h"

#include <math.h>
#include <string.h>

int emgmm__model_alloc(emgmm_covariance_type type, size_t k, size_t d,
                       emgmm_model **out)
{
    *out = NULL;
    if (k == 0 || d == 0 || k > SIZE_MAX / d || k * d > SIZE_MAX / d)
        return EMGMM_ERR_INVALID;
    emgmm_model *m = emgmm__calloc(1, sizeof *m);
    if (!m)
        return EMGMM_ERR_NOMEM;
    m->type = type;
    m->k = k;
    m->d = d;
    m->weights = emgmm__malloc(k, sizeof(double));
    m->means = emgmm__malloc(k * d, sizeof(double));
    m->covariances = emgmm__malloc(k * d, d * sizeof(double));
    m->prec_chol = emgmm__malloc(k * d, d * sizeof(double));
    m->centre = emgmm__malloc(d, sizeof(double));
    m->mean_proj = emgmm__malloc(k * d, sizeof(double));
    m->log_norm = emgmm__malloc(k, sizeof(double));
    if (!m->weights || !m->means || !m->covariances || !m->prec_chol ||
        !m->centre || !m->mean_proj || !m->log_norm) {
        emgmm_free(&m);
        return EMGMM_ERR_NOMEM;
    }
    *out = m;
    return EMGMM_OK;
}

void emgmm_free(emgmm_model **model)
{
    if (!model || !*model)
        return;
    emgmm_model *m = *model;
    emgmm__free(m->weights);
    emgmm__free(m->means);
    emgmm__free(m->covariances);
    emgmm__free(m->prec_chol);
    emgmm__free(m->centre);
    emgmm__free(m->mean_proj);
    emgmm__free(m->log_norm);
    emgmm__free(m);
    *model = NULL;
}

int emgmm__model_update_derived(emgmm_model *m, double *scratch, int *bad)
{
    const size_t k = m->k, d = m->d, kd = k * d;
    static const double log_2pi = 1.83787706640934548356;

    for (size_t j = 0; j < d; j++)
        m->centre[j] = 0.0;
    for (size_t c = 0; c < k; c++)
        for (size_t j = 0; j < d; j++)
            m->centre[j] += m->weights[c] * m->means[c * d + j];

    for (size_t c = 0; c < k; c++) {
        memcpy(scratch, m->covariances + c * d * d, d * d * sizeof(double));
        if (emgmm__cholesky_lower(scratch, d) != 0) {
            if (bad)
                *bad = (int)c;
            return EMGMM_ERR_SINGULAR;
        }
        double *u = m->prec_chol + c * d; /* column block c, ld = k*d */
        double log_det_u = emgmm__precision_factor(scratch, d, u, kd);
        m->log_norm[c] = log(m->weights[c]) - 0.5 * (double)d * log_2pi +
                         log_det_u;
        /* (mu_c - centre)^T U_c, U upper triangular. */
        double *mp = m->mean_proj + c * d;
        for (size_t j = 0; j < d; j++) {
            double s = 0.0;
            for (size_t i = 0; i <= j; i++)
                s += (m->means[c * d + i] - m->centre[i]) * u[i * kd + j];
            mp[j] = s;
        }
    }
    return EMGMM_OK;
}

void emgmm__model_copy(emgmm_model *dst, const emgmm_model *src)
{
    const size_t k = src->k, d = src->d;
    memcpy(dst->weights, src->weights, k * sizeof(double));
    memcpy(dst->means, src->means, k * d * sizeof(double));
    memcpy(dst->covariances, src->covariances, k * d * d * sizeof(double));
    memcpy(dst->prec_chol, src->prec_chol, k * d * d * sizeof(double));
    memcpy(dst->centre, src->centre, d * sizeof(double));
    memcpy(dst->mean_proj, src->mean_proj, k * d * sizeof(double));
    memcpy(dst->log_norm, src->log_norm, k * sizeof(double));
    dst->fit = src->fit;
}

int emgmm_model_create(emgmm_covariance_type type, size_t k, size_t d,
                       const double *weights, const double *means,
                       const double *covariances, emgmm_model **model,
                       int *bad_component)
{
    if (bad_component)
        *bad_component = -1;
    if (!model)
        return EMGMM_ERR_INVALID;
    *model = NULL;
    if (!weights || !means || !covariances || k == 0 || d == 0)
        return EMGMM_ERR_INVALID;
    if (!emgmm_covariance_type_name(type))
        return EMGMM_ERR_INVALID;
    if (type != EMGMM_COVARIANCE_FULL)
        return EMGMM_ERR_UNSUPPORTED;

    double total = 0.0;
    for (size_t c = 0; c < k; c++) {
        if (!isfinite(weights[c]) || weights[c] < 0.0)
            return EMGMM_ERR_INVALID;
        total += weights[c];
    }
    if (!(fabs(total - 1.0) <= 1e-6))
        return EMGMM_ERR_INVALID;
    for (size_t i = 0; i < k * d; i++)
        if (!isfinite(means[i]))
            return EMGMM_ERR_INVALID;
    for (size_t c = 0; c < k; c++) {
        const double *s = covariances + c * d * d;
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j <= i; j++) {
                double a = s[i * d + j], b = s[j * d + i];
                if (!isfinite(a) || !isfinite(b))
                    return EMGMM_ERR_INVALID;
                if (fabs(a - b) > 1e-10 * fmax(fabs(a), fabs(b))) {
                    if (bad_component)
                        *bad_component = (int)c;
                    return EMGMM_ERR_INVALID;
                }
            }
    }

    emgmm_model *m;
    int rc = emgmm__model_alloc(type, k, d, &m);
    if (rc != EMGMM_OK)
        return rc;
    double *scratch = emgmm__malloc(d * d, sizeof(double));
    if (!scratch) {
        emgmm_free(&m);
        return EMGMM_ERR_NOMEM;
    }
    for (size_t c = 0; c < k; c++)
        m->weights[c] = weights[c] / total;
    memcpy(m->means, means, k * d * sizeof(double));
    /* The lower triangle is the one used; mirror it so that the stored
     * matrices are exactly symmetric. */
    for (size_t c = 0; c < k; c++) {
        const double *s = covariances + c * d * d;
        double *t = m->covariances + c * d * d;
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j <= i; j++)
                t[i * d + j] = t[j * d + i] = s[i * d + j];
    }
    rc = emgmm__model_update_derived(m, scratch, bad_component);
    emgmm__free(scratch);
    if (rc != EMGMM_OK) {
        emgmm_free(&m);
        return rc;
    }
    *model = m;
    return EMGMM_OK;
}

size_t emgmm_n_components(const emgmm_model *m) { return m ? m->k : 0; }
size_t emgmm_n_features(const emgmm_model *m) { return m ? m->d : 0; }

emgmm_covariance_type emgmm_get_covariance_type(const emgmm_model *m)
{
    return m ? m->type : EMGMM_COVARIANCE_FULL;
}

const double *emgmm_weights(const emgmm_model *m)
{
    return m ? m->weights : NULL;
}
const double *emgmm_means(const emgmm_model *m)
{
    return m ? m->means : NULL;
}
const double *emgmm_covariances(const emgmm_model *m)
{
    return m ? m->covariances : NULL;
}

size_t emgmm_n_parameters(const emgmm_model *m)
{
    if (!m)
        return 0;
    const size_t k = m->k, d = m->d;
    size_t cov;
    switch (m->type) {
    case EMGMM_COVARIANCE_FULL: cov = k * d * (d + 1) / 2; break;
    case EMGMM_COVARIANCE_TIED: cov = d * (d + 1) / 2; break;
    case EMGMM_COVARIANCE_DIAG: cov = k * d; break;
    default: cov = k; break;
    }
    return cov + k * d + (k - 1);
}
