/* pack.c: ECQ + rANS coded tensors in GGUF files (see pack.h). */
#include "model/pack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compress/ecq.h"
#include "compress/rans.h"
#include "nn/quant.h"

static void key(char *buf, size_t n, const char *name, const char *field) {
    snprintf(buf, n, "petit.ecq.%s.%s", name, field);
}

int pt_pack_add_tensors(gguf_writer *w, const pt_model *m, const float *block, const pt_quant_policy *p,
                        double Lambda, int bits, const pt_calib *calib, double damp, const float *scale,
                        pt_quant_keep *keep, FILE *progress, pt_pack_stats *st) {
    memset(st, 0, sizeof *st);
    keep->bufs = pt_calloc((size_t)m->n_tensors, sizeof(void *));
    keep->n = m->n_tensors;
    char k[128];
    for (int i = 0; i < m->n_tensors; i++) {
        const pt_tensor *t = &m->tensors[i];
        const float *src = block + t->offset;
        if (pt_quant_tensor_type(m, i, p) == NN_F32) {
            uint64_t ne[2] = {(uint64_t)t->cols, (uint64_t)t->rows};
            gguf_add_tensor(w, t->name, GGUF_TYPE_F32, t->rows > 1 ? 2 : 1, ne, src,
                            (size_t)t->rows * t->cols * sizeof(float));
            continue;
        }
        size_t n = (size_t)t->rows * t->cols;
        uint8_t *sym = pt_malloc(n);
        uint16_t *steps = pt_malloc((size_t)t->rows * sizeof(uint16_t));
        ecq_result r;
        const double *H = pt_calib_H(calib, i);
        double mult = scale ? scale[i] : 1.0, lt = Lambda * mult; /* the tensor's share of the rate */
        if (H ? ecq_gptq_rows(src, t->rows, t->cols, bits, lt, H, damp, 2, sym, steps, &r)
              : ecq_assign_rows(src, t->rows, t->cols, bits, lt, sym, steps, NULL, 0, &r)) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", pt_error());
            free(sym), free(steps);
            return pt_set_error("pack: %s: %s", t->name, msg);
        }
        uint64_t cnt[256] = {0};
        for (size_t j = 0; j < n; j++) cnt[sym[j]]++;
        uint32_t freq[256], len[RANS_STREAMS];
        rans_normalize(cnt, freq);
        uint8_t *out = keep->bufs[i] = pt_malloc(rans_bound(n));
        size_t bytes = rans_encode(sym, n, freq, out, len);
        uint64_t hash = rans_hash(sym, n);
        /* decode it back at once: the file must hold exactly these levels */
        uint8_t *back = bytes ? pt_malloc(n) : NULL;
        int same = back && !rans_decode(out, bytes, len, freq, back, n) && !memcmp(back, sym, n);
        free(back), free(sym);
        if (!bytes || !same) {
            free(steps);
            return pt_set_error("pack: %s: the coded levels do not decode back", t->name);
        }
        double ratio = r.entropy > 0 ? bytes * 8.0 / (r.entropy * (double)n) : 1.0;
        if (ratio > st->worst_ratio) st->worst_ratio = ratio;
        uint64_t ne = bytes;
        gguf_add_tensor(w, t->name, GGUF_TYPE_I8, 1, &ne, out, bytes);
        st->stream_bytes += (double)bytes;
        key(k, sizeof k, t->name, "rows"), gguf_set_u32(w, k, (uint32_t)t->rows);
        key(k, sizeof k, t->name, "cols"), gguf_set_u32(w, k, (uint32_t)t->cols);
        key(k, sizeof k, t->name, "bits"), gguf_set_u32(w, k, (uint32_t)bits);
        key(k, sizeof k, t->name, "step"), gguf_set_arr(w, k, GGUF_V_U16, steps, (uint64_t)t->rows);
        free(steps);
        key(k, sizeof k, t->name, "entropy"), gguf_set_f32(w, k, (float)r.entropy);
        key(k, sizeof k, t->name, "scale"), gguf_set_f32(w, k, (float)mult);
        key(k, sizeof k, t->name, "freq"), gguf_set_arr(w, k, GGUF_V_U32, freq, 256);
        key(k, sizeof k, t->name, "len"), gguf_set_arr(w, k, GGUF_V_U32, len, RANS_STREAMS);
        key(k, sizeof k, t->name, "hash"), gguf_set_u64(w, k, hash);
        bytes += (size_t)t->rows * 2; /* the row steps count as coded size */
        st->params += (double)n, st->bytes += (double)bytes, st->entropy_bits += r.entropy * (double)n;
        st->zeros += r.sparsity * (double)n, st->table_bytes += 256 * 4 + 16 + 8 + 7 * 40;
        if (progress)
            fprintf(progress,
                    "  %-26s %5d x %-5d lambda x%-5.2f %3d levels, %.3f bits/weight (entropy %.3f), %4.1f%% zeros, "
                    "rmse %.2g\n",
                    t->name, t->rows, t->cols, mult, r.levels, bytes * 8.0 / (double)n, r.entropy,
                    100 * r.sparsity, sqrt(r.mse));
    }
    return 0;
}

