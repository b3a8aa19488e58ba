/*
 * Which instruction-set paths the CPU can run (cpu.h).
 */
#include "cpu.h"

int emgmm__cpu_supports(emgmm__isa isa)
{
    switch (isa) {
    case EMGMM__ISA_C:
        return 1;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    /* libgcc's (and compiler-rt's) CPU model also checks that the
     * operating system saves the AVX / AVX-512 registers (XCR0). */
    case EMGMM__ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case EMGMM__ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f");
#endif
    default:
        return 0;
    }
}

const char *emgmm__isa_name(emgmm__isa isa)
{
    static const char *const names[EMGMM__ISA_COUNT] = {
        [EMGMM__ISA_C] = "c",
        [EMGMM__ISA_AVX2] = "avx2",
        [EMGMM__ISA_AVX512] = "avx512",
    };
    return (unsigned)isa < EMGMM__ISA_COUNT ? names[isa] : "?";
}
