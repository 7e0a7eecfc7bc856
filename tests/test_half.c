/* test_half: IEEE half floats (nn/half.c) and attention over half caches.
 *
 * - every one of the 65536 halves converts to the float that ldexp gives
 *   for its sign, exponent and mantissa, and (NaNs aside) back to itself;
 *   through the vector path (runs of 8) and the scalar path alike;
 * - floats to halves round to nearest, ties to even: for a million floats
 *   over the whole half range and beyond, the chosen half is no farther than
 *   its neighbours (and even on a tie); overflow gives infinity, tiny values
 *   zero; vector and scalar paths agree bit for bit;
 * - nn_attend_f16 equals nn_attend on the same keys and values widened to
 *   float, within float rounding.
 * All of it at every instruction-set level the CPU has (the scalar level is
 * the portable code, the reference of the others). */
#include <math.h>
#include <string.h>

#include "base/base.h"
#include "nn/nn.h"
#include "test.h"

/* the value of half h, from its fields */
static double half_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static void check_all_halves(void) {
    static uint16_t h[65536], back[65536];
    static float f[65536], f1[65536];
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    nn_f16_to_f32(f, h, 65536); /* runs of 8 */
    for (int i = 0; i < 65536; i++) nn_f16_to_f32(&f1[i], &h[i], 1); /* one at a time */
    int bad = 0, nan_bad = 0, diff = 0;
    for (int i = 0; i < 65536; i++) {
        double want = half_value(h[i]);
        if (isnan(want)) nan_bad += !isnan(f[i]) || !isnan(f1[i]);
        else bad += (double)f[i] != want || !signbit(f[i]) != !signbit(want);
        diff += memcmp(&f[i], &f1[i], 4) != 0;
    }
    CHECK(bad == 0 && nan_bad == 0, "half -> float: %d values and %d NaNs wrong", bad, nan_bad);
    CHECK(diff == 0, "half -> float: the vector and scalar paths differ on %d halves", diff);
    nn_f32_to_f16(back, f, 65536);
    int rt = 0;
    for (int i = 0; i < 65536; i++)
        if (!isnan(f[i])) rt += back[i] != h[i];
    CHECK(rt == 0, "half -> float -> half: %d halves do not come back", rt);
}

/* is half h a correct rounding of x (nearest, ties to even)? */
static int rounds_right(float x, uint16_t h) {
    double v = x, hv = half_value(h);
    if (fabs(v) >= 65520.0) return (h & 0x7fff) == 0x7c00 && !signbit(hv) == !signbit(v);
    if (isinf(hv) || isnan(hv)) return 0;
    if (!signbit(hv) != !signbit(v) && hv != 0.0) return 0;
    double err = fabs(hv - v);
    for (int d = -1; d <= 1; d += 2) { /* the neighbours on the same side of zero */
        int mag = (h & 0x7fff) + d;
        if (mag < 0 || mag >= 0x7c00) continue;
        double nv = half_value((uint16_t)((h & 0x8000) | mag));
        double ne = fabs(nv - v);
        if (ne < err) return 0;
        if (ne == err && (h & 1)) return 0; /* a tie goes to the even one */
    }
    return 1;
}

static void check_rounding(void) {
    enum { N = 1 << 20 };
    float *x = pt_malloc(N * sizeof(float));
    uint16_t *a = pt_malloc(N * sizeof(uint16_t)), *b = pt_malloc(N * sizeof(uint16_t));
    pt_rng r = {7};
    for (int i = 0; i < N; i++) {
        /* exponents from 2^-28 (under the smallest subnormal) to 2^17 (over the largest) */
        double mant = 1.0 + (double)(pt_rng_next(&r) >> 11) / 9007199254740992.0;
        int e = (int)(pt_rng_next(&r) % 46) - 28;
        x[i] = (float)ldexp(mant, e) * ((pt_rng_next(&r) & 1) ? -1.0f : 1.0f);
        if (i % 97 == 0) { /* exact ties: halfway between two halves */
            uint16_t h = (uint16_t)(pt_rng_next(&r) % 0x7bff);
            x[i] = (float)((half_value(h) + half_value((uint16_t)(h + 1))) / 2);
        }
    }
    nn_f32_to_f16(a, x, N);
    for (int i = 0; i < N; i++) nn_f32_to_f16(&b[i], &x[i], 1);
    int bad = 0, diff = 0;
    for (int i = 0; i < N; i++) {
        if (!rounds_right(x[i], a[i]) && bad++ < 3)
            fprintf(stderr, "  %.9g -> half 0x%04x (%.9g)\n", x[i], a[i], half_value(a[i]));
        diff += a[i] != b[i];
    }
    CHECK(bad == 0, "float -> half: %d of %d not rounded to nearest even", bad, N);
    CHECK(diff == 0, "float -> half: vector and scalar paths differ on %d of %d", diff, N);
    free(x), free(a), free(b);
}

static void check_attend(void) {
    pt_rng r = {11};
    int dh = 64, ld = 3 * 64 + 5, worst_n = 0;
    double worst = 0;
    for (int n = 1; n <= 70; n += 3) {
        float *k = pt_malloc((size_t)n * ld * sizeof(float)), *v = pt_malloc((size_t)n * ld * sizeof(float));
        uint16_t *kh = pt_malloc((size_t)n * ld * 2), *vh = pt_malloc((size_t)n * ld * 2);
        float q[64], o1[64], o2[64], p1[80], p2[80];
        for (int i = 0; i < dh; i++) q[i] = pt_rng_normal(&r);
        for (int i = 0; i < n * ld; i++) k[i] = pt_rng_normal(&r), v[i] = pt_rng_normal(&r);
        nn_f32_to_f16(kh, k, (size_t)n * ld);
        nn_f32_to_f16(vh, v, (size_t)n * ld);
        nn_f16_to_f32(k, kh, (size_t)n * ld); /* the same values, as floats */
        nn_f16_to_f32(v, vh, (size_t)n * ld);
        nn_attend(o1, p1, q, k, v, ld, n, dh, 0.125f);
        nn_attend_f16(o2, p2, q, kh, vh, ld, n, dh, 0.125f);
        for (int i = 0; i < dh; i++)
            if (fabs(o1[i] - o2[i]) > worst) worst = fabs(o1[i] - o2[i]), worst_n = n;
        for (int j = 0; j < n; j++)
            if (fabs(p1[j] - p2[j]) > worst) worst = fabs(p1[j] - p2[j]), worst_n = n;
        free(k), free(v), free(kh), free(vh);
    }
    CHECK(worst < 1e-5, "nn_attend_f16 differs from nn_attend by %.3g (n = %d)", worst, worst_n);
}

int main(void) {
    TEST_EACH_ISA("halves, rounding, attention", isa) {
        check_all_halves();
        check_rounding();
        check_attend();
    }
    return test_done("test_half");
}
