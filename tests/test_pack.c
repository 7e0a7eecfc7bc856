/* test_pack: entropy-coded model files.
 * 1. Exact round trip: every coded tensor of a packed model decodes, at
 *    load, to exactly the levels ECQ assigned (k · Δ_r, recomputed here),
 *    for an 8-bit grid (Q8_0 at run time) and a 4-bit one (Q4_0).
 * 2. Size: each tensor's streams are within 1% (+16 bytes of final states)
 *    of its zero-order entropy bound n H / 8.
 * 3. Damage: a flipped byte in any coded tensor, a changed rANS table, a
 *    wrong stream length, a row step that is not a positive number: loading
 *    fails with an error naming the tensor, never returns a model.
 * 4. ECQ: a larger lambda gives fewer bits and more zeros; lambda 0 is
 *    plain rounding on the grid.
 * 5. Sharing the rate by sensitivity: pt_lambda_allocate's multipliers
 *    (power 1: lambda x sensitivity the same for all; geometric mean 1;
 *    power 0: all 1); the Fisher's diagonal as the sum of the samples' g^2,
 *    tensor by tensor; a tensor whose lambda is multiplied codes in fewer
 *    bits; the statistics cache gives back what was saved, and refuses
 *    another key or a cut file. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "compress/ecq.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "model/pack.h"
#include "test.h"

static pt_model mf;

static size_t write_packed_calib(const char *path, double lambda, int bits, const pt_calib *calib,
                                 pt_pack_stats *st, FILE *progress) {
    pt_quant_policy pol;
    pt_quant_policy_default(&pol, NN_Q8_0);
    gguf_writer *w = gguf_writer_init();
    pt_config_to_gguf(&mf.cfg, w);
    pt_quant_keep keep = {0};
    CHECK(pt_pack_add_tensors(w, &mf, mf.mem, &pol, lambda, bits, calib, 0.01, pt_calib_scales(calib), &keep, progress,
                              st) == 0,
          "pack: %s", pt_error());
    CHECK(gguf_write(w, path) == 0, "write: %s", pt_error());
    gguf_writer_free(w);
    pt_quant_keep_free(&keep);
    size_t n;
    free(pt_read_file(path, &n));
    return n;
}

static size_t write_packed(const char *path, double lambda, int bits, pt_pack_stats *st) {
    return write_packed_calib(path, lambda, bits, NULL, st, NULL);
}

static void check_allocate(void) {
    double sens[4] = {1.0, 4.0, 0.25, 0.0}, n[4] = {100, 100, 200, 50}, mult[4];
    pt_lambda_allocate(sens, n, 4, 1.0, mult);
    double lg = 0, nn = 0;
    for (int i = 0; i < 3; i++) lg += n[i] * log(mult[i]), nn += n[i];
    CHECK(fabs(lg / nn) < 1e-12, "the multipliers' weighted geometric mean is %g, not 1", exp(lg / nn));
    CHECK(fabs(mult[0] * sens[0] - mult[1] * sens[1]) < 1e-12 && fabs(mult[1] * sens[1] - mult[2] * sens[2]) < 1e-12,
          "power 1: lambda x sensitivity differs: %g %g %g", mult[0] * sens[0], mult[1] * sens[1], mult[2] * sens[2]);
    CHECK(mult[3] == 1.0, "no sensitivity: multiplier %g, not 1", mult[3]);
    pt_lambda_allocate(sens, n, 4, 0.5, mult);
    CHECK(fabs(mult[0] / mult[1] - 2.0) < 1e-12, "power 0.5: 4x the sensitivity gives %g x the lambda, not 1/2",
          mult[1] / mult[0]);
    pt_lambda_allocate(sens, n, 4, 0.0, mult);
    CHECK(mult[0] == 1 && mult[1] == 1 && mult[2] == 1, "power 0: multipliers %g %g %g", mult[0], mult[1], mult[2]);
}

/* the Fisher from two sentences' gradients; the allocation reaches pack;
 * the cache round trip */
