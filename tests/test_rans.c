/* test_rans: the entropy coder.
 * 1. Round trip, exact, for n = 0..9 (fewer symbols than streams), a single
 *    symbol, uniform bytes, and skewed distributions like quantized weights.
 * 2. Size: for 200k skewed symbols, the coded bytes are within 1% of the
 *    zero-order entropy bound n H / 8.
 * 3. Damage: every single-bit flip of a coded message (all bits of a small
 *    one, 2000 random ones of a large one) is caught: rans_decode fails or
 *    the decoded symbols' hash differs from the stored one. Truncating or
 *    extending the stream, or a table that does not sum to 2^15, fails. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "compress/rans.h"
#include "test.h"

/* symbols from a discrete Laplace-like law around 128 (scale b), or uniform */
static void gen(uint8_t *s, size_t n, double b, pt_rng *r) {
    for (size_t i = 0; i < n; i++) {
        if (b <= 0) {
            s[i] = (uint8_t)(pt_rng_next(r) >> 56);
            continue;
        }
        double u = pt_rng_uniform(r) - 0.5;
        double v = -b * (u < 0 ? -1 : 1) * log(1 - 2 * fabs(u));
        long k = lround(v);
        if (k < -127) k = -127;
        if (k > 127) k = 127;
        s[i] = (uint8_t)(128 + k);
    }
}

typedef struct {
    uint8_t *buf;
    size_t bytes;
    uint32_t len[RANS_STREAMS], freq[256];
    uint64_t hash;
} coded;

static int code(const uint8_t *s, size_t n, coded *c) {
    uint64_t cnt[256] = {0};
    for (size_t i = 0; i < n; i++) cnt[s[i]]++;
    if (n == 0) cnt[0] = 1; /* an empty message still needs a table */
    if (rans_normalize(cnt, c->freq)) return -1;
    c->buf = pt_malloc(rans_bound(n));
    c->bytes = rans_encode(s, n, c->freq, c->buf, c->len);
    c->hash = rans_hash(s, n);
    return c->bytes ? 0 : -1;
}

/* 0 if the message decodes and its hash matches */
static int check(const coded *c, const uint8_t *buf, size_t bytes, const uint32_t *len, uint8_t *out, size_t n) {
    if (rans_decode(buf, bytes, len, c->freq, out, n)) return -1;
    return rans_hash(out, n) == c->hash ? 0 : -2;
}

static void roundtrip(const char *what, const uint8_t *s, size_t n) {
    coded c;
    CHECK(code(s, n, &c) == 0, "%s: encode", what);
    uint8_t *out = pt_malloc(n + 1);
    CHECK(check(&c, c.buf, c.bytes, c.len, out, n) == 0 && !memcmp(out, s, n), "%s: round trip (%s)", what, pt_error());
    free(out), free(c.buf);
}

int main(void) {
    pt_rng r = {42};
    uint8_t small[16];
    for (size_t n = 0; n <= 9; n++) {
        gen(small, n, 3, &r);
        char w[32];
        snprintf(w, sizeof w, "n=%zu", n);
        roundtrip(w, small, n);
    }
    size_t N = 200000;
    uint8_t *s = pt_malloc(N);
    memset(s, 7, N);
    roundtrip("one symbol", s, N);
    gen(s, N, 0, &r);
    roundtrip("uniform bytes", s, N);
    double scales[] = {0.3, 1.0, 4.0, 30.0};
    for (int k = 0; k < 4; k++) {
        gen(s, N, scales[k], &r);
        char w[32];
        snprintf(w, sizeof w, "laplace b=%g", scales[k]);
        roundtrip(w, s, N);
        uint64_t cnt[256] = {0};
        for (size_t i = 0; i < N; i++) cnt[s[i]]++;
        coded c;
        code(s, N, &c);
        double bound = rans_entropy_bits(cnt) / 8;
        printf("  %-14s entropy %.4f bits/symbol, coded %.4f (%+.3f%%)\n", w, bound * 8 / N, c.bytes * 8.0 / N,
               100 * (c.bytes / bound - 1));
        CHECK(c.bytes <= bound * 1.01 + 64, "%s: %zu bytes vs entropy bound %.0f", w, c.bytes, bound);
        free(c.buf);
    }

    /* damage */
    uint8_t msg[300], out[300];
    gen(msg, 300, 2.0, &r);
    coded c;
    code(msg, 300, &c);
    int missed = 0;
    for (size_t bit = 0; bit < c.bytes * 8; bit++) {
        c.buf[bit / 8] ^= (uint8_t)(1 << (bit % 8));
        missed += check(&c, c.buf, c.bytes, c.len, out, 300) == 0;
        c.buf[bit / 8] ^= (uint8_t)(1 << (bit % 8));
    }
    CHECK(missed == 0, "%d of %zu single-bit flips decoded undetected", missed, c.bytes * 8);
    printf("  all %zu single-bit flips of a %zu-byte message detected\n", c.bytes * 8, c.bytes);
    CHECK(check(&c, c.buf, c.bytes - 1, c.len, out, 300) != 0, "truncated stream decoded");
    uint32_t l2[RANS_STREAMS];
    memcpy(l2, c.len, sizeof l2);
    l2[3] -= 1;
    CHECK(check(&c, c.buf, c.bytes - 1, l2, out, 300) != 0, "stream cut by a byte decoded");
    l2[3] += 2;
    uint8_t *ext = pt_malloc(c.bytes + 1);
    memcpy(ext, c.buf, c.bytes);
    ext[c.bytes] = 0;
    CHECK(check(&c, ext, c.bytes + 1, l2, out, 300) != 0, "stream with an extra byte decoded");
    free(ext);
    coded bad = c;
    bad.freq[msg[0]] += 1;
    CHECK(check(&bad, c.buf, c.bytes, c.len, out, 300) == -1, "table summing past 2^15 accepted");
    CHECK(strstr(pt_error(), "sums") != NULL, "error names the table: %s", pt_error());
    free(c.buf);

    gen(s, N, 1.0, &r);
    code(s, N, &c);
    uint8_t *big = pt_malloc(N);
    missed = 0;
    for (int t = 0; t < 2000; t++) {
        size_t bit = pt_rng_next(&r) % (c.bytes * 8);
        c.buf[bit / 8] ^= (uint8_t)(1 << (bit % 8));
        missed += check(&c, c.buf, c.bytes, c.len, big, N) == 0;
        c.buf[bit / 8] ^= (uint8_t)(1 << (bit % 8));
    }
    CHECK(missed == 0, "%d of 2000 random bit flips decoded undetected", missed);
    double t0 = pt_time();
    for (int k = 0; k < 5; k++) check(&c, c.buf, c.bytes, c.len, big, N);
    printf("  decoding: %.0f M symbols/s\n", 5.0 * N / (pt_time() - t0) / 1e6);
    free(big), free(c.buf), free(s);
    return test_done("test_rans");
}
