/*
 * Cholesky and precision factors of covariance matrices.
 *
 * Why these formulas are stable: the Cholesky factorisation (LAPACK potrf)
 * is backward stable for symmetric positive definite matrices and fails
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

int emgmm__cholesky_lower(double *a, size_t d)
{
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
