/*
 * M-step, as scikit-learn defines it (full covariance shown):
 *   N_k     = sum_i r_ik + 10 eps       (eps keeps empty components finite)
 *   w_k     = N_k / sum_j N_j
 *   mu_k    = sum_i r_ik x_i / N_k      (R^T X: one gemm per chunk of
 *                                        rows, chunks over threads)
 *   Sigma_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / N_k + reg_covar I
 * tied:      Sigma = sum_k sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / sum N_k
 *            + reg_covar I
 * diag:      sigma2_kj = sum_i r_ik (x_ij - mu_kj)^2 / N_k + reg_covar
 * spherical: sigma2_k = mean over j of the diag variances
 *
 * The covariance is two-pass: the rows are centred on the new mean before
 * they are multiplied, as Z = diag(sqrt(r_k)) (X - 1 mu_k^T), and Z^T Z is
 * accumulated by syrk block by block. The one-pass E[x x^T] - mu mu^T
 * would subtract two numbers of the size of the data's offset squared and
 * lose all digits of the covariance for data far from the origin.
 *
 * Where d is in reach of our own kernels (kernels.h: full and tied,
 * measured faster than the gather + syrk below), they compute the same
 * centred sums with the rows in vector lanes, without BLAS.
 *
 * Components are spread over threads; each component's sum runs over the
 * blocks in order on one thread, so the result does not depend on the
 * thread count.
 */
#include "internal.h"
#include "emgmm_config.h"
#include "kernels.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>
#if EMGMM_HAVE_OPENMP
#include <omp.h>
#endif

/* Small d (<= 4, measured): accumulate r (x - mu)(x - mu)^T straight into the lower
 * triangle, compiled once per d; cheaper than gathering rows for syrk when
 * each row carries only a few numbers. Still two-pass: centred on mu. */
enum { DIRECT_MAX_D = 4 };

static inline __attribute__((always_inline)) void
scatter_direct(const double *X, size_t n, size_t ldx, const double *resp,
               size_t k, size_t c, const double *mu, double *cov,
               const size_t d)
{
    double acc[DIRECT_MAX_D][DIRECT_MAX_D] = {{0.0}};
    for (size_t i = 0; i < n; i++) {
        const double r = resp[i * k + c];
        if (r == 0.0)
            continue;
        double z[DIRECT_MAX_D];
        for (size_t a = 0; a < d; a++)
            z[a] = X[i * ldx + a] - mu[a];
        for (size_t a = 0; a < d; a++) {
            const double rz = r * z[a];
            for (size_t b = 0; b <= a; b++)
                acc[a][b] += rz * z[b];
        }
    }
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b <= a; b++)
            cov[a * d + b] += acc[a][b];
}

static int scatter_small(const double *X, size_t n, size_t ldx,
                         const double *resp, size_t k, size_t c,
                         const double *mu, double *cov, size_t d)
{
    switch (d) {
    case 1: scatter_direct(X, n, ldx, resp, k, c, mu, cov, 1); return 1;
    case 2: scatter_direct(X, n, ldx, resp, k, c, mu, cov, 2); return 1;
    case 3: scatter_direct(X, n, ldx, resp, k, c, mu, cov, 3); return 1;
    case 4: scatter_direct(X, n, ldx, resp, k, c, mu, cov, 4); return 1;
    default: return 0;
    }
}

/* The vector kernel for the full or tied scatter at d, or NULL. */
static emgmm__scatter_fn *scatter_kernel(size_t d)
{
    emgmm__scatter_fn *small = emgmm__small_scatter(d);
    return small ? small : emgmm__scatter_kernel(d);
}

/* Adds sum_i r_ic (x_i - mu)(x_i - mu)^T to the lower triangle of cov.
 * z: workspace of gr x d doubles. */
static void scatter_component(const double *X, size_t n, size_t ldx,
                              const double *resp, size_t k, size_t c,
                              const double *mu, double *cov, size_t d,
                              double *z, size_t gr)
{
    if (scatter_small(X, n, ldx, resp, k, c, mu, cov, d))
        return;
    /* Rows whose responsibility underflowed to exactly zero add nothing:
     * gather only the others, gr at a time, for fewer, fatter syrk
     * calls. */
    size_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        double r = resp[i * k + c];
        if (r == 0.0)
            continue;
        double s = sqrt(r);
        const double *x = X + i * ldx;
        double *zi = z + rows * d;
        for (size_t j = 0; j < d; j++)
            zi[j] = s * (x[j] - mu[j]);
        if (++rows == gr) {
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d,
                        (int)rows, 1.0, z, (int)d, 1.0, cov, (int)d);
            rows = 0;
        }
    }
    if (rows > 0)
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d,
                    (int)rows, 1.0, z, (int)d, 1.0, cov, (int)d);
}

