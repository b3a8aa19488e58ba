/*
 * The HMM's E-step: emission log-densities by the mixture's row-block
 * kernels, then the scaled forward-backward recursions (Rabiner 1989,
 * section V.A) per sequence, and Viterbi decoding in log space.
 *
 * Why it cannot underflow. Each row's log-densities are shifted by their
 * largest value s_t before exponentiation, B_t(j) = exp(log p(x_t|j) - s_t),
 * so that the largest entry of a row is exactly 1 (one exp per cell, done
 * once and kept for both passes). The forward variables are normalised at
 * every step, alpha_t = (alpha_{t-1} A) .* B_t / c_t, so they stay in
 * [0, 1] and sum to 1; log p(x) = sum_t (log c_t + s_t), the logs taken of
 * runs of products of the c_t (see forward_k). The backward
 * variables use the same c_t, beta_t = A (B_{t+1} .* beta_{t+1}) / c_{t+1},
 * so alpha_t .* beta_t is the posterior itself. The one way c_t can still
 * come out tiny is when every state reachable from alpha_{t-1} has a
 * density far below the row's best (unreachable) state: then the row is
 * recomputed with the shift max_j (log p(x_t|j) + log (alpha_{t-1} A)_j),
 * which makes the largest term of c_t exactly 1 (see rescue_row).
 *
 * Sums over sequences are made per chunk of CHUNK_SEQS sequences, in
 * order, and the chunks added in order: the same bits for any thread
 * count.
 */
#include "internal.h"
#include "emgmm_config.h"
#include "vexp.h"

#include <float.h>
#include <math.h>
#include <string.h>

enum { CHUNK_SEQS = 16 };
/* Vectors of k doubles per thread: the forward pass's 2 (prediction,
 * log-densities of a rescued row), then the backward pass's 3. */
enum { VEC_PER_THREAD = 5 };

/* Below this a forward normaliser has lost digits to underflow. */
static const double RESCUE_BELOW = 1e-280;

static size_t stats_size(size_t k) { return 1 + k + k * k; }

int emgmm__hmm_work_alloc(emgmm_hmm_work *w, size_t k, size_t n_mix,
                          size_t d, size_t n, const size_t *first,
                          size_t n_seq, int n_threads, int keep_mix)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    w->k = k;
    w->d = d;
    w->n_seq = n_seq;
    w->first = first;
    w->n_mix = n_mix ? n_mix : 1;
    w->n_chunks = (n_seq + CHUNK_SEQS - 1) / CHUNK_SEQS;
    /* The mixture's workspace serves the per-state mixtures too. */
    int rc = emgmm__workspace_alloc(&w->ws, n, k > w->n_mix ? k : w->n_mix,
                                    d, n_threads);
    if (rc != EMGMM_OK)
        return rc;
    const size_t t = (size_t)w->ws.n_threads;
    w->frame = emgmm__malloc(n, k * sizeof(double));
    w->shift = emgmm__malloc(n, sizeof(double));
    w->post = emgmm__malloc(n, k * sizeof(double));
    w->scale = emgmm__malloc(n, sizeof(double));
    w->chunk_sums = emgmm__malloc(w->n_chunks, stats_size(k) * sizeof(double));
    w->vec = emgmm__malloc(t, VEC_PER_THREAD * k * sizeof(double));
    w->trans_t = emgmm__malloc(k, k * sizeof(double));
    int ok = w->frame && w->shift && w->post && w->scale && w->chunk_sums &&
             w->vec && w->trans_t;
    if (ok && n_mix > 0) {
        w->mix_rows = emgmm__malloc(t * w->ws.block_rows,
                                    (n_mix + 1) * sizeof(double));
        ok = w->mix_rows != NULL;
    }
    if (ok && n_mix > 0 && keep_mix) {
        w->mix_post = emgmm__malloc(n * k, n_mix * sizeof(double));
        ok = w->mix_post != NULL;
    }
    if (!ok) {
        emgmm__hmm_work_free(w);
        return EMGMM_ERR_NOMEM;
    }
    return EMGMM_OK;
}

