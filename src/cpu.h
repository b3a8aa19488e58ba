/*
 * Instruction-set paths chosen at run time, shared by the vector exp/log
 * (vexp.h) and the E-/M-step kernels (kernels.h). Not installed.
 *
 * Each family of kernels has its own current path (set once from the
 * CPU, overridable for tests), but they all ask the CPU the same
 * question here.
 */
#ifndef EMGMM_CPU_H
#define EMGMM_CPU_H

typedef enum emgmm__isa {
    EMGMM__ISA_C = 0,      /* portable C: every architecture */
    EMGMM__ISA_AVX2 = 1,   /* x86-64 with AVX2 and FMA */
    EMGMM__ISA_AVX512 = 2, /* x86-64 with AVX-512F */
    EMGMM__ISA_COUNT
} emgmm__isa;

/* 1 if this CPU (and its operating system, which must save the wider
 * registers) can run code compiled for `isa`; always 1 for the C path. */
int emgmm__cpu_supports(emgmm__isa isa);
/* "c", "avx2", "avx512" ("?" out of range). */
const char *emgmm__isa_name(emgmm__isa isa);

#endif