void emgmm__finish_covariance(double *cov, size_t d, double divisor,
                              double reg)
{
    const double inv = 1.0 / divisor;
    for (size_t i = 0; i < d; i++) {
        for (size_t j = 0; j < i; j++)
            cov[j * d + i] = cov[i * d + j] *= inv;
        cov[i * d + i] = cov[i * d + i] * inv + reg;
    }
}

/* Adds r (x_j - mu_j)^2 of component c about its new mean (two-pass),
 * per feature, to raw (d). */
static void diagonal_sums(const double *X, size_t n, size_t ldx,
                          const double *resp, size_t k, size_t c,
                          const double *mu, size_t d, double *raw)
{
    for (size_t i = 0; i < n; i++) {
        const double r = resp[i * k + c];
        if (r == 0.0)
            continue;
        const double *x = X + i * ldx;
        for (size_t j = 0; j < d; j++) {
            double t = x[j] - mu[j];
            raw[j] += r * t * t;
        }
    }
}

int emgmm__allreduce(const emgmm_workspace *ws, double *v, size_t count)
{
    if (!ws->reduce)
        return EMGMM_OK;
    return ws->reduce(v, count, ws->reduce_data) == 0 ? EMGMM_OK
                                                      : EMGMM_ERR_IO;
}

void emgmm__mstep_sums(const double *X, size_t n, size_t ldx,
                       const double *resp, size_t k, size_t d, double *nk,
                       double *sums)
{
    emgmm__small_sums_fn *small = emgmm__small_sums(d, k);
    if (small) {
        small(X, n, ldx, d, resp, k, nk, sums);
        return;
    }
    for (size_t c = 0; c < k; c++)
        nk[c] = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < k; c++)
            nk[c] += resp[i * k + c];
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)d,
                (int)n, 1.0, resp, (int)k, X, (int)ldx, 0.0, sums, (int)d);
}

/* emgmm__mstep_sums in the workspace's fixed chunks of rows, spread over
 * threads (the fit holds the BLAS to one thread while the loops use
 * two: one serial gemm here left a core idle), and added in chunk order:
 * the same bits for any thread count. Returns 0 when the workspace was
 * laid out for fewer rows (then nothing is done). */
static int chunked_sums(const double *X, size_t n, size_t ldx,
                        const double *resp, size_t k, size_t d, double *nk,
                        double *sums, const emgmm_workspace *ws)
{
    const size_t cr = ws->sum_rows, stride = k * d + k;
    if (!ws->sums || n == 0 || (n + cr - 1) / cr > ws->n_sums)
        return 0;
    const long n_chunks = (long)((n + cr - 1) / cr);
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(ws->n_threads) \
    if (ws->n_threads > 1)
#endif
    for (long b = 0; b < n_chunks; b++) {
        const size_t i0 = (size_t)b * cr;
        const size_t rows = n - i0 < cr ? n - i0 : cr;
        double *p = ws->sums + (size_t)b * stride;
        emgmm__mstep_sums(X + i0 * ldx, rows, ldx, resp + i0 * k, k, d,
                          p + k * d, p);
    }
    memcpy(sums, ws->sums, k * d * sizeof(double));
    memcpy(nk, ws->sums + k * d, k * sizeof(double));
    for (long b = 1; b < n_chunks; b++) {
        const double *p = ws->sums + (size_t)b * stride;
        for (size_t i = 0; i < k * d; i++)
            sums[i] += p[i];
        for (size_t c = 0; c < k; c++)
            nk[c] += p[k * d + c];
    }
    return 1;
}

int emgmm__mstep_weights_means(emgmm_model *m, const double *X, size_t n,
                               size_t ldx, const double *resp,
                               const double *mean_correction,
                               const emgmm_workspace *ws, double *total)
{
    const size_t k = m->k, d = m->d;
    double *nk = m->log_norm; /* reused as scratch; recomputed later */
    if (!chunked_sums(X, n, ldx, resp, k, d, nk, m->means, ws))
        emgmm__mstep_sums(X, n, ldx, resp, k, d, nk, m->means);
    if (mean_correction)
        for (size_t i = 0; i < k * d; i++)
            m->means[i] += mean_correction[i];
    return emgmm__mstep_finish_means(m, ws, total);
}

