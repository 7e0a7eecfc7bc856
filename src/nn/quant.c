/* quant.c: Q8_0 / Q4_0 formats and the integer linear layer (see quant.h).
 *
 * nn_qlinear in three steps:
 *   1. each row of X becomes int8 codes qx (N, in) and one float scale per
 *      block dx (N, in/32): d = max|x|/127, q = round(x/d). This step is
 *      shared by every kernel, so all of them see the same integers.
 *   2. threads split the rows of W into chunks of QL_WROWS; in a chunk, tiles
 *      of RW rows of W by RX rows of X are swept down X.
 *   3. a tile keeps RW x RX float accumulators; per block it adds
 *      dW * dX * (integer dot of the 32 codes), then the bias.
 *
 * The integer dot of a block is exact in every version (|products| <= 127 x
 * 128, and maddubs pairs stay within int16). Versions differ only in how the
 * per-block float terms are summed: scalar adds them in block order; AVX2
 * keeps 8 lanes (each the sum of 4 products of the block) and FMAs them with
 * the block's scale, summing the lanes at the end; AVX-512 does the same on
 * two blocks at a time. So Y[n, o] does not depend on the thread count nor
 * on the other rows of X, for a given kernel.
 *
 * The SIMD versions are compiled with target attributes, whatever -march
 * says, and picked at run time (nn_isa, nn/isa.h), so one binary serves every x86-64. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "nn/nn.h"
#include "nn/quant.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef NN_X86
#include <immintrin.h>
#define QX86 1
#endif
/* the AVX-512 kernels' target; under `make emul512` their intrinsics are
 * SIMDe's portable ones (nn/emul512.h) and they run on any AVX2 CPU */
#ifdef PETIT_EMUL512
#include "nn/emul512.h"
#define T512(extra) "avx2,fma,f16c"
#else
#define T512(extra) "avx512f,avx512bw,avx512vl,avx2,fma,f16c" extra
#endif

/* ---- fp16 ------------------------------------------------------------- */

