/* test_quant: the Q8_0 / Q4_0 formats and the integer linear layer.
 *
 * 1. fp16: known encodings, round half to even, subnormals, overflow.
 * 2. Layout: a hand-packed block dequantizes to the values ggml's layout
 *    gives (Q4_0: low nibbles are weights 0-15, high nibbles 16-31).
 * 3. Round trip, per weight, with d the stored scale:
 *      Q8_0: |x - deq| <= |d|/2 + 127 |d| 2^-11   (rounding, plus the fp16
 *            rounding of d: its relative error <= 2^-11 moves q·d by that)
 *      Q4_0: |x - deq| <= |d|/2 + 8 |d| 2^-11 where x/d < 7.5; the one-sided
 *            clamp (codes -8..7) allows |d| at the far end.
 * 4. nn_qlinear with the scalar kernel against a double-precision product
 *    of dequantized W and X. The only approximation is X's own Q8_0
 *    rounding: |y - ref| <= sum_i |w_i| (dx_b/2) + 1e-5 S (S = sum |w x|).
 * 5. Every SIMD kernel the CPU has against the scalar one: both compute the
 *    same integer block sums, so they differ only in float summation order:
 *      |y_simd - y_scalar| <= 4 (nb + 16) 2^-24 T,  T = sum_b |dW dX| sum_i |qW_i qX_i|
 *    (lanes of a block may cancel, so T sums magnitudes; computed in double). Shapes: N in {1,2,3,4,5,17,64}, in in
 *    {32 (one block), 64, 96 (odd block count), 256, 1024}, out in {1, 3, 5,
 *    31, 256}: one row, one output, remainders of every tile.
 * 6. 1 and 2 threads give the same bits; a row alone gives the same bits as
 *    within a batch.
 * Kernels the CPU lacks are reported as skipped. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "nn/nn.h"
#include "nn/quant.h"
#include "test.h"

static void fill(float *x, size_t n, pt_rng *r, float sd) {
    for (size_t i = 0; i < n; i++) x[i] = sd * pt_rng_normal(r);
}

static void test_fp16(void) {
    CHECK(nn_fp16_from_f32(1.0f) == 0x3c00, "1.0");
    CHECK(nn_fp16_from_f32(-2.0f) == 0xc000, "-2.0");
    CHECK(nn_fp16_from_f32(65504.0f) == 0x7bff, "max half");
    CHECK(nn_fp16_from_f32(65520.0f) == 0x7c00, "rounds to inf");
    CHECK(nn_fp16_from_f32(1.0f + 1.0f / 2048) == 0x3c00, "tie to even (down)");
    CHECK(nn_fp16_from_f32(1.0f + 3.0f / 2048) == 0x3c02, "tie to even (up)");
    CHECK(nn_fp16_from_f32(5.9604645e-8f) == 0x0001, "smallest subnormal");
    CHECK(nn_fp16_from_f32(6.1035156e-5f) == 0x0400, "smallest normal");
    CHECK(nn_fp16_from_f32(0.0f) == 0 && nn_fp16_from_f32(-0.0f) == 0x8000, "zeros");
    int bad = 0;
    for (uint32_t h = 0; h < 0x7c00; h++) /* every finite half survives the round trip */
        bad += nn_fp16_from_f32(nn_f32_from_fp16((uint16_t)h)) != h;
    CHECK(bad == 0, "%d halves do not round-trip", bad);
    CHECK(nn_f32_from_fp16(0x3555) == 0.333251953125f, "0x3555");
}

static void test_layout(void) {
    nn_block_q4_0 b4 = {.d = nn_fp16_from_f32(0.5f)};
    for (int j = 0; j < 16; j++) b4.qs[j] = (uint8_t)(j | (15 - j) << 4);
    float y[32];
    nn_dequantize_row(NN_Q4_0, y, &b4, 32);
    int ok = 1;
    for (int j = 0; j < 16; j++) ok &= y[j] == 0.5f * (j - 8) && y[j + 16] == 0.5f * (7 - j);
    CHECK(ok, "Q4_0 nibble order");
    CHECK(sizeof(nn_block_q4_0) == 18 && sizeof(nn_block_q8_0) == 34, "block sizes");
    nn_block_q8_0 b8 = {.d = nn_fp16_from_f32(0.25f)};
    for (int j = 0; j < 32; j++) b8.q[j] = (int8_t)(j - 16);
    nn_dequantize_row(NN_Q8_0, y, &b8, 32);
    ok = 1;
    for (int j = 0; j < 32; j++) ok &= y[j] == 0.25f * (j - 16);
    CHECK(ok, "Q8_0 values");
    /* quantizing known values: the largest magnitude maps to code -8 (Q4_0) / ±127 (Q8_0) */
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 12) / 4;
    nn_quantize_row(NN_Q4_0, &b4, x, 32);
    CHECK(nn_f32_from_fp16(b4.d) == 4.75f / -8, "Q4_0 scale %g", nn_f32_from_fp16(b4.d));
    CHECK((b4.qs[15] >> 4) == 0, "Q4_0 extreme code %d", b4.qs[15] >> 4);
    nn_quantize_row(NN_Q8_0, &b8, x, 32);
    CHECK(b8.q[31] == 127 && b8.q[0] == (int8_t)roundf(-3.0f / 4.75f * 127), "Q8_0 codes");
    CHECK(nn_qrow_bytes(NN_Q8_0, 33) == 0 && nn_qrow_bytes(NN_Q4_0, 64) == 36, "row bytes");
}

