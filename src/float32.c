/*
 * Float32 data: the E- and M-steps (and predict, score) on rows kept as
 * float32, with every sum and every parameter in float64 and the model
 * the same object (and file) as a float64 fit's.
 *
 * Three paths:
 *
 * - Widened (diag, spherical, and full/tied with d < 33): each block of
 *   rows is converted to float64 in a per-thread buffer (exact) and the
 *   float64 kernels run on it. The result is the float64 fit of the same
 *   (float32) values up to the order of some additions; the memory is
 *   still halved (only a block per thread is ever float64).
 *
 * - Float32 kernels (full and tied, 33 <= d <= 64 where kernels.h's
 *   ranges say so: AVX2, AVX-512): the float64 kernels' template with
 *   float32 products, rows in vector lanes and no conversion pass. The
 *   same analysis as the BLAS path below, with these differences:
 *   E-step, full: the row is shifted by chi_c = float32(mu_c) in float32
 *   (error <= u |x - chi_c|, and |chi_c - mu_c| <= u |mu_c|), and the
 *   projection starts from (mu_c - chi_c)^T U_c (computed in float64,
 *   rounded), so y = (x - mu_c)^T U_c with d + 1 float32 terms: the bound
 *   is (gamma_{d+1} + 2u) (|x - chi_c| + |mu_c - chi_c|)^T |U_c|, that of
 *   the BLAS path with one more term. Tied: shifted by float32(centre),
 *   the projected means (mu_c - float32(centre))^T U in float64. Every
 *   square is widened and summed in float64. M-step: rows z = sqrt(r /
 *   N_c) (x - mu_c), x - mu_c formed as (x - chi_c) - float32(mu_c -
 *   chi_c) (error within 2u |x - mu_c| + u^2 |mu_c|, the last term below
 *   float32's resolution of the data themselves), responsibilities with
 *   r / N_c < FLT_MIN dropped (each such row adds less than FLT_MIN |x -
 *   mu|^2 to sums of the covariance's size; float32 would hold it
 *   subnormal). Each float32 partial sum (a vector lane in the lane
 *   kernel, a matrix entry of a tile in the kernel by rows) takes at
 *   most 256 rows (kernels_tmpl.h, MIX_LANE_ROWS) before it is added
 *   into float64 sums: |error| <= gamma_256 |Z|^T |Z| = 1.5e-5 as a bound (about
 *   16 u = 1e-6 typically) of the lane's share, below the BLAS path's
 *   gamma_2048; the lanes and blocks are then added in float64 in a
 *   fixed order. The float32 products of rounded rows are no longer one
 *   Gram matrix, so positive definiteness rests on the same check and
 *   float64 retry as below (well_conditioned). A non-finite log-density
 *   or sum falls back to the widened path, as for BLAS.
 *
 * - Float32 BLAS (full and tied, d >= 33, where the O(d^2) work per row
 *   and component dominates, outside the kernels' range):
 *
 *   E-step. For component c (full), z = x - mu_c is formed in float64
 *   (x is exact, mu_c float64) and rounded to float32, then projected by
 *   strmm on U_c rounded to float32 (U_c U_c^T = Sigma_c^-1), and the
 *   squared norm q = ||z^T U_c||^2 is summed in float64. Shifting each
 *   row by the component's own mean, not the model's centre, leaves no
 *   cancellation after the product: the float32 errors are relative to
 *   the projection itself. With u = 2^-24 and gamma_d = d u / (1 - d u),
 *     y~ = fl(z~ U~),  |y~ - z^T U| <= (gamma_d + 2u) |z|^T |U|
 *   elementwise, so |q~ - q| <= 2 ||y|| (gamma_d + 2u) || |z|^T|U| || +
 *   O(u^2), i.e. a relative error of about (d + 2) u kappa, kappa the
 *   ratio || |z|^T |U| || / ||z^T U|| (<= sqrt(cond Sigma) and in
 *   practice a few). The log-density is off by at most q~ (d + 2) u kappa
 *   / 2: for d = 64 and q ~ d, about 1e-4 kappa in the worst case and
 *   1e-6 typically (the errors are not all of one sign). Tied shares one
 *   U: the rows are shifted by the model's centre (as in estep.c),
 *   projected once, and each component's projected mean subtracted in
 *   float64; the error is then relative to ||(x - centre)^T U||, the
 *   spread of the whole mixture rather than of one component.
 *
 *   M-step. The weights and the means are float64 sums (each chunk of
 *   rows widened, then dgemm R^T X in float64). The scatter is centred, as
 *   in mstep.c: rows z_i = sqrt(r_ic / N_c) (x_i - mu_c) are formed in
 *   float64 and rounded to float32, gathered at most 2048 at a time, and
 *   each chunk's ssyrk result Z^T Z is added into float64 sums (scaled
 *   back by N_c). The division by N_c keeps the float32 entries near the
 *   covariance's own scale, whatever the responsibilities. The Gram matrix
 *   of the rounded rows is positive semidefinite exactly; only the
 *   accumulation inside one ssyrk call rounds, with
 *     |C~ - Z~^T Z~| <= gamma_G |Z~|^T |Z~|,  G <= 2048 rows,
 *   which for centred rows is relative to the component's own variances
 *   (gamma_G <= 1.2e-4 as a bound, about sqrt(G) u = 3e-6 typically).
 *   Uncentred float32 sums (sum x x^T - N mu mu^T) would instead be
 *   relative to |mu|^2 and lose every digit of the covariance for data
 *   far from the origin (the known failure, scikit-learn #30382).
 *   Should a covariance still fail its Cholesky factorisation (a matrix
 *   singular to within that bound: reg_covar below it), the M-step is
 *   redone with the widened float64 scatter, so float32 rounding never
 *   makes a fit fail where float64 would not. A non-finite float32 result
 *   (an overflow) also falls back to float64.
 *
 * Sums over rows are made in a fixed order for any thread count: E-step
 * blocks as in estep.c, means in fixed parts of the rows added in order,
 * scatter by component. So 1 and 2 threads give the same bits.
 */
