/*
 * E-step: log-densities of row blocks against every component, and
 * responsibilities by log-sum-exp.
 *
 * For component k with precision factor U_k (U_k U_k^T = Sigma_k^-1),
 *   log N(x | mu_k, Sigma_k) = -d/2 log(2 pi) + log det U_k
 *                              - 1/2 ||(x - mu_k)^T U_k||^2.
 * How a block of rows is projected depends on the shape (benchmarked, see
 * bench/RESULTS.md):
 *   d <= 3      plain loops compiled for each d: a BLAS call would cost
 *               more than its work;
 *   4..64       full and tied: our own register-blocked kernel
 *               (kernels.h; AVX-512 or AVX2 chosen at run time, each with
 *               the range of d where it measured faster than the BLAS
 *               calls below, which run far below their peak with an inner
 *               dimension of a few dozen);
 *   4..31       otherwise (no such kernel, or d outside its range), the
 *               U_k side by side (d x k*d), so one gemm projects the
 *               block on all components at once: twice the flops of a
 *               triangular product (U_k's zero half is multiplied too), but
 *               at these widths the fat gemm is the fastest call;
 *   d >= 32     one trmm per component on a copy of the block: half the
 *               flops, and wide enough for trmm to run well;
 *   tied        one trmm for all components (they share U);
 *   diag,
 *   spherical   U is diagonal: a scaling, no BLAS.
 *
 * Rows are shifted by the model's centre c (the weighted mean of the
 * means) in a small per-block copy before the projection, and the means
 * are projected as (mu_k - c)^T U_k. Without the shift, x^T U_k and
 * mu_k^T U_k would both be of the size of the data's offset and their
 * difference would lose digits for data far from the origin.
 */
#include "internal.h"
#include "emgmm_config.h"
#include "kernels.h"
#include "vexp.h"

#include <cblas.h>
#include <math.h>
#include <string.h>
#if EMGMM_HAVE_OPENMP
#include <omp.h>
#endif

size_t emgmm__estep_block_rows(size_t k, size_t d)
{
    const size_t target = (size_t)1 << 18; /* doubles per projection */
    size_t rows = target / (k * d + d);
    if (rows < 32)
        rows = 32;
    if (rows > 2048)
        rows = 2048;
    return rows;
}

int emgmm__workspace_alloc(emgmm_workspace *ws, size_t n, size_t k,
                           size_t d, int n_threads)
{
    ws->block_rows = emgmm__estep_block_rows(k, d);
    if (ws->block_rows > n)
        ws->block_rows = n;
    ws->n_blocks = (n + ws->block_rows - 1) / ws->block_rows;
    /* syrk runs far below peak on thin blocks: gather more rows per call
     * (up to 4096, or 4 MiB per thread). */
    ws->gather_rows = ((size_t)1 << 19) / d;
    if (ws->gather_rows > 4096)
        ws->gather_rows = 4096;
    if (ws->gather_rows < ws->block_rows)
        ws->gather_rows = ws->block_rows;
    if (ws->gather_rows > n)
        ws->gather_rows = n;
    ws->n_threads = n_threads < 1 ? 1 : n_threads;
    const size_t t = (size_t)ws->n_threads;
    /* Each thread's slice of `centred` also serves the M-step kernels
     * (kernels.h) where d is in their reach. */
    ws->centred_stride = ws->gather_rows * d;
    if (d <= EMGMM__SCATTER_MAX_D &&
        emgmm__scatter_work_size(d) > ws->centred_stride)
        ws->centred_stride = emgmm__scatter_work_size(d);
    ws->proj = emgmm__malloc(t * ws->block_rows, (k * d + d) * sizeof(double));
    ws->centred = emgmm__malloc(t, ws->centred_stride * sizeof(double));
    ws->block_ll = emgmm__malloc(ws->n_blocks, sizeof(double));
    ws->scratch = emgmm__malloc(d, d * sizeof(double));
    ws->sphere = emgmm__malloc(k, d * sizeof(double));
    /* Chunks of at least 4096 rows (a gemm call each), at most 64. */
    ws->sum_rows = n > 4096 ? 4096 : (n > 0 ? n : 1);
    if ((n + ws->sum_rows - 1) / ws->sum_rows > 64)
        ws->sum_rows = (n + 63) / 64;
    ws->n_sums = (n + ws->sum_rows - 1) / ws->sum_rows;
    ws->sums = emgmm__malloc(ws->n_sums ? ws->n_sums : 1,
                             (k * d + k) * sizeof(double));
    ws->moments = NULL;
    ws->moments_ready = 0;
    if (d <= EMGMM__SMALL_MAX_D && k <= EMGMM__SMALL_MAX_K) {
        ws->moments = emgmm__malloc(ws->n_blocks ? ws->n_blocks : 1,
                                    (k * d + k) * sizeof(double));
        if (!ws->moments) {
            emgmm__workspace_free(ws);
            return EMGMM_ERR_NOMEM;
        }
    }
    ws->reduce = NULL;
    ws->reduce_data = NULL;
    ws->fused_rows = ws->n_slots = ws->slot_size = 0;
    ws->slots = NULL;
    if (!ws->proj || !ws->centred || !ws->block_ll || !ws->scratch ||
        !ws->sphere || !ws->sums) {
        emgmm__workspace_free(ws);
        return EMGMM_ERR_NOMEM;
    }
    return EMGMM_OK;
}

