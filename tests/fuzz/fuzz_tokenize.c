/* fuzz_tokenize: any bytes as text for the committed Multi30k tokenizer:
 * encoding gives ids inside the vocabulary, decoding them does not crash,
 * and valid UTF-8 without control characters survives the round trip up to
 * normalization (not checked here: the test suite compares with
 * sentencepiece). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/spm.h"

static spm_model *tok_model;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (!tok_model && !(tok_model = spm_load_file("tests/data/m30k-1k.model"))) {
        fprintf(stderr, "fuzz_tokenize: run from the repository root\n");
        abort();
    }
    int *ids = NULL;
    size_t cap = 0;
    int k = spm_encode(tok_model, (const char *)data, n, &ids, &cap);
    if (k < 0) abort(); /* any bytes are text */
    for (int i = 0; i < k; i++)
        if (ids[i] < 0 || ids[i] >= spm_vocab_size(tok_model)) abort();
    size_t len;
    free(spm_decode(tok_model, ids, k, &len));
    char *pieces = NULL;
    size_t pcap = 0;
    spm_encode_pieces(tok_model, (const char *)data, n, &pieces, &pcap);
    free(pieces);
    free(ids);
    return 0;
}
