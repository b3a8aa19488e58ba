/* The model object: lifetime, validation of given parameters, accessors. */
#include "internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

size_t emgmm__cov_size(emgmm_covariance_type type, size_t k, size_t d)
{
    switch (type) {
    case EMGMM_COVARIANCE_FULL: return k * d * d;
    case EMGMM_COVARIANCE_TIED: return d * d;
    case EMGMM_COVARIANCE_DIAG: return k * d;
    default: return k;
    }
}

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
    const size_t cs = emgmm__cov_size(type, k, d);
    m->covariances = emgmm__malloc(cs, sizeof(double));
    m->prec = emgmm__malloc(cs, sizeof(double));
    m->centre = emgmm__malloc(d, sizeof(double));
    m->mean_proj = emgmm__malloc(k * d, sizeof(double));
    m->log_norm = emgmm__malloc(k, sizeof(double));
    if (!m->weights || !m->means || !m->covariances || !m->prec ||
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
    emgmm__free(m->prec);
    emgmm__free(m->centre);
    emgmm__free(m->mean_proj);
    emgmm__free(m->log_norm);
    emgmm__free(m);
    *model = NULL;
}

/* log det U and, into u (leading dimension ldu), the precision factor of
 * one covariance matrix; EMGMM_ERR_SINGULAR if it is not positive
 * definite. */
static int factor_matrix(const double *sigma, size_t d, double *scratch,
                         double *u, size_t ldu, double *log_det_u)
{
    memcpy(scratch, sigma, d * d * sizeof(double));
    if (emgmm__cholesky_lower(scratch, d) != 0)
        return EMGMM_ERR_SINGULAR;
    *log_det_u = emgmm__precision_factor(scratch, d, u, ldu);
    return EMGMM_OK;
}

/* (mu - centre)^T U for an upper-triangular U with leading dimension ldu. */
static void project_mean(const double *mu, const double *centre,
                         const double *u, size_t ldu, size_t d, double *out)
{
    for (size_t j = 0; j < d; j++) {
        double s = 0.0;
        for (size_t i = 0; i <= j; i++)
            s += (mu[i] - centre[i]) * u[i * ldu + j];
        out[j] = s;
    }
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

    double log_det_tied = 0.0;
    if (m->type == EMGMM_COVARIANCE_TIED &&
        factor_matrix(m->covariances, d, scratch, m->prec, d,
                      &log_det_tied) != EMGMM_OK) {
        if (bad)
            *bad = 0;
        return EMGMM_ERR_SINGULAR;
    }

    for (size_t c = 0; c < k; c++) {
        const double *mu = m->means + c * d;
        double *mp = m->mean_proj + c * d;
        double log_det_u = 0.0;
        int ok = 1;
        switch (m->type) {
        case EMGMM_COVARIANCE_FULL: {
            double *u = m->prec + c * d; /* column block c, ld = k*d */
            ok = factor_matrix(m->covariances + c * d * d, d, scratch, u, kd,
                               &log_det_u) == EMGMM_OK;
            if (ok)
                project_mean(mu, m->centre, u, kd, d, mp);
            break;
        }
        case EMGMM_COVARIANCE_TIED:
            log_det_u = log_det_tied;
            project_mean(mu, m->centre, m->prec, d, d, mp);
            break;
        case EMGMM_COVARIANCE_DIAG:
            for (size_t j = 0; j < d && ok; j++) {
                double v = m->covariances[c * d + j];
                ok = v > 0.0 && isfinite(v);
                double p = 1.0 / sqrt(v);
                m->prec[c * d + j] = p;
                mp[j] = (mu[j] - m->centre[j]) * p;
                log_det_u += log(p);
            }
            break;
        case EMGMM_COVARIANCE_SPHERICAL: {
            double v = m->covariances[c];
            ok = v > 0.0 && isfinite(v);
            double p = 1.0 / sqrt(v);
            m->prec[c] = p;
            for (size_t j = 0; j < d; j++)
                mp[j] = (mu[j] - m->centre[j]) * p;
            log_det_u = (double)d * log(p);
            break;
        }
        }
        if (!ok) {
            if (bad)
                *bad = (int)c;
            return EMGMM_ERR_SINGULAR;
        }
        m->log_norm[c] = (m->unweighted ? 0.0 : log(m->weights[c])) -
                         0.5 * (double)d * log_2pi + log_det_u;
    }
    return EMGMM_OK;
}