void pt_pack_set_keys(gguf_writer *w, const pt_quant_policy *p, double Lambda, int bits) {
    pt_quant_policy q = *p;
    q.type = q.emb_type = bits <= 4 ? NN_Q4_0 : NN_Q8_0;
    pt_quant_set_keys(w, &q, "ecq");
    gguf_set_f32(w, "petit.ecq.lambda", (float)Lambda);
    gguf_set_u32(w, "petit.ecq.bits", (uint32_t)bits);
}

int pt_pack_is_coded(const gguf_file *g, const gguf_tensor *t) {
    char k[128];
    key(k, sizeof k, t->name, "freq");
    return t->type == GGUF_TYPE_I8 && gguf_find_key(g, k) >= 0;
}

int pt_pack_scale(const gguf_file *g, const gguf_tensor *t, float *scale) {
    char k[128];
    key(k, sizeof k, t->name, "scale");
    return gguf_get_f32(g, k, scale) || !(*scale > 0) || !isfinite(*scale) ? -1 : 0;
}

/* the metadata of a coded tensor, checked */
typedef struct {
    uint32_t rows, cols, bits, freq[256], len[RANS_STREAMS];
    const uint8_t *step; /* rows fp16, 2 bytes each (in the mapping, unaligned; little-endian hosts) */
    uint64_t hash;
} coded_meta;

static int read_meta(const gguf_file *g, const gguf_tensor *t, coded_meta *c) {
    char k[128];
    uint32_t et;
    const void *d;
    uint64_t n;
#define GET(field, fn, dst) key(k, sizeof k, t->name, field); if (fn(g, k, dst)) return -1
    GET("rows", gguf_get_u32, &c->rows);
    GET("cols", gguf_get_u32, &c->cols);
    GET("bits", gguf_get_u32, &c->bits);
    GET("hash", gguf_get_u64, &c->hash);
#undef GET
    key(k, sizeof k, t->name, "freq");
    if (gguf_get_arr(g, k, &et, &d, &n)) return -1;
    if (et != GGUF_V_U32 || n != 256) return pt_set_error("%s: a table of %llu, not 256 u32", k, (unsigned long long)n);
    memcpy(c->freq, d, sizeof c->freq);
    key(k, sizeof k, t->name, "len");
    if (gguf_get_arr(g, k, &et, &d, &n)) return -1;
    if (et != GGUF_V_U32 || n != RANS_STREAMS)
        return pt_set_error("%s: %llu stream lengths, not %d u32", k, (unsigned long long)n, RANS_STREAMS);
    memcpy(c->len, d, sizeof c->len);
    key(k, sizeof k, t->name, "step");
    if (gguf_get_arr(g, k, &et, &d, &n)) return -1;
    if (et != GGUF_V_U16 || n != c->rows) return pt_set_error("%s: %llu row steps, not %u u16", k, (unsigned long long)n, c->rows);
    c->step = d;
    for (uint32_t r = 0; r < c->rows; r++) {
        uint16_t h;
        memcpy(&h, c->step + 2 * (size_t)r, 2);
        float v = nn_f32_from_fp16(h);
        if (!(v > 0) || !isfinite(v)) return pt_set_error("%s: row %u has a bad step %g", t->name, r, v);
    }
    if (c->bits < 2 || c->bits > 8) return pt_set_error("%s: bits %u outside 2..8", t->name, c->bits);
    if (!c->rows || !c->cols || c->cols % NN_QK) return pt_set_error("%s: bad shape %u x %u", t->name, c->rows, c->cols);
    /* only levels of the grid may have a frequency */
    int kmax = (1 << (c->bits - 1)) - 1;
    for (int s = 0; s < 256; s++)
        if (c->freq[s] && (s - 128 > kmax || s - 128 < -kmax))
            return pt_set_error("%s: the table has level %d, outside %d bits", t->name, s - 128, c->bits);
    return 0;
}