void emgmm__hmm_work_free(emgmm_hmm_work *w)
{
    emgmm__workspace_free(&w->ws);
    emgmm__free(w->frame);
    emgmm__free(w->shift);
    emgmm__free(w->post);
    emgmm__free(w->scale);
    emgmm__free(w->chunk_sums);
    emgmm__free(w->vec);
    emgmm__free(w->trans_t);
    emgmm__free(w->mix_rows);
    emgmm__free(w->mix_post);
    emgmm__free(w->filled);
    emgmm__free(w->log_frame);
    emgmm__gaps_free(&w->gaps);
    w->frame = w->shift = w->post = w->scale = w->chunk_sums = w->vec = NULL;
    w->trans_t = NULL;
    w->mix_rows = w->mix_post = w->filled = w->log_frame = NULL;
    w->has_gaps = 0;
}

int emgmm__hmm_work_gaps(emgmm_hmm_work *w, const double *X, size_t ldx,
                         emgmm_covariance_type type)
{
    const size_t n = w->n, d = w->d;
    int any = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            if (isinf(X[i * ldx + j]))
                return EMGMM_ERR_NONFINITE;
            any |= isnan(X[i * ldx + j]) != 0;
        }
    /* Whether any process has gaps, and each column's observed count and
     * sum over all of them (a column may be empty on one process). */
    double *col = emgmm__calloc(2 * d + 1, sizeof(double));
    if (!col)
        return EMGMM_ERR_NOMEM;
    col[2 * d] = any;
    for (size_t i = 0; any && i < n; i++)
        for (size_t j = 0; j < d; j++)
            if (!isnan(X[i * ldx + j])) {
                col[j] += 1.0;
                col[d + j] += X[i * ldx + j];
            }
    int rc = emgmm__allreduce(&w->ws, col, 2 * d + 1);
    for (size_t j = 0; rc == EMGMM_OK && col[2 * d] != 0.0 && j < d; j++)
        if (col[j] == 0.0)
            rc = EMGMM_ERR_INVALID;
    if (rc != EMGMM_OK || col[2 * d] == 0.0) {
        emgmm__free(col);
        return rc; /* no gap anywhere: the ordinary computation */
    }
    w->filled = emgmm__malloc(n, d * sizeof(double));
    w->log_frame = emgmm__malloc(n, w->k * sizeof(double));
    rc = w->filled && w->log_frame ? EMGMM_OK : EMGMM_ERR_NOMEM;
    for (size_t i = 0; rc == EMGMM_OK && i < n; i++)
        for (size_t j = 0; j < d; j++) {
            const double x = X[i * ldx + j];
            w->filled[i * d + j] = isnan(x) ? col[d + j] / col[j] : x;
        }
    emgmm__free(col);
    if (rc == EMGMM_OK)
        rc = emgmm__gaps_build(&w->gaps, X, n, d, ldx, w->k, type,
                               w->ws.n_threads);
    if (rc == EMGMM_OK)
        w->has_gaps = 1;
    return rc;
}

/* Log-densities of `rows` rows under every state into out (rows x k).
 * Gaussian emissions: the mixture's kernel with one (unweighted)
 * component per state. GMM emissions: each state's mixture through the
 * same kernel, then the mixture's log-sum-exp over its components; with
 * mix_post, their posteriors given the state go there (rows x k x M).
 * proj, mix_rows: this thread's slices of the workspace. */
static void block_emissions(const emgmm_hmm *m, const double *X, size_t rows,
                            size_t ldx, double *proj, double *mix_rows,
                            double *out, double *mix_post)
{
    if (!m->mix) {
        emgmm__log_prob_block(m->emis, X, rows, ldx, proj, out);
        return;
    }
    const size_t k = m->k, mm = m->n_mix;
    double *lse = mix_rows + rows * mm;
    for (size_t s = 0; s < k; s++) {
        emgmm__log_prob_block(m->mix[s], X, rows, ldx, proj, mix_rows);
        emgmm__normalize_log_resp(mix_rows, rows, mm, NULL, lse);
        for (size_t i = 0; i < rows; i++) {
            out[i * k + s] = lse[i];
            if (mix_post)
                memcpy(mix_post + (i * k + s) * mm, mix_rows + i * mm,
                       mm * sizeof(double));
        }
    }
}

/* This thread's slices of the workspace. */
static double *thread_proj(const emgmm_hmm_work *w)
{
    const size_t kk = w->k > w->n_mix ? w->k : w->n_mix;
    return w->ws.proj +
           (size_t)emgmm__thread_id() * w->ws.block_rows * (kk * w->d + w->d);
}

