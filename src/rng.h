/*
 * The library's seeded generator: xoshiro256** (Blackman and Vigna), its
 * state filled from the seed by splitmix64. Restart r of a fit and every
 * call of emgmm_sample use their own stream, derived from (seed, stream)
 * by splitmix64, so results depend only on the seed, the data and the
 * thread count — never on the C library's rand().
 */
#ifndef EMGMM_RNG_H
#define EMGMM_RNG_H

#include <stdint.h>

typedef struct emgmm_rng {
    uint64_t s[4];
} emgmm_rng;

void emgmm__rng_seed(emgmm_rng *r, uint64_t seed, uint64_t stream);
uint64_t emgmm__rng_next(emgmm_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double emgmm__rng_uniform(emgmm_rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint64_t emgmm__rng_below(emgmm_rng *r, uint64_t n);
/* Standard normal (Box–Muller; the second value is discarded so that the
 * stream position does not depend on call parity). */
double emgmm__rng_normal(emgmm_rng *r);

#endif
