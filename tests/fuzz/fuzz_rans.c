/* fuzz_rans: the entropy-coded stream decoder on any bytes. The input is
 * cut into a frequency table (256 x u16, normalized or not), four stream
 * lengths and the streams; decoding must either succeed or fail with an
 * error, never read past the streams or write past the symbols. A table
 * that is valid is also used to encode random symbols and decode them back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compress/rans.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (n < 2 + 512 + 16) return 0;
    size_t count = (size_t)(data[0] | data[1] << 8) % 4096;
    data += 2, n -= 2;
    uint32_t freq[256];
    for (int i = 0; i < 256; i++) freq[i] = data[2 * i] | (uint32_t)data[2 * i + 1] << 8;
    data += 512, n -= 512;
    uint32_t len[RANS_STREAMS];
    for (int i = 0; i < RANS_STREAMS; i++) len[i] = data[4 * i] | (uint32_t)data[4 * i + 1] << 8;
    data += 16, n -= 16;
    uint8_t *in = malloc(n ? n : 1), *sym = malloc(count ? count : 1);
    memcpy(in, data, n);
    rans_decode(in, n, len, freq, sym, count);
    free(in), free(sym);
    /* a normalized table from the input's byte counts, round trip */
    uint64_t c[256] = {0};
    for (size_t i = 0; i < n; i++) c[data[i]]++;
    if (n && rans_normalize(c, freq) == 0) {
        uint8_t *out = malloc(rans_bound(n)), *back = malloc(n);
        size_t w = rans_encode(data, n, freq, out, len);
        if (!w || rans_decode(out, w, len, freq, back, n) || memcmp(back, data, n)) abort();
        free(out), free(back);
    }
    return 0;
}