#include "float32.h"
#include "emgmm_config.h"
#include "kernels.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>
#if EMGMM_HAVE_OPENMP
#include <omp.h>
#endif

/* GATHER_MAX: rows per ssyrk call (at most; fewer for d > 128, so that
 * a thread's F32_GROUP buffers stay within 4 MiB). */
enum { GATHER_MAX = 2048, MAX_PARTS = 64, F32_GROUP = 4 };

/* The conversion loops below (float32 to float64 and back, a shift, a
 * scale) touch every row once per component: compiled for AVX-512 and
 * AVX2 as well, chosen when the program loads (GCC's and Clang's function
 * multi-versioning), so that they stay small against the BLAS calls. On
 * one machine the same clone always runs, so results do not depend on the
 * thread count; across machines they may differ in the last bits, as the
 * BLAS kernels do. */
#if defined(__x86_64__) && defined(__ELF__) && defined(__has_attribute)
#if __has_attribute(target_clones) && !defined(__SANITIZE_ADDRESS__)
#define F32_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef F32_CLONES
#define F32_CLONES
#endif

/* y[i][j] = float32(x[i][j] - mu[j]) for rows x d. */
F32_CLONES static void shift_round(const float *restrict X, size_t rows,
                                   size_t d, size_t ldx,
                                   const double *restrict mu,
                                   float *restrict y)
{
    for (size_t i = 0; i < rows; i++) {
        const float *x = X + i * ldx;
        float *yi = y + i * d;
        for (size_t j = 0; j < d; j++)
            yi[j] = (float)((double)x[j] - mu[j]);
    }
}

/* Gathers the rows of components c0 .. c0 + nc - 1 from row *next on:
 * row i goes to component c's buffer (z + (c - c0) * room * d, after its
 * count[c - c0] rows) as float32(sqrt(r * inv[c - c0]) (x_i - mu_c)),
 * r = resp[i*k + c], unless r < DBL_MIN (it would add less than 1e-284,
 * |x - mu| <= 1e12: nothing). Stops after the row that fills a buffer
 * (room rows), or at n; *next is the row after the last one read. One pass
 * over X and the responsibilities serves the group, and each component's
 * rows are cut into the same runs of `room` whatever the group. */
F32_CLONES static void gather_group(const float *restrict X, size_t n,
                                    size_t ldx, size_t d,
                                    const double *restrict resp, size_t k,
                                    size_t c0, size_t nc,
                                    const double *restrict means,
                                    const double *restrict inv, size_t room,
                                    size_t *restrict count, size_t *next,
                                    float *restrict z)
{
    size_t i = *next;
    int full = 0;
    for (; i < n && !full; i++) {
        const float *x = X + i * ldx;
        for (size_t g = 0; g < nc; g++) {
            const double r = resp[i * k + c0 + g];
            if (r < DBL_MIN)
                continue;
            const double s = sqrt(r * inv[g]);
            const double *mu = means + (c0 + g) * d;
            float *zi = z + (g * room + count[g]) * d;
            for (size_t j = 0; j < d; j++)
                zi[j] = (float)(s * ((double)x[j] - mu[j]));
            full |= ++count[g] == room;
        }
    }
    *next = i;
}

int emgmm__check_data_f32(const float *X, size_t n, size_t d, size_t ldx,
                          int allow_nan, int *blas_ok)
{
    *blas_ok = 1;
    for (size_t j = 0; j < d; j++) {
        float lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            const float v = X[i * ldx + j];
            if (isnan(v))
                return allow_nan ? EMGMM_ERR_UNSUPPORTED
                                 : EMGMM_ERR_NONFINITE;
            if (!isfinite(v))
                return EMGMM_ERR_NONFINITE;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        const double range = (double)hi - (double)lo;
        if (range > 1e12 || (range > 0.0 && range < 1e-12))
            *blas_ok = 0;
    }
    return EMGMM_OK;
}

/* (Multi-versioned functions stay static: Clang 14 emits no plain symbol
 * for an external one.) */
F32_CLONES static void widen(const float *restrict X, size_t rows, size_t d,
                             size_t ldx, double *restrict out)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < d; j++)
            out[i * d + j] = (double)X[i * ldx + j];
}