static void test_roundtrip(int type) {
    pt_rng r = {7};
    int n = 32 * 64;
    float *x = pt_malloc(n * sizeof(float)), *y = pt_malloc(n * sizeof(float));
    fill(x, n, &r, 1.0f);
    for (int i = 0; i < 32; i++) x[i] = 0.0f; /* an all-zero block */
    x[40] = 1e6f;                             /* a block with an outlier */
    void *q = pt_malloc(nn_qrow_bytes(type, n));
    nn_quantize_row(type, q, x, n);
    nn_set_isa(NN_ISA_SCALAR);
    nn_dequantize_row(type, y, q, n);
    double worst = 0;
    int bad = 0;
    for (int b = 0; b < n / 32; b++) {
        float d = type == NN_Q4_0 ? nn_f32_from_fp16(((nn_block_q4_0 *)q)[b].d)
                                  : nn_f32_from_fp16(((nn_block_q8_0 *)q)[b].d);
        for (int i = b * 32; i < b * 32 + 32; i++) {
            double e = fabs((double)x[i] - y[i]), ad = fabs(d), budget;
            if (type == NN_Q8_0) budget = ad / 2 + 127 * ad / 2048;
            else budget = x[i] / d < 7.5 ? ad / 2 + 8 * ad / 2048 : ad * (1 + 8.0 / 2048);
            budget += 1e-30;
            if (e > budget) bad++;
            if (e / budget > worst) worst = e / budget;
        }
    }
    CHECK(bad == 0, "%s round trip: %d weights over budget (worst %.3f of it)", nn_qtype_name(type), bad, worst);
    /* every kernel's dequantization gives the scalar bits */
    float *z = pt_malloc(n * sizeof(float));
    for (int isa = NN_ISA_AVX2; isa <= NN_ISA_AVX512VNNI; isa++) {
        if (nn_set_isa(isa)) continue;
        nn_dequantize_row(type, z, q, n);
        CHECK(!memcmp(z, y, n * sizeof(float)), "%s dequantization differs from scalar", nn_isa_name(isa));
    }
    nn_set_isa(NN_ISA_SCALAR);
    free(z);
    CHECK(y[0] == 0.0f && y[31] == 0.0f, "zero block stays zero");
    printf("  %s round trip: worst error %.3f of budget\n", nn_qtype_name(type), worst);
    free(x), free(y), free(q);
}

/* scalar kernel vs double product of dequantized W and X */
static void test_semantics(int type, int N, int in, int out) {
    pt_rng r = {(uint64_t)(N * 131 + in * 7 + out)};
    float *W = pt_malloc((size_t)out * in * 4), *X = pt_malloc((size_t)N * in * 4), *b = pt_malloc(out * 4);
    float *Wd = pt_malloc((size_t)out * in * 4), *Y = pt_malloc((size_t)N * out * 4);
    fill(W, (size_t)out * in, &r, 0.05f), fill(X, (size_t)N * in, &r, 1.0f), fill(b, out, &r, 0.1f);
    size_t rb = nn_qrow_bytes(type, in);
    uint8_t *q = pt_malloc(rb * out);
    for (int o = 0; o < out; o++) nn_quantize_row(type, q + o * rb, W + (size_t)o * in, in);
    for (int o = 0; o < out; o++) nn_dequantize_row(type, Wd + (size_t)o * in, q + o * rb, in);
    nn_qmat m = {type, out, in, q};
    nn_set_isa(NN_ISA_SCALAR);
    nn_qlinear_int(Y, X, &m, b, N);
    int bad = 0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < out; o++) {
            double ref = b[o], err = 0, S = fabs(b[o]);
            for (int bl = 0; bl < in / 32; bl++) {
                float amax = 0;
                for (int i = bl * 32; i < bl * 32 + 32; i++) amax = fmaxf(amax, fabsf(X[(size_t)n * in + i]));
                for (int i = bl * 32; i < bl * 32 + 32; i++) {
                    double w = Wd[(size_t)o * in + i], x = X[(size_t)n * in + i];
                    ref += w * x, S += fabs(w * x), err += fabs(w) * amax / 127 / 2;
                }
            }
            if (fabs(Y[(size_t)n * out + o] - ref) > err * 1.001 + 1e-5 * S) bad++;
        }
    CHECK(bad == 0, "%s N=%d in=%d out=%d: %d outputs off the dequantized product", nn_qtype_name(type), N, in, out, bad);
    free(W), free(X), free(b), free(Wd), free(Y), free(q);
}

