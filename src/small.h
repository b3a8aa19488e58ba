/*
 * Kernels for the smallest dimensions, 1 <= d <= 3 (full and tied
 * covariance; the M-step's first moments for every type), where a whole
 * EM iteration costs a few microseconds and every instruction per row
 * counts. Not installed.
 *
 * At these widths a row carries two or three numbers, so BLAS calls cost
 * more in set-up than in work, and per-row scalar code spends most of its
 * instructions on bookkeeping. These kernels put rows in vector lanes:
 * coordinates and responsibilities are gathered into lanes, the
 * log-densities of all components stay in a chunk of structure-of-arrays
 * memory, and the log-sum-exp runs on whole vectors (vexp.h), so that the
 * E-step produces responsibilities in one pass over a chunk.
 *
 * Paths as in kernels.h (portable C, AVX2/FMA, AVX-512F, from one
 * template, small_tmpl.h), following the current kernel path
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
#ifndef EMGMM_SMALL_H
#define EMGMM_SMALL_H

#include "kernels.h"

#include <stddef.h>

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

/* The current path's kernels for d and k, or NULL (use the general code). */
emgmm__small_estep_fn *emgmm__small_estep(size_t d, size_t k);
emgmm__small_sums_fn *emgmm__small_sums(size_t d, size_t k);
/* The scatter (kernels.h's emgmm__scatter_fn, any k: components come in
 * groups of at most EMGMM__SCATTER_GROUP), or NULL. */
emgmm__scatter_fn *emgmm__small_scatter(size_t d);

/* Each path's kernels (small.c, src/x86/). */
emgmm__small_estep_fn emgmm__small_estep_c, emgmm__small_estep_avx2,
    emgmm__small_estep_avx512;
emgmm__small_sums_fn emgmm__small_sums_c, emgmm__small_sums_avx2,
    emgmm__small_sums_avx512;
emgmm__scatter_fn emgmm__small_scatter_c, emgmm__small_scatter_avx2,
    emgmm__small_scatter_avx512;

#endif