void emgmm__widen_rows(const float *X, size_t rows, size_t d, size_t ldx,
                       double *out)
{
    widen(X, rows, d, ldx, out);
}

void emgmm__f32_work_free(emgmm_f32_work *w)
{
    emgmm__free(w->wide);
    emgmm__free(w->rbuf);
    emgmm__free(w->y);
    emgmm__free(w->c);
    emgmm__free(w->u);
    emgmm__free(w->partial);
    emgmm__free(w->nk);
    emgmm__free(w->shift);
    emgmm__free(w->init_proj);
    emgmm__free(w->tied_proj);
    emgmm__free(w->kwork);
    memset(w, 0, sizeof *w);
}

/* Rows per widened chunk of the M-step. */
static size_t chunk_rows(const emgmm_workspace *ws)
{
    return ws->gather_rows > ws->block_rows ? ws->gather_rows
                                            : ws->block_rows;
}

/* Float32 factor storage: d x (k*d) (full) or d x d (tied). */
static size_t factor_floats(emgmm_covariance_type type, size_t k, size_t d)
{
    return type == EMGMM_COVARIANCE_FULL ? k * d * d : d * d;
}

static int uses_blas(emgmm_covariance_type type, size_t d)
{
    return (type == EMGMM_COVARIANCE_FULL ||
            type == EMGMM_COVARIANCE_TIED) &&
           d >= EMGMM__F32_BLAS_MIN_D;
}

/* Whether the float32 kernels may serve this fit (whether they do is
 * decided per step: kernels.h's ranges and the current path; the E-step
 * kernel reaches EMGMM__KERNEL_MAX_D, the M-step's EMGMM__SCATTER_MAX_D). */
static int may_use_kernels(emgmm_covariance_type type, size_t d)
{
    return uses_blas(type, d) && d <= EMGMM__SCATTER_MAX_D;
}

int emgmm__f32_work_alloc(emgmm_f32_work *w, const emgmm_workspace *ws,
                          size_t n, size_t k, size_t d,
                          emgmm_covariance_type type, int blas_ok)
{
    memset(w, 0, sizeof *w);
    const size_t t = (size_t)ws->n_threads;
    w->n_threads = ws->n_threads;
    w->blas = blas_ok && uses_blas(type, d);
    w->wide_rows = chunk_rows(ws);
    w->gather = ws->gather_rows < GATHER_MAX ? ws->gather_rows : GATHER_MAX;
    if (w->gather > ((size_t)1 << 18) / d)
        w->gather = ((size_t)1 << 18) / d;
    if (w->gather < 1)
        w->gather = 1;
    /* y: a block of shifted rows (E-step), or F32_GROUP gather buffers */
    w->y_rows = F32_GROUP * w->gather;
    if (w->y_rows < ws->block_rows)
        w->y_rows = ws->block_rows;
    const size_t n_chunks = (n + w->wide_rows - 1) / w->wide_rows;
    w->n_parts = n_chunks < MAX_PARTS ? n_chunks : MAX_PARTS;
    w->wide = emgmm__malloc(t * w->wide_rows, d * sizeof(double));
    w->rbuf = emgmm__malloc(t * w->wide_rows, k * sizeof(double));
    w->partial = emgmm__malloc(w->n_parts, (k + k * d) * sizeof(double));
    w->nk = emgmm__malloc(k, sizeof(double));
    int ok = w->wide && w->rbuf && w->partial && w->nk;
    if (ok && w->blas) {
        w->y = emgmm__malloc(t * w->y_rows, d * sizeof(float));
        w->c = emgmm__malloc(t * d, d * sizeof(float));
        w->u = emgmm__malloc(factor_floats(type, k, d), sizeof(float));
        ok = w->y && w->c && w->u;
    }
    if (ok && w->blas && may_use_kernels(type, d)) {
        w->kern = 1;
        w->shift = emgmm__malloc(k * d, sizeof(float));
        w->init_proj = emgmm__malloc(k * d, sizeof(float));
        w->tied_proj = emgmm__malloc(k * d, sizeof(double));
        w->kwork_stride = emgmm__scatter_f32_work_size(d);
        w->kwork = emgmm__malloc(t * w->kwork_stride, sizeof(double));
        ok = w->shift && w->init_proj && w->tied_proj && w->kwork;
    }
    if (!ok) {
        emgmm__f32_work_free(w);
        return EMGMM_ERR_NOMEM;
    }
    return EMGMM_OK;
}

/* Rounds the model's precision factors to float32 into u; 0 when one
 * would overflow or fall below float32's normal range (then the widened
 * path is taken). */
static int round_factors(const emgmm_model *m, float *u)
{
    const size_t count = factor_floats(m->type, m->k, m->d);
    int ok = 1;
    for (size_t i = 0; i < count; i++) {
        const double v = m->prec[i];
        const double a = fabs(v);
        if (!(a <= 1e30) || (a != 0.0 && a < 1e-30))
            ok = 0;
        u[i] = (float)v;
    }
    return ok;
}

