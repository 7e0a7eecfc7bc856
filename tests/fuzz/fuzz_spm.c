/* fuzz_spm: any bytes as a SentencePiece .model file (a protobuf); what
 * loads must encode and decode a sentence. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/spm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    spm_model *m = spm_load_mem(data, n);
    if (!m) return 0;
    static const char text[] = "Two dogs run across the snow, \xc3\xa9t\xc3\xa9 2014!";
    int *ids = NULL;
    size_t cap = 0;
    int k = spm_encode(m, text, sizeof text - 1, &ids, &cap);
    if (k > 0) {
        for (int i = 0; i < k; i++)
            if (ids[i] < 0 || ids[i] >= spm_vocab_size(m)) abort();
        size_t len;
        free(spm_decode(m, ids, k, &len));
    }
    free(ids);
    spm_free(m);
    return 0;
}
