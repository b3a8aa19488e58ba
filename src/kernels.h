/*
 * Own E- and M-step kernels for full and tied covariance at moderate
 * dimensions, where BLAS calls with an inner dimension of a few dozen run
 * far below their peak. Not installed.
 *
 * Paths (cpu.h), one chosen at run time on first use, the widest the CPU
 * has: portable C (kernels.c), AVX2/FMA (src/x86/kernels_avx2.c) and
 * AVX-512F (src/x86/kernels_avx512.c), all three from one template
 * (kernels_tmpl.h) with their own vector width, each for float64 and
 * for float32 data. Each path has the range of d where it measured
 * faster than the BLAS path (bench/RESULTS.md); outside it, and on a path
 * without a kernel, estep.c and mstep.c use BLAS as before.
 *
 * Determinism: every row's result depends on its own data (the E-step;
 * the lanes of a vector are independent rows, a short tail is padded) or
 * on its position in the call (the M-step's lane sums), never on the
 * thread count. Different paths may differ in the last bits (FMA, order
 * of the sums).
 */
#ifndef EMGMM_KERNELS_H
#define EMGMM_KERNELS_H

#include "cpu.h"

#include <stddef.h>

/* The largest d any kernel handles (the E-step's per-chunk copy, d x 64
 * rows, lives on the stack). */
enum { EMGMM__KERNEL_MAX_D = 64 };
/* The largest d the float64 M-step kernels handle (above
 * EMGMM__KERNEL_MAX_D, the kernel by rows alone). */
enum { EMGMM__SCATTER_MAX_D = 256 };

/* E-step, full or tied covariance, d <= EMGMM__KERNEL_MAX_D: for rows
 * [0, rows) of X and every component c,
 *   logp[i*k + c] = log_norm[c] - 1/2 ||(x_i - centre)^T U_c - mp_c||^2
 * with mp_c = mean_proj + c*d and U_c the upper-triangular d x d factor
 * at u + c*d with leading dimension ldu (full: ldu = k*d), or for tied
 * (tied != 0) the one factor at u (ldu = d) for every c. */
typedef void emgmm__logp_fn(const double *X, size_t rows, size_t ldx,
                            size_t d, size_t k, const double *centre,
                            const double *u, size_t ldu, int tied,
                            const double *mean_proj, const double *log_norm,
                            double *logp);

/* M-step, full (or tied) covariance: for components c in [c0, c1), at
 * most EMGMM__SCATTER_GROUP of them, adds the lower triangle of
 *   sum_i resp[i*k + c] (x_i - mu_c)(x_i - mu_c)^T,   mu_c = means + c*d,
 * over rows [0, n) of X to cov + c*cov_stride (d x d, row-major); with
 * cov_stride 0 (tied) the components are added one after the other, in
 * order. work: emgmm__scatter_work_size(d) doubles. */
typedef void emgmm__scatter_fn(const double *X, size_t n, size_t ldx,
                               size_t d, const double *resp, size_t k,
                               size_t c0, size_t c1, const double *means,
                               double *cov, size_t cov_stride, double *work);

/* Float32 data (float32.c), the same kernels with float32 products and
 * float64 sums (kernels_tmpl.h):
 *
 * E-step: rows shifted by `shift` (d values; NULL: none) and, for full
 * covariance with comp_shift, by comp_shift + c*d for component c; then
 *   full: logp[i*k + c] = log_norm[c] - 1/2 ||x^T U_c - init_proj_c||^2
 *   tied: logp[i*k + c] = log_norm[c] - 1/2 ||x^T U - mean_proj_c||^2
 * (x the shifted row, init_proj_c = init_proj + c*d in float32,
 * mean_proj_c = mean_proj + c*d in float64, U as for emgmm__logp_fn in
 * float32). The squares are summed in float64. */
typedef void emgmm__logp_f32_fn(const float *X, size_t rows, size_t ldx,
                                size_t d, size_t k, const float *shift,
                                const float *comp_shift, const float *u,
                                size_t ldu, int tied, const float *init_proj,
                                const double *mean_proj,
                                const double *log_norm, double *logp);

/* M-step: as emgmm__scatter_fn, each row's responsibility divided by
 * scale[c - c0] in the float32 products and the float64 sums multiplied
 * back by it (scale: the component's N_c, or for tied the total, keeps
 * the float32 values near the covariance's scale). work:
 * emgmm__scatter_f32_work_size(d) doubles. */
