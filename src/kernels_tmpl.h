/*
 * The E- and M-step kernels of kernels.h, written once for any vector
 * width and for float64 or float32 data. Included by
 * x86/kernels_avx2.c and x86/kernels_avx512.c, each compiled with its
 * instruction set's flags, and by kernels.c (the portable path: the
 * compiler's generic vectors), once per element type, after defining:
 *   T                     the data's element type (double or float)
 *   MIXED                 1 when T is float: sums go to float64 vectors
 *   W                     elements of T per vector (lanes = rows)
 *   VEC                   the vector type
 *   VLOAD, VSTORE         unaligned load / store of W elements
 *   VSET1, VZERO          broadcast, zero
 *   VADD, VSUB, VMUL,
 *   VSQRT                 elementwise
 *   VFMA(a, b, c)         a * b + c (one rounding where the ISA has FMA)
 *   SW, SVEC, SLOAD,
 *   SSTORE, SSET1, SZERO,
 *   SADD, SSUB, SMUL,
 *   SFMA                  the same for the float64 sums (SW lanes; for
 *                         T = double, the V ops themselves)
 *   WIDEN(v, s)           s[0 .. W/SW-1] = the lanes of v in float64
 *   NAME(x)               x with the path's (and type's) suffix
 *   MTA, MTB              M-step tile: MTA x MTB matrix entries, each a
 *                         vector of per-lane partial sums in a register
 *   TRANSPOSE(p, ld, v)   (optional) v[j] = column j of the W x W block
 *                         at p (row stride ld)
 * It undefines them at the end, so that a file can include it again.
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
 *
 * Float32 (MIXED): the products are float32 and every sum that leaves a
 * register for long is float64 (float32.c states the error bounds):
 * - E-step, full: the rows are shifted per component, by the float32
 *   value chi_c of mu_c, and the projection starts from (mu_c - chi_c)^T
 *   U_c (the caller's float64 value, rounded), so that y = (x - mu_c)^T
 *   U_c keeps its digits relative to the component's own spread; tied:
 *   shifted once by the float32 value of the centre, as in float64. The
 *   squares are widened to float64 before they are added.
 * - M-step: w = sqrt(r / N_c) (x - mu_c), with x - mu_c formed as
 *   (x - chi_c) - float32(mu_c - chi_c); each lane's float32 partial sums
 *   take at most MIX_LANE_ROWS rows before they are added into float64
 *   partial sums (and set to zero); the float64 sums are scaled back by
 *   N_c at the end.
 */
#include "kernels.h"

#include <float.h>
#include <stdint.h>
#include <string.h>

/* Output columns per E-step tile (a path may set fewer): 8 accumulators
 * plus a coordinate and a broadcast fit the 16 registers of AVX2 as well
 * as AVX-512's 32. */
#ifndef ET
#define ET 8
#endif
/* Row groups per E-step tile (full covariance): each broadcast entry of
 * U_c serves this many vectors of rows. Set per path where the registers
 * allow (ER x ET accumulators). */
#ifndef ER
#define ER 1
#endif
/* Rows per chunk of the E-step copy: d x 64 elements (at most 32 KiB),
 * which stays in L1 while every component runs over it. */
#define CH 64
/* Float64 vectors per vector of T. */
#define HW (W / SW)

/* dst[a*ldd + l] = X[l*ldx + a] - shift[a] (shift NULL: 0) for rows l <
 * nr and coordinates a < d. Whole W x W tiles go through TRANSPOSE (W
 * row loads, shuffles, W stores: a scalar copy would cost a load and a
 * store per entry); the edges are copied one entry at a time. */
static inline void NAME(transpose_rows)(const T *X, size_t ldx, size_t nr,
                                        size_t d, const T *shift, T *dst,
                                        size_t ldd)
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
                dst[a * ldd + l] = X[l * ldx + a] - (shift ? shift[a] : 0);
    }
#endif
    for (size_t l = l0; l < nr; l++)
        for (size_t a = 0; a < d; a++)
            dst[a * ldd + l] = X[l * ldx + a] - (shift ? shift[a] : 0);
}