/* Weights and means from N_k (no eps yet) in m->log_norm and
 * sum_i r_ik x_i in m->means, already summed over processes. */
static void weights_means_from_sums(emgmm_model *m, double *total)
{
    const size_t k = m->k, d = m->d;
    double *nk = m->log_norm;
    double sum = 0.0;
    for (size_t c = 0; c < k; c++) {
        nk[c] += 10.0 * DBL_EPSILON;
        sum += nk[c];
    }
    for (size_t c = 0; c < k; c++)
        m->weights[c] = nk[c] / sum;
    for (size_t c = 0; c < k; c++)
        for (size_t j = 0; j < d; j++)
            m->means[c * d + j] /= nk[c];
    *total = sum;
}

int emgmm__mstep_finish_means(emgmm_model *m, const emgmm_workspace *ws,
                              double *total)
{
    const size_t k = m->k, d = m->d;
    int rc = emgmm__allreduce(ws, m->log_norm, k);
    if (rc == EMGMM_OK)
        rc = emgmm__allreduce(ws, m->means, k * d);
    if (rc != EMGMM_OK)
        return rc;
    weights_means_from_sums(m, total);
    return EMGMM_OK;
}

int emgmm__mstep_finish(emgmm_model *m, const double *raw, double total,
                        double reg_covar, emgmm_workspace *ws, int *bad)
{
    const size_t k = m->k, d = m->d;
    const double *nk = m->log_norm;
    switch (m->type) {
    case EMGMM_COVARIANCE_FULL:
        for (size_t c = 0; c < k; c++)
            emgmm__finish_covariance(m->covariances + c * d * d, d, nk[c],
                                     reg_covar);
        break;
    case EMGMM_COVARIANCE_TIED:
        emgmm__finish_covariance(m->covariances, d, total, reg_covar);
        break;
    case EMGMM_COVARIANCE_DIAG:
        for (size_t c = 0; c < k; c++)
            for (size_t j = 0; j < d; j++)
                m->covariances[c * d + j] =
                    m->covariances[c * d + j] / nk[c] + reg_covar;
        break;
    case EMGMM_COVARIANCE_SPHERICAL:
        /* The mean of the diagonal variances (scikit-learn's definition). */
        for (size_t c = 0; c < k; c++) {
            double s = 0.0;
            for (size_t j = 0; j < d; j++)
                s += raw[c * d + j] / nk[c] + reg_covar;
            m->covariances[c] = s / (double)d;
        }
        break;
    }
    return emgmm__model_update_derived(m, ws->scratch, bad);
}

size_t emgmm__mstep_raw_size(emgmm_covariance_type type, size_t k, size_t d)
{
    return type == EMGMM_COVARIANCE_SPHERICAL ? k * d
                                              : emgmm__cov_size(type, k, d);
}

/* Full and tied with the kernel: components in groups of at most
 * EMGMM__SCATTER_GROUP (each group's pass copies a block of rows once for
 * all its components). Full: groups spread over threads, small enough
 * that every thread gets one. Tied: the groups in order, adding to the
 * one matrix. Which group a component falls in changes nothing in its
 * sum. */
static void scatter_with_kernel(emgmm__scatter_fn *kernel,
                                const emgmm_model *m, const double *X,
                                size_t n, size_t ldx, const double *resp,
                                double *raw, emgmm_workspace *ws)
{
    const size_t k = m->k, d = m->d;
    if (m->type == EMGMM_COVARIANCE_TIED) {
        for (size_t c0 = 0; c0 < k; c0 += EMGMM__SCATTER_GROUP) {
            const size_t c1 =
                k - c0 < EMGMM__SCATTER_GROUP ? k : c0 + EMGMM__SCATTER_GROUP;
            kernel(X, n, ldx, d, resp, k, c0, c1, m->means, raw, 0,
                   ws->centred);
        }
        return;
    }
    const size_t group = emgmm__scatter_group(k, ws->n_threads);
    const long n_groups = (long)((k + group - 1) / group);
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(ws->n_threads) \
    if (ws->n_threads > 1)
#endif
    for (long g = 0; g < n_groups; g++) {
        int t = 0;
#if EMGMM_HAVE_OPENMP
        t = omp_get_thread_num();
#endif
        const size_t c0 = (size_t)g * group;
        const size_t c1 = k - c0 < group ? k : c0 + group;
        kernel(X, n, ldx, d, resp, k, c0, c1, m->means, raw, d * d,
               ws->centred + (size_t)t * ws->centred_stride);
    }
}

