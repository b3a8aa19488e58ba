/*
 * The kernels for d <= 3 of kernels.h, written once for any vector width. Included,
 * next to kernels_tmpl.h's float64 kernels and with the same definitions
 * of W, VEC, VLOAD, VSTORE, VSET1, VZERO, VADD, VSUB, VMUL, VFMA and
 * NAME, by x86/kernels_avx2.c, x86/kernels_avx512.c and kernels.c, which
 * also define
 *   VDIV, VMAX            elementwise
 *   VIDX, VIDX_STRIDE(s)  an index vector type, and {0, s, 2s, ...}
 *   VGATHER(p, ix, nl)    lane l < nl: p[ix_l]; lanes from nl on: 0, and
 *                         their addresses are not read
 *   VSEL_EQ(a, b, x, y)   per lane: a == b ? x : y
 *   DEINTERLEAVE(p, D, x) (optional) for W consecutive rows of D doubles
 *                         at p: x[a] = their coordinate a, for a < D;
 *                         returns 0 where it does not serve this D (then
 *                         VGATHER does it)
 *
 * Each function is compiled for d = 1, 2, 3 (the loops over coordinates
 * unroll and everything of a row stays in registers).
 */
#include "kernels.h"
#include "vexp.h"

#include <math.h>
#include <string.h>

/* Rows per chunk: the chunk's log-densities (k x SCH) go through one
 * vector exp, its sums through one vector log. */
#define SCH 64

/* The W lanes of v into p[0], p[stride], ... (lanes < nl). */
static inline void store_strided(VEC v, double *p, size_t stride, size_t nl)
{
    double t[W];
    VSTORE(t, v);
    for (size_t l = 0; l < nl; l++)
        p[l * stride] = t[l];
}

/* The lanes of v added in a fixed (pairwise) order. */
static inline double lane_sum(VEC v)
{
    double t[W];
    VSTORE(t, v);
    for (size_t h = W / 2; h > 0; h /= 2)
        for (size_t l = 0; l < h; l++)
            t[l] += t[l + h];
    return t[0];
}

/* Coordinates [0, D) of rows [0, nr) (nr <= SCH) into S (D x SCH, lanes =
 * rows), rows from nr on padded with zeros up to a whole vector. */
static inline __attribute__((always_inline)) void
gather_rows(const double *X, size_t ldx, size_t nr, const size_t D,
            double *S)
{
    const VIDX ix = VIDX_STRIDE(ldx);
    for (size_t g = 0; g < nr; g += W) {
        const size_t nl = nr - g < W ? nr - g : W;
#ifdef DEINTERLEAVE
        /* Contiguous rows: a few loads and shuffles beat a gather per
         * coordinate. */
        VEC x[3];
        if (ldx == D && nl == W && DEINTERLEAVE(X + g * ldx, D, x)) {
            for (size_t a = 0; a < D; a++)
                VSTORE(S + a * SCH + g, x[a]);
            continue;
        }
#endif
        for (size_t a = 0; a < D; a++)
            VSTORE(S + a * SCH + g, VGATHER(X + g * ldx + a, ix, nl));
    }
}

/* Responsibilities of components [c0, c1) for rows [0, nr) into R
 * ((c1 - c0) x SCH), padded with zeros as gather_rows. */
static inline void gather_resp(const double *resp, size_t k, size_t c0,
                               size_t c1, size_t nr, double *R)
{
    const VIDX ix = VIDX_STRIDE(k);
    for (size_t g = 0; g < nr; g += W) {
        const size_t nl = nr - g < W ? nr - g : W;
        for (size_t c = c0; c < c1; c++)
            VSTORE(R + (c - c0) * SCH + g,
                   VGATHER(resp + g * k + c, ix, nl));
    }
}

/* log_norm - 1/2 ||x^T U - mp||^2 for the lanes' rows x (shifted by the
 * centre), U upper triangular: column b of the projection only needs
 * coordinates a <= b. The order of estep.c's per-row loops. */
