/*
 * exp and log of arrays with SLEEF's AVX2/FMA kernels (1.0-ULP bound), four
 * doubles at a time. Compiled with -mavx2 -mfma; called only when the CPU
 * has both (vexp.c).
 */
#include "vexp.h"

#include <immintrin.h>
#include <sleef.h>
#include <string.h>

/* Full vectors, then the tail padded into one (pad: a harmless argument),
 * so that every entry goes through the same kernel wherever it lies. */
#define ARRAY_KERNEL(name, fn, pad)                                        \
    void name(double *x, size_t n)                                         \
    {                                                                      \
        size_t i = 0;                                                      \
        for (; i + 4 <= n; i += 4)                                         \
            _mm256_storeu_pd(x + i, fn(_mm256_loadu_pd(x + i)));           \
        if (i < n) {                                                       \
            double t[4] = {pad, pad, pad, pad};                            \
            memcpy(t, x + i, (n - i) * sizeof(double));                    \
            _mm256_storeu_pd(t, fn(_mm256_loadu_pd(t)));                   \
            memcpy(x + i, t, (n - i) * sizeof(double));                    \
        }                                                                  \
    }

ARRAY_KERNEL(emgmm__vexp_avx2, Sleef_expd4_u10avx2, 0.0)
ARRAY_KERNEL(emgmm__vlog_avx2, Sleef_logd4_u10avx2, 1.0)