void emgmm__mstep_scatter_add(emgmm_model *m, const double *X, size_t n,
                              size_t ldx, const double *resp, double *raw,
                              emgmm_workspace *ws)
{
    const size_t k = m->k, d = m->d, gr = ws->gather_rows;
    if (m->type == EMGMM_COVARIANCE_FULL ||
        m->type == EMGMM_COVARIANCE_TIED) {
        emgmm__scatter_fn *kernel = scatter_kernel(d);
        if (kernel) {
            scatter_with_kernel(kernel, m, X, n, ldx, resp, raw, ws);
            return;
        }
    }
    if (m->type == EMGMM_COVARIANCE_TIED) {
        /* One matrix for all: the components' centred scatters added in
         * component order (scikit-learn subtracts sum N_k mu_k mu_k^T
         * from X^T X instead, which loses digits far from the origin). */
        for (size_t c = 0; c < k; c++)
            scatter_component(X, n, ldx, resp, k, c, m->means + c * d, raw,
                              d, ws->centred, gr);
        return;
    }
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(ws->n_threads) \
    if (ws->n_threads > 1)
#endif
    for (long cl = 0; cl < (long)k; cl++) {
        const size_t c = (size_t)cl;
        int t = 0;
#if EMGMM_HAVE_OPENMP
        t = omp_get_thread_num();
#endif
        const double *mu = m->means + c * d;
        if (m->type == EMGMM_COVARIANCE_FULL)
            scatter_component(X, n, ldx, resp, k, c, mu, raw + c * d * d, d,
                              ws->centred + (size_t)t * ws->centred_stride,
                              gr);
        else /* diag, spherical */
            diagonal_sums(X, n, ldx, resp, k, c, mu, d, raw + c * d);
    }
}

double *emgmm__mstep_raw(emgmm_model *m, emgmm_workspace *ws)
{
    double *raw = m->type == EMGMM_COVARIANCE_SPHERICAL ? ws->sphere
                                                        : m->covariances;
    memset(raw, 0,
           emgmm__mstep_raw_size(m->type, m->k, m->d) * sizeof(double));
    return raw;
}

int emgmm__mstep(emgmm_model *m, const double *X, size_t n, size_t ldx,
                 const double *resp, double reg_covar, emgmm_workspace *ws,
                 int *bad)
{
    double total;
    int rc;
    if (ws->moments_ready) {
        /* The E-step's by-product: the blocks' sums added in block order
         * (the same bits for any thread count). */
        const size_t k = m->k, d = m->d, stride = k * d + k;
        double *nk = m->log_norm; /* as emgmm__mstep_weights_means */
        memcpy(m->means, ws->moments, k * d * sizeof(double));
        memcpy(nk, ws->moments + k * d, k * sizeof(double));
        for (size_t b = 1; b < ws->n_blocks; b++) {
            const double *p = ws->moments + b * stride;
            for (size_t i = 0; i < k * d; i++)
                m->means[i] += p[i];
            for (size_t c = 0; c < k; c++)
                nk[c] += p[k * d + c];
        }
        ws->moments_ready = 0;
        rc = emgmm__mstep_finish_means(m, ws, &total);
    } else {
        rc = emgmm__mstep_weights_means(m, X, n, ldx, resp, NULL, ws,
                                        &total);
    }
    if (rc != EMGMM_OK)
        return rc;
    /* Raw (undivided) scatter sums, summed over the processes, then
     * divided (emgmm__mstep_finish). */
    double *raw = emgmm__mstep_raw(m, ws);
    emgmm__mstep_scatter_add(m, X, n, ldx, resp, raw, ws);
    rc = emgmm__allreduce(ws, raw,
                          emgmm__mstep_raw_size(m->type, m->k, m->d));
    if (rc != EMGMM_OK)
        return rc;
    return emgmm__mstep_finish(m, raw, total, reg_covar, ws, bad);
}