/* nn_qlinear with many rows multiplies dequantized W in fp32: against the
 * double product of dequantized W and X (X is not rounded on this path),
 * |y - ref| <= 1e-5 S, S = sum |w x| + |b| (fp32 summation over in <= 1024
 * terms: in 2^-24 S ~ 6e-5 S worst case, ~sqrt(in) 2^-24 S typical; the
 * budget is between, far below a dropped block, ~S/nb). */
static void test_dequant_path(int type, int N, int in, int out) {
    pt_rng r = {(uint64_t)(N * 17 + in + out * 3)};
    float *W = pt_malloc((size_t)out * in * 4), *X = pt_malloc((size_t)N * in * 4), *b = pt_malloc(out * 4);
    float *Wd = pt_malloc((size_t)out * in * 4), *Y = pt_malloc((size_t)N * out * 4);
    fill(W, (size_t)out * in, &r, 0.05f), fill(X, (size_t)N * in, &r, 1.0f), fill(b, out, &r, 0.1f);
    size_t rb = nn_qrow_bytes(type, in);
    uint8_t *q = pt_malloc(rb * out);
    for (int o = 0; o < out; o++) nn_quantize_row(type, q + o * rb, W + (size_t)o * in, in);
    for (int o = 0; o < out; o++) nn_dequantize_row(type, Wd + (size_t)o * in, q + o * rb, in);
    nn_qmat m = {type, out, in, q};
    nn_qlinear(Y, X, &m, b, N);
    int bad = 0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < out; o++) {
            double ref = b[o], S = fabs(b[o]);
            for (int i = 0; i < in; i++) {
                double p = (double)Wd[(size_t)o * in + i] * X[(size_t)n * in + i];
                ref += p, S += fabs(p);
            }
            if (!(fabs(Y[(size_t)n * out + o] - ref) <= 1e-5 * S)) bad++;
        }
    CHECK(bad == 0, "%s dequantizing path N=%d in=%d out=%d: %d outputs off", nn_qtype_name(type), N, in, out, bad);
    free(W), free(X), free(b), free(Wd), free(Y), free(q);
}

static int n_shapes, n_isas_run;

static void test_isa(int isa, int type, int N, int in, int out, int with_bias) {
    pt_rng r = {(uint64_t)(N * 1000003 + in * 31 + out * 7 + type)};
    float *W = pt_malloc((size_t)out * in * 4), *X = pt_malloc((size_t)N * in * 4), *b = pt_malloc(out * 4);
    float *Ys = pt_malloc((size_t)N * out * 4), *Yv = pt_malloc(((size_t)N * out + 8) * 4);
    fill(W, (size_t)out * in, &r, 0.05f), fill(X, (size_t)N * in, &r, 1.0f), fill(b, out, &r, 0.1f);
    size_t rb = nn_qrow_bytes(type, in);
    uint8_t *q = pt_malloc(rb * out);
    for (int o = 0; o < out; o++) nn_quantize_row(type, q + o * rb, W + (size_t)o * in, in);
    nn_qmat m = {type, out, in, q};
    const float *bias = with_bias ? b : NULL;
    nn_set_isa(NN_ISA_SCALAR);
    nn_qlinear_int(Ys, X, &m, bias, N);
    nn_set_isa(isa);
    for (size_t i = 0; i < (size_t)N * out + 8; i++) Yv[i] = NAN;
    Yv[(size_t)N * out] = 12345.0f;
    nn_qlinear_int(Yv, X, &m, bias, N);
    /* T = sum_b |dW dX isum_b| from the dequantized codes */
    int nb = in / 32, bad = 0;
    float *wd = pt_malloc(in * 4);
    for (int o = 0; o < out; o++) {
        nn_dequantize_row(type, wd, q + o * rb, in);
        for (int n = 0; n < N; n++) {
            double T = 0;
            for (int bl = 0; bl < nb; bl++) {
                float amax = 0;
                for (int i = bl * 32; i < bl * 32 + 32; i++) amax = fmaxf(amax, fabsf(X[(size_t)n * in + i]));
                double s = 0;
                for (int i = bl * 32; i < bl * 32 + 32; i++) s += fabs((double)wd[i] * X[(size_t)n * in + i]);
                T += s + amax * 1e-3; /* the block's |products|, plus room for X's rounding */
            }
            double budget = 4.0 * (nb + 16) * ldexp(1.0, -24) * (T + (bias ? fabs(bias[o]) : 0));
            float ys = Ys[(size_t)n * out + o], yv = Yv[(size_t)n * out + o];
            if (!(fabs(ys - yv) <= budget)) bad++;
        }
    }
    CHECK(bad == 0, "%s %s N=%d in=%d out=%d bias=%d: %d outputs off the scalar kernel", nn_isa_name(isa),
          nn_qtype_name(type), N, in, out, with_bias, bad);
    CHECK(Yv[(size_t)N * out] == 12345.0f, "%s wrote past Y", nn_isa_name(isa));
    n_shapes++;
    free(W), free(X), free(b), free(Ys), free(Yv), free(q), free(wd);
}

