/* Small helpers shared by the cmocka tests. */
#ifndef EMGMM_TEST_UTIL_H
#define EMGMM_TEST_UTIL_H

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

/* Debian's cmocka 1.1.5 has no assert_double_equal: this one prints both
 * values and the tolerance. Passes when |a-b| <= atol + rtol*max(|a|,|b|). */
#define assert_close(a, b, rtol, atol) \
    assert_close_at((a), (b), (rtol), (atol), #a, #b, __FILE__, __LINE__)

static inline void assert_close_at(double a, double b, double rtol,
                                   double atol, const char *sa,
                                   const char *sb, const char *file,
                                   int line)
{
    double scale = fmax(fabs(a), fabs(b));
    if (!(fabs(a - b) <= atol + rtol * scale)) {
        print_error("%s = %.17g\n%s = %.17g\ndiffer by %.3g (rtol %.3g, "
                    "atol %.3g)\n", sa, a, sb, b, fabs(a - b), rtol, atol);
        _fail(file, line);
    }
}

/* A tiny deterministic generator for test data (splitmix64), independent of
 * the library's, so tests do not assume the code under test is right. */
typedef struct test_rng { uint64_t s; } test_rng;

static inline uint64_t test_rng_next(test_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline double test_rng_uniform(test_rng *r)
{
    return (double)(test_rng_next(r) >> 11) * 0x1.0p-53;
}

static inline double test_rng_normal(test_rng *r)
{
    double u1 = test_rng_uniform(r), u2 = test_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