uint16_t nn_fp16_from_f32(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds past 65504 */
    if (ax < 0x38800000u) { /* below 2^-14: a subnormal half, in units of 2^-24 */
        float a;
        memcpy(&a, &ax, 4);
        return (uint16_t)(sign | (uint32_t)lrintf(a * 16777216.0f));
    }
    uint32_t r = ax + 0xfffu + ((ax >> 13) & 1); /* round half to even */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

float nn_f32_from_fp16(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 31, m = h & 0x3ffu, x;
    if (e == 0) {
        float f = (float)m * (1.0f / 16777216.0f);
        return sign ? -f : f;
    }
    x = e == 31 ? sign | 0x7f800000u | (m << 13) : sign | ((e + 112) << 23) | (m << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ---- formats ---------------------------------------------------------- */

const char *nn_qtype_name(int t) {
    return t == NN_F32 ? "F32" : t == NN_Q8_0 ? "Q8_0" : t == NN_Q4_0 ? "Q4_0" : "?";
}

int nn_qtype_parse(const char *s) {
    if (!strcmp(s, "q8") || !strcmp(s, "q8_0") || !strcmp(s, "Q8_0")) return NN_Q8_0;
    if (!strcmp(s, "q4") || !strcmp(s, "q4_0") || !strcmp(s, "Q4_0")) return NN_Q4_0;
    if (!strcmp(s, "f32") || !strcmp(s, "F32")) return NN_F32;
    return -1;
}

size_t nn_qrow_bytes(int type, int n) {
    if (n <= 0) return 0;
    if (type == NN_F32) return (size_t)n * 4;
    if (n % NN_QK) return 0;
    if (type == NN_Q8_0) return (size_t)(n / NN_QK) * sizeof(nn_block_q8_0);
    if (type == NN_Q4_0) return (size_t)(n / NN_QK) * sizeof(nn_block_q4_0);
    return 0;
}

float nn_qblock_scale(int type, const float *x) {
    float amax = 0.0f, m = 0.0f;
    for (int i = 0; i < NN_QK; i++) {
        float a = fabsf(x[i]);
        if (a > amax) amax = a, m = x[i];
    }
    float d = type == NN_Q4_0 ? m / -8.0f : amax / 127.0f;
    return nn_f32_from_fp16(nn_fp16_from_f32(d));
}

/* the code RTN gives x under the scale d (computed from the stored d, so
 * that GPTQ's error feedback sees exactly what is stored) */
int nn_qblock_code(int type, float x, float d) {
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (type == NN_Q4_0) {
        int q = (int)(x * id + 8.5f);
        return q < 0 ? 0 : q > 15 ? 15 : q;
    }
    int q = (int)roundf(x * id);
    return q < -127 ? -127 : q > 127 ? 127 : q;
}

void nn_qblock_pack(int type, void *dst, float d, const int *code) {
    if (type == NN_Q4_0) {
        nn_block_q4_0 *b = dst;
        b->d = nn_fp16_from_f32(d);
        for (int j = 0; j < NN_QK / 2; j++) b->qs[j] = (uint8_t)(code[j] | code[j + 16] << 4);
    } else {
        nn_block_q8_0 *b = dst;
        b->d = nn_fp16_from_f32(d);
        for (int j = 0; j < NN_QK; j++) b->q[j] = (int8_t)code[j];
    }
}

void nn_quantize_row(int type, void *dst, const float *x, int n) {
    if (type == NN_F32) {
        memcpy(dst, x, (size_t)n * 4);
        return;
    }
    size_t bs = nn_qrow_bytes(type, NN_QK);
    for (int b = 0; b < n / NN_QK; b++) {
        const float *xb = x + (size_t)b * NN_QK;
        float d = nn_qblock_scale(type, xb);
        int code[NN_QK];
        for (int i = 0; i < NN_QK; i++) code[i] = nn_qblock_code(type, xb[i], d);
        nn_qblock_pack(type, (char *)dst + b * bs, d, code);
    }
}

/* Each kernel below is written once over the block type and inlined into a
 * function per type (NAME_q8, NAME_q4), so the type is a constant inside it;
 * the table under "dispatch" holds them, per type and instruction-set level. */
#define INLINE static inline __attribute__((always_inline))

INLINE void dequant_scalar(int type, float *dst, const void *src, int n) {
    for (int b = 0; b < n / NN_QK; b++) {
        float *y = dst + (size_t)b * NN_QK;
        if (type == NN_Q4_0) {
            const nn_block_q4_0 *q = (const nn_block_q4_0 *)src + b;
            float d = nn_f32_from_fp16(q->d);
            for (int j = 0; j < NN_QK / 2; j++) {
                y[j] = (float)((q->qs[j] & 15) - 8) * d;
                y[j + 16] = (float)((q->qs[j] >> 4) - 8) * d;
            }
        } else {
            const nn_block_q8_0 *q = (const nn_block_q8_0 *)src + b;
            float d = nn_f32_from_fp16(q->d);
            for (int j = 0; j < NN_QK; j++) y[j] = (float)q->q[j] * d;
        }
    }
}

/* ---- activations: int8 codes + a float scale per block ---------------- */

static void quantize_x(int8_t *qx, float *dx, const float *x, int n) {
    for (int b = 0; b < n / NN_QK; b++) {
        const float *xb = x + (size_t)b * NN_QK;
        float amax = 0.0f;
        for (int i = 0; i < NN_QK; i++) amax = fmaxf(amax, fabsf(xb[i]));
        float d = amax / 127.0f, id = d > 0.0f ? 127.0f / amax : 0.0f;
        dx[b] = d;
        for (int i = 0; i < NN_QK; i++) qx[b * NN_QK + i] = (int8_t)roundf(xb[i] * id);
    }
}

/* ---- scalar reference ------------------------------------------------- */

/* y[c*ldy + r] = W row r . X row c (+ b[r]) for r < RW, c < RX */
INLINE void tile_scalar(int type, int nb, const uint8_t *w, size_t wstride, const int8_t *qx,
                        const float *dx, int in, float *y, int ldy, const float *bias, int RW, int RX) {
    for (int r = 0; r < RW; r++)
        for (int c = 0; c < RX; c++) {
            const int8_t *xq = qx + (size_t)c * in;
            const float *xd = dx + (size_t)c * nb;
            float s = 0.0f;
            for (int b = 0; b < nb; b++) {
                int32_t acc = 0;
                float dw;
                if (type == NN_Q4_0) {
                    const nn_block_q4_0 *q = (const nn_block_q4_0 *)(w + r * wstride) + b;
                    dw = nn_f32_from_fp16(q->d);
                    for (int j = 0; j < 16; j++)
                        acc += ((q->qs[j] & 15) - 8) * xq[b * 32 + j] + ((q->qs[j] >> 4) - 8) * xq[b * 32 + j + 16];
                } else {
                    const nn_block_q8_0 *q = (const nn_block_q8_0 *)(w + r * wstride) + b;
                    dw = nn_f32_from_fp16(q->d);
                    for (int j = 0; j < 32; j++) acc += q->q[j] * xq[b * 32 + j];
                }
                s += dw * xd[b] * (float)acc;
            }
            y[(size_t)c * ldy + r] = s + (bias ? bias[r] : 0.0f);
        }
}

/* ---- AVX2 ------------------------------------------------------------- */
#ifdef QX86
#define AVX2_FN static inline __attribute__((always_inline, target("avx2,fma,f16c")))
#define AVX2_TOP static __attribute__((target("avx2,fma,f16c")))

AVX2_FN float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 32 signed codes of block b of a row, and its scale */
AVX2_FN __m256i load_w(int type, const uint8_t *row, int b, float *d) {
    if (type == NN_Q4_0) {
        const nn_block_q4_0 *q = (const nn_block_q4_0 *)row + b;
        *d = _cvtsh_ss(q->d);
        __m128i v = _mm_loadu_si128((const __m128i *)q->qs);
        __m256i n = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
        return _mm256_sub_epi8(n, _mm256_set1_epi8(8));
    }
    const nn_block_q8_0 *q = (const nn_block_q8_0 *)row + b;
    *d = _cvtsh_ss(q->d);
    return _mm256_loadu_si256((const __m256i *)q->q);
}

AVX2_FN void tile_avx2_k(int type, int nb, const uint8_t *w, size_t wstride, const int8_t *qx,
                         const float *dx, int in, float *y, int ldy, const float *bias, const int RW,
                         const int RX) {
    __m256 acc[4][4];
    for (int r = 0; r < RW; r++)
        for (int c = 0; c < RX; c++) acc[r][c] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int b = 0; b < nb; b++) {
        __m256i wv[4], aw[4];
        float dw[4];
        for (int r = 0; r < RW; r++) {
            wv[r] = load_w(type, w + r * wstride, b, &dw[r]);
            aw[r] = _mm256_sign_epi8(wv[r], wv[r]);
        }
        for (int c = 0; c < RX; c++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(qx + (size_t)c * in + b * 32));
            float dxc = dx[(size_t)c * nb + b];
            for (int r = 0; r < RW; r++) {
                __m256i p = _mm256_maddubs_epi16(aw[r], _mm256_sign_epi8(xv, wv[r]));
                __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
                acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw[r] * dxc), f, acc[r][c]);
            }
        }
    }
    for (int r = 0; r < RW; r++)
        for (int c = 0; c < RX; c++) y[(size_t)c * ldy + r] = hsum256(acc[r][c]) + (bias ? bias[r] : 0.0f);
}

