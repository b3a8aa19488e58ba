/*
 * Elementwise exp and log of arrays, for the E-step's log-sum-exp. Not
 * installed.
 *
 * Paths ("ISAs"), one chosen at run time on first use:
 *   c       libm's exp and log, one call per entry: every architecture,
 *           and builds without SLEEF (-Dsleef=disabled, or not found);
 *   avx2    SLEEF's Sleef_expd4_u10avx2 / Sleef_logd4_u10avx2 (x86-64
 *           with AVX2 and FMA; src/x86/vexp_avx2.c);
 *   avx512  SLEEF's Sleef_expd8_u10avx512f / Sleef_logd8_u10avx512f
 *           (x86-64 with AVX-512F; src/x86/vexp_avx512.c).
 * The widest the CPU supports is taken.
 *
 * Error bound: SLEEF documents its u10 functions as correct to 1.0 ULP
 * (libm's exp and log are under 1 ULP too). tests/test_kernels.c checks
 * every path the CPU supports within 2 ULP of libm and 1.5 ULP of the
 * exact value (long double), for exp over the log-sum-exp's range
 * (-746..0, results down through the subnormals) and up to 709.7 (SLEEF's
 * exp overflows from 709.782712893384 on, a hair before libm's), for log
 * over every binade; and exp(-inf) = 0, exp(0) = 1, log(1) = 0 exactly.
 *
 * Determinism: each entry's result depends on its value and the path
 * alone (a tail shorter than a vector is padded into one, so the lanes an
 * entry shares do not matter), never on the thread count or on where a
 * block starts. Different paths may differ in the last bits: a fit on an
 * AVX-512 machine need not be bit-identical to one on an AVX2 machine.
 */
#ifndef EMGMM_VEXP_H
#define EMGMM_VEXP_H

#include "cpu.h"

#include <stddef.h>

/* x[i] = exp(x[i]), resp. log(x[i]), for i in [0, n), by the current
 * path. */
void emgmm__vexp(double *x, size_t n);
void emgmm__vlog(double *x, size_t n);

/* The current path (chosen on first use: the widest available). */
emgmm__isa emgmm__exp_isa(void);
/* 1 if this build has the path and this CPU can run it. */
int emgmm__exp_isa_available(emgmm__isa isa);
/* "c", "avx2", "avx512". */
const char *emgmm__exp_isa_name(emgmm__isa isa);
/* For tests and benchmarks: switches every later call to `isa`; returns
 * 0, or -1 (nothing changed) when it is not available. Not to be called
 * while another thread computes. */
int emgmm__set_exp_isa(emgmm__isa isa);

/* The per-ISA kernels (src/x86/), in place on n entries. */
void emgmm__vexp_avx2(double *x, size_t n);
void emgmm__vlog_avx2(double *x, size_t n);
void emgmm__vexp_avx512(double *x, size_t n);
void emgmm__vlog_avx512(double *x, size_t n);

#endif
