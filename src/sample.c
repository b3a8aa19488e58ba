/* Drawing from a model: a component by its weight, then mu + L z with
 * L L^T = Sigma (Cholesky) and z standard normal. */
#include "internal.h"
#include "rng.h"

#include <string.h>

int emgmm_sample(const emgmm_model *m, size_t n, uint64_t seed, double *X,
                 int32_t *labels)
{
    if (!m || !X || n == 0)
        return EMGMM_ERR_INVALID;
    const size_t k = m->k, d = m->d;
    double *chol = emgmm__malloc(k * d, d * sizeof(double));
    double *z = emgmm__malloc(d, sizeof(double));
    if (!chol || !z) {
        emgmm__free(chol);
        emgmm__free(z);
        return EMGMM_ERR_NOMEM;
    }
    memcpy(chol, m->covariances, k * d * d * sizeof(double));
    for (size_t c = 0; c < k; c++)
        if (emgmm__cholesky_lower(chol + c * d * d, d) != 0) {
            /* Cannot happen for a model that passed validation. */
            emgmm__free(chol);
            emgmm__free(z);
            return EMGMM_ERR_SINGULAR;
        }

    emgmm_rng rng;
    emgmm__rng_seed(&rng, seed, UINT64_C(0x73616d706c65)); /* "sample" */
    for (size_t i = 0; i < n; i++) {
        double u = emgmm__rng_uniform(&rng), acc = 0.0;
        size_t c = k - 1;
        for (size_t t = 0; t < k; t++) {
            acc += m->weights[t];
            if (u < acc) {
                c = t;
                break;
            }
        }
        for (size_t j = 0; j < d; j++)
            z[j] = emgmm__rng_normal(&rng);
        const double *l = chol + c * d * d;
        for (size_t a = 0; a < d; a++) {
            double s = m->means[c * d + a];
            for (size_t b = 0; b <= a; b++)
                s += l[a * d + b] * z[b];
            X[i * d + a] = s;
        }
        if (labels)
            labels[i] = (int32_t)c;
    }
    emgmm__free(chol);
    emgmm__free(z);
    return EMGMM_OK;
}
