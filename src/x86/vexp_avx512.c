/*
 * exp and log of arrays with SLEEF's AVX-512F kernels (1.0-ULP bound),
 * eight doubles at a time. Compiled with -mavx512f; called only when the
 * CPU has it (vexp.c).
 */
#include "vexp.h"

#include <immintrin.h>
#include <sleef.h>

/* Full vectors, then the tail through the same kernel under a mask (the
 * masked-off lanes hold `pad`, a harmless argument, and are not stored). */
#define ARRAY_KERNEL(name, fn, pad)                                        \
    void name(double *x, size_t n)                                         \
    {                                                                      \
        size_t i = 0;                                                      \
        for (; i + 8 <= n; i += 8)                                         \
            _mm512_storeu_pd(x + i, fn(_mm512_loadu_pd(x + i)));           \
        if (i < n) {                                                       \
            const __mmask8 m = (__mmask8)((1u << (n - i)) - 1u);           \
            __m512d v = _mm512_mask_loadu_pd(_mm512_set1_pd(pad), m, x + i); \
            _mm512_mask_storeu_pd(x + i, m, fn(v));                        \
        }                                                                  \
    }

ARRAY_KERNEL(emgmm__vexp_avx512, Sleef_expd8_u10avx512f, 0.0)
ARRAY_KERNEL(emgmm__vlog_avx512, Sleef_logd8_u10avx512f, 1.0)