/* ---- the fused iteration ----------------------------------------------
 *
 * emgmm__estep followed by emgmm__mstep reads X at least twice per
 * iteration (log-densities; then N_k, R^T X and the scatter, the latter
 * once per group of components). The fused iteration makes one pass: for
 * each chunk of rows, while it is in cache, the log-densities under the
 * current parameters theta_t, the responsibilities (times the weights),
 * the chunk's log-likelihood and every M-step sum. The new means are not
 * known during the pass, so the scatter is centred on the current ones,
 * a_k = mu_k^t, and corrected afterwards. With
 *   N = sum_i r_i,  g = sum_i r_i (x_i - a),  C = sum_i r_i (x_i - a)(x_i - a)^T
 * and any delta, exactly
 *   sum_i r_i (x_i - a - delta)(x_i - a - delta)^T
 *       = C - delta g^T - g delta^T + N delta delta^T.
 * With delta = mu' - a, mu' the new mean, this is the two-pass scatter
 * about mu' (scikit-learn's mu' = sum r x / (N + 10 eps) is not quite the
 * weighted mean, which is why the g terms are kept instead of the
 * shorter C - N delta delta^T). mu' and a are close, so delta = mu' - a
 * is exact in floating point (Sterbenz) whenever they are within a
 * factor 2 of each other, and a + delta is the very centre the two-pass
 * sum uses.
 *
 * Error: C and g are sums of small numbers (x_i - a is exact, or within
 * one rounding, and of the size of the component's spread sigma plus
 * |m - a|, m the weighted mean), so they carry relative errors of a few
 * eps, as the two-pass sums do; no quantity of the size of the data's
 * offset enters. C = S + N (m - a)(m - a)^T with S the scatter wanted, so
 * the correction cancels N |m - a|^2 and the result's error is about
 * eps (1 + |m - a|^2 / sigma^2) relative: nothing lost while the means
 * move by less than their spread, which EM's steps do after the first
 * few. g is computed about the model's centre c as G = sum r (x - c) (one
 * gemm per block on shifted rows) and g = G - N (a - c): the cancellation
 * there is of the spread of the components, not of the offset, and
 * enters the result multiplied by |delta|. Where a diagonal entry of the
 * result is below 1/fused_max_loss of the same entry of C (more than ten
 * bits cancelled: a mean that jumped far, a collapsing component), the
 * iteration's scatter is recomputed about mu' from the responsibilities
 * (still in resp), as the two-pass M-step does, so the accuracy never
 * drops below it.
 *
 * Determinism: the chunks and their slots depend on n, k, d and the type
 * only; each slot is summed by one thread in chunk order, slots are added
 * in slot order, and the log-likelihood is the E-step's per-block sums
 * added in block order (the same bits as emgmm__estep).
 */

/* Slots at most; their memory (beyond two) at most fused_slot_doubles. */
enum { FUSED_SLOTS = 8 };
static const size_t fused_slot_doubles = (size_t)1 << 23;
/* Doubles of rows and responsibilities per chunk (4 MiB): large enough
 * that the scatter kernels' per-call set-up and lane sums (about d^2 W
 * doubles per component) stay small beside a chunk's work, which at
 * d = 64 made 1 MiB chunks measurably slower than the two passes; the
 * E-step's blocks within a chunk are then read again from L2 or L3, not
 * from memory (bench/RESULTS.md). */
static const size_t fused_chunk_doubles = (size_t)1 << 19;
static const double fused_max_loss = 1024.0;

static int fused_on = 0;

void emgmm__set_fused(int on)
{
    fused_on = on != 0;
}

int emgmm__fused(void)
{
    return fused_on;
}

int emgmm__fused_alloc(emgmm_workspace *ws, size_t n,
                       emgmm_covariance_type type, size_t k, size_t d)
{
    const size_t br = ws->block_rows;
    /* At least 2 FUSED_SLOTS chunks where the rows allow: slots of two or
     * three chunks keep two threads within a few per cent of each other
     * (five slots of one chunk each left one thread a fifth idle). */
    size_t fr = fused_chunk_doubles / (d + k);
    const size_t balanced = (n + 2 * FUSED_SLOTS - 1) / (2 * FUSED_SLOTS);
    if (fr > balanced)
        fr = balanced;
    fr = fr / br * br;
    if (fr < br)
        fr = br;
    const size_t n_chunks = (n + fr - 1) / fr;
    const size_t size = 1 + k + k * d + emgmm__mstep_raw_size(type, k, d);
    size_t slots = fused_slot_doubles / size;
    if (slots < 2)
        slots = 2;
    if (slots > FUSED_SLOTS)
        slots = FUSED_SLOTS;
    if (slots > n_chunks)
        slots = n_chunks;
    /* A power of two: slots of about equal work share out evenly over
     * two (or four) threads. */
    while (slots & (slots - 1))
        slots &= slots - 1;
    if (slots < 1)
        slots = 1;
    emgmm__free(ws->slots);
    ws->slots = emgmm__malloc(slots, size * sizeof(double));
    if (!ws->slots) {
        ws->n_slots = 0;
        return EMGMM_ERR_NOMEM;
    }
    ws->fused_rows = fr;
    ws->n_slots = slots;
    ws->slot_size = size;
    return EMGMM_OK;
}