int emgmm__f32_kernel_model(const emgmm_model *m, float *u, float *shift,
                            float *init_proj, double *tied_proj)
{
    const size_t k = m->k, d = m->d;
    if (!round_factors(m, u))
        return 0;
    if (m->type == EMGMM_COVARIANCE_TIED) {
        /* (mu_c - shift)^T U = mean_proj_c + (centre - shift)^T U: the
         * model's own projection and a correction below float32's
         * resolution of the centre. */
        for (size_t a = 0; a < d; a++)
            shift[a] = (float)m->centre[a];
        for (size_t c = 0; c < k; c++)
            for (size_t b = 0; b < d; b++) {
                double v = m->mean_proj[c * d + b];
                for (size_t a = 0; a <= b; a++)
                    v += (m->centre[a] - (double)shift[a]) *
                         m->prec[a * d + b];
                tied_proj[c * d + b] = v;
            }
        return 1;
    }
    const size_t kd = k * d;
    for (size_t c = 0; c < k; c++) {
        const double *mu = m->means + c * d, *uc = m->prec + c * d;
        float *sc = shift + c * d;
        for (size_t a = 0; a < d; a++)
            sc[a] = (float)mu[a];
        for (size_t b = 0; b < d; b++) {
            double v = 0.0;
            for (size_t a = 0; a <= b; a++)
                v += (mu[a] - (double)sc[a]) * uc[a * kd + b];
            init_proj[c * d + b] = (float)v;
        }
    }
    return 1;
}

/* Sum of squares of y (float32) in float64, eight partial sums (one
 * vector register of doubles for the compiler). */
static inline double sumsq_f32(const float *y, size_t d)
{
    double s8[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    size_t j = 0;
    for (; j + 8 <= d; j += 8)
        for (size_t t = 0; t < 8; t++) {
            const double v = (double)y[j + t];
            s8[t] += v * v;
        }
    double s = ((s8[0] + s8[4]) + (s8[1] + s8[5])) +
               ((s8[2] + s8[6]) + (s8[3] + s8[7]));
    for (; j < d; j++)
        s += (double)y[j] * (double)y[j];
    return s;
}

/* logp[i*k + c] = norm - q_i / 2 for rows of y (rows x d); 0 if a q is
 * not finite. */
F32_CLONES static int logp_from_sumsq(const float *y, size_t rows, size_t d,
                                      double norm, size_t k, double *logp)
{
    int ok = 1;
    for (size_t i = 0; i < rows; i++) {
        const double q = sumsq_f32(y + i * d, d);
        ok &= q <= DBL_MAX;
        logp[i * k] = norm - 0.5 * q;
    }
    return ok;
}

/* Squared norm of y - mp, y float32, mp float64, in float64. */
static inline double sqdist_f32(const float *y, const double *mp, size_t d)
{
    double s4[4] = {0.0, 0.0, 0.0, 0.0};
    size_t j = 0;
    for (; j + 4 <= d; j += 4)
        for (size_t t = 0; t < 4; t++) {
            const double v = (double)y[j + t] - mp[j + t];
            s4[t] += v * v;
        }
    double s = (s4[0] + s4[1]) + (s4[2] + s4[3]);
    for (; j < d; j++) {
        const double v = (double)y[j] - mp[j];
        s += v * v;
    }
    return s;
}

/* The float32 BLAS projection of a block (full or tied); 0 if a result
 * was not finite (then the caller takes the widened path). */
static int log_prob_blas(const emgmm_model *m, const float *u,
                         const float *X, size_t rows, size_t ldx, float *y,
                         double *logp)
{
    const size_t k = m->k, d = m->d;
    if (m->type == EMGMM_COVARIANCE_TIED) {
        shift_round(X, rows, d, ldx, m->centre, y);
        cblas_strmm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans,
                    CblasNonUnit, (int)rows, (int)d, 1.0f, u, (int)d, y,
                    (int)d);
        for (size_t c = 0; c < k; c++)
            for (size_t i = 0; i < rows; i++) {
                const double q = sqdist_f32(y + i * d, m->mean_proj + c * d,
                                            d);
                if (!isfinite(q))
                    return 0;
                logp[i * k + c] = m->log_norm[c] - 0.5 * q;
            }
        return 1;
    }
    const size_t kd = k * d;
    for (size_t c = 0; c < k; c++) {
        shift_round(X, rows, d, ldx, m->means + c * d, y);
        cblas_strmm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans,
                    CblasNonUnit, (int)rows, (int)d, 1.0f, u + c * d,
                    (int)kd, y, (int)d);
        if (!logp_from_sumsq(y, rows, d, m->log_norm[c], k, logp + c))
            return 0;
    }
    return 1;
}

/* The float32 kernel on a block; 0 if a result was not finite. */
static int log_prob_kernel(const emgmm_model *m, const emgmm_f32_work *w,
                           emgmm__logp_f32_fn *kernel, const float *X,
                           size_t rows, size_t ldx, double *logp)
{
    const size_t k = m->k, d = m->d;
    const int tied = m->type == EMGMM_COVARIANCE_TIED;
    kernel(X, rows, ldx, d, k, tied ? w->shift : NULL,
           tied ? NULL : w->shift, w->u, tied ? d : k * d, tied,
           w->init_proj, w->tied_proj, m->log_norm, logp);
    int ok = 1;
    for (size_t i = 0; i < rows * k; i++)
        ok &= logp[i] <= DBL_MAX && logp[i] >= -DBL_MAX;
    return ok;
}