/* acc[r][j] += sum over a < b0 + NT, a <= b0 + j, of x_a U[a][b0 + j]
 * for the R row groups at S + r*W (the chunk copy at the lanes' offset).
 * NT and R are constants once inlined, so that the loops over j and r
 * unroll and acc stays in registers. With R groups, each broadcast entry
 * of U serves R FMAs: R + NT loads for R * NT FMAs. */
static inline __attribute__((always_inline)) void
NAME(project_tile)(const T *S, const T *u, size_t ldu, size_t b0,
                   const size_t NT, const size_t R, VEC (*acc)[ET])
{
    for (size_t a = 0; a < b0; a++) {
        VEC x[ER];
        for (size_t r = 0; r < R; r++)
            x[r] = VLOAD(S + a * CH + r * W);
        const T *ua = u + a * ldu + b0;
#pragma GCC unroll 8
        for (size_t j = 0; j < NT; j++) {
            const VEC uj = VSET1(ua[j]);
            for (size_t r = 0; r < R; r++)
                acc[r][j] = VFMA(x[r], uj, acc[r][j]);
        }
    }
#pragma GCC unroll 8
    for (size_t t = 0; t < NT; t++) {
        VEC x[ER];
        for (size_t r = 0; r < R; r++)
            x[r] = VLOAD(S + (b0 + t) * CH + r * W);
        const T *ua = u + (b0 + t) * ldu + b0;
#pragma GCC unroll 8
        for (size_t j = t; j < NT; j++) {
            const VEC uj = VSET1(ua[j]);
            for (size_t r = 0; r < R; r++)
                acc[r][j] = VFMA(x[r], uj, acc[r][j]);
        }
    }
}

/* Full covariance: columns b0 .. b0+NT-1 of y = -mp + x^T U (the order of
 * the direct loops of estep.c) for R row groups, squared (in float64)
 * into s0[r] (even j) and s1[r] (odd). */
static inline __attribute__((always_inline)) void
NAME(full_tile)(const T *S, const T *u, size_t ldu, const T *mp, size_t b0,
                const size_t NT, const size_t R, SVEC (*s0)[HW],
                SVEC (*s1)[HW])
{
    VEC acc[ER][ET];
    for (size_t r = 0; r < R; r++)
#pragma GCC unroll 8
        for (size_t j = 0; j < NT; j++)
            acc[r][j] = VSET1(-mp[b0 + j]);
    NAME(project_tile)(S, u, ldu, b0, NT, R, acc);
    for (size_t r = 0; r < R; r++)
#pragma GCC unroll 8
        for (size_t j = 0; j < NT; j++) {
            SVEC h[HW];
            WIDEN(acc[r][j], h);
            for (size_t q = 0; q < HW; q++) {
                if (j % 2 == 0)
                    s0[r][q] = SFMA(h[q], h[q], s0[r][q]);
                else
                    s1[r][q] = SFMA(h[q], h[q], s1[r][q]);
            }
        }
}

/* ||y||^2 for the R groups of W rows at S against one component, into
 * s[r]. */
static inline __attribute__((always_inline)) void
NAME(full_groups)(const T *S, size_t d, const T *u, size_t ldu,
                  const T *mp, const size_t R, SVEC (*s)[HW])
{
    SVEC s0[ER][HW], s1[ER][HW];
    for (size_t r = 0; r < R; r++)
        for (size_t q = 0; q < HW; q++)
            s0[r][q] = s1[r][q] = SZERO();
    size_t b0 = 0;
    for (; b0 + ET <= d; b0 += ET)
        NAME(full_tile)(S, u, ldu, mp, b0, ET, R, s0, s1);
    switch (d - b0) {
/* (Cases from ET on cannot occur; they are compiled for a valid size.) */
#define TAIL(NT)                                                            \
    case NT:                                                                \
        NAME(full_tile)(S, u, ldu, mp, b0, NT < ET ? NT : ET - 1, R, s0,    \
                        s1);                                                \
        break;
        TAIL(1) TAIL(2) TAIL(3) TAIL(4) TAIL(5) TAIL(6) TAIL(7)
#undef TAIL
    default: break;
    }
    for (size_t r = 0; r < R; r++)
        for (size_t q = 0; q < HW; q++)
            s[r][q] = SADD(s0[r][q], s1[r][q]);
}