AVX2_FN void tile_avx2(int type, int nb, const uint8_t *w, size_t wstride, const int8_t *qx,
                        const float *dx, int in, float *y, int ldy, const float *bias, int RW, int RX) {
    /* the tile shapes the sweep uses, as constants so acc stays in registers */
    if (RW == 4 && RX == 1) tile_avx2_k(type, nb, w, wstride, qx, dx, in, y, ldy, bias, 4, 1);
    else if (RW == 2 && RX == 4) tile_avx2_k(type, nb, w, wstride, qx, dx, in, y, ldy, bias, 2, 4);
    else if (RW == 2 && RX == 2) tile_avx2_k(type, nb, w, wstride, qx, dx, in, y, ldy, bias, 2, 2);
    else if (RW == 2 && RX == 1) tile_avx2_k(type, nb, w, wstride, qx, dx, in, y, ldy, bias, 2, 1);
    else if (RW == 1 && RX == 4) tile_avx2_k(type, nb, w, wstride, qx, dx, in, y, ldy, bias, 1, 4);
    else
        for (int r = 0; r < RW; r++)
            for (int c = 0; c < RX; c++)
                tile_avx2_k(type, nb, w + r * wstride, wstride, qx + (size_t)c * in, dx + (size_t)c * nb, in,
                            y + (size_t)c * ldy + r, ldy, bias ? bias + r : NULL, 1, 1);
}

