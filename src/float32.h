/*
 * Float32 data (emgmm_fit_f32 and the *_f32 predict family): internal
 * declarations shared by fit.c and float32.c. Not installed.
 *
 * The data stay float32 in memory (half the memory of float64); every
 * sum and every parameter is float64. See float32.c for the kernels and
 * their error analysis.
 */
#ifndef EMGMM_FLOAT32_H
#define EMGMM_FLOAT32_H

#include "internal.h"

/* Full and tied from this dimension on: single-precision BLAS (strmm,
 * ssyrk), or the float32 kernels (kernels.h) where they reach and
 * measured faster. Below it, and for diag and spherical, each block of
 * rows is widened to float64 in a per-thread buffer and the float64
 * kernels run on it. */
enum { EMGMM__F32_BLAS_MIN_D = 33 };

/* What a float32 fit needs besides the workspace, allocated once. */
typedef struct emgmm_f32_work {
    int blas;          /* 1: full/tied, d >= EMGMM__F32_BLAS_MIN_D and the
                          data's spread within float32's comfortable
                          range (see emgmm__check_data_f32) */
    int n_threads;
    size_t wide_rows;  /* rows per thread in `wide` */
    size_t gather;     /* rows per ssyrk call (M-step) */
    size_t y_rows;     /* rows per thread in `y` */
    double *wide;      /* n_threads x wide_rows x d: widened rows */
    double *rbuf;      /* n_threads x wide_rows x k: responsibilities with
                          subnormals flushed (M-step means) */
    float *y;          /* n_threads x y_rows x d: shifted, projected or
                          gathered float32 rows */
    float *c;          /* n_threads x d x d: one ssyrk result */
    float *u;          /* full: d x (k*d), tied: d x d: the precision
                          factors rounded to float32, per E-step */
    int u_ok;          /* the factors fit float32 (else: widened path) */
    int kern;          /* 1: full/tied, d within the float32 kernels'
                          reach (kernels.h) and the data's spread as for
                          `blas`: the buffers below are allocated */
    float *shift;      /* full: k x d, tied: d: the kernels' shifts */
    float *init_proj;  /* full: k x d: the projections' start */
    double *tied_proj; /* tied: k x d: the projected means */
    double *kwork;     /* n_threads x kwork_stride: scatter kernel work */
    size_t kwork_stride;
    double *partial;   /* n_parts x (k + k*d): partial M-step sums */
    size_t n_parts;
    double *nk;        /* k: N_k kept for a float64 retry */
} emgmm_f32_work;

/* EMGMM_ERR_NONFINITE for infinity or NaN (NaN: EMGMM_ERR_UNSUPPORTED
 * when allow_nan, missing values being float64 only). *blas_ok: 1 when
 * every column's range is 0 or within [1e-12, 1e12], where the float32
 * products below neither overflow nor lose relative precision to
 * subnormals. */
int emgmm__check_data_f32(const float *X, size_t n, size_t d, size_t ldx,
                          int allow_nan, int *blas_ok);

int emgmm__f32_work_alloc(emgmm_f32_work *w, const emgmm_workspace *ws,
                          size_t n, size_t k, size_t d,
                          emgmm_covariance_type type, int blas_ok);
void emgmm__f32_work_free(emgmm_f32_work *w);

/* Rows [0, rows) of X (float32, leading dimension ldx) into out
 * (rows x d doubles, contiguous). Exact. */
void emgmm__widen_rows(const float *X, size_t rows, size_t d, size_t ldx,
                       double *out);

/* The model in the form the float32 E-step kernels take (kernels.h):
 * u, the precision factors rounded to float32 (as m->prec); full:
 * shift = mu_c rounded to float32, init_proj = (mu_c - shift_c)^T U_c
 * (computed in float64, then rounded); tied: shift = the centre rounded
 * to float32, tied_proj = (mu_c - shift)^T U in float64. Returns 0 when a
 * factor would overflow or fall below float32's normal range (then the
 * widened path is taken). */
int emgmm__f32_kernel_model(const emgmm_model *m, float *u, float *shift,
                            float *init_proj, double *tied_proj);

/* emgmm__estep on float32 rows. */
double emgmm__estep_f32(const emgmm_model *m, const float *X, size_t n,
                        size_t ldx, const double *weight, double *resp,
                        emgmm_workspace *ws, emgmm_f32_work *w);

/* emgmm__mstep on float32 rows. */
int emgmm__mstep_f32(emgmm_model *m, const float *X, size_t n, size_t ldx,
                     const double *resp, double reg_covar,
                     emgmm_workspace *ws, emgmm_f32_work *w, int *bad);

#endif