/* One group, and ER groups at once (each compiled for its count). */
static void NAME(full_group)(const T *S, size_t d, const T *u, size_t ldu,
                             const T *mp, SVEC (*s)[HW])
{
    NAME(full_groups)(S, d, u, ldu, mp, 1, s);
}
static void NAME(full_group_er)(const T *S, size_t d, const T *u,
                                size_t ldu, const T *mp, SVEC (*s)[HW])
{
    NAME(full_groups)(S, d, u, ldu, mp, ER, s);
}

/* Tied: the projection x^T U alone (the same for every component) into
 * y[0 .. d-1]. */
static inline __attribute__((always_inline)) void
NAME(tied_tile)(const T *S, const T *u, size_t ldu, size_t b0,
                const size_t NT, VEC *y)
{
    VEC acc[1][ET];
#pragma GCC unroll 8
    for (size_t j = 0; j < NT; j++)
        acc[0][j] = VZERO();
    NAME(project_tile)(S, u, ldu, b0, NT, 1, acc);
#pragma GCC unroll 8
    for (size_t j = 0; j < NT; j++)
        y[b0 + j] = acc[0][j];
}

static void NAME(tied_project)(const T *S, size_t d, const T *u, size_t ldu,
                               VEC *y)
{
    size_t b0 = 0;
    for (; b0 + ET <= d; b0 += ET)
        NAME(tied_tile)(S, u, ldu, b0, ET, y);
    switch (d - b0) {
#define TAIL(NT)                                                            \
    case NT: NAME(tied_tile)(S, u, ldu, b0, NT < ET ? NT : ET - 1, y); break;
        TAIL(1) TAIL(2) TAIL(3) TAIL(4) TAIL(5) TAIL(6) TAIL(7)
#undef TAIL
    default: break;
    }
}

/* The W lanes of v (HW float64 vectors) into logp rows 0 .. nl-1,
 * column c. */
static inline void NAME(store_lanes)(const SVEC *v, double *logp, size_t k,
                                     size_t c, size_t nl)
{
    double t[W];
    for (size_t q = 0; q < HW; q++)
        SSTORE(t + q * SW, v[q]);
    for (size_t l = 0; l < nl; l++)
        logp[l * k + c] = t[l];
}

/* The E-step of kernels.h (emgmm__logp_fn) with the shifts made explicit:
 * the chunk copy is shifted by `shift`; with comp_shift (full only),
 * component c's rows are shifted again by comp_shift + c*d before its
 * projection. Full: y_c starts from -init_proj_c; tied: the squares are
 * of y - mean_proj_c, in float64. */
