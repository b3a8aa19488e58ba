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

#include "small_tmpl.h"