/* The scatter of rows [0, n) about m's (current) means, added to raw in
 * the shape of emgmm__mstep_raw, on the calling thread. */
static void fused_scatter(const emgmm_model *m, const double *X, size_t n,
                          size_t ldx, const double *resp, double *raw,
                          double *work, size_t gr)
{
    const size_t k = m->k, d = m->d;
    const int tied = m->type == EMGMM_COVARIANCE_TIED;
    if (m->type == EMGMM_COVARIANCE_FULL || tied) {
        emgmm__scatter_fn *kernel = scatter_kernel(d);
        if (kernel) {
            for (size_t c0 = 0; c0 < k; c0 += EMGMM__SCATTER_GROUP) {
                const size_t c1 = k - c0 < EMGMM__SCATTER_GROUP
                                      ? k
                                      : c0 + EMGMM__SCATTER_GROUP;
                kernel(X, n, ldx, d, resp, k, c0, c1, m->means, raw,
                       tied ? 0 : d * d, work);
            }
            return;
        }
        for (size_t c = 0; c < k; c++)
            scatter_component(X, n, ldx, resp, k, c, m->means + c * d,
                              tied ? raw : raw + c * d * d, d, work, gr);
        return;
    }
    for (size_t c = 0; c < k; c++)
        diagonal_sums(X, n, ldx, resp, k, c, m->means + c * d, d,
                      raw + c * d);
}

/* Slot s: its chunks, in order, on the calling thread. */
static void fused_slot(const emgmm_model *m, const double *X, size_t n,
                       size_t ldx, const double *weight, double *resp,
                       emgmm_workspace *ws, size_t s)
{
    const size_t k = m->k, d = m->d, br = ws->block_rows;
    const size_t fr = ws->fused_rows, n_chunks = (n + fr - 1) / fr;
    const size_t first = s * n_chunks / ws->n_slots,
                 last = (s + 1) * n_chunks / ws->n_slots;
    const size_t t = (size_t)emgmm__thread_id();
    double *proj = ws->proj + t * br * (k * d + d);
    double *work = ws->centred + t * ws->centred_stride;
    double *acc = ws->slots + s * ws->slot_size;
    double *nk = acc + 1, *g = nk + k, *raw = g + k * d;
    memset(acc, 0, ws->slot_size * sizeof(double));
    for (size_t ch = first; ch < last; ch++) {
        const size_t c0 = ch * fr, rows = n - c0 < fr ? n - c0 : fr;
        /* The E-step's blocks (c0 is a multiple of br): the same bits. */
        for (size_t i0 = c0; i0 < c0 + rows; i0 += br) {
            const size_t nr = c0 + rows - i0 < br ? c0 + rows - i0 : br;
            double *r = resp + i0 * k;
            ws->block_ll[i0 / br] =
                emgmm__estep_block(m, X + i0 * ldx, nr, ldx, proj,
                                   weight ? weight + i0 : NULL, r, NULL);
            for (size_t i = 0; i < nr; i++)
                for (size_t c = 0; c < k; c++)
                    nk[c] += r[i * k + c];
            /* sum r (x - centre): rows shifted first (see above). */
            for (size_t i = 0; i < nr; i++)
                for (size_t j = 0; j < d; j++)
                    proj[i * d + j] = X[(i0 + i) * ldx + j] - m->centre[j];
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k,
                        (int)d, (int)nr, 1.0, r, (int)k, proj, (int)d, 1.0,
                        g, (int)d);
        }
        fused_scatter(m, X + c0 * ldx, rows, ldx, resp + c0 * k, raw, work,
                      ws->gather_rows);
    }
}