/* Weighted log-densities of a block of float32 rows into logp (rows x k).
 * u: the rounded factors, or NULL for the widened path; kernel (with
 * w's kernel model): the float32 kernel, or NULL for float32 BLAS. */
static void log_prob_block_f32(const emgmm_model *m, const float *u,
                               emgmm__logp_f32_fn *kernel,
                               const emgmm_f32_work *w, const float *X,
                               size_t rows, size_t ldx, double *wide,
                               float *y, double *proj, double *logp)
{
    if (u && kernel && log_prob_kernel(m, w, kernel, X, rows, ldx, logp))
        return;
    if (u && !kernel && log_prob_blas(m, u, X, rows, ldx, y, logp))
        return;
    emgmm__widen_rows(X, rows, m->d, ldx, wide);
    emgmm__log_prob_block(m, wide, rows, m->d, proj, logp);
}

double emgmm__estep_f32(const emgmm_model *m, const float *X, size_t n,
                        size_t ldx, const double *weight, double *resp,
                        emgmm_workspace *ws, emgmm_f32_work *w)
{
    const size_t k = m->k, d = m->d, br = ws->block_rows;
    const long n_blocks = (long)ws->n_blocks;
    emgmm__logp_f32_fn *kernel =
        w->kern ? emgmm__logp_f32_kernel(d) : NULL;
    if (kernel)
        w->u_ok = emgmm__f32_kernel_model(m, w->u, w->shift, w->init_proj,
                                          w->tied_proj);
    else
        w->u_ok = w->blas && round_factors(m, w->u);
    const float *u = w->u_ok ? w->u : NULL;

#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(ws->n_threads) \
    if (ws->n_threads > 1)
#endif
    for (long b = 0; b < n_blocks; b++) {
        const size_t t = (size_t)emgmm__thread_id();
        const size_t i0 = (size_t)b * br;
        const size_t rows = n - i0 < br ? n - i0 : br;
        log_prob_block_f32(m, u, kernel, w, X + i0 * ldx, rows, ldx,
                           w->wide + t * w->wide_rows * d,
                           w->y ? w->y + t * w->y_rows * d : NULL,
                           ws->proj + t * br * (k * d + d), resp + i0 * k);
        ws->block_ll[b] = emgmm__normalize_log_resp(
            resp + i0 * k, rows, k, weight ? weight + i0 : NULL, NULL);
    }
    double total = 0.0;
    for (long b = 0; b < n_blocks; b++)
        total += ws->block_ll[b];
    return total;
}

/* N_k into m->log_norm and sum_i r_ik x_i into m->means, in float64:
 * fixed parts of the rows (the same for any thread count), each summed
 * chunk by chunk on widened rows by dgemm, then the parts added in
 * order. Responsibilities below DBL_MIN (subnormal: exp of a very
 * negative log-density) go into the products as 0: a subnormal operand
 * costs the BLAS a micro-code assist per multiplication (measured: the
 * means took as long as the whole float32 scatter), and such terms,
 * below 1e-308 |x|, cannot change a mean: even for a component with no
 * other responsibility, the mean is sum r x / (sum r + 10 eps), within
 * 1e-290 of zero either way. N_k keeps them. */
static void mean_sums(emgmm_model *m, const float *X, size_t n, size_t ldx,
                      const double *resp, const emgmm_workspace *ws,
                      emgmm_f32_work *w)
{
    const size_t k = m->k, d = m->d, cr = w->wide_rows;
    const size_t n_chunks = (n + cr - 1) / cr, P = w->n_parts;
    const size_t stride = k + k * d;
    const int threads = ws->n_threads < (int)P ? ws->n_threads : (int)P;
    (void)threads;
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) \
    if (threads > 1)
#endif
    for (long pl = 0; pl < (long)P; pl++) {
        const size_t p = (size_t)pl, t = (size_t)emgmm__thread_id();
        double *nk = w->partial + p * stride, *sx = nk + k;
        double *wide = w->wide + t * cr * d;
        double *rb = w->rbuf + t * cr * k;
        memset(nk, 0, stride * sizeof(double));
        const size_t c0 = p * n_chunks / P, c1 = (p + 1) * n_chunks / P;
        for (size_t ch = c0; ch < c1; ch++) {
            const size_t i0 = ch * cr, rows = n - i0 < cr ? n - i0 : cr;
            const double *r = resp + i0 * k;
            for (size_t i = 0; i < rows; i++)
                for (size_t c = 0; c < k; c++) {
                    const double v = r[i * k + c];
                    nk[c] += v;
                    rb[i * k + c] = v < DBL_MIN ? 0.0 : v;
                }
            emgmm__widen_rows(X + i0 * ldx, rows, d, ldx, wide);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k,
                        (int)d, (int)rows, 1.0, rb, (int)k, wide, (int)d, 1.0,
                        sx, (int)d);
        }
    }
    memset(m->log_norm, 0, k * sizeof(double));
    memset(m->means, 0, k * d * sizeof(double));
    for (size_t p = 0; p < P; p++) {
        const double *nk = w->partial + p * stride, *sx = nk + k;
        for (size_t c = 0; c < k; c++)
            m->log_norm[c] += nk[c];
        for (size_t i = 0; i < k * d; i++)
            m->means[i] += sx[i];
    }
}

