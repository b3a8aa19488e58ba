/* xoshiro256** seeded by splitmix64; see rng.h. */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void emgmm__rng_seed(emgmm_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed;
    /* Mix the stream in through a second splitmix step so that nearby
     * (seed, stream) pairs give unrelated states. */
    uint64_t y = stream ^ 0xd1b54a32d192ed03ULL;
    x ^= splitmix64(&y);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t emgmm__rng_next(emgmm_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double emgmm__rng_uniform(emgmm_rng *r)
{
    return (double)(emgmm__rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t emgmm__rng_below(emgmm_rng *r, uint64_t n)
{
    /* Rejection on the top of the range removes the modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = emgmm__rng_next(r);
    while (x >= limit);
    return x % n;
}

double emgmm__rng_normal(emgmm_rng *r)
{
    double u1 = 1.0 - emgmm__rng_uniform(r); /* (0, 1]: log is finite */
    double u2 = emgmm__rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}
