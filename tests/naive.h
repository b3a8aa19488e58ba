/*
 * Naive reference computations for the kernel tests: explicit inverse and
 * determinant by Gauss–Jordan elimination with partial pivoting, and
 * textbook loops. Slow and simple on purpose — the code under test must
 * agree with these on small problems.
 */
#ifndef EMGMM_TEST_NAIVE_H
#define EMGMM_TEST_NAIVE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* inv = a^-1 (d x d, row-major); returns log|det a|. */
static inline double naive_inverse(const double *a, size_t d, double *inv)
{
    double *w = malloc(d * 2 * d * sizeof(double));
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < 2 * d; j++)
            w[i * 2 * d + j] =
                j < d ? a[i * d + j] : (j - d == i ? 1.0 : 0.0);
    double log_det = 0.0;
    for (size_t col = 0; col < d; col++) {
        size_t piv = col;
        for (size_t r = col + 1; r < d; r++)
            if (fabs(w[r * 2 * d + col]) > fabs(w[piv * 2 * d + col]))
                piv = r;
        if (piv != col)
            for (size_t j = 0; j < 2 * d; j++) {
                double t = w[col * 2 * d + j];
                w[col * 2 * d + j] = w[piv * 2 * d + j];
                w[piv * 2 * d + j] = t;
            }
        double p = w[col * 2 * d + col];
        log_det += log(fabs(p));
        for (size_t j = 0; j < 2 * d; j++)
            w[col * 2 * d + j] /= p;
        for (size_t r = 0; r < d; r++) {
            if (r == col)
                continue;
            double f = w[r * 2 * d + col];
            for (size_t j = 0; j < 2 * d; j++)
                w[r * 2 * d + j] -= f * w[col * 2 * d + j];
        }
    }
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++)
            inv[i * d + j] = w[i * 2 * d + d + j];
    free(w);
    return log_det;
}

/* log w + log N(x | mu, sigma) from the explicit inverse and determinant. */
static inline double naive_log_density(const double *x, const double *mu,
                                       const double *sigma, double w,
                                       size_t d)
{
    double *inv = malloc(d * d * sizeof(double));
    double log_det = naive_inverse(sigma, d, inv);
    double q = 0.0;
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++)
            q += (x[i] - mu[i]) * inv[i * d + j] * (x[j] - mu[j]);
    free(inv);
    return log(w) - 0.5 * ((double)d * log(2.0 * 3.14159265358979323846) + log_det + q);
}

/* The same from an inverse and log|det sigma| computed once (naive_inverse):
 * for many rows against one component. */
static inline double naive_log_density_inv(const double *x, const double *mu,
                                           const double *inv, double log_det,
                                           double w, size_t d)
{
    double q = 0.0;
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++)
            q += (x[i] - mu[i]) * inv[i * d + j] * (x[j] - mu[j]);
    return log(w) - 0.5 * ((double)d * log(2.0 * 3.14159265358979323846) + log_det + q);
}

/* sum_i r_i (x_i - mu)(x_i - mu)^T (d x d, both triangles) in long double,
 * for the rows of X (n x d) with weights r[i * stride]; also the sum of
 * r_i |x_ia - mu_a| |x_ib - mu_b| into mag (the scale of each entry's
 * rounding). */
static inline void naive_scatter(const double *X, size_t n, size_t d,
                                 const double *r, size_t stride,
                                 const double *mu, double *s, double *mag)
{
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < d; b++) {
            long double v = 0.0L, m = 0.0L;
            for (size_t i = 0; i < n; i++) {
                const long double za = (long double)X[i * d + a] - mu[a],
                                  zb = (long double)X[i * d + b] - mu[b];
                v += r[i * stride] * za * zb;
                m += r[i * stride] * fabsl(za * zb);
            }
            s[a * d + b] = (double)v;
            mag[a * d + b] = (double)m;
        }
}

/* A random symmetric positive definite matrix A A^T / d + scale I. */
static inline void random_spd(test_rng *r, size_t d, double scale, double *s)
{
    double *a = malloc(d * d * sizeof(double));
    for (size_t i = 0; i < d * d; i++)
        a[i] = test_rng_normal(r);
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) {
            double v = 0.0;
            for (size_t t = 0; t < d; t++)
                v += a[i * d + t] * a[j * d + t];
            s[i * d + j] = v / (double)d + (i == j ? scale : 0.0);
        }
    free(a);
}

#endif
