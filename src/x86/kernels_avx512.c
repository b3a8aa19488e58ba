/*
 * The E- and M-step kernels of kernels.h with AVX-512F: eight rows per
 * vector for float64 data, sixteen for float32. Compiled with -mavx512f; called only when the CPU has it
 * (kernels.c).
 */
#include <immintrin.h>
#include <stddef.h>

#define T double
#define MIXED 0
#define W 8
#define VEC __m512d
#define VLOAD _mm512_loadu_pd
#define VSTORE _mm512_storeu_pd
#define VSET1 _mm512_set1_pd
#define VZERO _mm512_setzero_pd
#define VADD _mm512_add_pd
#define VSUB _mm512_sub_pd
#define VMUL _mm512_mul_pd
#define VSQRT _mm512_sqrt_pd
#define VFMA _mm512_fmadd_pd
#define SW W
#define SVEC VEC
#define SLOAD VLOAD
#define SSTORE VSTORE
#define SSET1 VSET1
#define SZERO VZERO
#define SADD VADD
#define SSUB VSUB
#define SMUL VMUL
#define SFMA VFMA
#define WIDEN(v, s) ((s)[0] = (v))
#define NAME(x) x##_avx512
/* M-step tiles of the kernel by rows (kernels_tmpl.h): 8 entries by 3
 * vectors, 24 accumulators; it beats the lane kernel from d = 32
 * (bench_kernels). */
#define RTA 8
#define RTB 3
#define ROWS_MIN_D 32
/* E-step tiles of 2 row groups x 8 columns: 16 accumulators, 2 rows and
 * a broadcast of 32 registers. */
#define ER 2
/* 4 x 4 entries: 16 accumulators, 4 + 1 loaded vectors of 32 registers. */
#define MTA 4
#define MTB 4

/* The 8 x 8 block at p, transposed: pairs of rows interleaved, then
 * 128-bit lanes gathered twice (0x88 takes lanes 0 and 2 of each
 * source, 0xdd lanes 1 and 3). */
static inline void transpose8(const double *p, size_t ld, __m512d *v)
{
    __m512d t[8], u[8];
    for (int i = 0; i < 4; i++) {
        const __m512d a = _mm512_loadu_pd(p + 2 * i * ld),
                      b = _mm512_loadu_pd(p + (2 * i + 1) * ld);
        t[2 * i] = _mm512_unpacklo_pd(a, b);     /* columns 0 2 4 6 */
        t[2 * i + 1] = _mm512_unpackhi_pd(a, b); /* columns 1 3 5 7 */
    }
    for (int o = 0; o < 2; o++) { /* even, odd columns */
        u[o * 4 + 0] = _mm512_shuffle_f64x2(t[o], t[o + 2], 0x88);
        u[o * 4 + 1] = _mm512_shuffle_f64x2(t[o], t[o + 2], 0xdd);
        u[o * 4 + 2] = _mm512_shuffle_f64x2(t[o + 4], t[o + 6], 0x88);
        u[o * 4 + 3] = _mm512_shuffle_f64x2(t[o + 4], t[o + 6], 0xdd);
        v[o + 0] = _mm512_shuffle_f64x2(u[o * 4], u[o * 4 + 2], 0x88);
        v[o + 4] = _mm512_shuffle_f64x2(u[o * 4], u[o * 4 + 2], 0xdd);
        v[o + 2] = _mm512_shuffle_f64x2(u[o * 4 + 1], u[o * 4 + 3], 0x88);
        v[o + 6] = _mm512_shuffle_f64x2(u[o * 4 + 1], u[o * 4 + 3], 0xdd);
    }
}
#define TRANSPOSE transpose8

/* The kernels for d <= 3 (kernels.h) use, besides: */
#define VDIV _mm512_div_pd
#define VMAX _mm512_max_pd
#define VIDX __m512i
#define VIDX_STRIDE(s)                                                      \
    _mm512_set_epi64(7 * (long long)(s), 6 * (long long)(s),                \
                     5 * (long long)(s), 4 * (long long)(s),                \
                     3 * (long long)(s), 2 * (long long)(s), (long long)(s), 0)
/* Masked-off lanes are neither read nor loaded: a short tail may end at
 * the last row of the data. */