typedef void emgmm__scatter_f32_fn(const float *X, size_t n, size_t ldx,
                                   size_t d, const double *resp, size_t k,
                                   size_t c0, size_t c1, const double *means,
                                   const double *scale, double *cov,
                                   size_t cov_stride, double *work);

/* Components per scatter call: each pass over a block of rows copies it
 * once (transposed) for up to this many components. */
enum { EMGMM__SCATTER_GROUP = 8 };

/* Components per call for full covariance, spread over n_threads: small
 * enough that every thread gets a group, at most EMGMM__SCATTER_GROUP. */
static inline size_t emgmm__scatter_group(size_t k, int n_threads)
{
    const size_t t = n_threads > 1 ? (size_t)n_threads : 1;
    const size_t group = (k + t - 1) / t;
    return group < EMGMM__SCATTER_GROUP ? group : EMGMM__SCATTER_GROUP;
}

/* Rows per block of the vector M-step kernels (a multiple of 8). Up to
 * d = 64, each
 * tile's partial sums are loaded and stored once per block, so longer
 * blocks cost fewer of those; at d = 64 the copy that the tiles read
 * (sqrt(r) (x - mu), d x rows) then fills 32 KiB of L1 (48 KiB here),
 * and 64 rows measured faster than 32 for d >= 32 (AVX-512 and AVX2;
 * 128 was no faster, and slower with AVX2: bench_kernels). */
static inline size_t emgmm__scatter_block_rows(size_t d)
{
    if (d <= 64)
        return 64;
    /* Beyond, the kernel by rows keeps its block of rows (d x rows) in
     * 32 KiB. */
    const size_t rows = 32768 / d / 8 * 8;
    return rows < 8 ? 8 : rows;
}
/* Doubles of work per thread for a scatter call at d, on any path. */
size_t emgmm__scatter_work_size(size_t d);
/* Doubles of work per thread for a float32 scatter call at d, on any
 * path. */
size_t emgmm__scatter_f32_work_size(size_t d);

/* ---- kernels for the smallest dimensions, 1 <= d <= 3 ----------------
 *
 * Full and tied covariance (the M-step's first moments for every type),
 * where a whole EM iteration costs a few microseconds and every
 * instruction per row counts.
 *
 * At these widths a row carries two or three numbers, so BLAS calls cost
 * more in set-up than in work, and per-row scalar code spends most of its
 * instructions on bookkeeping. These kernels put rows in vector lanes:
 * coordinates and responsibilities are gathered into lanes, the
 * log-densities of all components stay in a chunk of structure-of-arrays
 * memory, and the log-sum-exp runs on whole vectors (vexp.h), so that the
 * E-step produces responsibilities in one pass over a chunk.
 *
 * The same paths as above, from their own template (small_tmpl.h,
 * included next to kernels_tmpl.h), following the current kernel path
 * (emgmm__kernel_isa), and switched off with the other kernels by
 * emgmm__set_kernel_use(EMGMM__KERNELS_OFF) (then estep.c and mstep.c use
 * their per-row loops, which are also the tests' naive twins).
 *
 * Determinism: each row's log-density and responsibilities depend on the
 * row alone and the path. Totals (the log-likelihood of a call, the
 * first moments, the scatter) are summed per lane, lanes fixed by the row's
 * position in the call, then across lanes in a fixed order: the same bits
 * for the same call on one path, whatever the thread count.
 */

/* The largest d and k these kernels take (the E-step's log-densities of
 * a chunk, k x 64 doubles, live on the stack). */
enum { EMGMM__SMALL_MAX_D = 3, EMGMM__SMALL_MAX_K = 32 };

/* E-step, full or tied covariance (arguments as emgmm__logp_fn). With
 * resp NULL: the log-densities into logp (rows x k), as emgmm__logp_fn.
 * Otherwise logp is not used, and for every row
 *   resp[i*k + c] = w_i p(c | x_i)        (w_i = weight[i], or 1)
 *   lse[i] = log sum_c exp(logp_ic)       (lse may be NULL)
 * exactly as emgmm__normalize_log_resp computes them from the same
 * log-densities; returns sum_i w_i lse_i (rows of weight 0 left out),
 * summed per lane. With nk and xsum not NULL (and resp), also the
 * M-step's first moments of these responsibilities, as
 * emgmm__small_sums_fn would sum them. */
typedef double emgmm__small_estep_fn(const double *X, size_t rows,
                                     size_t ldx, size_t d, size_t k,
                                     const double *centre, const double *u,
                                     size_t ldu, int tied,
                                     const double *mean_proj,
                                     const double *log_norm,
                                     const double *weight, double *logp,
                                     double *resp, double *lse, double *nk,
                                     double *xsum);