static inline __attribute__((always_inline)) VEC
log_density(const VEC *x, const size_t D, const double *u, size_t ldu,
            const double *mp, double norm)
{
    VEC s = VZERO();
    for (size_t b = 0; b < D; b++) {
        VEC y = VSET1(-mp[b]);
        for (size_t a = 0; a <= b; a++)
            y = VFMA(x[a], VSET1(u[a * ldu + b]), y);
        s = VFMA(y, y, s);
    }
    return VSUB(VSET1(norm), VMUL(VSET1(0.5), s));
}

static inline __attribute__((always_inline)) double
estep_d(const double *X, size_t rows, size_t ldx, const size_t D, size_t k,
        const double *centre, const double *u, size_t ldu, int tied,
        const double *mean_proj, const double *log_norm,
        const double *weight, double *logp, double *resp, double *lse,
        double *nk, double *xsum)
{
    _Alignas(64) double L[EMGMM__SMALL_MAX_K * SCH], S[3 * SCH];
    _Alignas(64) double amax[SCH], s[SCH], log_s[SCH];
    static const double ones[8] = {1.0, 1.0, 1.0, 1.0,
                                   1.0, 1.0, 1.0, 1.0}; /* W <= 8 */
    const VIDX unit = VIDX_STRIDE(1);
    const VEC neg_inf = VSET1(-INFINITY), zero = VZERO();
    const VEC even1 = VSET1(1.0 / (double)k);
    VEC total = VZERO();
    VEC an[EMGMM__SMALL_MAX_K], ax[EMGMM__SMALL_MAX_K][3];
    const int moments = resp && nk && xsum;
    if (moments)
        for (size_t c = 0; c < k; c++) {
            an[c] = zero;
            for (size_t a = 0; a < D; a++)
                ax[c][a] = zero;
        }
    for (size_t i0 = 0; i0 < rows; i0 += SCH) {
        const size_t nr = rows - i0 < SCH ? rows - i0 : SCH;
        const size_t ng = (nr + W - 1) / W * W;
        gather_rows(X + i0 * ldx, ldx, nr, D, S);
        /* L[c*ng + l]: component c's log-density at row l. */
        for (size_t g = 0; g < ng; g += W) {
            VEC x[3];
            /* Shifted by the centre first, as in estep.c: data far from
             * the origin keep their digits. */
            for (size_t a = 0; a < D; a++)
                x[a] = VSUB(VLOAD(S + a * SCH + g), VSET1(centre[a]));
            VEC am = neg_inf;
            for (size_t c = 0; c < k; c++) {
                const VEC lp = log_density(x, D, tied ? u : u + c * D, ldu,
                                           mean_proj + c * D, log_norm[c]);
                VSTORE(L + c * ng + g, lp);
                am = VMAX(am, lp);
            }
            VSTORE(amax + g, am);
        }
        if (!resp) {
            for (size_t c = 0; c < k; c++)
                for (size_t g = 0; g < nr; g += W)
                    store_strided(VLOAD(L + c * ng + g),
                                  logp + (i0 + g) * k + c, k,
                                  nr - g < W ? nr - g : W);
            continue;
        }
        /* The log-sum-exp of emgmm__normalize_log_resp, lanes = rows:
         * exp(l_c - max) <= 1 cannot overflow, the largest term is exactly
         * 1 (exp(0) = 1 on every path, vexp.h), so the sum cannot
         * underflow; a row whose every density is zero gets exponents of
         * 0 here and an even spread below. */
        for (size_t g = 0; g < ng; g += W) {
            const VEC am = VLOAD(amax + g);
            for (size_t c = 0; c < k; c++)
                VSTORE(L + c * ng + g,
                       VSEL_EQ(am, neg_inf, zero,
                               VSUB(VLOAD(L + c * ng + g), am)));
        }
        emgmm__vexp(L, k * ng);
        for (size_t g = 0; g < ng; g += W) {
            VEC sum = VLOAD(L + g);
            for (size_t c = 1; c < k; c++)
                sum = VADD(sum, VLOAD(L + c * ng + g));
            VSTORE(s + g, sum);
            VSTORE(log_s + g, sum);
        }
        /* Every row's log p(x) needs its own log. The unweighted total
         * alone needs one log per lane of the chunk: sum_i log s_i =
         * log prod_i s_i, a product of at most SCH / W factors in
         * [1, k] per lane (no overflow for k <= 32), each multiplication
         * rounding by half an ulp, so the sum is as accurate as the sum
         * of separate logs. */
        const int row_logs = lse || weight;
        VEC prod = VSET1(1.0);
        if (row_logs)
            emgmm__vlog(log_s, ng);
        for (size_t g = 0; g < ng; g += W) {
            const size_t nl = nr - g < W ? nr - g : W;
            const size_t i = i0 + g;
            /* Padding lanes get weight 0: they add nothing below. */
            const VEC w = weight ? VGATHER(weight + i, unit, nl)
                               : VGATHER(ones, unit, nl);
            const VEC am = VLOAD(amax + g);
            const VEC inv = VDIV(w, VLOAD(s + g));
            /* The spread of a row of zero density (a division is slow:
             * one per vector only with weights). */
            const VEC even =
                weight ? VDIV(w, VSET1((double)k)) : VMUL(w, even1);
            for (size_t c = 0; c < k; c++) {
                const VEC r = VSEL_EQ(am, neg_inf, even,
                                      VMUL(VLOAD(L + c * ng + g), inv));
                store_strided(r, resp + i * k + c, k, nl);
                if (moments) { /* padding lanes: r = 0 */
                    an[c] = VADD(an[c], r);
                    for (size_t a = 0; a < D; a++)
                        ax[c][a] = VFMA(r, VLOAD(S + a * SCH + g), ax[c][a]);
                }
            }
            if (!row_logs) {
                /* Padding lanes (w = 0) add nothing. */
                prod = VMUL(prod, VSEL_EQ(w, zero, VSET1(1.0), VLOAD(s + g)));
                total = VADD(total, VSEL_EQ(w, zero, zero, am));
                continue;
            }
            const VEC l = VSEL_EQ(am, neg_inf, neg_inf,
                                  VADD(am, VLOAD(log_s + g)));
            if (lse)
                store_strided(l, lse + i, 1, nl);
            /* A row of weight zero is ignored, even at zero density. */
            total = VADD(total, VSEL_EQ(w, zero, zero, VMUL(w, l)));
        }
        if (!row_logs) {
            VSTORE(log_s, prod);
            emgmm__vlog(log_s, W);
            total = VADD(total, VLOAD(log_s));
        }
    }
    if (moments)
        for (size_t c = 0; c < k; c++) {
            nk[c] = lane_sum(an[c]);
            for (size_t a = 0; a < D; a++)
                xsum[c * D + a] = lane_sum(ax[c][a]);
        }
    return lane_sum(total);
}