/* The float64 scatter on widened chunks of rows (mstep.c's kernels). */
static void scatter_widened(emgmm_model *m, const float *X, size_t n,
                            size_t ldx, const double *resp, double *raw,
                            emgmm_workspace *ws, emgmm_f32_work *w)
{
    const size_t k = m->k, d = m->d, cr = w->wide_rows;
    for (size_t i0 = 0; i0 < n; i0 += cr) {
        const size_t rows = n - i0 < cr ? n - i0 : cr;
        emgmm__widen_rows(X + i0 * ldx, rows, d, ldx, w->wide);
        emgmm__mstep_scatter_add(m, w->wide, rows, d, resp + i0 * k, raw,
                                 ws);
    }
}

/* One ssyrk on `rows` gathered rows, added (times scale) to the lower
 * triangle of acc. 0 if a result was not finite. */
static int syrk_add(const float *z, size_t rows, size_t d, float *cbuf,
                    double scale, double *acc)
{
    cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d, (int)rows,
                1.0f, z, (int)d, 0.0f, cbuf, (int)d);
    int ok = 1;
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b <= a; b++) {
            const double v = (double)cbuf[a * d + b];
            ok &= isfinite(v) != 0;
            acc[a * d + b] += scale * v;
        }
    return ok;
}

/* Adds the centred scatters of components c0 .. c0 + nc - 1 to their
 * lower triangles, acc + (c - c0) * acc_stride (tied: stride 0, one
 * matrix), rows scaled by sqrt(r / scale_c) and the float32 sums
 * multiplied back by scale_c (scale: nc values). 0 if a result was not
 * finite. z: nc * room * d floats. */
static int scatter_group_f32(const emgmm_model *m, const float *X, size_t n,
                             size_t ldx, const double *resp, size_t c0,
                             size_t nc, const double *scale, double *acc,
                             size_t acc_stride, float *z, float *cbuf,
                             size_t room)
{
    const size_t k = m->k, d = m->d;
    double inv[F32_GROUP];
    size_t count[F32_GROUP];
    for (size_t g = 0; g < nc; g++) {
        inv[g] = 1.0 / scale[g];
        count[g] = 0;
    }
    size_t next = 0;
    int ok = 1;
    while (next < n) {
        gather_group(X, n, ldx, d, resp, k, c0, nc, m->means, inv, room,
                     count, &next, z);
        for (size_t g = 0; g < nc; g++)
            if (count[g] == room || (next == n && count[g] > 0)) {
                ok &= syrk_add(z + g * room * d, count[g], d, cbuf, scale[g],
                               acc + g * acc_stride);
                count[g] = 0;
            }
    }
    return ok;
}

/* Whether the float64 sums (lower triangles) of `count` d x d matrices
 * at acc are finite. */
static int lower_finite(const double *acc, size_t count, size_t d)
{
    int ok = 1;
    for (size_t c = 0; c < count; c++)
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b <= a; b++)
                ok &= isfinite(acc[c * d * d + a * d + b]) != 0;
    return ok;
}

/* The float32 scatter kernel (kernels.h), grouped as mstep.c groups the
 * float64 one; 0 if a sum was not finite. */
static int scatter_kernel_f32(emgmm__scatter_f32_fn *kernel, emgmm_model *m,
                              const float *X, size_t n, size_t ldx,
                              const double *resp, double total, double *raw,
                              emgmm_workspace *ws, emgmm_f32_work *w)
{
    const size_t k = m->k, d = m->d;
    if (m->type == EMGMM_COVARIANCE_TIED) {
        double scale[EMGMM__SCATTER_GROUP];
        for (size_t g = 0; g < EMGMM__SCATTER_GROUP; g++)
            scale[g] = total;
        for (size_t c0 = 0; c0 < k; c0 += EMGMM__SCATTER_GROUP) {
            const size_t c1 =
                k - c0 < EMGMM__SCATTER_GROUP ? k : c0 + EMGMM__SCATTER_GROUP;
            kernel(X, n, ldx, d, resp, k, c0, c1, m->means, scale, raw, 0,
                   w->kwork);
        }
        return lower_finite(raw, 1, d);
    }
    const size_t group = emgmm__scatter_group(k, ws->n_threads);
    const long n_groups = (long)((k + group - 1) / group);
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(ws->n_threads) \
    if (ws->n_threads > 1)
#endif
    for (long g = 0; g < n_groups; g++) {
        const size_t t = (size_t)emgmm__thread_id();
        const size_t c0 = (size_t)g * group;
        const size_t c1 = k - c0 < group ? k : c0 + group;
        /* N_c (in log_norm until mstep_finish) as the scale */
        kernel(X, n, ldx, d, resp, k, c0, c1, m->means, m->log_norm + c0,
               raw, d * d, w->kwork + t * w->kwork_stride);
    }
    return lower_finite(raw, k, d);
}