static double *thread_mix_rows(const emgmm_hmm_work *w)
{
    return w->mix_rows ? w->mix_rows + (size_t)emgmm__thread_id() *
                                           w->ws.block_rows * (w->n_mix + 1)
                       : NULL;
}

/* exp(log p - shift) of every row of w->frame, shift its largest
 * entry; from w->log_frame (when it is set) into w->frame. The shifted
 * values of the whole block are laid down first, then exponentiated in
 * one call of the array exp (vexp.h: SLEEF's vector exp where the CPU
 * has it, else libm), whose result for each entry depends on its value
 * alone, so the bits do not depend on the block boundaries or the thread
 * count. */
static void scale_rows(emgmm_hmm_work *w, size_t i0, size_t rows,
                       const double *from)
{
    const size_t k = w->k;
    for (size_t i = i0; i < i0 + rows; i++) {
        const double *r = from + i * k;
        double *b = w->frame + i * k;
        double s = r[0];
        for (size_t j = 1; j < k; j++)
            s = r[j] > s ? r[j] : s;
        for (size_t j = 0; j < k; j++)
            b[j] = r[j] - s;
        w->shift[i] = s;
    }
    emgmm__vexp(w->frame + i0 * k, rows * k);
}

/* Emission log-densities of every row (threaded over row blocks); with
 * `scaled`, each row then becomes exp(log p - shift) with shift its
 * largest entry, while the block is still in cache. With gaps, the
 * marginal densities of the observed coordinates (missing.c), kept in
 * w->log_frame. */
static int emissions(const emgmm_hmm *m, const double *X, size_t ldx,
                     emgmm_hmm_work *w, int scaled)
{
    const size_t k = m->k, n = w->n, br = w->ws.block_rows;
    const long n_blocks = (long)w->ws.n_blocks;
    if (w->has_gaps) {
        int rc = emgmm__log_prob_gaps(m->emis, w->filled, w->d, &w->ws,
                                      &w->gaps, w->log_frame);
        if (rc != EMGMM_OK)
            return rc;
        if (!scaled) {
            memcpy(w->frame, w->log_frame, n * k * sizeof(double));
            return EMGMM_OK;
        }
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(w->ws.n_threads) \
    if (w->ws.n_threads > 1)
#endif
        for (long b = 0; b < n_blocks; b++) {
            const size_t i0 = (size_t)b * br;
            scale_rows(w, i0, n - i0 < br ? n - i0 : br, w->log_frame);
        }
        return EMGMM_OK;
    }
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(w->ws.n_threads) \
    if (w->ws.n_threads > 1)
#endif
    for (long b = 0; b < n_blocks; b++) {
        const size_t i0 = (size_t)b * br;
        const size_t rows = n - i0 < br ? n - i0 : br;
        double *f = w->frame + i0 * k;
        block_emissions(m, X + i0 * ldx, rows, ldx, thread_proj(w),
                        thread_mix_rows(w), f,
                        w->mix_post ? w->mix_post + i0 * k * w->n_mix
                                    : NULL);
        if (scaled)
            scale_rows(w, i0, rows, w->frame);
    }
    return EMGMM_OK;
}

int emgmm__hmm_log_emissions(const emgmm_hmm *m, const double *X,
                             size_t ldx, emgmm_hmm_work *w)
{
    return emissions(m, X, ldx, w, 0);
}

/* Row t again, when its normaliser underflowed: log-densities recomputed,
 * shift s = max over reachable j of log p(x_t|j) + log pred_j, so that
 * the largest term of c_t = sum_j pred_j B_t(j) is exactly 1. States that
 * pred cannot reach get B = 0: their alpha is 0 whatever B is, and no
 * posterior or transition count depends on their beta. Returns c_t. */
