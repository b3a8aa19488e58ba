/* Drawing from a model: a component by its weight, then mu + L z with
 * L L^T = Sigma (Cholesky; for diag and spherical L is the diagonal of
 * standard deviations) and z standard normal. */
#include "internal.h"
#include "rng.h"

#include <math.h>
#include <string.h>

/* The Cholesky factor L (lower, d x d) with L L^T = Sigma of each matrix
 * the model has (k for full, 1 for tied), into chol. */
static int factor_covariances(const emgmm_model *m, double *chol)
{
    const size_t d = m->d;
    const size_t n_mats = m->type == EMGMM_COVARIANCE_FULL ? m->k : 1;
    memcpy(chol, m->covariances, n_mats * d * d * sizeof(double));
    for (size_t c = 0; c < n_mats; c++)
        if (emgmm__cholesky_lower(chol + c * d * d, d) != 0)
            return EMGMM_ERR_SINGULAR; /* not for a validated model */
    return EMGMM_OK;
}

int emgmm_sample(const emgmm_model *m, size_t n, uint64_t seed, double *X,
                 int32_t *labels)
{
    if (!m || !X || n == 0)
        return EMGMM_ERR_INVALID;
    const size_t k = m->k, d = m->d;
    const int matrices = m->type == EMGMM_COVARIANCE_FULL ||
                         m->type == EMGMM_COVARIANCE_TIED;
    double *chol = matrices ? emgmm__malloc(
                                  m->type == EMGMM_COVARIANCE_FULL ? k * d : d,
                                  d * sizeof(double))
                            : NULL;
    double *z = emgmm__malloc(d, sizeof(double));
    int rc = (matrices && !chol) || !z ? EMGMM_ERR_NOMEM : EMGMM_OK;
    if (rc == EMGMM_OK && matrices)
        rc = factor_covariances(m, chol);
    if (rc != EMGMM_OK) {
        emgmm__free(chol);
        emgmm__free(z);
        return rc;
    }

    emgmm_rng rng;
    emgmm__rng_seed(&rng, seed, UINT64_C(0x73616d706c65)); /* "sample" */
    for (size_t i = 0; i < n; i++) {
        /* A component by its weight (inverse of the cumulative weights);
         * rounding past the end falls to the last component with weight. */
        double u = emgmm__rng_uniform(&rng), acc = 0.0;
        size_t c = k;
        for (size_t t = 0; t < k; t++) {
            acc += m->weights[t];
            if (u < acc) {
                c = t;
                break;
            }
        }
        if (c == k)
            for (c = k - 1; c > 0 && m->weights[c] == 0.0; c--)
                ;
        for (size_t j = 0; j < d; j++)
            z[j] = emgmm__rng_normal(&rng);
        const double *mu = m->means + c * d;
        double *x = X + i * d;
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
        if (labels)
            labels[i] = (int32_t)c;
    }
    emgmm__free(chol);
    emgmm__free(z);
    return EMGMM_OK;
}