/* The float32 scatter (full, tied); 0 if it must be redone in float64.
 * Components in groups of at most F32_GROUP (one pass over the rows per
 * group); full: the groups spread over threads, small enough that every
 * thread gets one. Tied: the groups in order on one thread, adding to the
 * one matrix. */
static int scatter_f32(emgmm_model *m, const float *X, size_t n, size_t ldx,
                       const double *resp, double total, double *raw,
                       emgmm_workspace *ws, emgmm_f32_work *w)
{
    const size_t k = m->k, d = m->d;
    emgmm__scatter_f32_fn *kernel =
        w->kern ? emgmm__scatter_f32_kernel(d) : NULL;
    if (kernel)
        return scatter_kernel_f32(kernel, m, X, n, ldx, resp, total, raw, ws,
                                  w);
    if (m->type == EMGMM_COVARIANCE_TIED) {
        double scale[F32_GROUP];
        for (size_t g = 0; g < F32_GROUP; g++)
            scale[g] = total;
        int ok = 1;
        for (size_t c0 = 0; c0 < k && ok; c0 += F32_GROUP) {
            const size_t nc = k - c0 < F32_GROUP ? k - c0 : F32_GROUP;
            ok = scatter_group_f32(m, X, n, ldx, resp, c0, nc, scale, raw, 0,
                                   w->y, w->c, w->gather);
        }
        return ok;
    }
    const size_t threads = (size_t)ws->n_threads;
    size_t group = (k + threads - 1) / threads;
    if (group > F32_GROUP)
        group = F32_GROUP;
    const long n_groups = (long)((k + group - 1) / group);
    int fails = 0;
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(ws->n_threads) \
    if (ws->n_threads > 1) reduction(+ : fails)
#endif
    for (long gl = 0; gl < n_groups; gl++) {
        const size_t t = (size_t)emgmm__thread_id();
        const size_t c0 = (size_t)gl * group;
        const size_t nc = k - c0 < group ? k - c0 : group;
        fails += !scatter_group_f32(m, X, n, ldx, resp, c0, nc,
                                    m->log_norm + c0, raw + c0 * d * d,
                                    d * d, w->y + t * w->y_rows * d,
                                    w->c + t * d * d,
                                    w->gather);
    }
    return fails == 0;
}

/* Whether the float32 scatter's rounding is small against every
 * covariance's smallest Cholesky pivot L_ii^2 (a bound, within a factor d,
 * of its smallest eigenvalue; L_ii = 1 / U_ii of the precision factor
 * that mstep_finish computed): the sums err by about sqrt(G) u = 3e-6 of
 * the largest variance, so below a ratio of 1e-4 between the smallest
 * pivot and the largest variance they would misplace the smallest
 * eigenvalue by a few percent or more, and the fit is redone in float64
 * for this step. */
static int well_conditioned(const emgmm_model *m)
{
    const size_t k = m->k, d = m->d;
    const int tied = m->type == EMGMM_COVARIANCE_TIED;
    const size_t ldu = tied ? d : k * d;
    for (size_t c = 0; c < (tied ? 1 : k); c++) {
        const double *cov = m->covariances + c * d * d;
        const double *u = m->prec + c * d;
        double max_var = 0.0, max_u2 = 0.0;
        for (size_t i = 0; i < d; i++) {
            max_var = fmax(max_var, cov[i * d + i]);
            max_u2 = fmax(max_u2, u[i * ldu + i] * u[i * ldu + i]);
        }
        /* min L_ii^2 = 1 / max U_ii^2 */
        if (1.0 / max_u2 < 1e-4 * max_var)
            return 0;
    }
    return 1;
}

int emgmm__mstep_f32(emgmm_model *m, const float *X, size_t n, size_t ldx,
                     const double *resp, double reg_covar,
                     emgmm_workspace *ws, emgmm_f32_work *w, int *bad)
{
    const size_t k = m->k, d = m->d;
    double total;
    mean_sums(m, X, n, ldx, resp, ws, w);
    int rc = emgmm__mstep_finish_means(m, ws, &total);
    if (rc != EMGMM_OK)
        return rc;
    memcpy(w->nk, m->log_norm, k * sizeof(double));
    const size_t raw_size = emgmm__mstep_raw_size(m->type, k, d);
    double *raw = emgmm__mstep_raw(m, ws);
    int used_f32 = w->blas;
    if (used_f32 &&
        !scatter_f32(m, X, n, ldx, resp, total, raw, ws, w)) {
        raw = emgmm__mstep_raw(m, ws); /* an overflow: start again */
        used_f32 = 0;
    }
    if (!used_f32)
        scatter_widened(m, X, n, ldx, resp, raw, ws, w);
    rc = emgmm__allreduce(ws, raw, raw_size);
    if (rc != EMGMM_OK)
        return rc;
    rc = emgmm__mstep_finish(m, raw, total, reg_covar, ws, bad);
    if (!used_f32 || (rc == EMGMM_OK && well_conditioned(m)) ||
        (rc != EMGMM_OK && rc != EMGMM_ERR_SINGULAR))
        return rc;
    /* Not positive definite, or too near singular for the float32 sums'
     * rounding: redo the scatter in float64 (the same decision on every
     * process: the reduced sums are the same bits everywhere). The weights
     * and means are untouched; N_k is restored where mstep_finish keeps
     * it. */
    memcpy(m->log_norm, w->nk, k * sizeof(double));
    raw = emgmm__mstep_raw(m, ws);
    scatter_widened(m, X, n, ldx, resp, raw, ws, w);
    rc = emgmm__allreduce(ws, raw, raw_size);
    if (rc != EMGMM_OK)
        return rc;
    return emgmm__mstep_finish(m, raw, total, reg_covar, ws, bad);
}