static double rescue_row(const emgmm_hmm *m, const double *x,
                         emgmm_hmm_work *w, size_t t, const double *pred,
                         double *logp)
{
    const size_t k = m->k;
    if (w->has_gaps)
        memcpy(logp, w->log_frame + t * k, k * sizeof(double));
    else
        block_emissions(m, x, 1, m->d, thread_proj(w), thread_mix_rows(w),
                        logp, NULL);
    double s = -INFINITY;
    for (size_t j = 0; j < k; j++)
        if (pred[j] > 0.0 && logp[j] + log(pred[j]) > s)
            s = logp[j] + log(pred[j]);
    double *b = w->frame + t * k, c = 0.0;
    /* Zero density under every reachable state (s = -inf; for data far
     * beyond the model's scale the densities underflow): the row tells
     * nothing, alpha keeps the prediction, and the log-likelihood is
     * -inf (as the mixture's E-step spreads such a row evenly), instead
     * of NaN from -inf - -inf. */
    const int none = s == -INFINITY;
    for (size_t j = 0; j < k; j++) {
        b[j] = pred[j] > 0.0 ? (none ? 1.0 : exp(logp[j] - s)) : 0.0;
        c += pred[j] * b[j];
    }
    w->shift[t] = s;
    return c;
}

/* Forward pass over rows [a, b): scaled alpha into w->post, normalisers
 * into w->scale; returns the sequence's log-likelihood. vec: 2k doubles. */
static inline __attribute__((always_inline)) double
forward_k(const emgmm_hmm *m, const double *X, size_t ldx, emgmm_hmm_work *w,
          size_t a, size_t b, double *vec, const size_t k)
{
    const double *A = m->transmat;
    double *pred = vec, *logp = vec + k;
    double prod = 1.0, log_prod = 0.0, shifts = 0.0;
    for (size_t t = a; t < b; t++) {
        double *al = w->post + t * k;
        if (t == a) {
            memcpy(pred, m->startprob, k * sizeof(double));
        } else {
            /* pred = alpha_{t-1} A, row by row of A (contiguous). */
            const double *prev = w->post + (t - 1) * k;
            memset(pred, 0, k * sizeof(double));
            for (size_t i = 0; i < k; i++) {
                const double ai = prev[i];
                if (ai == 0.0)
                    continue;
                const double *row = A + i * k;
                for (size_t j = 0; j < k; j++)
                    pred[j] += ai * row[j];
            }
        }
        const double *B = w->frame + t * k;
        double c = 0.0;
        for (size_t j = 0; j < k; j++)
            c += pred[j] * B[j];
        if (!(c >= RESCUE_BELOW)) {
            c = rescue_row(m, X + t * ldx, w, t, pred, logp);
            B = w->frame + t * k;
        }
        const double inv = 1.0 / c;
        for (size_t j = 0; j < k; j++)
            al[j] = pred[j] * B[j] * inv;
        w->scale[t] = c;
        /* log prod c_t, one log per run of normalisers rather than per
         * row: c_t lies in [RESCUE_BELOW, 1] (pred sums to 1, B <= 1; a
         * rescued step's c_t is in [1, k]), so a product kept within
         * [1e-20, 1e20] times the next one cannot underflow or
         * overflow. */
        prod *= c;
        if (prod < 1e-20 || prod > 1e20) {
            log_prod += log(prod);
            prod = 1.0;
        }
        shifts += w->shift[t];
    }
    return log_prod + log(prod) + shifts;
}

/* Backward pass over rows [a, b) after forward(): w->post becomes the
 * state posteriors; xi (k x k) accumulates sum_t alpha_t(i) W_{t+1}(j)
 * with W_{t+1} = B_{t+1} .* beta_{t+1} / c_{t+1} (times A_ij later, once
 * for all sequences). beta_t = A W_{t+1} is summed over j in order, as a
 * dot product would be, but one column of A at a time (rows of w->trans_t,
 * A transposed), so that the inner loops run over contiguous states and
 * vectorise. vec: 3k doubles. */
