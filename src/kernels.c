/*
 * The portable E- and M-step kernels of kernels.h, and the choice among
 * the paths at run time (the per-ISA kernels are in src/x86/).
 */
#include "kernels.h"
#include "emgmm_config.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

/* The portable path: the same register-blocked kernels as the x86 ones
 * (kernels_tmpl.h) on the compiler's generic vectors of two doubles,
 * which it maps to the baseline vector unit (SSE2 on x86-64, NEON on
 * AArch64) or to scalar code. No FMA here: VFMA is a multiply and an add
 * (ISO C mode, no contraction on GCC), so the bits are the baseline's. */
typedef double vd2 __attribute__((vector_size(2 * sizeof(double))));
static inline vd2 vload2(const double *p)
{
    vd2 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vstore2(double *p, vd2 v) { memcpy(p, &v, sizeof v); }
static inline vd2 vset2(double x) { return (vd2){x, x}; }
static inline vd2 vzero2(void) { return (vd2){0.0, 0.0}; }
static inline vd2 vsqrt2(vd2 v) { return (vd2){sqrt(v[0]), sqrt(v[1])}; }
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


#define T double
#define MIXED 0
#define W 2
#define VEC vd2
#define VLOAD vload2
#define VSTORE vstore2
#define VSET1 vset2
#define VZERO vzero2
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VSQRT vsqrt2
#define VFMA(a, b, c) ((a) * (b) + (c))
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
#define NAME(x) x##_c
/* M-step tiles of the kernel by rows: 2 entries by 4 vectors; it beats
 * the lane kernel from d = 8 (bench_kernels). */
#define RTA 2
#define RTB 4
#define ROWS_MIN_D 8
/* 2 x 4 entries: 8 accumulators, 4 + 1 loaded vectors of 16 registers. */
#define MTA 2
#define MTB 4

/* The kernels for d <= 3 (kernels.h) use, besides: */
#define VDIV(a, b) ((a) / (b))
#define VMAX vmax2
#define VIDX size_t
#define VIDX_STRIDE(s) ((size_t)(s))
#define VGATHER vgather2
#define VSEL_EQ vsel_eq2

#include "small_tmpl.h"
#include "kernels_tmpl.h"

/* Float32: generic vectors of four floats, the sums in two vectors of
 * two doubles. */
typedef float vf4 __attribute__((vector_size(4 * sizeof(float))));
static inline vf4 vload4f(const float *p)
{
    vf4 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vstore4f(float *p, vf4 v) { memcpy(p, &v, sizeof v); }
static inline vf4 vset4f(float x) { return (vf4){x, x, x, x}; }
static inline vf4 vzero4f(void) { return (vf4){0.0f, 0.0f, 0.0f, 0.0f}; }
static inline vf4 vsqrt4f(vf4 v)
{
    return (vf4){sqrtf(v[0]), sqrtf(v[1]), sqrtf(v[2]), sqrtf(v[3])};
}

#define T float
#define MIXED 1
#define W 4
#define VEC vf4
#define VLOAD vload4f
#define VSTORE vstore4f
#define VSET1 vset4f
#define VZERO vzero4f
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VSQRT vsqrt4f
#define VFMA(a, b, c) ((a) * (b) + (c))
#define SW 2
#define SVEC vd2
#define SLOAD vload2
#define SSTORE vstore2
#define SSET1 vset2
#define SZERO vzero2
#define SADD(a, b) ((a) + (b))
#define SSUB(a, b) ((a) - (b))
#define SMUL(a, b) ((a) * (b))
#define SFMA(a, b, c) ((a) * (b) + (c))
#define WIDEN(v, s)                                                         \
    do {                                                                    \
        (s)[0] = (vd2){(double)(v)[0], (double)(v)[1]};                     \
        (s)[1] = (vd2){(double)(v)[2], (double)(v)[3]};                     \
    } while (0)
#define NAME(x) x##_f32_c
/* By rows: 4 entries by 2 vectors, never chosen (slower than the lane
 * kernel at every d measured, 33 to 64). */
#define RTA 4
#define RTB 2
#define MTA 2
#define MTB 4

#include "kernels_tmpl.h"

size_t emgmm__scatter_work_size(size_t d)
{
    /* The vector kernels (kernels_tmpl.h): two d x rows copies (with
     * some space between them, from a cache line boundary), the
     * responsibilities of a group of components, and per
     * component at most dp^2 partial sums of up to 8 lanes; more than the
     * kernel by rows needs (a block of rows, one dp x dp matrix per
     * component). */
    const size_t dp = (d + 3) / 4 * 4, br = emgmm__scatter_block_rows(d);
    if (d > EMGMM__KERNEL_MAX_D) /* the kernel by rows alone */
        return 8 + br * (dp + 16) + EMGMM__SCATTER_GROUP * (dp + 4) * (dp + 4);
    return 2 * (dp * br + 40) + EMGMM__SCATTER_GROUP * (br + dp * dp * 8) +
           40 + 8;
}

size_t emgmm__scatter_f32_work_size(size_t d)
{
    /* As above in float32 (twice the rows per block, up to 16 lanes),
     * plus the float64 partial sums. The lower triangle's tiles (MTA,
     * MTB <= 4) hold at most dp (dp + 12) / 2 entries. */
    const size_t dp = (d + 3) / 4 * 4,
                 br = 2 * emgmm__scatter_block_rows(d);
    if (d > EMGMM__KERNEL_MAX_D) /* the kernel by rows alone */
        return 8 + (br * (dp + 32) * sizeof(float) + sizeof(double) - 1) /
                       sizeof(double) +
               EMGMM__SCATTER_GROUP * (dp + 12) * (dp + 12);
    const size_t per = dp * (dp + 12) / 2 * 16;
    const size_t bytes =
        64 + sizeof(float) * (2 * (dp * br + 80) + EMGMM__SCATTER_GROUP * br +
                              80 + EMGMM__SCATTER_GROUP * per) +
        sizeof(double) * EMGMM__SCATTER_GROUP * per;
    return (bytes + sizeof(double) - 1) / sizeof(double);
}

/* The measured ranges (bench/bench_kernels, bench/RESULTS.md, "Own
 * kernels"): the portable E-step is no faster than BLAS (empty range),
 * its M-step beats gather + syrk from 5 to 16 (d = 4 keeps the unrolled
 * loops of mstep.c); the x86 kernels win wherever they reach (the AVX2
 * E-step at 64 since its tiles cover two row groups: 47 against trmm's
 * 63 ms; the M-step up to 256 with the kernel by rows). The kernels for
 * d <= 3 beat the per-row loops on every path.
 * Float32: the x86 kernels against
 * float32 BLAS (strmm, ssyrk with per-row conversions), from 33 on, where
 * float32.c leaves the widened float64 path, the M-step up to 256
 * (AVX-512; level with ssyrk there) or 128 (AVX2; slower than ssyrk at
 * 256); the portable ones are not used. */
static const emgmm__kernel_path paths[EMGMM__ISA_COUNT] = {
    [EMGMM__ISA_C] = {emgmm__logp_c, emgmm__scatter_c, 1, 0, 5, 16,
                      emgmm__logp_f32_c, emgmm__scatter_f32_c, 1, 0, 1, 0,
                      emgmm__small_estep_c, emgmm__small_sums_c,
                      emgmm__small_scatter_c},
#if EMGMM_HAVE_X86_KERNELS
    [EMGMM__ISA_AVX2] = {emgmm__logp_avx2, emgmm__scatter_avx2, 4, 64, 4,
                         256, emgmm__logp_f32_avx2, emgmm__scatter_f32_avx2,
                         33, 64, 33, 128, emgmm__small_estep_avx2,
                         emgmm__small_sums_avx2, emgmm__small_scatter_avx2},
    [EMGMM__ISA_AVX512] = {emgmm__logp_avx512, emgmm__scatter_avx512, 4, 64,
                           4, 256, emgmm__logp_f32_avx512,
                           emgmm__scatter_f32_avx512, 33, 64, 33, 256,
                           emgmm__small_estep_avx512,
                           emgmm__small_sums_avx512,
                           emgmm__small_scatter_avx512},
#endif
};

const emgmm__kernel_path *emgmm__kernel_path_of(emgmm__isa isa)
{
    if ((unsigned)isa >= EMGMM__ISA_COUNT || !paths[isa].logp ||
        !emgmm__cpu_supports(isa))
        return NULL;
    return &paths[isa];
}

/* The chosen path, -1 until the first use (as in vexp.c: threads racing
 * on the first use find the same answer). */
static atomic_int current = -1;
static atomic_int use = EMGMM__KERNELS_MEASURED;

emgmm__isa emgmm__kernel_isa(void)
{
    int isa = atomic_load_explicit(&current, memory_order_relaxed);
    if (isa < 0) {
        isa = EMGMM__ISA_COUNT - 1;
        while (isa > EMGMM__ISA_C && !emgmm__kernel_path_of(isa))
            isa--;
        atomic_store_explicit(&current, isa, memory_order_relaxed);
    }
    return (emgmm__isa)isa;
}

int emgmm__set_kernel_isa(emgmm__isa isa)
{
    if (!emgmm__kernel_path_of(isa))
        return -1;
    atomic_store_explicit(&current, (int)isa, memory_order_relaxed);
    return 0;
}

void emgmm__set_kernel_use(emgmm__kernel_use u)
{
    atomic_store_explicit(&use, (int)u, memory_order_relaxed);
}

/* 1 when the kernels serve d: in [lo, hi], or anywhere in their reach
 * (4 .. reach) when told so. */
static int in_range(size_t d, size_t lo, size_t hi, size_t reach)
{
    switch (atomic_load_explicit(&use, memory_order_relaxed)) {
    case EMGMM__KERNELS_OFF:
        return 0;
    case EMGMM__KERNELS_EVERYWHERE:
        return d >= 4 && d <= reach;
    default:
        return d >= lo && d <= hi;
    }
}

emgmm__logp_fn *emgmm__logp_kernel(size_t d)
{
    const emgmm__kernel_path *p = &paths[emgmm__kernel_isa()];
    return in_range(d, p->logp_min_d, p->logp_max_d, EMGMM__KERNEL_MAX_D)
               ? p->logp
               : NULL;
}

emgmm__scatter_fn *emgmm__scatter_kernel(size_t d)
{
    const emgmm__kernel_path *p = &paths[emgmm__kernel_isa()];
    return in_range(d, p->scatter_min_d, p->scatter_max_d,
                    EMGMM__SCATTER_MAX_D)
               ? p->scatter
               : NULL;
}

emgmm__logp_f32_fn *emgmm__logp_f32_kernel(size_t d)
{
    const emgmm__kernel_path *p = &paths[emgmm__kernel_isa()];
    return in_range(d, p->logp_f32_min_d, p->logp_f32_max_d,
                    EMGMM__KERNEL_MAX_D)
               ? p->logp_f32
               : NULL;
}

emgmm__scatter_f32_fn *emgmm__scatter_f32_kernel(size_t d)
{
    const emgmm__kernel_path *p = &paths[emgmm__kernel_isa()];
    return in_range(d, p->scatter_f32_min_d, p->scatter_f32_max_d,
                    EMGMM__SCATTER_MAX_D)
               ? p->scatter_f32
               : NULL;
}

/* The kernels follow the path and the switch of kernels.h. */
static int serves(size_t d)
{
    return d >= 1 && d <= EMGMM__SMALL_MAX_D &&
           atomic_load_explicit(&use, memory_order_relaxed) !=
               EMGMM__KERNELS_OFF;
}

emgmm__small_estep_fn *emgmm__small_estep(size_t d, size_t k)
{
    return serves(d) && k <= EMGMM__SMALL_MAX_K
               ? paths[emgmm__kernel_isa()].small_estep
               : NULL;
}

emgmm__small_sums_fn *emgmm__small_sums(size_t d, size_t k)
{
    return serves(d) && k <= EMGMM__SMALL_MAX_K
               ? paths[emgmm__kernel_isa()].small_sums
               : NULL;
}

emgmm__scatter_fn *emgmm__small_scatter(size_t d)
{
    return serves(d) ? paths[emgmm__kernel_isa()].small_scatter : NULL;
}
