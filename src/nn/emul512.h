/* emul512.h: the AVX-512 intrinsics that quant.c uses, as SIMDe's portable
 * versions, for `make emul512` (PETIT_EMUL512): the AVX-512 and VNNI
 * kernels then run, lane for lane, on a CPU that has only AVX2, so a wrong
 * lane or mask in them fails the tests on any x86-64 machine.
 *
 * Included after <immintrin.h>; names are macros, not typedefs, so the
 * compiler's own declarations stay untouched. Two intrinsics SIMDe 0.7
 * lacks are written here: cvtepi32_ps, and reduce_add_ps in the order GCC
 * and clang reduce (halves of 256, then of 128, then pairs). */
#ifndef PETIT_NN_EMUL512_H
#define PETIT_NN_EMUL512_H

#include <simde/x86/avx512.h>

#define __m512 simde__m512
#define __m512i simde__m512i
#define __mmask64 simde__mmask64

#define _mm512_setzero_ps simde_mm512_setzero_ps
#define _mm512_setzero_si512 simde_mm512_setzero_si512
#define _mm512_set1_ps simde_mm512_set1_ps
#define _mm512_set1_epi16 simde_mm512_set1_epi16
#define _mm512_castsi256_si512 simde_mm512_castsi256_si512
#define _mm512_inserti64x4 simde_mm512_inserti64x4
#define _mm512_loadu_si512 simde_mm512_loadu_si512
#define _mm512_mask_blend_ps simde_mm512_mask_blend_ps
#define _mm512_abs_epi8 simde_mm512_abs_epi8
#define _mm512_movepi8_mask simde_mm512_movepi8_mask
#define _mm512_mask_sub_epi8 simde_mm512_mask_sub_epi8
#define _mm512_maddubs_epi16 simde_mm512_maddubs_epi16
#define _mm512_madd_epi16 simde_mm512_madd_epi16
#define _mm512_dpbusd_epi32 simde_mm512_dpbusd_epi32
#define _mm512_fmadd_ps simde_mm512_fmadd_ps
#define _mm512_mul_ps simde_mm512_mul_ps
#define _mm512_cvtepi32_ps emul512_cvtepi32_ps
#define _mm512_reduce_add_ps emul512_reduce_add_ps

static inline simde__m512 emul512_cvtepi32_ps(simde__m512i a) {
    int32_t i[16];
    float f[16];
    simde_mm512_storeu_si512(i, a);
    for (int k = 0; k < 16; k++) f[k] = (float)i[k];
    return simde_mm512_loadu_ps(f);
}

static inline float emul512_reduce_add_ps(simde__m512 a) {
    float f[16];
    simde_mm512_storeu_ps(f, a);
    for (int w = 8; w >= 1; w /= 2) /* lane k += lane k + w */
        for (int k = 0; k < w; k++) f[k] += f[k + w];
    return f[0];
}

#endif