static inline void NAME(logp_shifted)(const T *X, size_t rows, size_t ldx,
                                      size_t d, size_t k, const T *shift,
                                      const T *comp_shift, const T *u,
                                      size_t ldu, int tied,
                                      const T *init_proj,
                                      const double *mean_proj,
                                      const double *log_norm, double *logp)
{
    _Alignas(64) T S[EMGMM__KERNEL_MAX_D * CH];
    _Alignas(64) T Sc[EMGMM__KERNEL_MAX_D * CH];
    VEC y[EMGMM__KERNEL_MAX_D];
    SVEC yw[EMGMM__KERNEL_MAX_D][HW];
    const SVEC half = SSET1(0.5);
    for (size_t i0 = 0; i0 < rows; i0 += CH) {
        const size_t nr = rows - i0 < CH ? rows - i0 : CH;
        const size_t ng = (nr + W - 1) / W * W;
        /* Shifted before the projection: data far from the origin keep
         * their digits (see estep.c). */
        NAME(transpose_rows)(X + i0 * ldx, ldx, nr, d, shift, S, CH);
        /* Padding lanes: any finite value, their results are dropped. */
        for (size_t a = 0; a < d; a++)
            for (size_t l = nr; l < ng; l++)
                S[a * CH + l] = 0;
        double *out = logp + i0 * k;
        if (tied) {
            for (size_t g = 0; g < ng; g += W) {
                const size_t nl = nr - g < W ? nr - g : W;
                NAME(tied_project)(S + g, d, u, ldu, y);
                for (size_t b = 0; b < d; b++)
                    WIDEN(y[b], yw[b]);
                for (size_t c = 0; c < k; c++) {
                    const double *mp = mean_proj + c * d;
                    SVEC lp[HW];
                    for (size_t q = 0; q < HW; q++) {
                        SVEC s0 = SZERO(), s1 = SZERO();
                        size_t b = 0;
                        for (; b + 2 <= d; b += 2) {
                            const SVEC t0 = SSUB(yw[b][q], SSET1(mp[b]));
                            const SVEC t1 =
                                SSUB(yw[b + 1][q], SSET1(mp[b + 1]));
                            s0 = SFMA(t0, t0, s0);
                            s1 = SFMA(t1, t1, s1);
                        }
                        if (b < d) {
                            const SVEC t0 = SSUB(yw[b][q], SSET1(mp[b]));
                            s0 = SFMA(t0, t0, s0);
                        }
                        lp[q] = SSUB(SSET1(log_norm[c]),
                                     SMUL(half, SADD(s0, s1)));
                    }
                    NAME(store_lanes)(lp, out + g * k, k, c, nl);
                }
            }
            continue;
        }
        /* Component by component: U_c (8 KiB at d = 32, 32 KiB at 64)
         * stays in cache while the chunk's rows run against it. */
        for (size_t c = 0; c < k; c++) {
            const T *uc = u + c * d, *mp = init_proj + c * d;
            const T *Sx = S;
            if (comp_shift) {
                const T *cs = comp_shift + c * d;
                for (size_t a = 0; a < d; a++) {
                    const VEC sa = VSET1(cs[a]);
                    for (size_t l = 0; l < ng; l += W)
                        VSTORE(Sc + a * CH + l,
                               VSUB(VLOAD(S + a * CH + l), sa));
                }
                Sx = Sc;
            }
            const SVEC norm = SSET1(log_norm[c]);
            for (size_t g = 0; g < ng;) {
                /* ER groups at a time where the chunk has them. */
                const size_t groups = g + ER * W <= ng ? ER : 1;
                SVEC s[ER][HW];
                if (groups == 1)
                    NAME(full_group)(Sx + g, d, uc, ldu, mp, s);
                else
                    NAME(full_group_er)(Sx + g, d, uc, ldu, mp, s);
                for (size_t r = 0; r < groups; r++, g += W) {
                    const size_t nl = nr - g < W ? nr - g : W;
                    for (size_t q = 0; q < HW; q++)
                        s[r][q] = SSUB(norm, SMUL(half, s[r][q]));
                    NAME(store_lanes)(s[r], out + g * k, k, c, nl);
                }
            }
        }
    }
}

/* Lower-triangle tiles of the M-step at padded dimension dp (a multiple
 * of MTA and MTB): row block ai meets column blocks bj with
 * bj*MTB <= ai*MTA + MTA - 1. */
static size_t NAME(scatter_tiles)(size_t dp)
{
    size_t nt = 0;
    for (size_t ai = 0; ai < dp / MTA; ai++) {
        size_t nb = (ai * MTA + MTA - 1) / MTB + 1;
        nt += nb < dp / MTB ? nb : dp / MTB;
    }
    return nt;
}

/* Rows per block of the M-step: the two d x rows copies within 32 KiB
 * (float32 rows are half the size: twice the rows). */
#define BLOCK_ROWS(d) (emgmm__scatter_block_rows(d) * (sizeof(double) / sizeof(T)))
/* Spacing between the copies: dp * br elements is a multiple of 4 KiB;
 * 320 more bytes, so that a load from one is not taken for a dependence
 * on a recent store to another at the same offset modulo 4 KiB (which
 * stalls the load). */
#define COPY_PAD (320 / sizeof(T))

#if MIXED
/* Rows a float32 partial sum of the M-step (a lane of the lane kernel, a
 * tile entry of the kernel by rows) takes before it is added into
 * float64 (float32.c: the error bound). */
enum { MIX_LANE_ROWS = 256 };
#endif

/* ---- the M-step at larger d: rows as the sum's index ----------------
 *
 * Above a few dozen dimensions the lane kernel below spends its time on
 * its partial sums: W per matrix entry (131 KiB per component at d = 64,
 * beyond L1), loaded and stored on every block. Here the sum runs over
 * rows inside a tile, as in a matrix product: the block's rows w =
 * sqrt(r) (x - mu) are laid out row by row (dp = d rounded up to whole
 * vectors, the padding zero), and an RTA x RTB-vector tile of the lower
 * triangle stays in registers over all the block's rows, taking per row
 * RTA broadcasts and RTB vector loads for RTA * RTB FMAs. Each entry is
 * one sum over the rows in order (float64: in its tile, then in the
 * component's dp x dp matrix between blocks; float32: per block, then
 * added into the float64 matrix, so a float32 sum takes at most a
 * block's rows). For float64, lo = 0 and x - mu is as in the lane
 * kernel. */

