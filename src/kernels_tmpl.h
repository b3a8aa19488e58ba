/*
 * The E- and M-step kernels of kernels.h, written once for any vector
 * width. Included by x86/kernels_avx2.c and x86/kernels_avx512.c, each
 * compiled with its instruction set's flags, and by kernels.c (the
 * portable path: the compiler's generic vectors of two doubles), after
 * defining:
 *   W                     doubles per vector (lanes = rows)
 *   VEC                   the vector type
 *   VLOAD, VSTORE         unaligned load / store of W doubles
 *   VSET1, VZERO          broadcast, zero
 *   VADD, VSUB, VMUL,
 *   VSQRT                 elementwise
 *   VFMA(a, b, c)         a * b + c (one rounding where the ISA has FMA)
 *   NAME(x)               x with the path's suffix
 *   MTA, MTB              M-step tile: MTA x MTB matrix entries, each a
 *                         vector of per-lane partial sums in a register
 *   TRANSPOSE(p, ld, v)   (optional) v[j] = column j of the W x W block
 *                         at p (row stride ld)
 *
 * Register blocking, E-step: a chunk of rows is copied transposed
 * (structure of arrays: one row of the copy per coordinate, lanes = data
 * rows) and shifted by the model's centre. For W rows at a time, the
 * projection y = (x - centre)^T U_c - mp_c is built ET output columns at a
 * time: ET accumulators stay in registers while the coordinates x_a
 * (one load each, reused ET times) meet the broadcast entries U_c[a][b]
 * (an operand of the FMA); U_c is upper triangular, so column b only
 * needs a <= b. The squares go to two running sums (even and odd
 * columns), so that the additions are not one chain.
 *
 * Register blocking, M-step: per block of rows, w = sqrt(r) (x - mu_c)
 * for every coordinate is written once (vectors over rows), then each tile
 * of MTA x MTB entries of the lower triangle runs over the block with its
 * partial sums in registers: MTA + MTB loads for MTA * MTB FMAs. The
 * partial sums (one per lane) live in `work` between blocks and are added
 * horizontally, in a fixed order, once at the end.
 */
#include "kernels.h"

#include <stdint.h>
#include <string.h>

/* Output columns per E-step tile: 8 accumulators plus a coordinate and a
 * broadcast fit the 16 registers of AVX2 as well as AVX-512's 32. */
#define ET 8
/* Rows per chunk of the E-step copy: d x 64 doubles (16 KiB at d = 32,
 * 32 KiB at 64), which stays in L1 while every component runs over it. */
#define CH 64

/* dst[a*ldd + l] = X[l*ldx + a] - shift[a] (shift NULL: 0) for rows l <
 * nr and coordinates a < d. Whole W x W tiles go through TRANSPOSE (W
 * row loads, shuffles, W stores: a scalar copy would cost a load and a
 * store per entry); the edges are copied one entry at a time. */
static inline void transpose_rows(const double *X, size_t ldx, size_t nr,
                                  size_t d, const double *shift,
                                  double *dst, size_t ldd)
{
    size_t l0 = 0;
#ifdef TRANSPOSE
    for (; l0 + W <= nr; l0 += W) {
        size_t a0 = 0;
        for (; a0 + W <= d; a0 += W) {
            VEC v[W];
            TRANSPOSE(X + l0 * ldx + a0, ldx, v);
            for (size_t j = 0; j < W; j++)
                VSTORE(dst + (a0 + j) * ldd + l0,
                       shift ? VSUB(v[j], VSET1(shift[a0 + j])) : v[j]);
        }
        for (size_t l = l0; l < l0 + W; l++)
            for (size_t a = a0; a < d; a++)
                dst[a * ldd + l] = X[l * ldx + a] - (shift ? shift[a] : 0.0);
    }
#endif
    for (size_t l = l0; l < nr; l++)
        for (size_t a = 0; a < d; a++)
            dst[a * ldd + l] = X[l * ldx + a] - (shift ? shift[a] : 0.0);
}

/* acc[j] += sum over a < b0 + T, a <= b0 + j, of x_a U[a][b0 + j]. S is
 * the chunk copy at the lanes' offset. T is a constant once inlined, so
 * that the loops over j unroll and acc stays in registers. */
