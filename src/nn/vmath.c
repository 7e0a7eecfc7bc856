/* vmath.c: exp over arrays, vectorized where the CPU allows.
 *
 * expf is the single hottest libm call of decoding (softmax over the
 * vocabulary each step, and over the keys in attention). The AVX2 path is
 * the classic Cephes range reduction and degree-6 polynomial: exp(x) =
 * 2^n exp(r), n = round(x / ln 2), |r| <= ln2 / 2, relative error under
 * 2e-7 on [-87, 88] (tests/test_ops.c checks it against exp() in double).
 * Inputs below -87.3 give about 1e-38 rather than 0: harmless in a sum of
 * softmax terms. The scalar tail and the portable version (nn_isa() scalar)
 * use expf. The sum is taken
 * in a fixed order (8 lanes, then the lanes in order, then the tail), so it
 * is the same on every run and thread count. */
#include <math.h>

#include "nn/isa.h"
#include "nn/nn.h"

/* the portable version: expf, summed in order */
static float exp_sum_scalar(float *x, int n, float sub, int store) {
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        float e = expf(x[i] - sub);
        if (store) x[i] = e;
        sum += e;
    }
    return sum;
}

#ifdef NN_X86
#include <immintrin.h>
NN_TARGET_BEGIN_AVX2

static inline __m256 exp8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.3365478515625f);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

static float exp_sum_avx2(float *x, int n, float sub, int store) {
    int i = 0;
    float sum = 0.0f;
    if (n >= 8) {
        __m256 acc = _mm256_setzero_ps(), s = _mm256_set1_ps(sub);
        for (; i + 8 <= n; i += 8) {
            __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
            if (store) _mm256_storeu_ps(x + i, e);
            acc = _mm256_add_ps(acc, e);
        }
        float l[8];
        _mm256_storeu_ps(l, acc);
        for (int k = 0; k < 8; k++) sum += l[k];
    }
    for (; i < n; i++) {
        float e = expf(x[i] - sub);
        if (store) x[i] = e;
        sum += e;
    }
    return sum;
}
NN_TARGET_END
#endif

/* sum of exp(x[i] - sub); stored back into x when store */
static inline float exp_sum(float *x, int n, float sub, int store) {
#ifdef NN_X86
    if (nn_isa() >= NN_ISA_AVX2) return exp_sum_avx2(x, n, sub, store);
#endif
    return exp_sum_scalar(x, n, sub, store);
}

float nn_exp_sub_sum(float *x, int n, float sub) { return exp_sum(x, n, sub, 1); }
float nn_exp_sum(const float *x, int n, float sub) { return exp_sum((float *)x, n, sub, 0); }
