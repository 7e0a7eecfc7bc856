/* isa.h: the instruction set every kernel file runs, chosen once at run time.
 *
 * One binary serves every x86-64: each kernel file compiles its SIMD
 * versions for their instruction sets whatever -march says (NN_TARGET_BEGIN
 * / NN_TARGET_END around them), keeps its portable version beside them (the
 * scalar reference its test compares with), and calls the one nn_isa()
 * names. The choice is the best level the CPU has, capped by the
 * environment variable PETIT_ISA=scalar|avx2|avx512|avx512-vnni; tests set
 * each level the CPU has with nn_set_isa and skip, visibly, the others.
 *
 * Levels: avx2 means AVX2 + FMA + F16C; avx512 adds AVX-512 F/BW/VL;
 * avx512-vnni adds VNNI. A kernel without a version for a level runs the
 * best version below it (the fp32 kernels have none above avx2).
 *
 * PETIT_EMUL512 (make emul512) builds the AVX-512 kernels on SIMDe's portable
 * intrinsics and reports both AVX-512 levels wherever AVX2 is, for tests. */
#ifndef PETIT_NN_ISA_H
#define PETIT_NN_ISA_H

enum nn_isa { NN_ISA_SCALAR = 0, NN_ISA_AVX2 = 1, NN_ISA_AVX512 = 2, NN_ISA_AVX512VNNI = 3, NN_ISA_COUNT };

int nn_isa(void);                /* the level every kernel uses now */
int nn_isa_supported(int isa);   /* 1 if this CPU (and this build) can run it */
int nn_isa_cap(void);            /* the highest level PETIT_ISA allows (all when unset) */
int nn_set_isa(int isa);         /* -1 (and no change) if the CPU lacks it */
const char *nn_isa_name(int isa);
int nn_isa_parse(const char *s); /* "scalar", "avx2", "avx512", "avx512-vnni" (or "vnni"); -1 */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NN_X86 1
/* Everything between NN_TARGET_BEGIN_AVX2 and NN_TARGET_END is compiled for
 * AVX2 + FMA + F16C, whatever the command line's -march. */
#ifdef __clang__
#define NN_TARGET_BEGIN_AVX2 \
    _Pragma("clang attribute push (__attribute__((target(\"avx2,fma,f16c\"))), apply_to = function)")
#define NN_TARGET_END _Pragma("clang attribute pop")
#else
#define NN_TARGET_BEGIN_AVX2 _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c\")")
#define NN_TARGET_END _Pragma("GCC pop_options")
#endif
#endif

#endif
