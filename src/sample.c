/* Drawing from a model: a component by its weight, then mu + L z with
 * L L^T = Sigma (Cholesky; for diag and spherical L is the diagonal of
 * standard deviations) and z standard normal. */
#include "internal.h"
#include "rng.h"

#include <math.h>
#include <string.h>

int emgmm__sample_factors(const emgmm_model *m, double **chol)
{
    *chol = NULL;
    const size_t d = m->d;
    if (m->type != EMGMM_COVARIANCE_FULL && m->type != EMGMM_COVARIANCE_TIED)
        return EMGMM_OK; /* diagonal: the standard deviations suffice */
    const size_t n_mats = m->type == EMGMM_COVARIANCE_FULL ? m->k : 1;
    double *l = emgmm__malloc(n_mats * d, d * sizeof(double));
    if (!l)
        return EMGMM_ERR_NOMEM;
    memcpy(l, m->covariances, n_mats * d * d * sizeof(double));
    for (size_t c = 0; c < n_mats; c++)
        if (emgmm__cholesky_lower(l + c * d * d, d) != 0) {
            emgmm__free(l);
            return EMGMM_ERR_SINGULAR; /* not for a validated model */
        }
    *chol = l;
    return EMGMM_OK;
}

void emgmm__sample_component(const emgmm_model *m, const double *chol,
                             size_t c, struct emgmm_rng *rng, double *z,
                             double *x)
{
    const size_t d = m->d;
    for (size_t j = 0; j < d; j++)
        z[j] = emgmm__rng_normal(rng);
    const double *mu = m->means + c * d;
    switch (m->type) {
    case EMGMM_COVARIANCE_FULL:
    case EMGMM_COVARIANCE_TIED: {
        const double *l =
            chol + (m->type == EMGMM_COVARIANCE_FULL ? c * d * d : 0);
        for (size_t a = 0; a < d; a++) {
            double s = mu[a];
            for (size_t b = 0; b <= a; b++)
                s += l[a * d + b] * z[b];
            x[a] = s;
        }
        break;
    }
    case EMGMM_COVARIANCE_DIAG:
        for (size_t a = 0; a < d; a++)
            x[a] = mu[a] + sqrt(m->covariances[c * d + a]) * z[a];
        break;
    case EMGMM_COVARIANCE_SPHERICAL: {
        const double sd = sqrt(m->covariances[c]);
        for (size_t a = 0; a < d; a++)
            x[a] = mu[a] + sd * z[a];
        break;
    }
    }
}

size_t emgmm__sample_index(struct emgmm_rng *rng, const double *p, size_t k)
{
    /* The inverse of the cumulative sums; rounding past the end falls to
     * the last entry with mass. */
    const double u = emgmm__rng_uniform(rng);
    double acc = 0.0;
    for (size_t t = 0; t < k; t++) {
        acc += p[t];
        if (u < acc)
            return t;
    }
    size_t t = k - 1;
    while (t > 0 && p[t] == 0.0)
        t--;
    return t;
}

int emgmm_sample(const emgmm_model *m, size_t n, uint64_t seed, double *X,
                 int32_t *labels)
{
    if (!m || !X || n == 0)
        return EMGMM_ERR_INVALID;
    double *chol = NULL;
    double *z = emgmm__malloc(m->d, sizeof(double));
    int rc = z ? emgmm__sample_factors(m, &chol) : EMGMM_ERR_NOMEM;
    if (rc != EMGMM_OK) {
        emgmm__free(z);
        return rc;
    }
    emgmm_rng rng;
    emgmm__rng_seed(&rng, seed, UINT64_C(0x73616d706c65)); /* "sample" */
    for (size_t i = 0; i < n; i++) {
        const size_t c = emgmm__sample_index(&rng, m->weights, m->k);
        emgmm__sample_component(m, chol, c, &rng, z, X + i * m->d);
        if (labels)
            labels[i] = (int32_t)c;
    }
    emgmm__free(chol);
    emgmm__free(z);
    return EMGMM_OK;
}