/* dequantize: int8 -> int32 -> float is exact and d * q one rounding, so
 * this gives the scalar version's bits */
AVX2_FN void dequant_avx2(int type, float *dst, const void *src, int n) {
    for (int b = 0; b < n / NN_QK; b++) {
        float d;
        __m256i q = load_w(type, src, b, &d);
        __m256 vd = _mm256_set1_ps(d);
        __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
        float *y = dst + (size_t)b * NN_QK;
        _mm256_storeu_ps(y, _mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
        _mm256_storeu_ps(y + 8, _mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
        _mm256_storeu_ps(y + 16, _mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
        _mm256_storeu_ps(y + 24, _mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
    }
}

/* ---- AVX-512 (BW, VL; VNNI's dpbusd when present) ---------------------- */
#define AVX512_FN(extra) static inline __attribute__((always_inline, target(T512(extra))))

/* two blocks b, b+1 of a row as 64 signed codes, their scales in lanes 0-7 and 8-15 */
#define LOAD_W2(NAME, EXTRA)                                                                       \
    AVX512_FN(EXTRA) __m512i NAME(int type, const uint8_t *row, int b, __m512 *d) {                \
        float d0, d1;                                                                              \
        __m256i lo = load_w(type, row, b, &d0), hi = load_w(type, row, b + 1, &d1);                \
        *d = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(d0), _mm512_set1_ps(d1));                 \
        return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);                              \
    }
LOAD_W2(load_w2_512, "")
LOAD_W2(load_w2_vnni, ",avx512vnni")

/* the tile kernel, once per flavour: DOT(aw, sx) gives 16 int32 lane sums */
#define TILE512(NAME, LOADW2, EXTRA, DOT)                                                               \
    AVX512_FN(EXTRA) void NAME##_k(int type, int nb, const uint8_t *w, size_t wstride, const int8_t *qx, \
                                   const float *dx, int in, float *y, int ldy, const float *bias,     \
                                   const int RW, const int RX) {                                      \
        __m512 acc[4][4];                                                                             \
        for (int r = 0; r < RW; r++)                                                                  \
            for (int c = 0; c < RX; c++) acc[r][c] = _mm512_setzero_ps();                             \
        const __m512i zero = _mm512_setzero_si512();                                                  \
        (void)zero;                                                                                   \
        int b = 0;                                                                                    \
        for (; b + 2 <= nb; b += 2) {                                                                 \
            __m512i aw[4];                                                                            \
            __mmask64 neg[4];                                                                         \
            __m512 dw[4];                                                                             \
            for (int r = 0; r < RW; r++) {                                                            \
                __m512i wv = LOADW2(type, w + r * wstride, b, &dw[r]);                                \
                aw[r] = _mm512_abs_epi8(wv);                                                          \
                neg[r] = _mm512_movepi8_mask(wv);                                                     \
            }                                                                                         \
            for (int c = 0; c < RX; c++) {                                                            \
                __m512i xv = _mm512_loadu_si512((const void *)(qx + (size_t)c * in + b * 32));        \
                const float *xd = dx + (size_t)c * nb + b;                                            \
                __m512 dxv = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(xd[0]), _mm512_set1_ps(xd[1])); \
                for (int r = 0; r < RW; r++) {                                                        \
                    __m512i sx = _mm512_mask_sub_epi8(xv, neg[r], zero, xv);                          \
                    __m512 f = _mm512_cvtepi32_ps(DOT(aw[r], sx));                                    \
                    acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(dw[r], dxv), f, acc[r][c]);             \
                }                                                                                     \
            }                                                                                         \
        }                                                                                             \
        for (int r = 0; r < RW; r++)                                                                  \
            for (int c = 0; c < RX; c++) {                                                            \
                float s = _mm512_reduce_add_ps(acc[r][c]);                                            \
                if (b < nb) { /* odd block count: the last block alone */                             \
                    float dw1;                                                                        \
                    __m256i wv = load_w(type, w + r * wstride, b, &dw1);                              \
                    __m256i xv = _mm256_loadu_si256((const __m256i *)(qx + (size_t)c * in + b * 32)); \
                    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv)); \
                    __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));       \
                    s += hsum256(_mm256_mul_ps(_mm256_set1_ps(dw1 * dx[(size_t)c * nb + b]), f));     \
                }                                                                                     \
                y[(size_t)c * ldy + r] = s + (bias ? bias[r] : 0.0f);                                 \
            }                                                                                         \
    }                                                                                                 \
    AVX512_FN(EXTRA) void NAME(                                                                   \
        int type, int nb, const uint8_t *w, size_t wstride, const int8_t *qx, const float *dx, int in, \
        float *y, int ldy, const float *bias, int RW, int RX) {                                       \
        if (RW == 4 && RX == 1) NAME##_k(type, nb, w, wstride, qx, dx, in, y, ldy, bias, 4, 1);       \
        else if (RW == 2 && RX == 4) NAME##_k(type, nb, w, wstride, qx, dx, in, y, ldy, bias, 2, 4);  \
        else if (RW == 2 && RX == 2) NAME##_k(type, nb, w, wstride, qx, dx, in, y, ldy, bias, 2, 2);  \
        else if (RW == 2 && RX == 1) NAME##_k(type, nb, w, wstride, qx, dx, in, y, ldy, bias, 2, 1);  \
        else if (RW == 1 && RX == 4) NAME##_k(type, nb, w, wstride, qx, dx, in, y, ldy, bias, 1, 4);  \
        else                                                                                          \
            for (int r = 0; r < RW; r++)                                                              \
                for (int c = 0; c < RX; c++)                                                          \
                    NAME##_k(type, nb, w + r * wstride, wstride, qx + (size_t)c * in, dx + (size_t)c * nb, \
                             in, y + (size_t)c * ldy + r, ldy, bias ? bias + r : NULL, 1, 1);         \
    }