/* ---- predict, score on float32 rows ------------------------------------ */


/* As predict.c's evaluate, on float32 rows. */
static int evaluate_f32(const emgmm_model *m, const float *X, size_t n,
                        size_t ldx, emgmm_want wt, void *out)
{
    if (!m || !X || !out || n == 0 || ldx < m->d)
        return EMGMM_ERR_INVALID;
    const size_t k = m->k, d = m->d;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            if (!isfinite(X[i * ldx + j]))
                return EMGMM_ERR_NONFINITE;
    size_t br = emgmm__estep_block_rows(k, d);
    if (br > n)
        br = n;
    const size_t n_blocks = (n + br - 1) / br;
    int threads = emgmm__work_threads(0, n, k, d);
#if EMGMM_HAVE_OPENMP
    if (omp_in_parallel())
        threads = 1;
#endif
    if ((size_t)threads > n_blocks)
        threads = (int)n_blocks;
    if (threads < 1)
        threads = 1;
    const size_t t = (size_t)threads;
    const int blas = uses_blas(m->type, d);
    double *proj = emgmm__malloc(t * br, (k * d + d) * sizeof(double));
    double *wide = emgmm__malloc(t * br, d * sizeof(double));
    double *logp = emgmm__malloc(t * br, k * sizeof(double));
    double *block_ll = emgmm__malloc(n_blocks, sizeof(double));
    float *y = blas ? emgmm__malloc(t * br, d * sizeof(float)) : NULL;
    float *u = blas ? emgmm__malloc(factor_floats(m->type, k, d),
                                    sizeof(float))
                    : NULL;
    if (!proj || !wide || !logp || !block_ll || (blas && (!y || !u))) {
        emgmm__free(proj);
        emgmm__free(wide);
        emgmm__free(logp);
        emgmm__free(block_ll);
        emgmm__free(y);
        emgmm__free(u);
        return EMGMM_ERR_NOMEM;
    }
    const float *uf = blas && round_factors(m, u) ? u : NULL;
    if (threads > 1)
        emgmm__blas_hold_one_thread();
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) \
    if (threads > 1)
#endif
    for (long b = 0; b < (long)n_blocks; b++) {
        const size_t tid = (size_t)emgmm__thread_id();
        const size_t i0 = (size_t)b * br;
        const size_t rows = n - i0 < br ? n - i0 : br;
        double *dst = wt == EMGMM_WANT_PROBA ? (double *)out + i0 * k
                                       : logp + tid * br * k;
        log_prob_block_f32(m, uf, NULL, NULL, X + i0 * ldx, rows, ldx,
                           wide + tid * br * d, y ? y + tid * br * d : NULL,
                           proj + tid * br * (k * d + d), dst);
        emgmm__predict_block(wt, dst, rows, k, out, i0, block_ll + b);
    }
    if (threads > 1)
        emgmm__blas_release_one_thread();
    if (wt == EMGMM_WANT_TOTAL) {
        double total = 0.0;
        for (size_t b = 0; b < n_blocks; b++)
            total += block_ll[b];
        *(double *)out = total;
    }
    emgmm__free(proj);
    emgmm__free(wide);
    emgmm__free(logp);
    emgmm__free(block_ll);
    emgmm__free(y);
    emgmm__free(u);
    return EMGMM_OK;
}

int emgmm_predict_f32(const emgmm_model *m, const float *X, size_t n,
                      size_t ldx, int32_t *labels)
{
    return evaluate_f32(m, X, n, ldx, EMGMM_WANT_LABELS, labels);
}

int emgmm_predict_proba_f32(const emgmm_model *m, const float *X, size_t n,
                            size_t ldx, double *proba)
{
    return evaluate_f32(m, X, n, ldx, EMGMM_WANT_PROBA, proba);
}

int emgmm_score_samples_f32(const emgmm_model *m, const float *X, size_t n,
                            size_t ldx, double *logp)
{
    return evaluate_f32(m, X, n, ldx, EMGMM_WANT_LOGP, logp);
}

int emgmm_score_f32(const emgmm_model *m, const float *X, size_t n,
                    size_t ldx, double *mean_log_likelihood)
{
    if (!mean_log_likelihood)
        return EMGMM_ERR_INVALID;
    double total;
    int rc = evaluate_f32(m, X, n, ldx, EMGMM_WANT_TOTAL, &total);
    if (rc == EMGMM_OK)
        *mean_log_likelihood = total / (double)n;
    return rc;
}