void emgmm__workspace_free(emgmm_workspace *ws)
{
    emgmm__free(ws->proj);
    emgmm__free(ws->centred);
    emgmm__free(ws->block_ll);
    emgmm__free(ws->scratch);
    emgmm__free(ws->sphere);
    emgmm__free(ws->sums);
    emgmm__free(ws->slots);
    emgmm__free(ws->moments);
    ws->proj = ws->centred = ws->block_ll = ws->scratch = ws->sphere = NULL;
    ws->sums = ws->slots = ws->moments = NULL;
    ws->moments_ready = 0;
}

/* Squared norm of y - m over d entries. Four partial sums: the compiler
 * can keep them in one vector register (a single running sum would
 * serialise the adds). */
static inline double squared_distance(const double *y, const double *m,
                                      size_t d)
{
    double s4[4] = {0.0, 0.0, 0.0, 0.0};
    size_t j = 0;
    for (; j + 4 <= d; j += 4)
        for (size_t t = 0; t < 4; t++) {
            double v = y[j + t] - m[j + t];
            s4[t] += v * v;
        }
    double s = (s4[0] + s4[1]) + (s4[2] + s4[3]);
    for (; j < d; j++) {
        double v = y[j] - m[j];
        s += v * v;
    }
    return s;
}

/* Below this dimension a BLAS call costs more than its work (packing,
 * zeroing C, call overhead for inner dimensions of a few): the
 * triangular projection is done in plain loops instead, compiled once for
 * each d so that the compiler unrolls them and keeps U_c in registers. */
enum { DIRECT_MAX_D = 3, TRMM_MIN_D = 32 };

/* Full or tied: the projection with U_c (full: column block c of prec,
 * leading dimension k*d; tied: the one d x d factor for every c). */
static inline const double *factor_of(const emgmm_model *m, size_t c,
                                      size_t *ldu)
{
    if (m->type == EMGMM_COVARIANCE_TIED) {
        *ldu = m->d;
        return m->prec;
    }
    *ldu = m->k * m->d;
    return m->prec + c * m->d;
}

static inline __attribute__((always_inline)) void
log_prob_direct(const emgmm_model *m, const double *X, size_t rows,
                size_t ldx, double *logp, const size_t d)
{
    const size_t k = m->k;
    for (size_t c = 0; c < k; c++) {
        double u[DIRECT_MAX_D][DIRECT_MAX_D], mp[DIRECT_MAX_D],
            centre[DIRECT_MAX_D];
        size_t ldu;
        const double *uc = factor_of(m, c, &ldu);
        for (size_t a = 0; a < d; a++) {
            for (size_t b = 0; b < d; b++)
                u[a][b] = uc[a * ldu + b];
            mp[a] = m->mean_proj[c * d + a];
            centre[a] = m->centre[a];
        }
        const double norm = m->log_norm[c];
        for (size_t i = 0; i < rows; i++) {
            const double *x = X + i * ldx;
            double xs[DIRECT_MAX_D], y[DIRECT_MAX_D];
            for (size_t a = 0; a < d; a++) {
                xs[a] = x[a] - centre[a];
                y[a] = -mp[a];
            }
            for (size_t a = 0; a < d; a++)
                for (size_t b = a; b < d; b++)
                    y[b] += xs[a] * u[a][b];
            double s = 0.0;
            for (size_t a = 0; a < d; a++)
                s += y[a] * y[a];
            logp[i * k + c] = norm - 0.5 * s;
        }
    }
}

