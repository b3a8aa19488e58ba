/*
 * The E- and M-step kernels of kernels.h with AVX2 and FMA: four rows per
 * vector for float64 data, eight for float32. Compiled with -mavx2 -mfma; called only when the CPU has both
 * (kernels.c).
 */
#include <immintrin.h>

#define T double
#define MIXED 0
#define W 4
#define VEC __m256d
#define VLOAD _mm256_loadu_pd
#define VSTORE _mm256_storeu_pd
#define VSET1 _mm256_set1_pd
#define VZERO _mm256_setzero_pd
#define VADD _mm256_add_pd
#define VSUB _mm256_sub_pd
#define VMUL _mm256_mul_pd
#define VSQRT _mm256_sqrt_pd
#define VFMA _mm256_fmadd_pd
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
#define NAME(x) x##_avx2
/* M-step tiles of the kernel by rows (kernels_tmpl.h): 4 entries by 3
 * vectors, 12 accumulators; it beats the lane kernel from d = 24
 * (bench_kernels). */
#define RTA 4
#define RTB 3
#define ROWS_MIN_D 24
/* E-step tiles of 2 row groups x 6 columns: 12 accumulators, 2 rows and
 * a broadcast of 16 registers. */
#define ER 2
#define ET 6
/* 2 x 4 entries: 8 accumulators, 4 + 1 loaded vectors of 16 registers. */
#define MTA 2
#define MTB 4

/* The 4 x 4 block at p, transposed: pairs within 128-bit halves, then
 * the halves. */
#define TRANSPOSE(p, ld, v)                                                 \
    do {                                                                    \
        const __m256d r0_ = _mm256_loadu_pd((p)), r1_ = _mm256_loadu_pd((p) + (ld)), \
                      r2_ = _mm256_loadu_pd((p) + 2 * (ld)),                \
                      r3_ = _mm256_loadu_pd((p) + 3 * (ld));                \
        const __m256d t0_ = _mm256_unpacklo_pd(r0_, r1_),                   \
                      t1_ = _mm256_unpackhi_pd(r0_, r1_),                   \
                      t2_ = _mm256_unpacklo_pd(r2_, r3_),                   \
                      t3_ = _mm256_unpackhi_pd(r2_, r3_);                   \
        (v)[0] = _mm256_permute2f128_pd(t0_, t2_, 0x20);                    \
        (v)[1] = _mm256_permute2f128_pd(t1_, t3_, 0x20);                    \
        (v)[2] = _mm256_permute2f128_pd(t0_, t2_, 0x31);                    \
        (v)[3] = _mm256_permute2f128_pd(t1_, t3_, 0x31);                    \
    } while (0)

/* The kernels for d <= 3 (kernels.h) use, besides: */
#define VDIV _mm256_div_pd
#define VMAX _mm256_max_pd
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
#include "kernels_tmpl.h"

/* Float32: eight rows per vector, the sums in two vectors of float64. */
#define T float
#define MIXED 1
#define W 8
#define VEC __m256
#define VLOAD _mm256_loadu_ps
#define VSTORE _mm256_storeu_ps
#define VSET1 _mm256_set1_ps
#define VZERO _mm256_setzero_ps
#define VADD _mm256_add_ps
#define VSUB _mm256_sub_ps
#define VMUL _mm256_mul_ps
#define VSQRT _mm256_sqrt_ps
#define VFMA _mm256_fmadd_ps
#define SW 4
#define SVEC __m256d
#define SLOAD _mm256_loadu_pd
#define SSTORE _mm256_storeu_pd
#define SSET1 _mm256_set1_pd
#define SZERO _mm256_setzero_pd
#define SADD _mm256_add_pd
#define SSUB _mm256_sub_pd
#define SMUL _mm256_mul_pd
#define SFMA _mm256_fmadd_pd
#define WIDEN(v, s)                                                         \
    do {                                                                    \
        (s)[0] = _mm256_cvtps_pd(_mm256_castps256_ps128(v));                \
        (s)[1] = _mm256_cvtps_pd(_mm256_extractf128_ps((v), 1));            \
    } while (0)
#define NAME(x) x##_f32_avx2
/* As above; by rows wherever float32 uses these kernels (d >= 33). */
#define RTA 4
#define RTB 3
#define ROWS_MIN_D 33
#define ER 2
#define ET 6
#define MTA 2
#define MTB 4

#include "kernels_tmpl.h"
