/* fuzz_gguf: any bytes as a GGUF model file. The reader must reject what is
 * not a valid file with an error (never read outside the buffer, never
 * allocate on the strength of a header field), and what it accepts must be
 * safe to walk: every key formatted, every tensor's data inside the buffer;
 * then the model and tokenizer loaders run on it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "model/model.h"
#include "text/spm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    gguf_file *g = gguf_open_mem(data, n);
    if (!g) return 0;
    char buf[256];
    for (int i = 0; i < gguf_n_kv(g); i++) gguf_format_value(g, i, buf, sizeof buf);
    size_t total = gguf_size(g);
    for (int i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        const uint8_t *p = t->data;
        if (t->nbytes && (p < (const uint8_t *)gguf_tensor_at(g, 0)->data - total || t->nbytes > total)) abort();
        volatile uint8_t s = 0;
        if (t->nbytes) s ^= p[0] ^ p[t->nbytes - 1]; /* ASan checks both ends */
        (void)s;
    }
    pt_model m;
    if (pt_model_from_gguf(&m, g) == 0) pt_model_free(&m);
    spm_model *a = NULL, *b = NULL;
    if (spm_from_gguf(g, "petit.tokenizer", &a, &b) == 0) {
        spm_free(a);
        if (b) spm_free(b);
    }
    gguf_close(g);
    return 0;
}
