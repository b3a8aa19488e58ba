/*
 * The small-d kernels of small.h with AVX2 and FMA: four rows per vector.
 * Compiled with -mavx2 -mfma; called only when the CPU has both
 * (small.c).
 */
#include <immintrin.h>
#include <stddef.h>

#define W 4
#define VEC __m256d
#define VLOAD _mm256_loadu_pd
#define VSTORE _mm256_storeu_pd
#define VSET1 _mm256_set1_pd
#define VZERO _mm256_setzero_pd
#define VADD _mm256_add_pd
#define VSUB _mm256_sub_pd
#define VMUL _mm256_mul_pd
#define VDIV _mm256_div_pd
#define VMAX _mm256_max_pd
#define VFMA _mm256_fmadd_pd
#define NAME(x) x##_avx2
#define VIDX __m256i
#define VIDX_STRIDE(s)                                                      \
    _mm256_set_epi64x(3 * (long long)(s), 2 * (long long)(s),              \
                      (long long)(s), 0)
/* Lanes below nl have the sign bit of the mask set; the others are
 * neither read nor loaded (a short tail may end at the data's last row). */
#define VGATHER(p, ix, nl)                                                  \
    _mm256_mask_i64gather_pd(                                               \
        _mm256_setzero_pd(), (p), (ix),                                     \
        _mm256_castsi256_pd(_mm256_cmpgt_epi64(                             \
            _mm256_set1_epi64x((long long)(nl)),                            \
            _mm256_set_epi64x(3, 2, 1, 0))),                                \
        8)
#define VSEL_EQ(a, b, x, y)                                                 \
    _mm256_blendv_pd((y), (x), _mm256_cmp_pd((a), (b), _CMP_EQ_OQ))

/* Lane l of x[a] = p[l*D + a] for D = 1 and 2 (D = 3 is gathered):
 * the pairs unpacked, then the middle lanes swapped into row order. */
static inline int deinterleave4(const double *p, size_t D, __m256d *x)
{
    switch (D) {
    case 1: x[0] = _mm256_loadu_pd(p); return 1;
    case 2: {
        const __m256d v0 = _mm256_loadu_pd(p), v1 = _mm256_loadu_pd(p + 4);
        /* unpacklo: rows 0, 2, 1, 3 of coordinate 0; permute: 0, 1, 2, 3 */
        x[0] = _mm256_permute4x64_pd(_mm256_unpacklo_pd(v0, v1), 0xd8);
        x[1] = _mm256_permute4x64_pd(_mm256_unpackhi_pd(v0, v1), 0xd8);
        return 1;
    }
    default: return 0;
    }
}
#define DEINTERLEAVE deinterleave4

#include "small_tmpl.h"
