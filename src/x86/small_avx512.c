/*
 * The small-d kernels of small.h with AVX-512F: eight rows per vector.
 * Compiled with -mavx512f; called only when the CPU has it (small.c).
 */
#include <immintrin.h>
#include <stddef.h>

#define W 8
#define VEC __m512d
#define VLOAD _mm512_loadu_pd
#define VSTORE _mm512_storeu_pd
#define VSET1 _mm512_set1_pd
#define VZERO _mm512_setzero_pd
#define VADD _mm512_add_pd
#define VSUB _mm512_sub_pd
#define VMUL _mm512_mul_pd
#define VDIV _mm512_div_pd
#define VMAX _mm512_max_pd
#define VFMA _mm512_fmadd_pd
#define NAME(x) x##_avx512
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