size_t pt_pack_decoded_bytes(const gguf_file *g, const gguf_tensor *t, int rows, int cols) {
    coded_meta c;
    if (read_meta(g, t, &c)) return 0;
    if ((int)c.rows != rows || (int)c.cols != cols) {
        pt_set_error("%s: coded as %u x %u, expected %d x %d", t->name, c.rows, c.cols, rows, cols);
        return 0;
    }
    return (size_t)c.rows * nn_qrow_bytes(c.bits <= 4 ? NN_Q4_0 : NN_Q8_0, (int)c.cols);
}

int pt_pack_decode(const gguf_file *g, const gguf_tensor *t, int rows, int cols, int *type, void *dst) {
    coded_meta c;
    if (read_meta(g, t, &c)) return -1;
    if ((int)c.rows != rows || (int)c.cols != cols)
        return pt_set_error("%s: coded as %u x %u, expected %d x %d", t->name, c.rows, c.cols, rows, cols);
    size_t n = (size_t)rows * cols;
    uint8_t *sym = pt_malloc(n);
    if (rans_decode(t->data, t->nbytes, c.len, c.freq, sym, n)) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s", pt_error());
        free(sym);
        return pt_set_error("%s: corrupt coded data (%s)", t->name, msg);
    }
    if (rans_hash(sym, n) != c.hash) {
        free(sym);
        return pt_set_error("%s: corrupt coded data (checksum mismatch)", t->name);
    }
    *type = c.bits <= 4 ? NN_Q4_0 : NN_Q8_0;
    size_t bs = nn_qrow_bytes(*type, NN_QK), per_row = (size_t)cols / NN_QK;
    for (size_t b = 0; b < n / NN_QK; b++) {
        int code[NN_QK];
        uint16_t h;
        memcpy(&h, c.step + 2 * (b / per_row), 2);
        for (int j = 0; j < NN_QK; j++) code[j] = (int)sym[b * NN_QK + j] - 128 + (*type == NN_Q4_0 ? 8 : 0);
        nn_qblock_pack(*type, (uint8_t *)dst + b * bs, nn_f32_from_fp16(h), code);
    }
    free(sym);
    return 0;
}

double pt_pack_entropy(const gguf_file *g, const gguf_tensor *t, double *n_weights) {
    char k[128];
    float h;
    uint32_t rows, cols;
    key(k, sizeof k, t->name, "entropy");
    if (gguf_get_f32(g, k, &h)) return -1;
    key(k, sizeof k, t->name, "rows");
    if (gguf_get_u32(g, k, &rows)) return -1;
    key(k, sizeof k, t->name, "cols");
    if (gguf_get_u32(g, k, &cols)) return -1;
    if (n_weights) *n_weights = (double)rows * cols;
    return h;
}