void emgmm__model_copy(emgmm_model *dst, const emgmm_model *src)
{
    const size_t k = src->k, d = src->d;
    memcpy(dst->weights, src->weights, k * sizeof(double));
    memcpy(dst->means, src->means, k * d * sizeof(double));
    const size_t cs = emgmm__cov_size(src->type, k, d);
    memcpy(dst->covariances, src->covariances, cs * sizeof(double));
    memcpy(dst->prec, src->prec, cs * sizeof(double));
    memcpy(dst->centre, src->centre, d * sizeof(double));
    memcpy(dst->mean_proj, src->mean_proj, k * d * sizeof(double));
    memcpy(dst->log_norm, src->log_norm, k * sizeof(double));
    dst->fit = src->fit;
}

/* Symmetric within 1e-10 relative, finite. */
int emgmm__check_distribution(const double *p, size_t k, double *total)
{
    double sum = 0.0;
    for (size_t c = 0; c < k; c++) {
        if (!isfinite(p[c]) || p[c] < 0.0)
            return EMGMM_ERR_INVALID;
        sum += p[c];
    }
    *total = sum;
    return fabs(sum - 1.0) <= 1e-6 ? EMGMM_OK : EMGMM_ERR_INVALID;
}

void emgmm__copy_distribution(const double *p, size_t k, double total,
                              double *out)
{
    /* Values that already sum to 1 up to the rounding of their sum are
     * kept bit for bit (so that save and load round-trip exactly); others
     * are renormalised. out may be p. */
    const int exact = fabs(total - 1.0) <= 4.0 * (double)k * DBL_EPSILON;
    for (size_t c = 0; c < k; c++)
        out[c] = exact ? p[c] : p[c] / total;
}

int emgmm__symmetric(const double *s, size_t d)
{
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j <= i; j++) {
            double a = s[i * d + j], b = s[j * d + i];
            if (!isfinite(a) || !isfinite(b) ||
                fabs(a - b) > 1e-10 * fmax(fabs(a), fabs(b)))
                return 0;
        }
    return 1;
}

/* Copies a matrix keeping its lower triangle (the one that is used),
 * mirrored so that the stored matrix is exactly symmetric. */
void emgmm__copy_lower(const double *s, size_t d, double *t)
{
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j <= i; j++)
            t[i * d + j] = t[j * d + i] = s[i * d + j];
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

    double total;
    if (emgmm__check_distribution(weights, k, &total) != EMGMM_OK)
        return EMGMM_ERR_INVALID;
    for (size_t i = 0; i < k * d; i++)
        if (!isfinite(means[i]))
            return EMGMM_ERR_INVALID;
    const size_t n_mats = type == EMGMM_COVARIANCE_FULL   ? k
                          : type == EMGMM_COVARIANCE_TIED ? 1
                                                          : 0;
    for (size_t c = 0; c < n_mats; c++)
        if (!emgmm__symmetric(covariances + c * d * d, d)) {
            if (bad_component)
                *bad_component = (int)c;
            return EMGMM_ERR_INVALID;
        }
    const size_t cs = emgmm__cov_size(type, k, d);
    for (size_t i = 0; i < cs; i++)
        if (!isfinite(covariances[i]))
            return EMGMM_ERR_INVALID;

    emgmm_model *m;
    int rc = emgmm__model_alloc(type, k, d, &m);
    if (rc != EMGMM_OK)
        return rc;
    double *scratch = emgmm__malloc(d * d, sizeof(double));
    if (!scratch) {
        emgmm_free(&m);
        return EMGMM_ERR_NOMEM;
    }
    emgmm__copy_distribution(weights, k, total, m->weights);
    memcpy(m->means, means, k * d * sizeof(double));
    if (n_mats > 0)
        for (size_t c = 0; c < n_mats; c++)
            emgmm__copy_lower(covariances + c * d * d, d,
                       m->covariances + c * d * d);
    else
        memcpy(m->covariances, covariances, cs * sizeof(double));
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