double NAME(emgmm__small_estep)(const double *X, size_t rows, size_t ldx,
                                size_t d, size_t k, const double *centre,
                                const double *u, size_t ldu, int tied,
                                const double *mean_proj,
                                const double *log_norm,
                                const double *weight, double *logp,
                                double *resp, double *lse, double *nk,
                                double *xsum)
{
    switch (d) {
#define CASE(D)                                                             \
    case D:                                                                 \
        return estep_d(X, rows, ldx, D, k, centre, u, ldu, tied, mean_proj, \
                       log_norm, weight, logp, resp, lse, nk, xsum);
        CASE(1) CASE(2) CASE(3)
#undef CASE
    default: return NAN;
    }
}

static inline __attribute__((always_inline)) void
sums_d(const double *X, size_t n, size_t ldx, const size_t D,
       const double *resp, size_t k, double *nk, double *sums)
{
    _Alignas(64) double S[3 * SCH], R[EMGMM__SMALL_MAX_K * SCH];
    VEC an[EMGMM__SMALL_MAX_K], ax[EMGMM__SMALL_MAX_K][3];
    for (size_t c = 0; c < k; c++) {
        an[c] = VZERO();
        for (size_t a = 0; a < D; a++)
            ax[c][a] = VZERO();
    }
    for (size_t i0 = 0; i0 < n; i0 += SCH) {
        const size_t nr = n - i0 < SCH ? n - i0 : SCH;
        gather_rows(X + i0 * ldx, ldx, nr, D, S);
        gather_resp(resp + i0 * k, k, 0, k, nr, R);
        for (size_t c = 0; c < k; c++) {
            VEC sn = an[c], sx[3];
            for (size_t a = 0; a < D; a++)
                sx[a] = ax[c][a];
            for (size_t g = 0; g < nr; g += W) {
                const VEC r = VLOAD(R + c * SCH + g);
                sn = VADD(sn, r);
                for (size_t a = 0; a < D; a++)
                    sx[a] = VFMA(r, VLOAD(S + a * SCH + g), sx[a]);
            }
            an[c] = sn;
            for (size_t a = 0; a < D; a++)
                ax[c][a] = sx[a];
        }
    }
    for (size_t c = 0; c < k; c++) {
        nk[c] = lane_sum(an[c]);
        for (size_t a = 0; a < D; a++)
            sums[c * D + a] = lane_sum(ax[c][a]);
    }
}

