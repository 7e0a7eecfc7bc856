/* isa.c: the run-time choice of instruction set (see isa.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/isa.h"

static const char *names[NN_ISA_COUNT] = {"scalar", "avx2", "avx512", "avx512-vnni"};

int nn_isa_supported(int isa) {
    if (isa == NN_ISA_SCALAR) return 1;
#ifdef NN_X86
    __builtin_cpu_init();
#ifdef __clang__ /* clang's builtin knows no "f16c"; every AVX2 CPU has it */
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#endif
#ifdef PETIT_EMUL512 /* make emul512: the AVX-512 kernels run emulated on AVX2 */
    if (isa >= NN_ISA_AVX2 && isa < NN_ISA_COUNT) return avx2;
#endif
    int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl");
    if (isa == NN_ISA_AVX2) return avx2;
    if (isa == NN_ISA_AVX512) return avx512;
    if (isa == NN_ISA_AVX512VNNI) return avx512 && __builtin_cpu_supports("avx512vnni");
#endif
    return 0;
}

int nn_isa_parse(const char *s) {
    for (int i = 0; i < NN_ISA_COUNT; i++)
        if (!strcmp(s, names[i])) return i;
    return !strcmp(s, "vnni") ? NN_ISA_AVX512VNNI : -1;
}

int nn_isa_cap(void) {
    static int cap = -1;
    if (cap < 0) {
        const char *env = getenv("PETIT_ISA"); /* a cap, not a demand */
        cap = env && *env ? nn_isa_parse(env) : NN_ISA_COUNT - 1;
        if (cap < 0) {
            fprintf(stderr, "petit: PETIT_ISA=%s is none of scalar, avx2, avx512, avx512-vnni; ignored\n", env);
            cap = NN_ISA_COUNT - 1;
        }
    }
    return cap;
}

static int g_isa = -1;

int nn_isa(void) {
    if (g_isa < 0) {
        int best = NN_ISA_SCALAR;
        for (int i = NN_ISA_AVX2; i <= nn_isa_cap(); i++)
            if (nn_isa_supported(i)) best = i;
        g_isa = best;
    }
    return g_isa;
}

int nn_set_isa(int isa) {
    if (isa < 0 || isa >= NN_ISA_COUNT || !nn_isa_supported(isa)) return -1;
    g_isa = isa;
    return 0;
}

const char *nn_isa_name(int isa) { return isa >= 0 && isa < NN_ISA_COUNT ? names[isa] : "?"; }