static inline __attribute__((always_inline)) void
project_tile(const double *S, const double *u, size_t ldu, size_t b0,
             const size_t T, VEC *acc)
{
    for (size_t a = 0; a < b0; a++) {
        const VEC x = VLOAD(S + a * CH);
        const double *ua = u + a * ldu + b0;
#pragma GCC unroll 8
        for (size_t j = 0; j < T; j++)
            acc[j] = VFMA(x, VSET1(ua[j]), acc[j]);
    }
#pragma GCC unroll 8
    for (size_t t = 0; t < T; t++) {
        const VEC x = VLOAD(S + (b0 + t) * CH);
        const double *ua = u + (b0 + t) * ldu + b0;
#pragma GCC unroll 8
        for (size_t j = t; j < T; j++)
            acc[j] = VFMA(x, VSET1(ua[j]), acc[j]);
    }
}

/* Full covariance: columns b0 .. b0+T-1 of y = -mp + x^T U (the order of
 * the direct loops of estep.c), squared into s0 (even j) and s1 (odd). */
static inline __attribute__((always_inline)) void
full_tile(const double *S, const double *u, size_t ldu, const double *mp,
          size_t b0, const size_t T, VEC *s0, VEC *s1)
{
    VEC acc[ET];
#pragma GCC unroll 8
    for (size_t j = 0; j < T; j++)
        acc[j] = VSET1(-mp[b0 + j]);
    project_tile(S, u, ldu, b0, T, acc);
#pragma GCC unroll 8
    for (size_t j = 0; j < T; j++) {
        if (j % 2 == 0)
            *s0 = VFMA(acc[j], acc[j], *s0);
        else
            *s1 = VFMA(acc[j], acc[j], *s1);
    }
}

/* ||y||^2 for the W rows at S against one component. */
static VEC full_group(const double *S, size_t d, const double *u, size_t ldu,
                      const double *mp)
{
    VEC s0 = VZERO(), s1 = VZERO();
    size_t b0 = 0;
    for (; b0 + ET <= d; b0 += ET)
        full_tile(S, u, ldu, mp, b0, ET, &s0, &s1);
    switch (d - b0) {
#define TAIL(T)                                                             \
    case T: full_tile(S, u, ldu, mp, b0, T, &s0, &s1); break;
        TAIL(1) TAIL(2) TAIL(3) TAIL(4) TAIL(5) TAIL(6) TAIL(7)
#undef TAIL
    default: break;
    }
    return VADD(s0, s1);
}

/* Tied: the projection x^T U alone (the same for every component) into
 * y[0 .. d-1]. */
static inline __attribute__((always_inline)) void
tied_tile(const double *S, const double *u, size_t ldu, size_t b0,
          const size_t T, VEC *y)
{
    VEC acc[ET];
#pragma GCC unroll 8
    for (size_t j = 0; j < T; j++)
        acc[j] = VZERO();
    project_tile(S, u, ldu, b0, T, acc);
#pragma GCC unroll 8
    for (size_t j = 0; j < T; j++)
        y[b0 + j] = acc[j];
}

static void tied_project(const double *S, size_t d, const double *u,
                         size_t ldu, VEC *y)
{
    size_t b0 = 0;
    for (; b0 + ET <= d; b0 += ET)
        tied_tile(S, u, ldu, b0, ET, y);
    switch (d - b0) {
#define TAIL(T)                                                             \
    case T: tied_tile(S, u, ldu, b0, T, y); break;
        TAIL(1) TAIL(2) TAIL(3) TAIL(4) TAIL(5) TAIL(6) TAIL(7)
#undef TAIL
    default: break;
    }
}

/* The W lanes of v into logp rows i0 .. i0+nl-1, column c. */
static inline void store_lanes(VEC v, double *logp, size_t k, size_t c,
                               size_t nl)
{
    double t[W];
    VSTORE(t, v);
    for (size_t l = 0; l < nl; l++)
        logp[l * k + c] = t[l];
}

