/* rans.c: byte-wise rANS with interleaved streams (see rans.h). */
#include "compress/rans.h"

#include <math.h>
#include <string.h>

#include "base/base.h"

#define M (1u << RANS_PROB_BITS)

int rans_normalize(const uint64_t *count, uint32_t *freq) {
    uint64_t total = 0;
    for (int s = 0; s < 256; s++) total += count[s];
    if (!total) return -1;
    int64_t sum = 0, best = -1;
    for (int s = 0; s < 256; s++) {
        freq[s] = 0;
        if (!count[s]) continue;
        uint64_t f = (uint64_t)((double)count[s] * M / (double)total + 0.5);
        freq[s] = f ? (uint32_t)f : 1;
        sum += freq[s];
        if (best < 0 || count[s] > count[best]) best = s;
    }
    /* the rounding error goes to the most frequent symbol, which can absorb
     * it with the least cost; if that is not enough (many rare symbols
     * each rounded up to 1), take from the others, largest first */
    int64_t diff = (int64_t)M - sum;
    if ((int64_t)freq[best] + diff >= 1) {
        freq[best] = (uint32_t)((int64_t)freq[best] + diff);
        return 0;
    }
    while (diff < 0) {
        int big = -1;
        for (int s = 0; s < 256; s++)
            if (freq[s] > 1 && (big < 0 || freq[s] > freq[big])) big = s;
        if (big < 0) return -1; /* more than M distinct symbols: impossible with 256 */
        freq[big]--, diff++;
    }
    return 0;
}

size_t rans_bound(size_t n) { return n * 2 + RANS_STREAMS * 8 + 16; }

size_t rans_encode(const uint8_t *sym, size_t n, const uint32_t *freq, uint8_t *out, uint32_t *len) {
    uint32_t start[256];
    uint32_t c = 0;
    for (int s = 0; s < 256; s++) start[s] = c, c += freq[s];
    for (size_t i = 0; i < n; i++)
        if (!freq[sym[i]]) return 0;
    /* each stream is encoded backwards into the end of its own region of
     * `out`, then moved down to follow the previous stream */
    size_t total = 0;
    for (int k = 0; k < RANS_STREAMS; k++) {
        size_t cnt = n > (size_t)k ? (n - 1 - k) / RANS_STREAMS + 1 : 0;
        size_t cap = cnt * 2 + 8;
        uint8_t *end = out + total + cap, *p = end;
        uint32_t x = RANS_L;
        for (size_t j = cnt; j-- > 0;) {
            uint8_t s = sym[j * RANS_STREAMS + k];
            uint32_t f = freq[s];
            uint32_t x_max = ((RANS_L >> RANS_PROB_BITS) << 8) * f;
            while (x >= x_max) *--p = (uint8_t)x, x >>= 8;
            x = ((x / f) << RANS_PROB_BITS) + (x % f) + start[s];
        }
        p -= 4;
        p[0] = (uint8_t)x, p[1] = (uint8_t)(x >> 8), p[2] = (uint8_t)(x >> 16), p[3] = (uint8_t)(x >> 24);
        len[k] = (uint32_t)(end - p);
        memmove(out + total, p, len[k]);
        total += len[k];
    }
    return total;
}

int rans_decode(const uint8_t *in, size_t in_n, const uint32_t *len, const uint32_t *freq, uint8_t *sym,
                size_t n) {
    uint32_t start[256], c = 0;
    static _Thread_local uint8_t slot2sym[M];
    for (int s = 0; s < 256; s++) {
        if (freq[s] > M || c + freq[s] > M) return pt_set_error("rans: frequency table sums past %u", M);
        start[s] = c;
        memset(slot2sym + c, s, freq[s]);
        c += freq[s];
    }
    if (c != M) return pt_set_error("rans: frequency table sums to %u, not %u", c, M);
    const uint8_t *p[RANS_STREAMS], *end[RANS_STREAMS];
    uint32_t x[RANS_STREAMS];
    size_t off = 0;
    for (int k = 0; k < RANS_STREAMS; k++) {
        if (len[k] < 4 || len[k] > in_n - off) return pt_set_error("rans: stream %d length %u does not fit", k, len[k]);
        p[k] = in + off, end[k] = in + off + len[k];
        x[k] = (uint32_t)p[k][0] | (uint32_t)p[k][1] << 8 | (uint32_t)p[k][2] << 16 | (uint32_t)p[k][3] << 24;
        p[k] += 4;
        off += len[k];
    }
    if (off != in_n) return pt_set_error("rans: stream lengths add up to %zu, not %zu", off, in_n);
    const uint32_t mask = M - 1;
#define STEP(k, i)                                                            \
    do {                                                                      \
        uint32_t sl = x[k] & mask;                                            \
        uint8_t s = slot2sym[sl];                                             \
        sym[i] = s;                                                           \
        x[k] = freq[s] * (x[k] >> RANS_PROB_BITS) + sl - start[s];            \
        while (x[k] < RANS_L) {                                               \
            if (p[k] == end[k]) return pt_set_error("rans: stream %d runs out", k); \
            x[k] = x[k] << 8 | *p[k]++;                                       \
        }                                                                     \
    } while (0)
    size_t i = 0;
    for (; i + RANS_STREAMS <= n; i += RANS_STREAMS) {
        STEP(0, i);
        STEP(1, i + 1);
        STEP(2, i + 2);
        STEP(3, i + 3);
    }
    for (int k = 0; i < n; i++, k++) STEP(k, i);
#undef STEP
    for (int k = 0; k < RANS_STREAMS; k++)
        if (x[k] != RANS_L || p[k] != end[k]) return pt_set_error("rans: stream %d does not end where it should", k);
    return 0;
}

uint64_t rans_hash(const uint8_t *sym, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ sym[i]) * 0x100000001b3ULL;
    return h;
}

double rans_entropy_bits(const uint64_t *count) {
    double total = 0, bits = 0;
    for (int s = 0; s < 256; s++) total += (double)count[s];
    for (int s = 0; s < 256; s++)
        if (count[s]) bits -= (double)count[s] * log2((double)count[s] / total);
    return bits;
}