static void check_fisher(const char *path) {
    pt_quant_policy pol;
    pt_quant_policy_default(&pol, NN_Q8_0);
    pt_calib *c = pt_calib_new(&mf, &pol); /* only the gradients here: no pass observes */
    int src[2][6] = {{5, 9, 17, 33, 2, 0}, {44, 7, 2, 0, 0, 0}}, slen[2] = {5, 3};
    int tin[2][5] = {{1, 12, 80, 6, 0}, {1, 99, 0, 0, 0}}, tout[2][5] = {{12, 80, 6, 2, 0}, {99, 2, 0, 0, 0}};
    int tlen[2] = {4, 2}, ntok;
    pt_acts *a = pt_acts_new(&mf.cfg, 1, 6, 5);
    float *g[2];
    for (int s = 0; s < 2; s++) {
        g[s] = pt_calloc(mf.n_params, sizeof(float));
        pt_batch b = {1, 6, 5, src[s], &slen[s], tin[s], tout[s], &tlen[s], NULL};
        pt_forward_backward(&mf, a, &b, 0.0f, 0, 1.0f, g[s], &ntok);
        pt_calib_add_grads(c, g[s]);
    }
    int emb = pt_model_find(&mf, "tok_emb.weight"), up = pt_model_find(&mf, "dec.1.ffn.up.weight");
    int ok = 1;
    for (int i = 0; i < mf.n_tensors; i++) {
        const pt_tensor *t = &mf.tensors[i];
        size_t n = (size_t)t->rows * t->cols;
        double ss = 0;
        for (int s = 0; s < 2; s++)
            for (size_t j = 0; j < n; j++) ss += (double)g[s][t->offset + j] * g[s][t->offset + j];
        double want = ss / (2.0 * n), got = pt_calib_fisher(c, i);
        if (t->rows > 1 && !(fabs(got - want) <= 1e-9 * want && got > 0)) ok = 0;
    }
    CHECK(ok, "the Fisher's diagonal is not the samples' mean g^2, tensor by tensor");
    CHECK(pt_calib_allocate(c, mf.mem, 1.0) == 0, "allocate: %s", pt_error());
    double se = pt_calib_fisher(c, emb), su = pt_calib_fisher(c, up);
    const float *sc = pt_calib_scales(c);
    CHECK(se > 0 && su > 0 && sc && sc[emb] != sc[up], "fisher %g %g, scales %g %g", se, su, sc ? sc[emb] : 0.0,
          sc ? sc[up] : 0.0);
    /* a calib without H (no forward observed) codes plainly, with each tensor's share of lambda */
    pt_pack_stats s0, s1;
    write_packed_calib(path, 0.05, 8, NULL, &s0, NULL);
    write_packed_calib(path, 0.05, 8, c, &s1, NULL);
    CHECK(s1.bytes != s0.bytes, "the multipliers did not change the coded size (%g bytes both)", s0.bytes);
    /* the cache */
    char cpath[300];
    snprintf(cpath, sizeof cpath, "%s.calib", path);
    CHECK(pt_calib_save(c, cpath, 42) == 0, "save: %s", pt_error());
    pt_calib *d = NULL;
    CHECK(pt_calib_load(&mf, &pol, cpath, 42, &d) == 0 && d, "load");
    if (d) {
        int same = 1;
        for (int i = 0; i < mf.n_tensors; i++)
            same &= pt_calib_fisher(d, i) == pt_calib_fisher(c, i) && pt_calib_rows(d, i) == pt_calib_rows(c, i);
        CHECK(same, "the cache's Fisher and rows differ from the saved ones");
        pt_calib_free(d);
    }
    CHECK(pt_calib_load(&mf, &pol, cpath, 43, &d) == 1 && !d, "another key is not refused");
    size_t len;
    char *buf = pt_read_file(cpath, &len);
    FILE *f = fopen(cpath, "wb");
    fwrite(buf, 1, len - 100, f);
    fclose(f);
    free(buf);
    CHECK(pt_calib_load(&mf, &pol, cpath, 42, &d) == 1 && !d, "a cut cache is not refused");
    unlink(cpath);
    free(g[0]), free(g[1]);
    pt_acts_free(a);
    pt_calib_free(c);
}

