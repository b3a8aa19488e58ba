/*
 * What the pictures of `emgmm plot` and `emgmm hmm plot` share: the
 * principal-component projection of data with more than two features,
 * the names of plotted features (from the CSV header), the thinning of
 * large data, and their defaults.
 */
#ifndef EMGMM_PLOT_COMMON_H
#define EMGMM_PLOT_COMMON_H

#include <stddef.h>

#include "dataio.h"

#define PLOT_DEFAULT_MAX_POINTS 5000 /* --max-points */
#define PLOT_LEGEND_MAX 22 /* legend entries that fit beside a plot area */

/**
 * The first two principal components of x (at least one row): *basis
 * (d x 2, columns are unit eigenvectors, the largest entry of each made
 * positive so that the picture does not flip between runs), the column
 * means (center, d) and the share of the variance along each
 * (explained). Returns 0, or -1 when out of memory or LAPACK fails.
 */
int plot_principal_axes(const dataio_matrix *x, double *basis,
                        double *center, double explained[2]);

/** Projects v (d) on the basis (d x 2) after subtracting center: out. */
void plot_project(const double *v, const double *center,
                  const double *basis, size_t d, double out[2]);

/** The label of feature j (0-based): its name in the header row (names,
 *  from cli_load_data_named; NULL without one), or "feature j+1" (in
 *  buf) when there is none or it is empty. */
const char *plot_feature_name(char *const *names, size_t j, char *buf,
                              size_t len);

/** Every how many rows to draw so that at most max_points (>= 1) of n
 *  rows are drawn. */
size_t plot_stride(size_t n, size_t max_points);

/** "st", "nd", "rd" or "th", for "every 4th row". */
const char *plot_ordinal_suffix(size_t n);

#endif /* EMGMM_PLOT_COMMON_H */