#define DOT_BW(a, s) _mm512_madd_epi16(_mm512_maddubs_epi16((a), (s)), _mm512_set1_epi16(1))
#define DOT_VNNI(a, s) _mm512_dpbusd_epi32(_mm512_setzero_si512(), (a), (s))
TILE512(tile_avx512, load_w2_512, "", DOT_BW)
TILE512(tile_vnni, load_w2_vnni, ",avx512vnni", DOT_VNNI)
#endif /* QX86 */

/* ---- dispatch ---------------------------------------------------------- */

typedef void (*tile_fn)(int nb, const uint8_t *w, size_t wstride, const int8_t *qx, const float *dx, int in,
                        float *y, int ldy, const float *bias, int RW, int RX);
typedef void (*dequant_fn)(float *dst, const void *src, int n);

/* NAME_q8 and NAME_q4: the kernel NAME with the type fixed, under ATTR */
#define TILE_PER_TYPE(NAME, ATTR)                                                                       \
    ATTR void NAME##_q8(int nb, const uint8_t *w, size_t ws, const int8_t *qx, const float *dx, int in,  \
                        float *y, int ldy, const float *bias, int RW, int RX) {                          \
        NAME(NN_Q8_0, nb, w, ws, qx, dx, in, y, ldy, bias, RW, RX);                                      \
    }                                                                                                    \
    ATTR void NAME##_q4(int nb, const uint8_t *w, size_t ws, const int8_t *qx, const float *dx, int in,  \
                        float *y, int ldy, const float *bias, int RW, int RX) {                          \
        NAME(NN_Q4_0, nb, w, ws, qx, dx, in, y, ldy, bias, RW, RX);                                      \
    }
#define DEQUANT_PER_TYPE(NAME, ATTR)                                                                              \
    ATTR void NAME##_q8(float *dst, const void *src, int n) { NAME(NN_Q8_0, dst, src, n); }                     \
    ATTR void NAME##_q4(float *dst, const void *src, int n) { NAME(NN_Q4_0, dst, src, n); }