/* The dp x dp sums' tile at rows a0 .. a0+RTA-1, columns b0 .. b0 +
 * NV*W - 1, plus the block's rows z (nr rows, stride ldz). NV is a
 * constant once inlined. */
static inline __attribute__((always_inline)) void
NAME(rows_tile)(const T *z, size_t nr, size_t ldz, size_t dp, size_t a0,
                size_t b0, const size_t NV, double *sum)
{
    VEC t[RTA][RTB];
    for (size_t p = 0; p < RTA; p++)
        for (size_t v = 0; v < NV; v++)
#if MIXED
            t[p][v] = VZERO();
#else
            t[p][v] = VLOAD(sum + (a0 + p) * dp + b0 + v * W);
#endif
    /* One pointer each for the broadcasts and the loads, so that every
     * address is the pointer plus a constant. */
    const T *za = z + a0, *zb = z + b0;
    for (size_t i = 0; i < nr; i++, za += ldz, zb += ldz) {
        VEC vb[RTB];
        for (size_t v = 0; v < NV; v++)
            vb[v] = VLOAD(zb + v * W);
        for (size_t p = 0; p < RTA; p++) {
            const VEC va = VSET1(za[p]);
            for (size_t v = 0; v < NV; v++)
                t[p][v] = VFMA(va, vb[v], t[p][v]);
        }
    }
    for (size_t p = 0; p < RTA; p++)
        for (size_t v = 0; v < NV; v++) {
            double *e = sum + (a0 + p) * dp + b0 + v * W;
#if MIXED
            SVEC h[HW];
            WIDEN(t[p][v], h);
            for (size_t q = 0; q < HW; q++)
                SSTORE(e + q * SW, SADD(SLOAD(e + q * SW), h[q]));
#else
            VSTORE(e, t[p][v]);
#endif
        }
}

/* From this d on, the M-step uses the kernel below instead of the lane
 * kernel (set per path from bench_kernels; by default never). */
#ifndef ROWS_MIN_D
#define ROWS_MIN_D (EMGMM__KERNEL_MAX_D + 1)
#endif

