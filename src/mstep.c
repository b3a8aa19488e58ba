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

int emgmm__mstep_finish_means(emgmm_model *m, const emgmm_workspace *ws,
                              double *total)
{
    const size_t k = m->k, d = m->d;
    double *nk = m->log_norm;
    int rc = emgmm__allreduce(ws, nk, k);
    if (rc == EMGMM_OK)
        rc = emgmm__allreduce(ws, m->means, k * d);
    if (rc != EMGMM_OK)
        return rc;

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
    const size_t threads = (size_t)ws->n_threads;
    size_t group = (k + threads - 1) / threads;
    if (group > EMGMM__SCATTER_GROUP)
        group = EMGMM__SCATTER_GROUP;
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
        emgmm__scatter_fn *kernel = emgmm__scatter_kernel(d);
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
    int rc = emgmm__mstep_weights_means(m, X, n, ldx, resp, NULL, ws, &total);
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
