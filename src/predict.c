/* Using a fitted model: labels, posteriors, log-densities, scores. Each
 * call allocates its own workspace and only reads the model, so calls may
 * run concurrently on one model.
 *
 * Row blocks are those of the fit's E-step and are spread over OpenMP
 * threads in the same way, each thread calling a one-thread BLAS (the
 * BLAS is held to one thread during the call, then restored). Leaving the
 * threads to the BLAS instead parallelises only the projection: the
 * squared norms, exp and log stay on one thread, and a two-thread BLAS on
 * one block's gemm or trmm made predict slower, not faster (measured in
 * bench/RESULTS.md, section (c)). */
#include "internal.h"
#include "emgmm_config.h"

#include <math.h>
#include <string.h>
#if EMGMM_HAVE_OPENMP
#include <omp.h>
#endif

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

/* Threads for n rows: OpenMP's default (these calls have no thread
 * argument), one for problems too small to pay for a second thread (the
 * fit's rule) and one inside a caller's parallel region (the caller has
 * spread the work already; the BLAS setting is then left alone). */
static int threads_for(const emgmm_model *m, size_t n, size_t n_blocks)
{
    int t = emgmm__work_threads(0, n, m->k, m->d);
#if EMGMM_HAVE_OPENMP
    if (omp_in_parallel())
        t = 1;
#endif
    if ((size_t)t > n_blocks)
        t = (int)n_blocks;
    return t < 1 ? 1 : t;
}

void emgmm__predict_block(emgmm_want w, double *logp, size_t rows, size_t k,
                          void *out, size_t i0, double *block_ll)
{
    if (w == EMGMM_WANT_LABELS) {
        /* The argmax of the weighted log-density is the argmax of the
         * posterior: no normalisation needed. */
        int32_t *labels = (int32_t *)out + i0;
        for (size_t i = 0; i < rows; i++) {
            size_t best = 0;
            for (size_t c = 1; c < k; c++)
                if (logp[i * k + c] > logp[i * k + best])
                    best = c;
            labels[i] = (int32_t)best;
        }
    } else if (w == EMGMM_WANT_TOTAL) {
        *block_ll = emgmm__normalize_log_resp(logp, rows, k, NULL, NULL);
    } else {
        double *ln = w == EMGMM_WANT_LOGP ? (double *)out + i0 : NULL;
        emgmm__normalize_log_resp(logp, rows, k, NULL, ln);
    }
}

/* One pass over row blocks; writes what `w` asks for into out (for
 * EMGMM_WANT_TOTAL, out is one double: the sum of log p(x_i), added up by block
 * in block order, so the same bits for any thread count and the same sum
 * as the fit's E-step). */
static int evaluate(const emgmm_model *m, const double *X, size_t n,
                    size_t ldx, emgmm_want w, void *out)
{
    int rc = check(m, X, n, ldx, out);
    if (rc != EMGMM_OK)
        return rc;
    const size_t k = m->k, d = m->d;
    size_t br = emgmm__estep_block_rows(k, d);
    if (br > n)
        br = n;
    const size_t n_blocks = (n + br - 1) / br;
    const int threads = threads_for(m, n, n_blocks);
    const size_t t = (size_t)threads;
    double *proj = emgmm__malloc(t * br, (k * d + d) * sizeof(double));
    double *logp = w == EMGMM_WANT_PROBA
                       ? NULL
                       : emgmm__malloc(t * br, k * sizeof(double));
    double *block_ll =
        w == EMGMM_WANT_TOTAL ? emgmm__malloc(n_blocks, sizeof(double)) : NULL;
    if (!proj || (w != EMGMM_WANT_PROBA && !logp) ||
        (w == EMGMM_WANT_TOTAL && !block_ll)) {
        emgmm__free(proj);
        emgmm__free(logp);
        emgmm__free(block_ll);
        return EMGMM_ERR_NOMEM;
    }
    if (threads > 1)
        emgmm__blas_hold_one_thread();
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) \
    if (threads > 1)
#endif
    for (long b = 0; b < (long)n_blocks; b++) {
        size_t tid = 0;
#if EMGMM_HAVE_OPENMP
        tid = (size_t)omp_get_thread_num();
#endif
        const size_t i0 = (size_t)b * br;
        const size_t rows = n - i0 < br ? n - i0 : br;
        double *dst = w == EMGMM_WANT_PROBA ? (double *)out + i0 * k
                                      : logp + tid * br * k;
        double *pr = proj + tid * br * (k * d + d);
        if (w == EMGMM_WANT_LABELS) {
            emgmm__log_prob_block(m, X + i0 * ldx, rows, ldx, pr, dst);
            emgmm__predict_block(w, dst, rows, k, out, i0, NULL);
            continue;
        }
        /* As the fit's E-step computes them (the same bits). */
        const double ll = emgmm__estep_block(
            m, X + i0 * ldx, rows, ldx, pr, NULL, dst,
            w == EMGMM_WANT_LOGP ? (double *)out + i0 : NULL);
        if (block_ll)
            block_ll[b] = ll;
    }
    if (threads > 1)
        emgmm__blas_release_one_thread();
    if (w == EMGMM_WANT_TOTAL) {
        double total = 0.0;
        for (size_t b = 0; b < n_blocks; b++)
            total += block_ll[b];
        *(double *)out = total;
    }
    emgmm__free(proj);
    emgmm__free(logp);
    emgmm__free(block_ll);
    return EMGMM_OK;
}

int emgmm_predict(const emgmm_model *m, const double *X, size_t n,
                  size_t ldx, int32_t *labels)
{
    return evaluate(m, X, n, ldx, EMGMM_WANT_LABELS, labels);
}

int emgmm_predict_proba(const emgmm_model *m, const double *X, size_t n,
                        size_t ldx, double *proba)
{
    return evaluate(m, X, n, ldx, EMGMM_WANT_PROBA, proba);
}

int emgmm_score_samples(const emgmm_model *m, const double *X, size_t n,
                        size_t ldx, double *logp)
{
    return evaluate(m, X, n, ldx, EMGMM_WANT_LOGP, logp);
}

/* Total log-likelihood, without an n-sized output array: only one
 * block of log-densities per thread is kept. */
static int total_log_likelihood(const emgmm_model *m, const double *X,
                                size_t n, size_t ldx, double *total)
{
    return evaluate(m, X, n, ldx, EMGMM_WANT_TOTAL, total);
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