static inline __attribute__((always_inline)) void
backward_k(emgmm_hmm_work *w, size_t a, size_t b, double *vec, double *xi,
           const size_t k)
{
    const double *at = w->trans_t;
    double *beta = vec, *wv = vec + k, *next = vec + 2 * k;
    for (size_t j = 0; j < k; j++)
        beta[j] = 1.0;
    for (size_t t = b - 1; t-- > a;) {
        const double *B1 = w->frame + (t + 1) * k;
        const double inv = 1.0 / w->scale[t + 1];
        for (size_t j = 0; j < k; j++)
            wv[j] = B1[j] * beta[j] * inv;
        for (size_t i = 0; i < k; i++)
            next[i] = 0.0;
        for (size_t j = 0; j < k; j++) {
            const double wj = wv[j], *col = at + j * k;
            for (size_t i = 0; i < k; i++)
                next[i] += col[i] * wj;
        }
        double *al = w->post + t * k;
        for (size_t i = 0; i < k; i++) {
            const double ai = al[i];
            double *xr = xi + i * k;
            for (size_t j = 0; j < k; j++)
                xr[j] += ai * wv[j];
        }
        double g = 0.0;
        for (size_t i = 0; i < k; i++)
            g += al[i] *= next[i];
        /* alpha_t .* beta_t sums to 1 up to rounding: normalise it so. */
        const double ig = 1.0 / g;
        for (size_t i = 0; i < k; i++)
            al[i] *= ig;
        double *swap = beta;
        beta = next;
        next = swap;
    }
}

/* forward_k and backward_k compiled for each k up to SMALL_K, with their
 * vectors on the stack: the loops over states then unroll completely and
 * stay in registers (measured: the recursions cost a third of a D=16
 * diagonal iteration at K=8 otherwise). Larger k take the general code
 * with the per-thread vectors. The arithmetic is the same either way. */
enum { SMALL_K = 16 };
#define SMALL_K_CASES(X)                                                   \
    X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)   \
    X(14) X(15) X(16)

static double forward(const emgmm_hmm *m, const double *X, size_t ldx,
                      emgmm_hmm_work *w, size_t a, size_t b, double *vec)
{
    double local[2 * SMALL_K];
    switch (m->k) {
#define FORWARD_CASE(K)                                                    \
    case K: return forward_k(m, X, ldx, w, a, b, local, K);
        SMALL_K_CASES(FORWARD_CASE)
#undef FORWARD_CASE
    default: return forward_k(m, X, ldx, w, a, b, vec, m->k);
    }
}

static void backward(const emgmm_hmm *m, emgmm_hmm_work *w, size_t a,
                     size_t b, double *vec, double *xi)
{
    double local[3 * SMALL_K];
    switch (m->k) {
#define BACKWARD_CASE(K)                                                   \
    case K: backward_k(w, a, b, local, xi, K); return;
        SMALL_K_CASES(BACKWARD_CASE)
#undef BACKWARD_CASE
    default: backward_k(w, a, b, vec, xi, m->k); return;
    }
}

int emgmm__hmm_estep(const emgmm_hmm *m, const double *X, size_t ldx,
                     emgmm_hmm_work *w, int posteriors, double *sums)
{
    const size_t k = m->k, S = stats_size(k);
    int rc = emissions(m, X, ldx, w, 1);
    if (rc != EMGMM_OK)
        return rc;
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < k; j++)
            w->trans_t[j * k + i] = m->transmat[i * k + j];
    const long n_chunks = (long)w->n_chunks;
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(w->ws.n_threads) \
    if (w->ws.n_threads > 1 && n_chunks > 1)
#endif
    for (long ch = 0; ch < n_chunks; ch++) {
        double *vec = w->vec + (size_t)emgmm__thread_id() * VEC_PER_THREAD * k;
        double *cs = w->chunk_sums + (size_t)ch * S;
        memset(cs, 0, S * sizeof(double));
        const size_t q1 = (size_t)(ch + 1) * CHUNK_SEQS < w->n_seq
                              ? (size_t)(ch + 1) * CHUNK_SEQS
                              : w->n_seq;
        for (size_t q = (size_t)ch * CHUNK_SEQS; q < q1; q++) {
            const size_t a = w->first[q], b = w->first[q + 1];
            cs[0] += forward(m, X, ldx, w, a, b, vec);
            if (!posteriors)
                continue;
            backward(m, w, a, b, vec + 2 * k, cs + 1 + k);
            for (size_t j = 0; j < k; j++)
                cs[1 + j] += w->post[a * k + j];
        }
    }
    memset(sums, 0, S * sizeof(double));
    for (long ch = 0; ch < n_chunks; ch++)
        for (size_t i = 0; i < S; i++)
            sums[i] += w->chunk_sums[(size_t)ch * S + i];
    /* xi_ij = A_ij sum_t alpha_t(i) W_{t+1}(j). */
    for (size_t i = 0; i < k * k; i++)
        sums[1 + k + i] *= m->transmat[i];
    return emgmm__allreduce(&w->ws, sums, posteriors ? S : 1);
}