int emgmm__fused_step(emgmm_model *m, const double *X, size_t n, size_t ldx,
                      const double *weight, double *resp, double reg_covar,
                      emgmm_workspace *ws, double *ll, int *bad)
{
    const size_t k = m->k, d = m->d, size = ws->slot_size;
    const size_t raw_size = emgmm__mstep_raw_size(m->type, k, d);
    const long n_slots = (long)ws->n_slots;
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(ws->n_threads) \
    if (ws->n_threads > 1)
#endif
    for (long s = 0; s < n_slots; s++)
        fused_slot(m, X, n, ldx, weight, resp, ws, (size_t)s);

    double *acc = ws->slots;
    for (long s = 1; s < n_slots; s++) {
        const double *o = ws->slots + (size_t)s * size;
        for (size_t i = 0; i < size; i++)
            acc[i] += o[i];
    }
    double total_ll = 0.0;
    for (size_t b = 0; b < ws->n_blocks; b++)
        total_ll += ws->block_ll[b];
    acc[0] = total_ll;
    /* Every sum of the iteration in one reduction. */
    int rc = emgmm__allreduce(ws, acc, size);
    if (rc != EMGMM_OK)
        return rc;
    *ll = acc[0];
    const double *nk = acc + 1;
    double *g = acc + 1 + k, *sc = g + k * d;

    /* The old means a (into sphere, k x d), g = G - N (a - c) in place of
     * G, and sum r x = N c + G into m->means for the new weights and
     * means. */
    double *a = ws->sphere;
    for (size_t c = 0; c < k; c++) {
        for (size_t j = 0; j < d; j++) {
            const double ac = m->means[c * d + j], cj = m->centre[j];
            const double G = g[c * d + j];
            a[c * d + j] = ac;
            m->means[c * d + j] = nk[c] * cj + G;
            g[c * d + j] = G - nk[c] * (ac - cj);
        }
        m->log_norm[c] = nk[c];
    }
    double total;
    weights_means_from_sums(m, &total);

    int fallback = 0;
    switch (m->type) {
    case EMGMM_COVARIANCE_FULL:
    case EMGMM_COVARIANCE_TIED: {
        const int tied = m->type == EMGMM_COVARIANCE_TIED;
        double *before = ws->scratch; /* d: C's diagonal (tied: summed) */
        for (size_t i = 0; i < d; i++)
            before[i] = sc[i * d + i];
        for (size_t c = 0; c < k; c++) {
            double *S = tied ? sc : sc + c * d * d;
            const double *mu = m->means + c * d, *ac = a + c * d,
                         *gc = g + c * d;
            if (!tied)
                for (size_t i = 0; i < d; i++)
                    before[i] = S[i * d + i];
            for (size_t i = 0; i < d; i++) {
                const double di = mu[i] - ac[i];
                for (size_t j = 0; j <= i; j++) {
                    const double dj = mu[j] - ac[j];
                    S[i * d + j] += nk[c] * di * dj - (di * gc[j] + gc[i] * dj);
                }
            }
            if (!tied)
                for (size_t i = 0; i < d; i++)
                    fallback |= !(before[i] <= fused_max_loss * S[i * d + i]);
        }
        if (tied)
            for (size_t i = 0; i < d; i++)
                fallback |= !(before[i] <= fused_max_loss * sc[i * d + i]);
        break;
    }
    case EMGMM_COVARIANCE_DIAG:
    case EMGMM_COVARIANCE_SPHERICAL:
        for (size_t c = 0; c < k; c++)
            for (size_t j = 0; j < d; j++) {
                const size_t e = c * d + j;
                const double dj = m->means[e] - a[e], before = sc[e];
                sc[e] += nk[c] * dj * dj - 2.0 * dj * g[e];
                fallback |= !(before <= fused_max_loss * sc[e]);
            }
        break;
    }

    double *raw = emgmm__mstep_raw(m, ws);
    if (fallback) {
        /* Too much cancelled: the two-pass scatter about the new means. */
        emgmm__mstep_scatter_add(m, X, n, ldx, resp, raw, ws);
        rc = emgmm__allreduce(ws, raw, raw_size);
        if (rc != EMGMM_OK)
            return rc;
    } else {
        memcpy(raw, sc, raw_size * sizeof(double));
    }
    return emgmm__mstep_finish(m, raw, total, reg_covar, ws, bad);
}