void NAME(emgmm__logp)(const double *X, size_t rows, size_t ldx, size_t d,
                       size_t k, const double *centre, const double *u,
                       size_t ldu, int tied, const double *mean_proj,
                       const double *log_norm, double *logp)
{
    _Alignas(64) double S[EMGMM__KERNEL_MAX_D * CH];
    VEC y[EMGMM__KERNEL_MAX_D];
    const VEC half = VSET1(0.5);
    for (size_t i0 = 0; i0 < rows; i0 += CH) {
        const size_t nr = rows - i0 < CH ? rows - i0 : CH;
        const size_t ng = (nr + W - 1) / W * W;
        /* Shifted by the centre before the projection: data far from the
         * origin keep their digits (see estep.c). */
        transpose_rows(X + i0 * ldx, ldx, nr, d, centre, S, CH);
        /* Padding lanes: any finite value, their results are dropped. */
        for (size_t a = 0; a < d; a++)
            for (size_t l = nr; l < ng; l++)
                S[a * CH + l] = 0.0;
        double *out = logp + i0 * k;
        if (tied) {
            for (size_t g = 0; g < ng; g += W) {
                const size_t nl = nr - g < W ? nr - g : W;
                tied_project(S + g, d, u, ldu, y);
                for (size_t c = 0; c < k; c++) {
                    const double *mp = mean_proj + c * d;
                    VEC s0 = VZERO(), s1 = VZERO();
                    size_t b = 0;
                    for (; b + 2 <= d; b += 2) {
                        const VEC t0 = VSUB(y[b], VSET1(mp[b]));
                        const VEC t1 = VSUB(y[b + 1], VSET1(mp[b + 1]));
                        s0 = VFMA(t0, t0, s0);
                        s1 = VFMA(t1, t1, s1);
                    }
                    if (b < d) {
                        const VEC t0 = VSUB(y[b], VSET1(mp[b]));
                        s0 = VFMA(t0, t0, s0);
                    }
                    const VEC lp = VSUB(VSET1(log_norm[c]),
                                        VMUL(half, VADD(s0, s1)));
                    store_lanes(lp, out + g * k, k, c, nl);
                }
            }
            continue;
        }
        /* Component by component: U_c (8 KiB at d = 32, 32 KiB at 64)
         * stays in cache while the chunk's rows run against it. */
        for (size_t c = 0; c < k; c++) {
            const double *uc = u + c * d, *mp = mean_proj + c * d;
            const VEC norm = VSET1(log_norm[c]);
            for (size_t g = 0; g < ng; g += W) {
                const size_t nl = nr - g < W ? nr - g : W;
                const VEC s = full_group(S + g, d, uc, ldu, mp);
                store_lanes(VSUB(norm, VMUL(half, s)), out + g * k, k, c,
                            nl);
            }
        }
    }
}

/* Lower-triangle tiles of the M-step at padded dimension dp (a multiple
 * of MTA and MTB): row block ai meets column blocks bj with
 * bj*MTB <= ai*MTA + MTA - 1. */
static size_t scatter_tiles(size_t dp)
{
    size_t nt = 0;
    for (size_t ai = 0; ai < dp / MTA; ai++) {
        size_t nb = (ai * MTA + MTA - 1) / MTB + 1;
        nt += nb < dp / MTB ? nb : dp / MTB;
    }
    return nt;
}