/* Returns 1 if d was small enough for the direct path (and did it). */
static int log_prob_small(const emgmm_model *m, const double *X,
                          size_t rows, size_t ldx, double *logp)
{
    switch (m->d) {
    case 1: log_prob_direct(m, X, rows, ldx, logp, 1); return 1;
    case 2: log_prob_direct(m, X, rows, ldx, logp, 2); return 1;
    case 3: log_prob_direct(m, X, rows, ldx, logp, 3); return 1;
    default: return 0;
    }
}

/* Rows of X shifted by the model's centre, into out (rows x d). */
static void shift_rows(const emgmm_model *m, const double *X, size_t rows,
                       size_t ldx, double *out)
{
    const size_t d = m->d;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < d; j++)
            out[i * d + j] = X[i * ldx + j] - m->centre[j];
}

/* logp[i*k + c] from projected rows y_i (for component c at y + i*ldy). */
static void log_prob_from_projection(const emgmm_model *m, const double *y,
                                     size_t rows, size_t ldy, size_t c,
                                     double *logp)
{
    const size_t k = m->k, d = m->d;
    for (size_t i = 0; i < rows; i++)
        logp[i * k + c] =
            m->log_norm[c] -
            0.5 * squared_distance(y + i * ldy, m->mean_proj + c * d, d);
}

static void log_prob_full(const emgmm_model *m, const double *X,
                          size_t rows, size_t ldx, double *proj,
                          double *logp)
{
    const size_t k = m->k, d = m->d, kd = k * d;
    double *shifted = proj + rows * kd; /* rows x d */
    shift_rows(m, X, rows, ldx, shifted);

    if (d >= TRMM_MIN_D) {
        /* One triangular multiply per component on a copy of the block:
         * half the flops of the stacked gemm, and at these widths trmm
         * runs at more than half gemm's rate. */
        double *y = proj; /* rows x d */
        for (size_t c = 0; c < k; c++) {
            memcpy(y, shifted, rows * d * sizeof(double));
            cblas_dtrmm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans,
                        CblasNonUnit, (int)rows, (int)d, 1.0,
                        m->prec + c * d, (int)kd, y, (int)d);
            log_prob_from_projection(m, y, rows, d, c, logp);
        }
        return;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows,
                (int)kd, (int)d, 1.0, shifted, (int)d, m->prec, (int)kd,
                0.0, proj, (int)kd);
    for (size_t c = 0; c < k; c++)
        log_prob_from_projection(m, proj + c * d, rows, kd, c, logp);
}

/* Tied: one shared factor, so the block is projected once (one trmm) and
 * each component only subtracts its projected mean. */
static void log_prob_tied(const emgmm_model *m, const double *X,
                          size_t rows, size_t ldx, double *proj,
                          double *logp)
{
    const size_t d = m->d;
    shift_rows(m, X, rows, ldx, proj);
    cblas_dtrmm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans,
                CblasNonUnit, (int)rows, (int)d, 1.0, m->prec, (int)d, proj,
                (int)d);
    for (size_t c = 0; c < m->k; c++)
        log_prob_from_projection(m, proj, rows, d, c, logp);
}

/* Diagonal and spherical: U is diagonal, so the projection is a scaling:
 * y_j = (x_j - centre_j) / sigma_cj - mean_proj_cj. O(d) per pair, no
 * BLAS needed. */
static void log_prob_diagonal(const emgmm_model *m, const double *X,
                              size_t rows, size_t ldx, double *logp)
{
    const size_t k = m->k, d = m->d;
    const int spherical = m->type == EMGMM_COVARIANCE_SPHERICAL;
    for (size_t i = 0; i < rows; i++) {
        const double *x = X + i * ldx;
        for (size_t c = 0; c < k; c++) {
            const double *mp = m->mean_proj + c * d;
            double s4[4] = {0.0, 0.0, 0.0, 0.0}, s = 0.0;
            size_t j = 0;
            if (spherical) {
                const double p = m->prec[c];
                for (; j + 4 <= d; j += 4)
                    for (size_t t = 0; t < 4; t++) {
                        double y = (x[j + t] - m->centre[j + t]) * p -
                                   mp[j + t];
                        s4[t] += y * y;
                    }
                for (; j < d; j++) {
                    double y = (x[j] - m->centre[j]) * p - mp[j];
                    s += y * y;
                }
            } else {
                const double *p = m->prec + c * d;
                for (; j + 4 <= d; j += 4)
                    for (size_t t = 0; t < 4; t++) {
                        double y = (x[j + t] - m->centre[j + t]) * p[j + t] -
                                   mp[j + t];
                        s4[t] += y * y;
                    }
                for (; j < d; j++) {
                    double y = (x[j] - m->centre[j]) * p[j] - mp[j];
                    s += y * y;
                }
            }
            s += (s4[0] + s4[1]) + (s4[2] + s4[3]);
            logp[i * k + c] = m->log_norm[c] - 0.5 * s;
        }
    }
}