void NAME(emgmm__small_sums)(const double *X, size_t n, size_t ldx, size_t d,
                             const double *resp, size_t k, double *nk,
                             double *sums)
{
    switch (d) {
    case 1: sums_d(X, n, ldx, 1, resp, k, nk, sums); break;
    case 2: sums_d(X, n, ldx, 2, resp, k, nk, sums); break;
    case 3: sums_d(X, n, ldx, 3, resp, k, nk, sums); break;
    default: break;
    }
}

static inline __attribute__((always_inline)) void
scatter_d(const double *X, size_t n, size_t ldx, const size_t D,
          const double *resp, size_t k, size_t c0, size_t c1,
          const double *means, double *cov, size_t cov_stride)
{
    _Alignas(64) double S[3 * SCH], R[EMGMM__SCATTER_GROUP * SCH];
    VEC acc[EMGMM__SCATTER_GROUP][6];
    for (size_t c = c0; c < c1; c++)
        for (size_t e = 0; e < 6; e++)
            acc[c - c0][e] = VZERO();
    for (size_t i0 = 0; i0 < n; i0 += SCH) {
        const size_t nr = n - i0 < SCH ? n - i0 : SCH;
        gather_rows(X + i0 * ldx, ldx, nr, D, S);
        gather_resp(resp + i0 * k, k, c0, c1, nr, R);
        for (size_t c = c0; c < c1; c++) {
            const double *mu = means + c * D;
            VEC t[6];
            for (size_t e = 0; e < D * (D + 1) / 2; e++)
                t[e] = acc[c - c0][e];
            for (size_t g = 0; g < nr; g += W) {
                /* Two-pass: centred on the new mean before multiplying
                 * (mstep.c). */
                const VEC r = VLOAD(R + (c - c0) * SCH + g);
                VEC z[3];
                for (size_t a = 0; a < D; a++)
                    z[a] = VSUB(VLOAD(S + a * SCH + g), VSET1(mu[a]));
                size_t e = 0;
                for (size_t a = 0; a < D; a++) {
                    const VEC rz = VMUL(r, z[a]);
                    for (size_t b = 0; b <= a; b++, e++)
                        t[e] = VFMA(rz, z[b], t[e]);
                }
            }
            for (size_t e = 0; e < D * (D + 1) / 2; e++)
                acc[c - c0][e] = t[e];
        }
    }
    for (size_t c = c0; c < c1; c++) {
        double *cc = cov + c * cov_stride;
        size_t e = 0;
        for (size_t a = 0; a < D; a++)
            for (size_t b = 0; b <= a; b++, e++)
                cc[a * D + b] += lane_sum(acc[c - c0][e]);
    }
}

void NAME(emgmm__small_scatter)(const double *X, size_t n, size_t ldx,
                                size_t d, const double *resp, size_t k,
                                size_t c0, size_t c1, const double *means,
                                double *cov, size_t cov_stride, double *work)
{
    (void)work;
    switch (d) {
#define CASE(D)                                                             \
    case D:                                                                 \
        scatter_d(X, n, ldx, D, resp, k, c0, c1, means, cov, cov_stride);   \
        break;
        CASE(1) CASE(2) CASE(3)
#undef CASE
    default: break;
    }
}

#undef SCH
#undef VDIV
#undef VMAX
#undef VIDX
#undef VIDX_STRIDE
#undef VGATHER
#undef VSEL_EQ
#undef DEINTERLEAVE
