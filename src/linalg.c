/*
 * Cholesky and precision factors of covariance matrices.
 *
 * Why these formulas are stable: the Cholesky factorisation (LAPACK potrf, or
 * the same algorithm in loops for small d) is backward stable for symmetric positive definite matrices and fails
 * cleanly (info > 0) when a matrix is not positive definite, so a
 * degenerate component is detected instead of producing NaN. We never
 * form Sigma^-1: the Mahalanobis distance is ||(x - mu)^T U||^2 with the
 * triangular U = L^-T (LAPACK trtri), whose error grows with cond(L) =
 * sqrt(cond(Sigma)) rather than cond(Sigma), and log det Sigma is
 * 2 * sum log L_ii, which cannot overflow the way det(Sigma) can.
 *
 * Layout trick: a row-major matrix is the column-major view of its
 * transpose, so LAPACK's column-major 'U' routines applied to our
 * row-major arrays work on the lower triangle. Calling the _work variants
 * in column-major order means LAPACKE neither transposes nor allocates,
 * which keeps the EM loop free of allocation.
 */
#include "internal.h"

#include <lapacke.h>
#include <math.h>
#include <string.h>

/* Up to this d the factorisations are plain loops: a LAPACK call costs
 * about a microsecond of overhead, more than the work on a few rows (in
 * missing.c's blocks the loops won up to 8; a fit with d = 2 made two
 * such calls per component and iteration). */
enum { LOOPS_MAX_D = 8 };

/* Cholesky-Banachiewicz on the lower triangle (row-major): the same
 * arithmetic as potrf's unblocked code, without the call. */
static int cholesky_loops(double *a, size_t d)
{
    for (size_t i = 0; i < d; i++) {
        for (size_t j = 0; j <= i; j++) {
            double s = a[i * d + j];
            for (size_t t = 0; t < j; t++)
                s -= a[i * d + t] * a[j * d + t];
            if (i == j) {
                if (!(s > 0.0) || !isfinite(s))
                    return 1;
                a[i * d + i] = sqrt(s);
            } else {
                a[i * d + j] = s / a[j * d + j];
            }
        }
        for (size_t j = i + 1; j < d; j++)
            a[i * d + j] = 0.0;
    }
    return 0;
}

/* The lower triangle of l (row-major) becomes L^-1, by forward
 * substitution column by column (trtri's unblocked algorithm). */
static void invert_lower_loops(double *l, size_t d)
{
    double x[LOOPS_MAX_D * LOOPS_MAX_D];
    for (size_t j = 0; j < d; j++) {
        x[j * d + j] = 1.0 / l[j * d + j];
        for (size_t i = j + 1; i < d; i++) {
            double s = 0.0;
            for (size_t t = j; t < i; t++)
                s += l[i * d + t] * x[t * d + j];
            x[i * d + j] = -s / l[i * d + i];
        }
    }
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j <= i; j++)
            l[i * d + j] = x[i * d + j];
}

int emgmm__cholesky_lower(double *a, size_t d)
{
    if (d <= LOOPS_MAX_D)
        return cholesky_loops(a, d);
    lapack_int info =
        LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'U', (lapack_int)d, a,
                            (lapack_int)d);
    if (info != 0)
        return 1;
    for (size_t i = 0; i < d; i++) {
        /* potrf leaves the other triangle untouched; a NaN that slipped
         * in would survive there, so check the diagonal explicitly. */
        if (!(a[i * d + i] > 0.0) || !isfinite(a[i * d + i]))
            return 1;
        for (size_t j = i + 1; j < d; j++)
            a[i * d + j] = 0.0;
    }
    return 0;
}

double emgmm__precision_factor(double *l, size_t d, double *u, size_t ldu)
{
    double log_det_u = 0.0;
    for (size_t i = 0; i < d; i++)
        log_det_u -= log(l[i * d + i]);
    /* In place: l becomes L^-1 (lower, row-major). */
    if (d <= LOOPS_MAX_D)
        invert_lower_loops(l, d);
    else
        LAPACKE_dtrtri_work(LAPACK_COL_MAJOR, 'U', 'N', (lapack_int)d, l,
                            (lapack_int)d);
    /* U = (L^-1)^T: upper triangular. */
    for (size_t i = 0; i < d; i++) {
        for (size_t j = 0; j < i; j++)
            u[i * ldu + j] = 0.0;
        for (size_t j = i; j < d; j++)
            u[i * ldu + j] = l[j * d + i];
    }
    return log_det_u;
}
