/* fuzz_translate: any bytes as up to three source lines for a tiny model
 * (tests/fuzz/translate.gguf: D=8, 1+1 layers, at most 16 tokens, a
 * multiaxis decoder with a local, a grid and two dense heads, window 4;
 * nearly random weights; the Multi30k 1000-piece tokenizer): petit_translate
 * returns a line for every input and never crashes. The model is small so
 * that a million inputs take minutes; long lines are cut at 16 tokens and
 * the outputs run past the window, through every kind of head's cache. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petit.h"

static petit_model *tr_model;
static petit_translator *tr;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (!tr_model) {
        if (!(tr_model = petit_model_load("tests/fuzz/translate.gguf"))) {
            fprintf(stderr, "fuzz_translate: %s (run from the repository root)\n", petit_last_error());
            abort();
        }
        petit_options o;
        petit_options_default(&o);
        o.beam = 2;
        o.threads = 1;
        o.max_len_a = 1.0f, o.max_len_b = 3.0f;
        tr = petit_translator_new(tr_model, &o);
    }
    /* the input is up to three lines, as translate's batches are */
    char *buf = malloc(n + 1);
    memcpy(buf, data, n);
    buf[n] = 0;
    const char *src[3];
    int k = 0;
    char *p = buf;
    while (k < 3) {
        src[k++] = p;
        char *nl = memchr(p, '\n', (size_t)(buf + n - p));
        if (!nl) break;
        *nl = 0;
        p = nl + 1;
    }
    char *out[3] = {0};
    if (petit_translate(tr, src, k, out) != 0) abort();
    for (int i = 0; i < k; i++) {
        if (!out[i]) abort();
        free(out[i]);
    }
    free(buf);
    return 0;
}