static void NAME(scatter_rows)(const T *X, size_t n, size_t ldx, size_t d,
                               const double *resp, size_t k, size_t c0,
                               size_t c1, const double *means,
                               const double *scale, double *cov,
                               size_t cov_stride, void *work)
{
    /* RTA divides W, so it divides dp: tiles never leave the matrix. */
#if MIXED
    /* Each float32 tile sum takes one block's rows: at most
     * MIX_LANE_ROWS, the bound of float32.c's error analysis. */
    const size_t br = BLOCK_ROWS(d) < MIX_LANE_ROWS ? BLOCK_ROWS(d)
                                                    : MIX_LANE_ROWS;
#else
    const size_t br = BLOCK_ROWS(d);
#endif
    const size_t dp = (d + W - 1) / W * W, dv = d / W * W;
    /* The rows' stride: one vector more where dp spans whole multiples
     * of 256 bytes, so that consecutive rows do not fall on the same few
     * L1 sets (which made the portable path 40 times slower at d = 256). */
    const size_t ldz = dp * sizeof(T) % 256 == 0 ? dp + W : dp;
    double *sums = (double *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    T *z = (T *)(sums + EMGMM__SCATTER_GROUP * dp * dp);
    memset(sums, 0, (c1 - c0) * dp * dp * sizeof(double));
    for (size_t i0 = 0; i0 < n; i0 += br) {
        const size_t nr = n - i0 < br ? n - i0 : br;
        for (size_t c = c0; c < c1; c++) {
            /* w = sqrt(r) (x - mu), centred on the new mean first
             * (two-pass, see the lane kernel below). MIXED: r / N_c, and
             * x - mu as (x - hi) - lo, as there (float32.c). */
            _Alignas(64) T hi[EMGMM__SCATTER_MAX_D];
#if MIXED
            _Alignas(64) T lo[EMGMM__SCATTER_MAX_D];
#endif
            for (size_t a = 0; a < d; a++) {
                const double m = means[c * d + a];
                hi[a] = (T)m;
#if MIXED
                lo[a] = (T)(m - (double)hi[a]);
#endif
            }
#if MIXED
            const double inv = 1.0 / scale[c - c0];
#else
            (void)scale;
#endif
            /* Only the rows with a responsibility: a row of r = 0 adds
             * exactly nothing, and with well separated components most
             * rows have r = 0 for most components. */
            size_t m = 0;
            for (size_t i = 0; i < nr; i++) {
                const T *x = X + (i0 + i) * ldx;
                const double r = resp[(i0 + i) * k + c];
#if MIXED
                const double v = r < DBL_MIN ? 0.0 : r * inv;
                const T sr = v < FLT_MIN ? 0 : (T)sqrt(v);
#else
                const T sr = sqrt(r);
#endif
                if (sr == 0)
                    continue;
                T *zi = z + m++ * ldz;
                const VEC vs = VSET1(sr);
                size_t a = 0;
#if MIXED
                for (; a < dv; a += W)
                    VSTORE(zi + a,
                           VMUL(vs, VSUB(VSUB(VLOAD(x + a), VLOAD(hi + a)),
                                         VLOAD(lo + a))));
                for (; a < d; a++)
                    zi[a] = sr * ((x[a] - hi[a]) - lo[a]);
#else
                for (; a < dv; a += W)
                    VSTORE(zi + a, VMUL(vs, VSUB(VLOAD(x + a), VLOAD(hi + a))));
                for (; a < d; a++)
                    zi[a] = sr * (x[a] - hi[a]);
#endif
                for (; a < dp; a++)
                    zi[a] = 0;
            }
            double *sum = sums + (c - c0) * dp * dp;
            for (size_t a0 = 0; a0 < d; a0 += RTA) {
                /* Columns 0 .. a0+RTA-1 (the lower triangle), in tiles of
                 * RTB vectors and a shorter last one. */
                const size_t nvec = (a0 + RTA + W - 1) / W;
                size_t v0 = 0;
                for (; v0 + RTB <= nvec; v0 += RTB)
                    NAME(rows_tile)(z, m, ldz, dp, a0, v0 * W, RTB, sum);
                switch (nvec - v0) {
/* (Cases from RTB on cannot occur; they are compiled for a valid size.) */
#define NV_TAIL(NV)                                                         \
    case NV:                                                                \
        NAME(rows_tile)(z, m, ldz, dp, a0, v0 * W, NV < RTB ? NV : 1,      \
                        sum);                                               \
        break;
                    NV_TAIL(1) NV_TAIL(2) NV_TAIL(3) NV_TAIL(4)
#undef NV_TAIL
                default: break;
                }
            }
        }
    }
    for (size_t c = c0; c < c1; c++) {
        const double *sum = sums + (c - c0) * dp * dp;
#if MIXED
        const double sc = scale[c - c0];
#else
        const double sc = 1.0;
#endif
        double *cc = cov + c * cov_stride;
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b <= a; b++)
                cc[a * d + b] += sc * sum[a * dp + b];
    }
}

/* The M-step of kernels.h (emgmm__scatter_fn); MIXED: each row weighted
 * by r / scale[c - c0], the sums multiplied back by scale[c - c0]. */
