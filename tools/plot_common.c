/* What the pictures share (see plot_common.h). */
#include "plot_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

/*
 * The covariance is summed by syrk over centred blocks of rows (two-pass,
 * so data far from the origin keep their digits); LAPACK's dsyevr gives
 * its two largest eigenvalues and their eigenvectors.
 */
int plot_principal_axes(const dataio_matrix *x, double *basis,
                        double *center, double explained[2])
{
    enum { BLOCK = 256 };
    size_t n = x->rows, d = x->cols;
    double *cov = calloc(d * d, sizeof *cov);
    double *block = malloc(BLOCK * d * sizeof *block);
    double *w = malloc(d * sizeof *w);
    double *z = malloc(d * 2 * sizeof *z);
    lapack_int *support = malloc(2 * 2 * sizeof *support);
    int rc = -1;
    if (!cov || !block || !w || !z || !support)
        goto done;
    memset(center, 0, d * sizeof *center);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            center[j] += x->data[i * d + j];
    for (size_t j = 0; j < d; j++)
        center[j] /= (double)n;
    for (size_t i0 = 0; i0 < n; i0 += BLOCK) {
        size_t rows = n - i0 < BLOCK ? n - i0 : BLOCK;
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < d; j++)
                block[i * d + j] = x->data[(i0 + i) * d + j] - center[j];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)rows,
                    1.0, block, (int)d, 1.0, cov, (int)d);
    }
    double trace = 0;
    for (size_t j = 0; j < d; j++)
        trace += cov[j * d + j];
    lapack_int found = 0;
    /* Eigenvalues come in ascending order: ask for the two largest. */
    if (LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)d, cov,
                       (lapack_int)d, 0, 0, (lapack_int)d - 1, (lapack_int)d,
                       0, &found, w, z, 2, support) != 0 || found != 2)
        goto done;
    for (int c = 0; c < 2; c++) {
        int src = 1 - c; /* the largest first */
        size_t big = 0;
        for (size_t j = 1; j < d; j++)
            if (fabs(z[j * 2 + src]) > fabs(z[big * 2 + src]))
                big = j;
        double sign = z[big * 2 + src] < 0 ? -1.0 : 1.0;
        for (size_t j = 0; j < d; j++)
            basis[j * 2 + c] = sign * z[j * 2 + src];
        explained[c] = trace > 0 ? fmax(w[src], 0) / trace : 0;
    }
    rc = 0;
done:
    free(cov);
    free(block);
    free(w);
    free(z);
    free(support);
    return rc;
}

void plot_project(const double *v, const double *center, const double *basis,
                  size_t d, double out[2])
{
    out[0] = out[1] = 0;
    for (size_t j = 0; j < d; j++) {
        double c = v[j] - center[j];
        out[0] += c * basis[j * 2];
        out[1] += c * basis[j * 2 + 1];
    }
}

const char *plot_feature_name(char *const *names, size_t j, char *buf,
                              size_t len)
{
    if (names != NULL && names[j][0] != '\0')
        return names[j];
    snprintf(buf, len, "feature %zu", j + 1);
    return buf;
}

size_t plot_stride(size_t n, size_t max_points)
{
    size_t every = n / max_points + (n % max_points != 0);
    return every > 0 ? every : 1;
}

const char *plot_ordinal_suffix(size_t n)
{
    return n % 10 == 1 && n % 100 != 11   ? "st"
           : n % 10 == 2 && n % 100 != 12 ? "nd"
           : n % 10 == 3 && n % 100 != 13 ? "rd"
                                           : "th";
}
