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
#define MTA 2
#define MTB 4

#include "kernels_tmpl.h"
