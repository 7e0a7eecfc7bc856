/* half.c: IEEE binary16 storage for the decoder's attention caches.
 *
 * The keys and values the incremental decoder keeps (self-attention per
 * layer and row, cross-attention per layer and sentence) are most of its
 * working memory; stored as 16-bit floats they take half. Arithmetic stays
 * in float: values are converted on the way in (round to nearest even) and
 * on the way out (exact). With F16C the conversions are single
 * instructions; the portable version converts bit by bit to the same
 * results. */
#include <math.h>
#include <string.h>

#include "nn/isa.h"
#include "nn/nn.h"

#ifdef NN_X86
#include <immintrin.h>
#endif

/* ---- scalar conversions (portable) -------------------------------------- */

static uint16_t f2h(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or NaN (a quiet NaN stays a NaN) */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds past 65504: inf */
    if (ax < 0x38800000u) { /* below 2^-14: a subnormal half (or zero) */
        if (ax < 0x33000000u) return (uint16_t)sign; /* under half the smallest subnormal */
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(ax >> 23); /* 14..24 */
        uint32_t h = m >> shift, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rest > half || (rest == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((ax >> 13) - (112u << 10)), rest = ax & 0x1fffu; /* rebias 127 -> 15 */
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) h++; /* may carry into the exponent: fine */
    return (uint16_t)(sign | h);
}

static float h2f(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    if (e == 0x1f) x = sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0); /* a NaN comes out quiet */
    else if (e) x = sign | ((e + 112u) << 23) | (m << 13);
    else if (!m) x = sign;
    else { /* subnormal: normalize */
        int s = 0;
        while (!(m & 0x400u)) m <<= 1, s++;
        x = sign | ((uint32_t)(113 - s) << 23) | ((m & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

#ifdef NN_X86
NN_TARGET_BEGIN_AVX2
static size_t to_f16_avx2(uint16_t *dst, const float *src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    return i;
}
static size_t to_f32_avx2(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    return i;
}
NN_TARGET_END
#endif

void nn_f32_to_f16(uint16_t *dst, const float *src, size_t n) {
    size_t i = 0;
#ifdef NN_X86
    if (nn_isa() >= NN_ISA_AVX2) i = to_f16_avx2(dst, src, n);
#endif
    for (; i < n; i++) dst[i] = f2h(src[i]);
}

void nn_f16_to_f32(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
#ifdef NN_X86
    if (nn_isa() >= NN_ISA_AVX2) i = to_f32_avx2(dst, src, n);
#endif
    for (; i < n; i++) dst[i] = h2f(src[i]);
}

/* ---- attention over half keys and values --------------------------------- */

/* q . k for one key: 8 lanes of products in order, lanes summed as nn's dot8
 * (the portable version rounds each product and sum apart; AVX2 fuses them) */
static inline float dot_h_scalar(const float *q, const uint16_t *k, int dh) {
    int i = 0;
    float a[8] = {0};
    for (; i + 8 <= dh; i += 8)
        for (int l = 0; l < 8; l++) a[l] += q[i + l] * h2f(k[i + l]);
    float s = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
    for (; i < dh; i++) s += q[i] * h2f(k[i]);
    return s;
}

static void scores_scalar(float *p, const float *q, const uint16_t *k, int ld, int n, int dh, float scale) {
    for (int j = 0; j < n; j++) p[j] = scale * dot_h_scalar(q, k + (size_t)j * ld, dh);
}

/* out = sum_j p[j] v_j over the first n rows of v */
static void weighted_sum_scalar(float *out, const float *p, const uint16_t *v, int ld, int n, int dh) {
    memset(out, 0, (size_t)dh * sizeof(float));
    for (int j = 0; j < n; j++) {
        const uint16_t *vj = v + (size_t)j * ld;
        for (int d = 0; d < dh; d++) out[d] += p[j] * h2f(vj[d]);
    }
}

#ifdef NN_X86
NN_TARGET_BEGIN_AVX2
static inline float dot_h_avx2(const float *q, const uint16_t *k, int dh) {
    int i = 0;
    __m256 acc = _mm256_setzero_ps();
    for (; i + 8 <= dh; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i))), acc);
    float a[8];
    _mm256_storeu_ps(a, acc);
    float s = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
    for (; i < dh; i++) s += q[i] * h2f(k[i]);
    return s;
}

static void scores_avx2(float *p, const float *q, const uint16_t *k, int ld, int n, int dh, float scale) {
    for (int j = 0; j < n; j++) p[j] = scale * dot_h_avx2(q, k + (size_t)j * ld, dh);
}

static void weighted_sum_avx2(float *out, const float *p, const uint16_t *v, int ld, int n, int dh) {
    memset(out, 0, (size_t)dh * sizeof(float));
    for (int j = 0; j < n; j++) {
        const uint16_t *vj = v + (size_t)j * ld;
        __m256 pv = _mm256_set1_ps(p[j]);
        int d = 0;
        for (; d + 8 <= dh; d += 8)
            _mm256_storeu_ps(out + d, _mm256_fmadd_ps(pv, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vj + d))),
                                                      _mm256_loadu_ps(out + d)));
        for (; d < dh; d++) out[d] += p[j] * h2f(vj[d]);
    }
}
NN_TARGET_END
#endif

void nn_attend_f16(float *out, float *p, const float *q, const uint16_t *k, const uint16_t *v, int ld,
                   int n, int dh, float scale) {
    void (*scores)(float *, const float *, const uint16_t *, int, int, int, float) = scores_scalar;
    void (*weighted_sum)(float *, const float *, const uint16_t *, int, int, int) = weighted_sum_scalar;
#ifdef NN_X86
    if (nn_isa() >= NN_ISA_AVX2) scores = scores_avx2, weighted_sum = weighted_sum_avx2;
#endif
    scores(p, q, k, ld, n, dh, scale);
    float mx = -INFINITY;
    for (int j = 0; j < n; j++)
        if (p[j] > mx) mx = p[j];
    float inv = 1.0f / nn_exp_sub_sum(p, n, mx);
    for (int j = 0; j < n; j++) p[j] *= inv;
    weighted_sum(out, p, v, ld, n, dh);
}