TILE_PER_TYPE(tile_scalar, static)
DEQUANT_PER_TYPE(dequant_scalar, static)
#ifdef QX86
TILE_PER_TYPE(tile_avx2, AVX2_TOP)
DEQUANT_PER_TYPE(dequant_avx2, AVX2_TOP)
TILE_PER_TYPE(tile_avx512, static __attribute__((target(T512("")))))
TILE_PER_TYPE(tile_vnni, static __attribute__((target(T512(",avx512vnni")))))
#define X86(f) f
#else
#define X86(f) NULL
#endif

/* The block types' kernels by type and instruction-set level: a level with no
 * kernel of its own names the one below it. A new block type is a row here,
 * its kernels and their tests. */
static const struct {
    tile_fn tile[NN_ISA_COUNT];
    dequant_fn dequant[NN_ISA_COUNT];
} kernels[] = {
    [NN_Q8_0] = {{tile_scalar_q8, X86(tile_avx2_q8), X86(tile_avx512_q8), X86(tile_vnni_q8)},
                 {dequant_scalar_q8, X86(dequant_avx2_q8), X86(dequant_avx2_q8), X86(dequant_avx2_q8)}},
    [NN_Q4_0] = {{tile_scalar_q4, X86(tile_avx2_q4), X86(tile_avx512_q4), X86(tile_vnni_q4)},
                 {dequant_scalar_q4, X86(dequant_avx2_q4), X86(dequant_avx2_q4), X86(dequant_avx2_q4)}},
};

void nn_dequantize_row(int type, float *dst, const void *src, int n) {
    if (type == NN_F32) {
        memcpy(dst, src, (size_t)n * 4);
        return;
    }
    PT_ASSERT(type == NN_Q8_0 || type == NN_Q4_0);
    kernels[type].dequant[nn_isa()](dst, src, n);
}

/* ---- the product -------------------------------------------------------- */

#define QL_WROWS 16 /* rows of W per chunk: 16 x 1024 int8 = 17 KB, in L1/L2 */
/* From this many rows of X on, the product is compute-bound, and AVX2 has
 * no integer instruction that beats fp32 FMAs there (maddubs + madd + the
 * per-block scale cost more per multiply-add than an FMA). So chunks of W
 * are dequantized into an L2-sized float buffer and multiplied in fp32, as
 * ggml does for large batches: the integer weights still give the size and
 * the memory traffic, the float kernel the arithmetic. Below it the product
 * streams W and integer dot products win (see bench/qlinear.c). */
#ifndef QL_DEQUANT_N
#define QL_DEQUANT_N 8
#endif
#define QL_DROWS 64 /* rows of W dequantized at a time */

static _Thread_local int8_t *t_qx;
static _Thread_local float *t_dx, *t_wf, *t_yc, *t_wp;
static _Thread_local size_t t_qx_cap, t_dx_cap, t_wf_cap, t_yc_cap, t_wp_cap;

static _Thread_local int t_registered;

/* this thread's scratch, freed when it exits (pt_thread_atexit) */
static void release_scratch(void) {
    pt_free_aligned(t_qx), pt_free_aligned(t_dx), pt_free_aligned(t_wf), pt_free_aligned(t_yc), pt_free_aligned(t_wp);
    t_qx = NULL, t_dx = t_wf = t_yc = t_wp = NULL;
    t_qx_cap = t_dx_cap = t_wf_cap = t_yc_cap = t_wp_cap = 0;
}

static void *grow(void *p, size_t *cap, size_t need) {
    if (need <= *cap) return p;
    if (!t_registered) t_registered = 1, pt_thread_atexit(release_scratch);
    pt_free_aligned(p);
    *cap = need;
    return pt_alloc_aligned(need);
}