/* ---- using a model ------------------------------------------------- */

static int check_data(const emgmm_hmm *m, const double *X, size_t n,
                      size_t ldx, int missing)
{
    if (!m || !X || n == 0 || ldx < m->d)
        return EMGMM_ERR_INVALID;
    if (missing && m->mix)
        return EMGMM_ERR_UNSUPPORTED; /* GMM emissions with gaps: not yet */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m->d; j++) {
            const double x = X[i * ldx + j];
            if (isinf(x) || (isnan(x) && !missing))
                return EMGMM_ERR_NONFINITE;
        }
    return EMGMM_OK;
}

typedef enum { DO_SCORE, DO_PROBA, DO_DECODE } hmm_task;

static double viterbi(const emgmm_hmm *m, const emgmm_hmm_work *w,
                      size_t a, size_t b, const double *log_a,
                      int32_t *back, double *vec, int32_t *states);

static int evaluate(const emgmm_hmm *m, const double *X, size_t n,
                    size_t ldx, const size_t *lengths, size_t n_seq,
                    int missing, hmm_task task, double *out, int32_t *states)
{
    int rc = check_data(m, X, n, ldx, missing);
    if (rc != EMGMM_OK)
        return rc;
    size_t *first = NULL;
    if ((rc = emgmm__hmm_bounds(lengths, n_seq, n, &first)) != EMGMM_OK)
        return rc;
    if (!lengths)
        n_seq = 1;
    const size_t k = m->k;
    const int threads = emgmm__work_threads(0, n, k, m->d);
    /* Counted, so that calls overlapping on several threads restore the
     * BLAS setting once, when the last one ends. */
    if (EMGMM_HAVE_OPENMP && threads > 1)
        emgmm__blas_hold_one_thread();
    emgmm_hmm_work w;
    double *sums = emgmm__malloc(stats_size(k), sizeof(double));
    double *log_a = task == DO_DECODE ? emgmm__malloc(k + 1, k * sizeof(double))
                                      : NULL;
    int32_t *back = task == DO_DECODE ? emgmm__malloc(n, k * sizeof(int32_t))
                                      : NULL;
    rc = emgmm__hmm_work_alloc(&w, k, m->mix ? m->n_mix : 0, m->d, n, first,
                               n_seq, threads, 0);
    if (rc == EMGMM_OK &&
        (!sums || (task == DO_DECODE && (!log_a || !back))))
        rc = EMGMM_ERR_NOMEM;
    if (rc == EMGMM_OK && missing)
        rc = emgmm__hmm_work_gaps(&w, X, ldx, m->type);
    if (rc == EMGMM_OK && task != DO_DECODE) {
        rc = emgmm__hmm_estep(m, X, ldx, &w, task == DO_PROBA, sums);
        if (task == DO_SCORE)
            *out = sums[0];
        else
            memcpy(out, w.post, n * k * sizeof(double));
    } else if (rc == EMGMM_OK) {
        /* log A (k x k), then log pi in the last row. */
        for (size_t i = 0; i < k * k; i++)
            log_a[i] = log(m->transmat[i]);
        for (size_t j = 0; j < k; j++)
            log_a[k * k + j] = log(m->startprob[j]);
        rc = emgmm__hmm_log_emissions(m, X, ldx, &w);
    }
    if (rc == EMGMM_OK && task == DO_DECODE) {
        double *seq_lp = w.scale; /* n >= n_seq: free room */
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) \
    if (threads > 1 && n_seq > 1)
#endif
        for (long q = 0; q < (long)n_seq; q++)
            seq_lp[q] = viterbi(m, &w, first[q], first[q + 1], log_a, back,
                                w.vec + (size_t)emgmm__thread_id() * VEC_PER_THREAD * k,
                                states);
        double total = 0.0;
        for (size_t q = 0; q < n_seq; q++)
            total += seq_lp[q];
        if (out)
            *out = total;
    }
    emgmm__hmm_work_free(&w); /* (idempotent: also after a failed alloc) */
    emgmm__free(sums);
    emgmm__free(log_a);
    emgmm__free(back);
    emgmm__free(first);
    if (EMGMM_HAVE_OPENMP && threads > 1)
        emgmm__blas_release_one_thread();
    return rc;
}