/* The M-step's first moments (emgmm__mstep_sums): nk[c] = sum_i r_ic,
 * sums[c*d + a] = sum_i r_ic x_ia over rows [0, n). */
typedef void emgmm__small_sums_fn(const double *X, size_t n, size_t ldx,
                                  size_t d, const double *resp, size_t k,
                                  double *nk, double *sums);

typedef struct emgmm__kernel_path {
    emgmm__logp_fn *logp;       /* NULL: none on this path */
    emgmm__scatter_fn *scatter; /* NULL: none on this path */
    /* Where each is used (measured faster than BLAS); empty when
     * min > max. */
    size_t logp_min_d, logp_max_d;
    size_t scatter_min_d, scatter_max_d;
    /* The float32 kernels and their ranges (against float32.c's other
     * paths: float32 BLAS, or widened rows and the float64 kernels). */
    emgmm__logp_f32_fn *logp_f32;
    emgmm__scatter_f32_fn *scatter_f32;
    size_t logp_f32_min_d, logp_f32_max_d;
    size_t scatter_f32_min_d, scatter_f32_max_d;
    /* The kernels for d <= 3, used wherever they reach. */
    emgmm__small_estep_fn *small_estep;
    emgmm__small_sums_fn *small_sums;
    emgmm__scatter_fn *small_scatter;
} emgmm__kernel_path;

/* The kernels of a path, or NULL when this build or CPU cannot run it. */
const emgmm__kernel_path *emgmm__kernel_path_of(emgmm__isa isa);
/* The current path (chosen on first use: the widest available). */
emgmm__isa emgmm__kernel_isa(void);
/* For tests and benchmarks: switches every later call to `isa`; returns
 * 0, or -1 (nothing changed) when it is not available. Not to be called
 * while another thread computes. */
int emgmm__set_kernel_isa(emgmm__isa isa);
/* For tests and benchmarks: where the own kernels are used. */
typedef enum emgmm__kernel_use {
    EMGMM__KERNELS_OFF = 0,    /* nowhere: BLAS paths at every d */
    EMGMM__KERNELS_MEASURED,   /* the path's measured ranges (default) */
    EMGMM__KERNELS_EVERYWHERE  /* 4 <= d <= the kernel's reach (MAX_D) */
} emgmm__kernel_use;
void emgmm__set_kernel_use(emgmm__kernel_use use);

/* What estep.c and mstep.c call: the current path's kernel when d is in
 * its range, else NULL (use BLAS). */
emgmm__logp_fn *emgmm__logp_kernel(size_t d);
emgmm__scatter_fn *emgmm__scatter_kernel(size_t d);
/* The same for float32.c. */
emgmm__logp_f32_fn *emgmm__logp_f32_kernel(size_t d);
emgmm__scatter_f32_fn *emgmm__scatter_f32_kernel(size_t d);

/* The current path's kernels for d <= 3 and k, or NULL (use the general
 * code). */
emgmm__small_estep_fn *emgmm__small_estep(size_t d, size_t k);
emgmm__small_sums_fn *emgmm__small_sums(size_t d, size_t k);
/* The scatter (an emgmm__scatter_fn, any k: components come in groups
 * of at most EMGMM__SCATTER_GROUP), or NULL. */
emgmm__scatter_fn *emgmm__small_scatter(size_t d);

/* The kernels of each path (kernels.c, src/x86/). */
emgmm__logp_fn emgmm__logp_c, emgmm__logp_avx2, emgmm__logp_avx512;
emgmm__scatter_fn emgmm__scatter_c, emgmm__scatter_avx2, emgmm__scatter_avx512;
emgmm__logp_f32_fn emgmm__logp_f32_c, emgmm__logp_f32_avx2,
    emgmm__logp_f32_avx512;
emgmm__scatter_f32_fn emgmm__scatter_f32_c, emgmm__scatter_f32_avx2,
    emgmm__scatter_f32_avx512;
emgmm__small_estep_fn emgmm__small_estep_c, emgmm__small_estep_avx2,
    emgmm__small_estep_avx512;
emgmm__small_sums_fn emgmm__small_sums_c, emgmm__small_sums_avx2,
    emgmm__small_sums_avx512;
emgmm__scatter_fn emgmm__small_scatter_c, emgmm__small_scatter_avx2,
    emgmm__small_scatter_avx512;

#endif