/* Y = X W^T + b through dequantized chunks of W */
static void qlinear_dequant(float *Y, const float *X, const nn_qmat *W, const float *b, int N) {
    int in = W->cols, out = W->rows, nchunks = (out + QL_DROWS - 1) / QL_DROWS;
    size_t wstride = nn_qrow_bytes(W->type, in);
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < nchunks; ch++) {
        int o0 = ch * QL_DROWS, rows = out - o0 < QL_DROWS ? out - o0 : QL_DROWS;
        t_wf = grow(t_wf, &t_wf_cap, (size_t)QL_DROWS * in * sizeof(float));
        for (int r = 0; r < rows; r++)
            nn_dequantize_row(W->type, t_wf + (size_t)r * in, (const uint8_t *)W->data + (size_t)(o0 + r) * wstride, in);
        t_yc = grow(t_yc, &t_yc_cap, (size_t)N * QL_DROWS * sizeof(float));
        if (N <= 64) { /* few rows: the packing-free kernel */
            nn_linear_rows(t_yc, X, t_wf, b ? b + o0 : NULL, N, in, rows);
        } else { /* many: the chunk in panels, the register-tiled kernel */
            t_wp = grow(t_wp, &t_wp_cap, nn_pmat_floats(in, QL_DROWS) * sizeof(float));
            nn_pmat p;
            nn_pmat_pack(&p, t_wp, t_wf, in, rows);
            nn_plinear(t_yc, X, &p, b ? b + o0 : NULL, N);
        }
        /* both compute each output by a fixed chain of operations: the same
         * bits for any thread count (BLAS's sgemm does not promise that) */
        for (int n = 0; n < N; n++) memcpy(Y + (size_t)n * out + o0, t_yc + (size_t)n * rows, rows * sizeof(float));
    }
}

static int g_act = NN_QACT_AUTO;

void nn_q_set_act(int act) { g_act = act == NN_QACT_F32 || act == NN_QACT_INT8 ? act : NN_QACT_AUTO; }

int nn_qlinear_act(int N) {
    if (g_act != NN_QACT_AUTO) return g_act;
    return N >= QL_DEQUANT_N && nn_isa() < NN_ISA_AVX512VNNI ? NN_QACT_F32 : NN_QACT_INT8;
}

void nn_qlinear(float *Y, const float *X, const nn_qmat *W, const float *b, int N) {
    int in = W->cols, out = W->rows;
    if (W->type == NN_F32) {
        nn_linear(Y, X, W->data, b, N, in, out);
        return;
    }
    PT_ASSERT(in % NN_QK == 0 && (W->type == NN_Q8_0 || W->type == NN_Q4_0));
    if (nn_qlinear_act(N) == NN_QACT_F32) {
        qlinear_dequant(Y, X, W, b, N);
        return;
    }
    nn_qlinear_int(Y, X, W, b, N);
}

void nn_qlinear_int(float *Y, const float *X, const nn_qmat *W, const float *b, int N) {
    int in = W->cols, out = W->rows;
    PT_ASSERT(in % NN_QK == 0 && (W->type == NN_Q8_0 || W->type == NN_Q4_0));
    int nb = in / NN_QK;
    t_qx = grow(t_qx, &t_qx_cap, (size_t)N * in + 64);
    t_dx = grow(t_dx, &t_dx_cap, ((size_t)N * nb + 16) * sizeof(float));
    int8_t *qx = t_qx;
    float *dx = t_dx;
    double work = (double)N * in * out;
    (void)work; /* without OpenMP */
#pragma omp parallel for schedule(static) if ((long)N * in > 65536)
    for (int n = 0; n < N; n++) quantize_x(qx + (size_t)n * in, dx + (size_t)n * nb, X + (size_t)n * in, in);

    tile_fn tile = kernels[W->type].tile[nn_isa()];
    size_t wstride = nn_qrow_bytes(W->type, in);
    const uint8_t *w = W->data;
    int nchunks = (out + QL_WROWS - 1) / QL_WROWS;
    /* few rows of X: 4 rows of W at a time (the weights stream once);
     * many: 2 rows of W by 4 of X, reusing each loaded block more */
    int RW = N < 4 ? 4 : 2, RX = N < 4 ? 1 : 4;
#pragma omp parallel for schedule(static) if (work > 200000.0)
    for (int ch = 0; ch < nchunks; ch++) {
        int o0 = ch * QL_WROWS, o1 = o0 + QL_WROWS < out ? o0 + QL_WROWS : out;
        for (int n0 = 0; n0 < N; n0 += RX) {
            int rx = N - n0 < RX ? N - n0 : RX;
            for (int o = o0; o < o1; o += RW) {
                int rw = o1 - o < RW ? o1 - o : RW;
                tile(nb, w + (size_t)o * wstride, wstride, qx + (size_t)n0 * in,
                     dx + (size_t)n0 * nb, in, Y + (size_t)n0 * out + o, out, b ? b + o : NULL, rw, rx);
            }
        }
    }
}