void emgmm__log_prob_block(const emgmm_model *m, const double *X,
                           size_t rows, size_t ldx, double *proj,
                           double *logp)
{
    switch (m->type) {
    case EMGMM_COVARIANCE_FULL:
    case EMGMM_COVARIANCE_TIED: {
        size_t ldu;
        const double *u = factor_of(m, 0, &ldu);
        emgmm__small_estep_fn *small = emgmm__small_estep(m->d, m->k);
        if (small) {
            small(X, rows, ldx, m->d, m->k, m->centre, u, ldu,
                  m->type == EMGMM_COVARIANCE_TIED, m->mean_proj,
                  m->log_norm, NULL, logp, NULL, NULL, NULL, NULL);
            return;
        }
        if (log_prob_small(m, X, rows, ldx, logp))
            return;
        emgmm__logp_fn *kernel = emgmm__logp_kernel(m->d);
        if (kernel) {
            kernel(X, rows, ldx, m->d, m->k, m->centre, u, ldu,
                   m->type == EMGMM_COVARIANCE_TIED, m->mean_proj,
                   m->log_norm, logp);
            return;
        }
        if (m->type == EMGMM_COVARIANCE_FULL)
            log_prob_full(m, X, rows, ldx, proj, logp);
        else
            log_prob_tied(m, X, rows, ldx, proj, logp);
        return;
    }
    case EMGMM_COVARIANCE_DIAG:
    case EMGMM_COVARIANCE_SPHERICAL:
        log_prob_diagonal(m, X, rows, ldx, logp);
        return;
    }
}

/* Rows per pass of the log-sum-exp: their shifted entries go through one
 * vector exp and their sums through one vector log (vexp.h). */
enum { LSE_ROWS = 64 };

/* One pass: rows [0, nr) of blk, their weights and log-norms at weight
 * and log_norm (either may be NULL). Returns total plus the pass's
 * (weighted) log p(x_i), added one row at a time. */
static inline __attribute__((always_inline)) double
normalize_pass(double *blk, size_t nr, const size_t k, const double *weight,
               double *log_norm, double total)
{
    double a_max[LSE_ROWS], s[LSE_ROWS], log_s[LSE_ROWS];
    size_t c_max[LSE_ROWS];
    /* log sum exp(a_c) = a_max + log sum exp(a_c - a_max): every exponent
     * is <= 0, so nothing overflows, and the largest term is exactly 1,
     * so the sum cannot underflow to zero. r_c = exp(a_c - a_max) / s: one
     * exp per entry, and unlike exp(a_c - lse) no rounding of the large
     * lse leaks in. */
    for (size_t i = 0; i < nr; i++) {
        double *r = blk + i * k;
        size_t cm = 0;
        for (size_t c = 1; c < k; c++)
            if (r[c] > r[cm])
                cm = c;
        const double a = r[cm];
        c_max[i] = cm;
        a_max[i] = a;
        for (size_t c = 0; c < k; c++)
            r[c] = a == -INFINITY ? 0.0 : r[c] - a;
    }
    /* One vector exp over the pass's entries. An entry's result depends on
     * its value and the ISA path only (vexp.h): the same bits for any
     * thread count and block layout on one machine, but possibly not
     * across machines with different vector units (AVX2, AVX-512). */
    emgmm__vexp(blk, nr * k);
    for (size_t i = 0; i < nr; i++) {
        double *r = blk + i * k, si = 0.0;
        r[c_max[i]] = 1.0;
        for (size_t c = 0; c < k; c++)
            si += r[c];
        s[i] = log_s[i] = si;
    }
    emgmm__vlog(log_s, nr);
    for (size_t i = 0; i < nr; i++) {
        double *r = blk + i * k, lse;
        const double w = weight ? weight[i] : 1.0;
        if (a_max[i] == -INFINITY) {
            /* Every component has zero density here (weights of zero): no
             * information, spread the point evenly. */
            lse = -INFINITY;
            for (size_t c = 0; c < k; c++)
                r[c] = w / (double)k;
        } else {
            lse = a_max[i] + log_s[i];
            const double inv = w / s[i];
            for (size_t c = 0; c < k; c++)
                r[c] *= inv;
        }
        if (log_norm)
            log_norm[i] = lse;
        if (!weight)
            total += lse;
        else if (w != 0.0) /* a zero weight ignores the row, even at zero
                              density */
            total += w * lse;
    }
    return total;
}