static inline void NAME(scatter_scaled)(const T *X, size_t n, size_t ldx,
                                        size_t d, const double *resp,
                                        size_t k, size_t c0, size_t c1,
                                        const double *means,
                                        const double *scale, double *cov,
                                        size_t cov_stride, void *work)
{
    if (d >= ROWS_MIN_D || d > EMGMM__KERNEL_MAX_D) {
        NAME(scatter_rows)(X, n, ldx, d, resp, k, c0, c1, means, scale, cov,
                           cov_stride, work);
        return;
    }
    const size_t dp = (d + 3) / 4 * 4, br = BLOCK_ROWS(d);
    const size_t nt = NAME(scatter_tiles)(dp), per = nt * MTA * MTB * W;
    const size_t cs = dp * br + COPY_PAD;
    /* On a cache line (64 bytes): an unaligned vector load that spans
     * two lines costs twice. */
    T *xs = (T *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    T *wz = xs + cs, *rt = wz + cs,
      *acc = rt + EMGMM__SCATTER_GROUP * br + COPY_PAD;
    memset(acc, 0, (c1 - c0) * per * sizeof(T));
#if MIXED
    double *acc64 = (double *)(acc + EMGMM__SCATTER_GROUP * per);
    memset(acc64, 0, (c1 - c0) * per * sizeof(double));
    const size_t flush_blocks = MIX_LANE_ROWS * W / br;
    T mu_hi[EMGMM__SCATTER_GROUP][EMGMM__KERNEL_MAX_D],
        mu_lo[EMGMM__SCATTER_GROUP][EMGMM__KERNEL_MAX_D];
    double inv[EMGMM__SCATTER_GROUP];
    for (size_t c = c0; c < c1; c++) {
        for (size_t a = 0; a < d; a++) {
            const double m = means[c * d + a];
            mu_hi[c - c0][a] = (T)m;
            mu_lo[c - c0][a] = (T)(m - (double)mu_hi[c - c0][a]);
        }
        inv[c - c0] = 1.0 / scale[c - c0];
    }
#else
    (void)scale;
#endif
    /* Coordinates d .. dp-1 are zero and stay so: their tiles add 0. */
    memset(wz + d * br, 0, (dp - d) * br * sizeof(T));
    for (size_t i0 = 0, blk = 0; i0 < n; i0 += br, blk++) {
        const size_t nr = n - i0 < br ? n - i0 : br;
        const size_t ng = (nr + W - 1) / W * W;
        /* The group's responsibilities, transposed first: by the time
         * they are read as vectors, their scalar stores have long left
         * the store buffer (a vector load that needs several pending
         * scalar stores stalls). Padding lanes add nothing. */
        for (size_t l = 0; l < nr; l++)
            for (size_t c = c0; c < c1; c++) {
#if MIXED
                /* r / N_c, whose sum over the rows is 1: the float32
                 * products stay near the covariance's scale. Below
                 * FLT_MIN it is dropped: float32 would hold it as a
                 * subnormal (imprecise, and a micro-code assist per
                 * operation), and the row adds less than FLT_MIN |x -
                 * mu|^2 to a sum near the covariance. */
                const double r = resp[(i0 + l) * k + c];
                const double v = r < DBL_MIN ? 0.0 : r * inv[c - c0];
                rt[(c - c0) * br + l] = v < FLT_MIN ? 0 : (T)v;
#else
                rt[(c - c0) * br + l] = resp[(i0 + l) * k + c];
#endif
            }
        for (size_t c = c0; c < c1; c++)
            for (size_t l = nr; l < ng; l++)
                rt[(c - c0) * br + l] = 0;
        NAME(transpose_rows)(X + i0 * ldx, ldx, nr, d, NULL, xs, br);
        for (size_t a = 0; a < d; a++)
            for (size_t l = nr; l < ng; l++)
                xs[a * br + l] = 0;
#if MIXED
        const int flush = (blk + 1) % flush_blocks == 0 || i0 + br >= n;
#endif
        for (size_t c = c0; c < c1; c++) {
            const double *mu = means + c * d;
            const T *r = rt + (c - c0) * br;
            /* w = sqrt(r) (x - mu), as the gathered rows of mstep.c's
             * syrk: centred on the new mean first (two-pass; the
             * one-pass E[x x^T] - mu mu^T loses every digit far from the
             * origin), and one copy serves both sides of w w^T. */
            for (size_t g = 0; g < ng; g += W) {
                const VEC sr = VSQRT(VLOAD(r + g));
                for (size_t a = 0; a < d; a++) {
#if MIXED
                    /* x - mu as (x - hi) - lo: float32 rounding of the
                     * difference, not of mu. */
                    const VEC z =
                        VSUB(VSUB(VLOAD(xs + a * br + g),
                                  VSET1(mu_hi[c - c0][a])),
                             VSET1(mu_lo[c - c0][a]));
#else
                    const VEC z = VSUB(VLOAD(xs + a * br + g), VSET1(mu[a]));
#endif
                    VSTORE(wz + a * br + g, VMUL(sr, z));
                }
            }
            (void)mu;
            T *ac = acc + (c - c0) * per;
            for (size_t ai = 0; ai < dp / MTA; ai++) {
                size_t nb = (ai * MTA + MTA - 1) / MTB + 1;
                if (nb > dp / MTB)
                    nb = dp / MTB;
                for (size_t bj = 0; bj < nb; bj++, ac += MTA * MTB * W) {
                    VEC t[MTA][MTB];
                    for (size_t p = 0; p < MTA; p++)
                        for (size_t q = 0; q < MTB; q++)
                            t[p][q] = VLOAD(ac + (p * MTB + q) * W);
                    const T *za = wz + ai * MTA * br,
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
#if MIXED
                    if (flush) {
                        double *a64 = acc64 + (size_t)(ac - acc);
                        for (size_t p = 0; p < MTA; p++)
                            for (size_t q = 0; q < MTB; q++) {
                                SVEC h[HW];
                                WIDEN(t[p][q], h);
                                double *e = a64 + (p * MTB + q) * W;
                                for (size_t hq = 0; hq < HW; hq++)
                                    SSTORE(e + hq * SW,
                                           SADD(SLOAD(e + hq * SW), h[hq]));
                                t[p][q] = VZERO();
                            }
                    }
#endif
                    for (size_t p = 0; p < MTA; p++)
                        for (size_t q = 0; q < MTB; q++)
                            VSTORE(ac + (p * MTB + q) * W, t[p][q]);
                }
            }
        }
    }
    /* The lanes' partial sums, added pairwise in a fixed order. */
    for (size_t c = c0; c < c1; c++) {
#if MIXED
        const double *ac = acc64 + (c - c0) * per;
        const double sc = scale[c - c0];
#else
        const double *ac = acc + (c - c0) * per;
#endif
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
#if MIXED
                        cc[a * d + b] += sc * v[0];
#else
                        cc[a * d + b] += v[0];
#endif
                    }
        }
    }
}