static void roundtrip(const char *path, double lambda, int bits) {
    pt_pack_stats st;
    write_packed(path, lambda, bits, &st);
    gguf_file *g = gguf_open(path);
    pt_model mq;
    CHECK(g && pt_model_from_gguf(&mq, g) == 0, "load: %s", pt_error());
    int exact = 1, coded = 0, size_ok = 1;
    for (int i = 0; i < mf.n_tensors; i++) {
        const pt_tensor *t = &mf.tensors[i];
        const gguf_tensor *gt = gguf_find_tensor(g, t->name);
        if (!pt_pack_is_coded(g, gt)) continue;
        coded++;
        size_t n = (size_t)t->rows * t->cols;
        uint8_t *sym = pt_malloc(n);
        uint16_t *steps = pt_malloc((size_t)t->rows * 2);
        ecq_result r;
        ecq_assign_rows(mf.mem + t->offset, t->rows, t->cols, bits, lambda, sym, steps, NULL, 0, &r);
        float *row = pt_malloc((size_t)t->cols * 4);
        CHECK(mq.w[i].type == (bits <= 4 ? NN_Q4_0 : NN_Q8_0), "%s: run-time type", t->name);
        for (int rr = 0; rr < t->rows; rr++) {
            nn_dequantize_row(mq.w[i].type, row, (const char *)mq.w[i].data + rr * nn_qrow_bytes(mq.w[i].type, t->cols), t->cols);
            float d = nn_f32_from_fp16(steps[rr]);
            for (int c = 0; c < t->cols; c++) exact &= row[c] == (float)((int)sym[(size_t)rr * t->cols + c] - 128) * d;
        }
        double bound = r.entropy * (double)n / 8;
        if (gt->nbytes > bound * 1.01 + 16) {
            size_ok = 0;
            printf("  %s: %zu bytes, entropy bound %.0f\n", t->name, gt->nbytes, bound);
        }
        free(sym), free(steps), free(row);
    }
    CHECK(coded == 1 + 4 * 1 + 7 * 2, "coded tensors: %d", coded);
    CHECK(exact, "lambda %g, %d bits: decoded weights differ from the assigned levels", lambda, bits);
    CHECK(size_ok, "lambda %g, %d bits: a tensor over 1%% above its entropy bound", lambda, bits);
    printf("  lambda %-5g bits %d: %.3f bits/weight coded (entropy %.3f), %.1f%% zeros\n", lambda, bits,
           st.bytes * 8 / st.params, st.entropy_bits / st.params, 100 * st.zeros / st.params);
    pt_model_free(&mq);
    gguf_close(g);
}

/* store the checksum of the file's present data, so that a change gets past
 * the file-level check and only the coded tensors' own checks remain */
static void reseal(uint8_t *buf, size_t n) {
    setenv("PETIT_SKIP_CHECKSUM", "1", 1); /* the damaged header must open to be resealed */
    gguf_file *g = gguf_open_mem(buf, n);
    unsetenv("PETIT_SKIP_CHECKSUM");
    if (!g) return;
    int k = gguf_find_key(g, GGUF_CHECKSUM_KEY);
    uint64_t h = gguf_file_data_hash(g);
    uint32_t et;
    const void *v;
    uint64_t cnt;
    if (k >= 0 && !gguf_kv_value(g, k, &et, &v, &cnt)) memcpy(buf + ((const uint8_t *)v - buf), &h, 8);
    k = gguf_find_key(g, GGUF_META_CHECKSUM_KEY); /* then the metadata's, over the new header */
    h = gguf_file_meta_hash(g);
    if (k >= 0 && !gguf_kv_value(g, k, &et, &v, &cnt)) memcpy(buf + ((const uint8_t *)v - buf), &h, 8);
    gguf_close(g);
}

/* load from a copy of the file with one change: the file's checksum catches
 * it; with the checksum made to match, the coded tensor's own checks must
 * fail naming the tensor */
static void damaged(const char *path, const char *what, void (*hurt)(gguf_file *, uint8_t *)) {
    size_t n;
    char *buf = pt_read_file(path, &n);
    gguf_file *g = gguf_open_mem(buf, n);
    hurt(g, (uint8_t *)buf);
    gguf_close(g);
    g = gguf_open_mem(buf, n);
    pt_model m;
    int rc = g ? pt_model_from_gguf(&m, g) : -1;
    CHECK(rc != 0, "%s: loaded anyway (file checksum)", what);
    if (rc == 0) pt_model_free(&m);
    if (g) gguf_close(g);
    reseal((uint8_t *)buf, n);
    g = gguf_open_mem(buf, n);
    rc = g ? pt_model_from_gguf(&m, g) : -1;
    CHECK(rc != 0, "%s: loaded anyway", what);
    if (rc == 0) pt_model_free(&m);
    else CHECK(strstr(pt_error(), ".weight") != NULL, "%s: error does not name the tensor: %s", what, pt_error());
    printf("  %s: %s\n", what, pt_error());
    if (g) gguf_close(g);
    free(buf);
}