/* Viterbi over rows [a, b) on the log-densities in w->frame:
 * delta_t(j) = max_i (delta_{t-1}(i) + log A_ij) + log p(x_t|j), in log
 * space, so no scaling is needed; ties go to the lowest state (numpy's
 * argmax, as hmmlearn). Writes the path into states[a..b) and returns its
 * log-probability. vec: 2k doubles; back: n x k. */
static double viterbi(const emgmm_hmm *m, const emgmm_hmm_work *w,
                      size_t a, size_t b, const double *log_a,
                      int32_t *back, double *vec, int32_t *states)
{
    const size_t k = m->k;
    double *delta = vec, *next = vec + k;
    const double *L = w->frame;
    for (size_t j = 0; j < k; j++)
        delta[j] = log_a[k * k + j] + L[a * k + j];
    for (size_t t = a + 1; t < b; t++) {
        for (size_t j = 0; j < k; j++) {
            size_t best = 0;
            double v = delta[0] + log_a[j];
            for (size_t i = 1; i < k; i++) {
                const double u = delta[i] + log_a[i * k + j];
                if (u > v) {
                    v = u;
                    best = i;
                }
            }
            next[j] = v + L[t * k + j];
            back[t * k + j] = (int32_t)best;
        }
        memcpy(delta, next, k * sizeof(double));
    }
    size_t s = 0;
    for (size_t j = 1; j < k; j++)
        if (delta[j] > delta[s])
            s = j;
    const double lp = delta[s];
    states[b - 1] = (int32_t)s;
    for (size_t t = b - 1; t > a; t--) {
        s = (size_t)back[t * k + s];
        states[t - 1] = (int32_t)s;
    }
    return lp;
}

int emgmm_hmm_score(const emgmm_hmm *m, const double *X, size_t n,
                    size_t ldx, const size_t *lengths, size_t n_seq,
                    double *log_likelihood)
{
    if (!log_likelihood)
        return EMGMM_ERR_INVALID;
    return evaluate(m, X, n, ldx, lengths, n_seq, 0, DO_SCORE,
                    log_likelihood, NULL);
}

int emgmm_hmm_predict_proba(const emgmm_hmm *m, const double *X, size_t n,
                            size_t ldx, const size_t *lengths, size_t n_seq,
                            double *proba)
{
    if (!proba)
        return EMGMM_ERR_INVALID;
    return evaluate(m, X, n, ldx, lengths, n_seq, 0, DO_PROBA, proba, NULL);
}

int emgmm_hmm_decode(const emgmm_hmm *m, const double *X, size_t n,
                     size_t ldx, const size_t *lengths, size_t n_seq,
                     int32_t *states, double *log_probability)
{
    if (!states)
        return EMGMM_ERR_INVALID;
    return evaluate(m, X, n, ldx, lengths, n_seq, 0, DO_DECODE,
                    log_probability, states);
}

int emgmm_hmm_score_missing(const emgmm_hmm *m, const double *X, size_t n,
                            size_t ldx, const size_t *lengths, size_t n_seq,
                            double *log_likelihood)
{
    if (!log_likelihood)
        return EMGMM_ERR_INVALID;
    return evaluate(m, X, n, ldx, lengths, n_seq, 1, DO_SCORE,
                    log_likelihood, NULL);
}

int emgmm_hmm_predict_proba_missing(const emgmm_hmm *m, const double *X,
                                    size_t n, size_t ldx,
                                    const size_t *lengths, size_t n_seq,
                                    double *proba)
{
    if (!proba)
        return EMGMM_ERR_INVALID;
    return evaluate(m, X, n, ldx, lengths, n_seq, 1, DO_PROBA, proba, NULL);
}

int emgmm_hmm_decode_missing(const emgmm_hmm *m, const double *X, size_t n,
                             size_t ldx, const size_t *lengths, size_t n_seq,
                             int32_t *states, double *log_probability)
{
    if (!states)
        return EMGMM_ERR_INVALID;
    return evaluate(m, X, n, ldx, lengths, n_seq, 1, DO_DECODE,
                    log_probability, states);
}