double emgmm__normalize_log_resp(double *logp, size_t rows, size_t k,
                                 const double *weight, double *log_norm)
{
    double total = 0.0;
    for (size_t i0 = 0; i0 < rows; i0 += LSE_ROWS) {
        const size_t nr = rows - i0 < LSE_ROWS ? rows - i0 : LSE_ROWS;
        double *blk = logp + i0 * k;
        const double *w = weight ? weight + i0 : NULL;
        double *ln = log_norm ? log_norm + i0 : NULL;
        /* Compiled for each small k, so that the loops over components
         * unroll (the row bookkeeping cost as much as the vector exp and
         * log otherwise); the same arithmetic in the same order for any
         * k. */
        switch (k) {
#define NORMALIZE_CASE(K)                                                   \
    case K: total = normalize_pass(blk, nr, K, w, ln, total); break;
            NORMALIZE_CASE(1) NORMALIZE_CASE(2) NORMALIZE_CASE(3)
            NORMALIZE_CASE(4) NORMALIZE_CASE(5) NORMALIZE_CASE(6)
            NORMALIZE_CASE(7) NORMALIZE_CASE(8)
#undef NORMALIZE_CASE
        default: total = normalize_pass(blk, nr, k, w, ln, total); break;
        }
    }
    return total;
}

double emgmm__estep_block(const emgmm_model *m, const double *X,
                          size_t rows, size_t ldx, double *proj,
                          const double *weight, double *resp, double *lse)
{
    if (m->type == EMGMM_COVARIANCE_FULL ||
        m->type == EMGMM_COVARIANCE_TIED) {
        /* The smallest d: both steps in one kernel, the log-densities
         * never leave its chunk (kernels.h). */
        emgmm__small_estep_fn *small = emgmm__small_estep(m->d, m->k);
        if (small) {
            size_t ldu;
            const double *u = factor_of(m, 0, &ldu);
            return small(X, rows, ldx, m->d, m->k, m->centre, u, ldu,
                         m->type == EMGMM_COVARIANCE_TIED, m->mean_proj,
                         m->log_norm, weight, NULL, resp, lse, NULL, NULL);
        }
    }
    emgmm__log_prob_block(m, X, rows, ldx, proj, resp);
    return emgmm__normalize_log_resp(resp, rows, m->k, weight, lse);
}

double emgmm__estep(const emgmm_model *m, const double *X, size_t n,
                    size_t ldx, const double *weight, double *resp,
                    emgmm_workspace *ws)
{
    const size_t k = m->k, d = m->d, br = ws->block_rows;
    const long n_blocks = (long)ws->n_blocks;
    emgmm__small_estep_fn *small = NULL;
    size_t ldu = 0;
    const double *u = NULL;
    if (ws->moments && (m->type == EMGMM_COVARIANCE_FULL ||
                        m->type == EMGMM_COVARIANCE_TIED)) {
        small = emgmm__small_estep(d, k);
        u = factor_of(m, 0, &ldu);
    }

#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(ws->n_threads) \
    if (ws->n_threads > 1)
#endif
    for (long b = 0; b < n_blocks; b++) {
        int t = 0;
#if EMGMM_HAVE_OPENMP
        t = omp_get_thread_num();
#endif
        size_t i0 = (size_t)b * br;
        size_t rows = n - i0 < br ? n - i0 : br;
        const double *w = weight ? weight + i0 : NULL;
        if (small) {
            /* With the M-step's first moments of the block. */
            double *mo = ws->moments + (size_t)b * (k * d + k);
            ws->block_ll[b] = small(X + i0 * ldx, rows, ldx, d, k,
                                    m->centre, u, ldu,
                                    m->type == EMGMM_COVARIANCE_TIED,
                                    m->mean_proj, m->log_norm, w, NULL,
                                    resp + i0 * k, NULL, mo + k * d, mo);
            continue;
        }
        double *proj = ws->proj + (size_t)t * br * (k * d + d);
        ws->block_ll[b] = emgmm__estep_block(m, X + i0 * ldx, rows, ldx,
                                             proj, w, resp + i0 * k, NULL);
    }
    ws->moments_ready = small != NULL;

    /* Summed in block order: the same bits for any thread count. */
    double total = 0.0;
    for (long b = 0; b < n_blocks; b++)
        total += ws->block_ll[b];
    return total;
}
