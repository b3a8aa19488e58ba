/*
 * Elementwise exp and log of arrays (see vexp.h): the portable path and
 * the choice among the per-ISA ones at run time (the CPU's side of it in
 * cpu.c, shared with the E- and M-step kernels).
 *
 * The vector paths use SLEEF (Debian's libsleef-dev) rather than glibc's
 * libmvec: SLEEF documents a bound for each function (1.0 ULP for the
 * u10 exp and log used here) and exports each ISA's variant under its own
 * name (Sleef_expd4_u10avx2, Sleef_expd8_u10avx512f), so that the choice
 * is ours, made once, and every path can be tested on one machine.
 * libmvec's entry points (_ZGVdN4v_exp, ...) are meant for the compiler's
 * vectoriser under -ffast-math and come with glibc's looser, per-release
 * error table.
 */
#include "vexp.h"
#include "emgmm_config.h"

#include <math.h>
#include <stdatomic.h>

/* exp(+-0) is exactly 1: the log-sum-exp hands every row's maximum in as
 * 0, and a test costs less than libm's call. */
static void vexp_c(double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] == 0.0 ? 1.0 : exp(x[i]);
}

static void vlog_c(double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = log(x[i]);
}

typedef void (*array_fn)(double *, size_t);

static const struct {
    array_fn exp_fn, log_fn;
} paths[EMGMM__ISA_COUNT] = {
    [EMGMM__ISA_C] = {vexp_c, vlog_c},
#if EMGMM_HAVE_SLEEF
    [EMGMM__ISA_AVX2] = {emgmm__vexp_avx2, emgmm__vlog_avx2},
    [EMGMM__ISA_AVX512] = {emgmm__vexp_avx512, emgmm__vlog_avx512},
#else
    [EMGMM__ISA_AVX2] = {NULL, NULL},
    [EMGMM__ISA_AVX512] = {NULL, NULL},
#endif
};

int emgmm__exp_isa_available(emgmm__isa isa)
{
    if ((unsigned)isa >= EMGMM__ISA_COUNT || !paths[isa].exp_fn)
        return 0;
    return emgmm__cpu_supports(isa);
}

/* The chosen path, -1 until the first use. Threads that race on the first
 * use all find the same answer, so a relaxed atomic is all it needs. */
static atomic_int current = -1;

emgmm__isa emgmm__exp_isa(void)
{
    int isa = atomic_load_explicit(&current, memory_order_relaxed);
    if (isa < 0) {
        isa = EMGMM__ISA_COUNT - 1;
        while (isa > EMGMM__ISA_C && !emgmm__exp_isa_available(isa))
            isa--;
        atomic_store_explicit(&current, isa, memory_order_relaxed);
    }
    return (emgmm__isa)isa;
}

const char *emgmm__exp_isa_name(emgmm__isa isa)
{
    return emgmm__isa_name(isa);
}

int emgmm__set_exp_isa(emgmm__isa isa)
{
    if (!emgmm__exp_isa_available(isa))
        return -1;
    atomic_store_explicit(&current, (int)isa, memory_order_relaxed);
    return 0;
}

void emgmm__vexp(double *x, size_t n)
{
    paths[emgmm__exp_isa()].exp_fn(x, n);
}

void emgmm__vlog(double *x, size_t n)
{
    paths[emgmm__exp_isa()].log_fn(x, n);
}