/* each level's kernel: same bits on 1 and 2 threads, and for a row alone */
static void test_bits(int isa, int type) {
    int N = 37, in = 256, out = 300;
    pt_rng r = {99};
    float *W = pt_malloc((size_t)out * in * 4), *X = pt_malloc((size_t)N * in * 4);
    float *Y1 = pt_malloc((size_t)N * out * 4), *Y2 = pt_malloc((size_t)N * out * 4), *Yr = pt_malloc(out * 4);
    fill(W, (size_t)out * in, &r, 0.05f), fill(X, (size_t)N * in, &r, 1.0f);
    size_t rb = nn_qrow_bytes(type, in);
    uint8_t *q = pt_malloc(rb * out);
    for (int o = 0; o < out; o++) nn_quantize_row(type, q + o * rb, W + (size_t)o * in, in);
    nn_qmat m = {type, out, in, q};
    nn_set_isa(isa);
    nn_set_threads(1);
    nn_qlinear_int(Y1, X, &m, NULL, N);
    nn_set_threads(2);
    nn_qlinear_int(Y2, X, &m, NULL, N);
    CHECK(!memcmp(Y1, Y2, (size_t)N * out * 4), "%s %s: 1 and 2 threads differ", nn_isa_name(isa), nn_qtype_name(type));
    nn_qlinear_int(Yr, X + 5 * in, &m, NULL, 1);
    CHECK(!memcmp(Yr, Y1 + 5 * out, out * 4), "%s %s: row 5 alone differs from within the batch", nn_isa_name(isa),
          nn_qtype_name(type));
    /* the dequantizing path (N >= 8): same bits on 1 and 2 threads */
    nn_set_threads(1);
    nn_qlinear(Y1, X, &m, NULL, N);
    nn_set_threads(2);
    nn_qlinear(Y2, X, &m, NULL, N);
    CHECK(!memcmp(Y1, Y2, (size_t)N * out * 4), "%s %s dequantizing path: 1 and 2 threads differ", nn_isa_name(isa),
          nn_qtype_name(type));
    free(W), free(X), free(Y1), free(Y2), free(Yr), free(q);
}

int main(void) {
    int deflt = nn_isa();
    test_fp16();
    test_layout();
    test_roundtrip(NN_Q8_0);
    test_roundtrip(NN_Q4_0);
    int types[2] = {NN_Q8_0, NN_Q4_0};
    for (int t = 0; t < 2; t++) {
        test_semantics(types[t], 3, 96, 5);
        test_semantics(types[t], 17, 256, 31);
        test_dequant_path(types[t], 8, 64, 65);
        test_dequant_path(types[t], 70, 256, 131);
        test_dequant_path(types[t], 200, 1024, 64);
    }
    static const int Ns[] = {1, 2, 3, 4, 5, 17, 64}, ins[] = {32, 64, 96, 256, 1024}, outs[] = {1, 3, 5, 31, 256};
    for (int isa = NN_ISA_AVX2; isa <= NN_ISA_AVX512VNNI; isa++) {
        if (!nn_isa_supported(isa) || isa > nn_isa_cap()) {
            printf("  %s: skipped (%s)\n", nn_isa_name(isa), isa > nn_isa_cap() ? "PETIT_ISA" : "not on this CPU");
            continue;
        }
        n_isas_run++;
        for (int t = 0; t < 2; t++)
            for (int a = 0; a < 7; a++)
                for (int c = 0; c < 5; c++)
                    for (int o = 0; o < 5; o++) test_isa(isa, types[t], Ns[a], ins[c], outs[o], (a + c + o) & 1);
        printf("  %s: %d shapes against the scalar kernel\n", nn_isa_name(isa), n_shapes);
        n_shapes = 0;
    }
    for (int isa = NN_ISA_SCALAR; isa <= nn_isa_cap(); isa++)
        if (nn_isa_supported(isa)) test_bits(isa, NN_Q8_0), test_bits(isa, NN_Q4_0);
    nn_set_isa(deflt);
    printf("  default kernel on this CPU: %s\n", nn_isa_name(deflt));
    return test_done("test_quant");
}