void NAME(emgmm__scatter)(const double *X, size_t n, size_t ldx, size_t d,
                          const double *resp, size_t k, size_t c0, size_t c1,
                          const double *means, double *cov, size_t cov_stride,
                          double *work)
{
    const size_t dp = (d + 3) / 4 * 4, br = emgmm__scatter_block_rows(d);
    const size_t nt = scatter_tiles(dp), per = nt * MTA * MTB * W;
    /* The copies are dp * br doubles, a multiple of 4 KiB; spaced by
     * 320 more bytes, so that a load from one is not taken for a
     * dependence on a recent store to another at the same offset modulo
     * 4 KiB (which stalls the load). */
    const size_t cs = dp * br + 40;
    /* On a cache line (64 bytes): an unaligned vector load that spans
     * two lines costs twice. */
    double *xs = (double *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    double *wz = xs + cs, *rt = wz + cs,
           *acc = rt + EMGMM__SCATTER_GROUP * br + 40;
    memset(acc, 0, (c1 - c0) * per * sizeof(double));
    /* Coordinates d .. dp-1 are zero and stay so: their tiles add 0. */
    memset(wz + d * br, 0, (dp - d) * br * sizeof(double));
    for (size_t i0 = 0; i0 < n; i0 += br) {
        const size_t nr = n - i0 < br ? n - i0 : br;
        const size_t ng = (nr + W - 1) / W * W;
        /* The group's responsibilities, transposed first: by the time
         * they are read as vectors, their scalar stores have long left
         * the store buffer (a vector load that needs several pending
         * scalar stores stalls). Padding lanes add nothing. */
        for (size_t l = 0; l < nr; l++)
            for (size_t c = c0; c < c1; c++)
                rt[(c - c0) * br + l] = resp[(i0 + l) * k + c];
        for (size_t c = c0; c < c1; c++)
            for (size_t l = nr; l < ng; l++)
                rt[(c - c0) * br + l] = 0.0;
        transpose_rows(X + i0 * ldx, ldx, nr, d, NULL, xs, br);
        for (size_t a = 0; a < d; a++)
            for (size_t l = nr; l < ng; l++)
                xs[a * br + l] = 0.0;
        for (size_t c = c0; c < c1; c++) {
            const double *mu = means + c * d, *r = rt + (c - c0) * br;
            /* w = sqrt(r) (x - mu), as the gathered rows of mstep.c's
             * syrk: centred on the new mean first (two-pass; the
             * one-pass E[x x^T] - mu mu^T loses every digit far from the
             * origin), and one copy serves both sides of w w^T. */
            for (size_t g = 0; g < ng; g += W) {
                const VEC sr = VSQRT(VLOAD(r + g));
                for (size_t a = 0; a < d; a++)
                    VSTORE(wz + a * br + g,
                           VMUL(sr, VSUB(VLOAD(xs + a * br + g),
                                         VSET1(mu[a]))));
            }
            double *ac = acc + (c - c0) * per;
            for (size_t ai = 0; ai < dp / MTA; ai++) {
                size_t nb = (ai * MTA + MTA - 1) / MTB + 1;
                if (nb > dp / MTB)
                    nb = dp / MTB;
                for (size_t bj = 0; bj < nb; bj++, ac += MTA * MTB * W) {
                    VEC t[MTA][MTB];
                    for (size_t p = 0; p < MTA; p++)
                        for (size_t q = 0; q < MTB; q++)
                            t[p][q] = VLOAD(ac + (p * MTB + q) * W);
                    const double *za = wz + ai * MTA * br,
                                 *zb = wz + bj * MTB * br;
                    for (size_t g = 0; g < ng; g += W) {
                        VEC vb[MTB];
                        for (size_t q = 0; q < MTB; q++)
                            vb[q] = VLOAD(zb + q * br + g);
                        for (size_t p = 0; p < MTA; p++) {
                            const VEC va = VLOAD(za + p * br + g);
                            for (size_t q = 0; q < MTB; q++)
                                t[p][q] = VFMA(va, vb[q], t[p][q]);
                        }
                    }
                    for (size_t p = 0; p < MTA; p++)
                        for (size_t q = 0; q < MTB; q++)
                            VSTORE(ac + (p * MTB + q) * W, t[p][q]);
                }
            }
        }
    }
    /* The lanes' partial sums, added pairwise in a fixed order. */
    for (size_t c = c0; c < c1; c++) {
        const double *ac = acc + (c - c0) * per;
        double *cc = cov + c * cov_stride;
        for (size_t ai = 0; ai < dp / MTA; ai++) {
            size_t nb = (ai * MTA + MTA - 1) / MTB + 1;
            if (nb > dp / MTB)
                nb = dp / MTB;
            for (size_t bj = 0; bj < nb; bj++, ac += MTA * MTB * W)
                for (size_t p = 0; p < MTA; p++)
                    for (size_t q = 0; q < MTB; q++) {
                        const size_t a = ai * MTA + p, b = bj * MTB + q;
                        if (a >= d || b > a)
                            continue;
                        double v[W];
                        memcpy(v, ac + (p * MTB + q) * W, sizeof v);
                        for (size_t h = W / 2; h > 0; h /= 2)
                            for (size_t l = 0; l < h; l++)
                                v[l] += v[l + h];
                        cc[a * d + b] += v[0];
                    }
        }
    }
}

#undef ET
#undef CH