#define VGATHER(p, ix, nl)                                                  \
    _mm512_mask_i64gather_pd(_mm512_setzero_pd(),                           \
                             (__mmask8)((1u << (nl)) - 1u), (ix), (p), 8)
#define VSEL_EQ(a, b, x, y)                                                 \
    _mm512_mask_blend_pd(_mm512_cmp_pd_mask((a), (b), _CMP_EQ_OQ), (y), (x))

/* Lane l of x[a] = p[l*D + a]: one or two two-source permutes per
 * coordinate (for D = 3 the first two vectors give lanes 0..5, the third
 * the last two). */
static inline int deinterleave8(const double *p, size_t D, __m512d *x)
{
    switch (D) {
    case 1: x[0] = _mm512_loadu_pd(p); return 1;
    case 2: {
        const __m512d v0 = _mm512_loadu_pd(p), v1 = _mm512_loadu_pd(p + 8);
        x[0] = _mm512_permutex2var_pd(
            v0, _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0), v1);
        x[1] = _mm512_permutex2var_pd(
            v0, _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1), v1);
        return 1;
    }
    case 3: {
        const __m512d v0 = _mm512_loadu_pd(p), v1 = _mm512_loadu_pd(p + 8),
                      v2 = _mm512_loadu_pd(p + 16);
        /* Coordinate a: positions 3l + a; those below 16 from v0:v1. */
        const __m512d t0 = _mm512_permutex2var_pd(
            v0, _mm512_set_epi64(0, 0, 15, 12, 9, 6, 3, 0), v1);
        const __m512d t1 = _mm512_permutex2var_pd(
            v0, _mm512_set_epi64(0, 0, 0, 13, 10, 7, 4, 1), v1);
        const __m512d t2 = _mm512_permutex2var_pd(
            v0, _mm512_set_epi64(0, 0, 0, 14, 11, 8, 5, 2), v1);
        x[0] = _mm512_permutex2var_pd(
            t0, _mm512_set_epi64(13, 10, 5, 4, 3, 2, 1, 0), v2);
        x[1] = _mm512_permutex2var_pd(
            t1, _mm512_set_epi64(14, 11, 8, 4, 3, 2, 1, 0), v2);
        x[2] = _mm512_permutex2var_pd(
            t2, _mm512_set_epi64(15, 12, 9, 4, 3, 2, 1, 0), v2);
        return 1;
    }
    default: return 0;
    }
}
#define DEINTERLEAVE deinterleave8

#include "small_tmpl.h"
#include "kernels_tmpl.h"

/* Float32: sixteen rows per vector, the sums in two vectors of float64
 * (the high half through a 256-bit extract, which AVX-512F has). */
#define T float
#define MIXED 1
#define W 16
#define VEC __m512
#define VLOAD _mm512_loadu_ps
#define VSTORE _mm512_storeu_ps
#define VSET1 _mm512_set1_ps
#define VZERO _mm512_setzero_ps
#define VADD _mm512_add_ps
#define VSUB _mm512_sub_ps
#define VMUL _mm512_mul_ps
#define VSQRT _mm512_sqrt_ps
#define VFMA _mm512_fmadd_ps
#define SW 8
#define SVEC __m512d
#define SLOAD _mm512_loadu_pd
#define SSTORE _mm512_storeu_pd
#define SSET1 _mm512_set1_pd
#define SZERO _mm512_setzero_pd
#define SADD _mm512_add_pd
#define SSUB _mm512_sub_pd
#define SMUL _mm512_mul_pd
#define SFMA _mm512_fmadd_pd
#define WIDEN(v, s)                                                         \
    do {                                                                    \
        (s)[0] = _mm512_cvtps_pd(_mm512_castps512_ps256(v));                \
        (s)[1] = _mm512_cvtps_pd(_mm256_castpd_ps(                          \
            _mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));               \
    } while (0)
#define NAME(x) x##_f32_avx512
/* As above; by rows from d = 48 (bench_kernels, float32). */
#define RTA 8
#define RTB 3
#define ROWS_MIN_D 48
#define ER 2
#define MTA 4
#define MTB 4

#include "kernels_tmpl.h"