#if MIXED
void NAME(emgmm__logp)(const float *X, size_t rows, size_t ldx, size_t d,
                       size_t k, const float *shift, const float *comp_shift,
                       const float *u, size_t ldu, int tied,
                       const float *init_proj, const double *mean_proj,
                       const double *log_norm, double *logp)
{
    NAME(logp_shifted)(X, rows, ldx, d, k, shift, comp_shift, u, ldu, tied,
                       init_proj, mean_proj, log_norm, logp);
}

void NAME(emgmm__scatter)(const float *X, size_t n, size_t ldx, size_t d,
                          const double *resp, size_t k, size_t c0, size_t c1,
                          const double *means, const double *scale,
                          double *cov, size_t cov_stride, double *work)
{
    NAME(scatter_scaled)(X, n, ldx, d, resp, k, c0, c1, means, scale, cov,
                         cov_stride, work);
}
#else
void NAME(emgmm__logp)(const double *X, size_t rows, size_t ldx, size_t d,
                       size_t k, const double *centre, const double *u,
                       size_t ldu, int tied, const double *mean_proj,
                       const double *log_norm, double *logp)
{
    NAME(logp_shifted)(X, rows, ldx, d, k, centre, NULL, u, ldu, tied,
                       mean_proj, mean_proj, log_norm, logp);
}

void NAME(emgmm__scatter)(const double *X, size_t n, size_t ldx, size_t d,
                          const double *resp, size_t k, size_t c0, size_t c1,
                          const double *means, double *cov, size_t cov_stride,
                          double *work)
{
    NAME(scatter_scaled)(X, n, ldx, d, resp, k, c0, c1, means, NULL, cov,
                         cov_stride, work);
}
#endif

#undef ET
#undef ER
#undef CH
#undef HW
#undef BLOCK_ROWS
#undef COPY_PAD
#undef T
#undef MIXED
#undef W
#undef VEC
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VZERO
#undef VADD
#undef VSUB
#undef VMUL
#undef VSQRT
#undef VFMA
#undef SW
#undef SVEC
#undef SLOAD
#undef SSTORE
#undef SSET1
#undef SZERO
#undef SADD
#undef SSUB
#undef SMUL
#undef SFMA
#undef WIDEN
#undef NAME
#undef MTA
#undef MTB
#undef RTA
#undef RTB
#undef ROWS_MIN_D
#undef TRANSPOSE
