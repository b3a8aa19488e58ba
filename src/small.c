/*
 * The portable small-d kernels of small.h, and which path serves a call
 * (the per-ISA kernels are in src/x86/).
 */
#include "small.h"
#include "emgmm_config.h"

#include <string.h>

/* The portable path: the compiler's generic vectors of two doubles, as in
 * kernels.c; no FMA (VFMA is a multiply and an add). */
typedef double vd2 __attribute__((vector_size(2 * sizeof(double))));
static inline vd2 vload2(const double *p)
{
    vd2 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vstore2(double *p, vd2 v) { memcpy(p, &v, sizeof v); }
static inline vd2 vmax2(vd2 a, vd2 b)
{
    return (vd2){a[0] > b[0] ? a[0] : b[0], a[1] > b[1] ? a[1] : b[1]};
}
static inline vd2 vgather2(const double *p, size_t stride, size_t nl)
{
    return (vd2){p[0], nl > 1 ? p[stride] : 0.0};
}
static inline vd2 vsel_eq2(vd2 a, vd2 b, vd2 x, vd2 y)
{
    return (vd2){a[0] == b[0] ? x[0] : y[0], a[1] == b[1] ? x[1] : y[1]};
}

#define W 2
#define VEC vd2
#define VLOAD vload2
#define VSTORE vstore2
#define VSET1(x) ((vd2){(x), (x)})
#define VZERO() ((vd2){0.0, 0.0})
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VDIV(a, b) ((a) / (b))
#define VMAX vmax2
#define VFMA(a, b, c) ((a) * (b) + (c))
#define NAME(x) x##_c
#define VIDX size_t
#define VIDX_STRIDE(s) ((size_t)(s))
#define VGATHER vgather2
#define VSEL_EQ vsel_eq2

#include "small_tmpl.h"

static const struct {
    emgmm__small_estep_fn *estep;
    emgmm__small_sums_fn *sums;
    emgmm__scatter_fn *scatter;
} paths[EMGMM__ISA_COUNT] = {
    [EMGMM__ISA_C] = {emgmm__small_estep_c, emgmm__small_sums_c,
                      emgmm__small_scatter_c},
#if EMGMM_HAVE_X86_KERNELS
    [EMGMM__ISA_AVX2] = {emgmm__small_estep_avx2, emgmm__small_sums_avx2,
                         emgmm__small_scatter_avx2},
    [EMGMM__ISA_AVX512] = {emgmm__small_estep_avx512,
                           emgmm__small_sums_avx512,
                           emgmm__small_scatter_avx512},
#endif
};

/* The kernels follow the path and the switch of kernels.h. */
static int serves(size_t d)
{
    return d >= 1 && d <= EMGMM__SMALL_MAX_D &&
           emgmm__kernel_use_now() != EMGMM__KERNELS_OFF;
}

emgmm__small_estep_fn *emgmm__small_estep(size_t d, size_t k)
{
    return serves(d) && k <= EMGMM__SMALL_MAX_K
               ? paths[emgmm__kernel_isa()].estep
               : NULL;
}

emgmm__small_sums_fn *emgmm__small_sums(size_t d, size_t k)
{
    return serves(d) && k <= EMGMM__SMALL_MAX_K
               ? paths[emgmm__kernel_isa()].sums
               : NULL;
}

emgmm__scatter_fn *emgmm__small_scatter(size_t d)
{
    return serves(d) ? paths[emgmm__kernel_isa()].scatter : NULL;
}
