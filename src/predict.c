/* Using a fitted model: labels, posteriors, log-densities, scores. Each
 * call allocates its own workspace and only reads the model, so calls may
 * run concurrently on one model. */
#include "internal.h"

#include <math.h>
#include <string.h>

typedef enum { WANT_LABELS, WANT_PROBA, WANT_LOGP } want;

static int check(const emgmm_model *m, const double *X, size_t n, size_t ldx,
                 const void *out)
{
    if (!m || !X || !out || n == 0 || ldx < m->d)
        return EMGMM_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m->d; j++)
            if (!isfinite(X[i * ldx + j]))
                return EMGMM_ERR_NONFINITE;
    return EMGMM_OK;
}

/* One pass over row blocks; writes what `w` asks for into out. */
static int evaluate(const emgmm_model *m, const double *X, size_t n,
                    size_t ldx, want w, void *out)
{
    int rc = check(m, X, n, ldx, out);
    if (rc != EMGMM_OK)
        return rc;
    const size_t k = m->k, d = m->d;
    size_t br = emgmm__estep_block_rows(k, d);
    if (br > n)
        br = n;
    double *proj = emgmm__malloc(br, (k * d + d) * sizeof(double));
    double *logp = emgmm__malloc(br, k * sizeof(double));
    double *lognorm = emgmm__malloc(br, sizeof(double));
    if (!proj || !logp || !lognorm) {
        emgmm__free(proj);
        emgmm__free(logp);
        emgmm__free(lognorm);
        return EMGMM_ERR_NOMEM;
    }
    for (size_t i0 = 0; i0 < n; i0 += br) {
        size_t rows = n - i0 < br ? n - i0 : br;
        double *dst = w == WANT_PROBA ? (double *)out + i0 * k : logp;
        emgmm__log_prob_block(m, X + i0 * ldx, rows, ldx, proj, dst);
        if (w == WANT_LABELS) {
            /* The argmax of the weighted log-density is the argmax of the
             * posterior: no normalisation needed. */
            int32_t *labels = (int32_t *)out + i0;
            for (size_t i = 0; i < rows; i++) {
                size_t best = 0;
                for (size_t c = 1; c < k; c++)
                    if (dst[i * k + c] > dst[i * k + best])
                        best = c;
                labels[i] = (int32_t)best;
            }
        } else {
            double *ln = w == WANT_LOGP ? (double *)out + i0 : lognorm;
            emgmm__normalize_log_resp(dst, rows, k, NULL, ln);
        }
    }
    emgmm__free(proj);
    emgmm__free(logp);
    emgmm__free(lognorm);
    return EMGMM_OK;
}

int emgmm_predict(const emgmm_model *m, const double *X, size_t n,
                  size_t ldx, int32_t *labels)
{
    return evaluate(m, X, n, ldx, WANT_LABELS, labels);
}

int emgmm_predict_proba(const emgmm_model *m, const double *X, size_t n,
                        size_t ldx, double *proba)
{
    return evaluate(m, X, n, ldx, WANT_PROBA, proba);
}

int emgmm_score_samples(const emgmm_model *m, const double *X, size_t n,
                        size_t ldx, double *logp)
{
    return evaluate(m, X, n, ldx, WANT_LOGP, logp);
}

/* Total log-likelihood, without an n-sized output array: blocks of rows
 * are scored into a small buffer. */
static int total_log_likelihood(const emgmm_model *m, const double *X,
                                size_t n, size_t ldx, double *total)
{
    enum { CHUNK = 4096 };
    double *buf = emgmm__malloc(n < CHUNK ? n : CHUNK, sizeof(double));
    if (!buf)
        return EMGMM_ERR_NOMEM;
    double sum = 0.0;
    int rc = EMGMM_OK;
    for (size_t i0 = 0; i0 < n && rc == EMGMM_OK; i0 += CHUNK) {
        size_t rows = n - i0 < CHUNK ? n - i0 : CHUNK;
        rc = evaluate(m, X + i0 * ldx, rows, ldx, WANT_LOGP, buf);
        for (size_t i = 0; rc == EMGMM_OK && i < rows; i++)
            sum += buf[i];
    }
    emgmm__free(buf);
    *total = sum;
    return rc;
}

int emgmm_score(const emgmm_model *m, const double *X, size_t n, size_t ldx,
                double *mean_log_likelihood)
{
    if (!mean_log_likelihood)
        return EMGMM_ERR_INVALID;
    double total;
    int rc = total_log_likelihood(m, X, n, ldx, &total);
    if (rc == EMGMM_OK)
        *mean_log_likelihood = total / (double)n;
    return rc;
}

int emgmm_bic(const emgmm_model *m, const double *X, size_t n, size_t ldx,
              double *bic)
{
    if (!bic)
        return EMGMM_ERR_INVALID;
    double total;
    int rc = total_log_likelihood(m, X, n, ldx, &total);
    if (rc == EMGMM_OK)
        *bic = -2.0 * total +
               (double)emgmm_n_parameters(m) * log((double)n);
    return rc;
}

int emgmm_aic(const emgmm_model *m, const double *X, size_t n, size_t ldx,
              double *aic)
{
    if (!aic)
        return EMGMM_ERR_INVALID;
    double total;
    int rc = total_log_likelihood(m, X, n, ldx, &total);
    if (rc == EMGMM_OK)
        *aic = -2.0 * total + 2.0 * (double)emgmm_n_parameters(m);
    return rc;
}