static uint8_t *mut(const void *p, const gguf_file *g, uint8_t *buf) {
    (void)g;
    return buf + ((const uint8_t *)p - (const uint8_t *)buf);
}
static const uint8_t *g_base;
static void flip_data(gguf_file *g, uint8_t *buf) {
    const gguf_tensor *t = gguf_find_tensor(g, "dec.1.ffn.up.weight");
    mut(t->data, g, buf)[t->nbytes / 2] ^= 0x10;
}
static void flip_first(gguf_file *g, uint8_t *buf) {
    const gguf_tensor *t = gguf_find_tensor(g, "tok_emb.weight");
    mut(t->data, g, buf)[1] ^= 0x01;
}
static void bad_table(gguf_file *g, uint8_t *buf) {
    uint32_t et;
    const void *d;
    uint64_t n;
    gguf_get_arr(g, "petit.ecq.enc.0.attn.qkv.weight.freq", &et, &d, &n);
    uint32_t f[256]; /* metadata arrays are not aligned: copy out and back */
    memcpy(f, d, sizeof f);
    int a = 0, b = 0;
    for (int s = 0; s < 256; s++) if (f[s] > f[a]) a = s;
    for (int s = 0; s < 256; s++) if (s != a && f[s] > 0 && (b == 0 || f[s] > f[b])) b = s;
    f[a] -= 1, f[b] += 1; /* still sums right: only the coding is off */
    memcpy(mut(d, g, buf), f, sizeof f);
}
static void bad_table_sum(gguf_file *g, uint8_t *buf) {
    uint32_t et;
    const void *d;
    uint64_t n;
    gguf_get_arr(g, "petit.ecq.enc.0.attn.qkv.weight.freq", &et, &d, &n);
    uint32_t f;
    memcpy(&f, (const uint8_t *)d + 128 * 4, 4);
    f += 7;
    memcpy(mut(d, g, buf) + 128 * 4, &f, 4);
}
static void bad_len(gguf_file *g, uint8_t *buf) {
    uint32_t et;
    const void *d;
    uint64_t n;
    gguf_get_arr(g, "petit.ecq.dec.0.cross.kv.weight.len", &et, &d, &n);
    uint32_t l[2];
    memcpy(l, d, sizeof l);
    l[0] += 1, l[1] -= 1;
    memcpy(mut(d, g, buf), l, sizeof l);
}
static void bad_step(gguf_file *g, uint8_t *buf) {
    uint32_t et;
    const void *d;
    uint64_t n;
    gguf_get_arr(g, "petit.ecq.enc.0.ffn.down.weight.step", &et, &d, &n);
    uint16_t nan16 = 0x7e00; /* NaN */
    memcpy(mut(d, g, buf) + 3 * 2, &nan16, 2);
}

int main(void) {
    pt_config c;
    pt_config_default(&c);
    c.vocab = 1000, c.d_model = 128, c.n_heads = 2, c.d_ff = 256, c.enc_layers = 1, c.dec_layers = 2;
    c.max_len = 32, c.dropout = 0, c.pad_id = 0, c.bos_id = 1, c.eos_id = 2, c.unk_id = 3;
    CHECK(pt_model_init(&mf, &c) == 0, "init");
    pt_model_init_weights(&mf, 9);
    (void)g_base;
    char path[] = "/tmp/petit_pack_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    roundtrip(path, 0.0, 8);
    roundtrip(path, 0.1, 8);
    roundtrip(path, 0.05, 4);

    pt_pack_stats a, b;
    write_packed(path, 0.02, 8, &a);
    write_packed(path, 0.3, 8, &b);
    CHECK(b.bytes < a.bytes && b.zeros > a.zeros, "lambda 0.3 vs 0.02: bytes %g vs %g, zeros %g vs %g", b.bytes, a.bytes,
          b.zeros, a.zeros);

    write_packed(path, 0.1, 8, &a);
    damaged(path, "a flipped byte in a stream", flip_data);
    damaged(path, "a flipped bit in a stream's first state", flip_first);
    damaged(path, "a rANS table that still sums right", bad_table);
    damaged(path, "a rANS table that does not sum", bad_table_sum);
    damaged(path, "stream lengths moved by a byte", bad_len);
    damaged(path, "a NaN row step", bad_step);
    check_allocate();
    check_fisher(path);
    unlink(path);

    /* ECQ itself: rounding at lambda 0; bad arguments */
    float w[64];
    uint8_t sym[64];
    ecq_result r;
    for (int i = 0; i < 64; i++) w[i] = (float)(i - 32) / 10.0f;
    CHECK(ecq_assign(w, 64, 3, 0.0, sym, NULL, 0, &r) == 0, "ecq");
    int rounding = 1;
    for (int i = 0; i < 64; i++) {
        long k = lrintf(w[i] / r.delta);
        rounding &= (int)sym[i] - 128 == (k > 3 ? 3 : k < -3 ? -3 : k);
    }
    CHECK(rounding, "lambda 0 is plain rounding to the grid");
    CHECK(ecq_assign(w, 64, 1, 0.1, sym, NULL, 0, &r) == -1 && ecq_assign(w, 64, 9, 0.1, sym, NULL, 0, &r) == -1,
          "bits outside 2..8 rejected");
    CHECK(ecq_assign(w, 64, 4, -1, sym, NULL, 0, &r) == -1 && ecq_assign(w, 64, 4, NAN, sym, NULL, 0, &r) == -1,
          "negative or NaN lambda rejected");
    pt_model_free(&mf);
    return test_done("test_pack");
}
