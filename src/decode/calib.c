/* calib.c: GPTQ's and the Fisher's statistics over real text (calib.h).
 *
 * GPTQ needs each linear layer's inputs on real text: the calibration
 * sentences are translated (greedy) by the float model itself, then run
 * through the model teacher-forced on those translations, which gives the
 * decoder the inputs it will see when translating. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compress/rans.h"
#include "decode/calib.h"
#include "decode/decode.h"

/* source lines of a calibration file, checked: text, not empty, and in the
 * model's vocabulary (mostly known pieces) */
static int read_calib(const char *path, int max_lines, const spm_model *sp, const pt_config *c, int ***ids_out,
                      int **len_out, int *n_out) {
    size_t n;
    char *buf = pt_read_file(path, &n);
    if (!buf) return -1;
    if (memchr(buf, 0, n)) {
        free(buf);
        return pt_set_error("%s: not a text file (it has NUL bytes)", path);
    }
    int **ids = NULL, *lens = NULL, cnt = 0, cap = 0;
    long pieces = 0, unk = 0, lineno = 0;
    pt_lines it;
    pt_lines_init(&it, buf, n);
    const char *s;
    size_t len;
    int rc = 0;
    while (cnt < max_lines && pt_lines_next(&it, &s, &len)) {
        lineno++;
        if (!pt_utf8_valid(s, len)) {
            rc = pt_set_error("%s:%ld: not UTF-8 text", path, lineno);
            break;
        }
        int *v = NULL;
        size_t vcap = 0;
        int k = spm_encode(sp, s, len, &v, &vcap);
        if (k <= 0) {
            free(v);
            continue;
        }
        if (k > c->max_len - 1) k = c->max_len - 1;
        for (int i = 0; i < k; i++) unk += v[i] == c->unk_id;
        pieces += k;
        if ((size_t)k + 1 > vcap) v = pt_realloc(v, ((size_t)k + 1) * sizeof(int));
        v[k] = c->eos_id;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 64;
            ids = pt_realloc(ids, (size_t)cap * sizeof(int *));
            lens = pt_realloc(lens, (size_t)cap * sizeof(int));
        }
        ids[cnt] = v, lens[cnt] = k + 1, cnt++;
    }
    free(buf);
    if (!rc && !cnt) rc = pt_set_error("%s: no sentences (the calibration file is empty)", path);
    if (!rc && unk * 5 > pieces)
        rc = pt_set_error("%s does not match the model: %.0f%% of its pieces are unknown to the model's vocabulary",
                          path, 100.0 * unk / pieces);
    if (rc) {
        for (int i = 0; i < cnt; i++) free(ids[i]);
        free(ids), free(lens);
        return rc;
    }
    *ids_out = ids, *len_out = lens, *n_out = cnt;
    return 0;
}

/* translate the calibration sentences, then run the model teacher-forced on
 * its own translations with the statistics attached; with grads, also each
 * sentence's gradient of its loss (the Fisher's samples) */
static void calibrate(const pt_model *m, pt_calib *calib, int **src, const int *slen, int n, const pt_calib_opts *co) {
    const int grads = co->grads;
    const pt_config *c = &m->cfg;
    const int batch = 16;
    pt_decoder *dec = pt_decoder_new(m);
    pt_decode_opts o;
    pt_decode_opts_default(&o);
    o.beam = 1, o.nbest = 1;
    int P = c->max_len;
    int *bsrc = pt_malloc((size_t)batch * P * sizeof(int)), *tin = pt_malloc((size_t)batch * P * sizeof(int));
    int *tout = pt_malloc((size_t)batch * P * sizeof(int)), *tlen = pt_malloc(batch * sizeof(int));
    pt_acts *a = pt_acts_new(c, batch, P, P);
    pt_observer obs = pt_calib_observer(calib);
    float *g = grads ? pt_malloc(m->n_params * sizeof(float)) : NULL;
    long rows = 0;
    double t0 = pt_time();
    for (int i = 0; i < n; i += batch) {
        int B = n - i < batch ? n - i : batch, S = 0, T = 0;
        pt_decode(dec, (const int *const *)(src + i), slen + i, B, &o); /* its own activations: not observed */
        for (int b = 0; b < B; b++) {
            int h;
            float sc;
            pt_decode_hyp(dec, b, 0, &h, &sc);
            if (h > P - 1) h = P - 1;
            tlen[b] = h + 1;
            if (slen[i + b] > S) S = slen[i + b];
            if (h + 1 > T) T = h + 1;
        }
        for (int b = 0; b < B; b++) {
            int h;
            float sc;
            const int *hyp = pt_decode_hyp(dec, b, 0, &h, &sc);
            if (h > P - 1) h = P - 1;
            for (int j = 0; j < S; j++) bsrc[b * S + j] = j < slen[i + b] ? src[i + b][j] : c->pad_id;
            for (int j = 0; j < T; j++) {
                tin[b * T + j] = j == 0 ? c->bos_id : j <= h ? hyp[j - 1] : c->pad_id;
                tout[b * T + j] = j < h ? hyp[j] : j == h ? c->eos_id : c->pad_id;
            }
            rows += h + 1;
        }
        pt_batch bt = {B, S, T, bsrc, slen + i, tin, tout, tlen, NULL};
        int ntok;
        pt_acts_observe(a, &obs);
        pt_forward(m, a, &bt, 0.0f, 0, &ntok);
        pt_acts_observe(a, NULL);
        if (g) { /* one sentence at a time: a sample of the Fisher is one sentence's gradient */
            for (int b = 0; b < B; b++) {
                int S1 = slen[i + b], T1 = tlen[b];
                pt_batch b1 = {1, S1, T1, src[i + b], slen + i + b, tin + b * T, tout + b * T, tlen + b, NULL};
                memset(g, 0, m->n_params * sizeof(float));
                pt_forward_backward(m, a, &b1, 0.0f, 0, 1.0f, g, &ntok);
                pt_calib_add_grads(calib, g);
            }
        }
        if (co->progress)
            fprintf(co->progress, "\r%s: calibration %d/%d sentences, %ld target tokens (%.0f s)", co->name, i + B, n,
                    rows, pt_time() - t0);
    }
    if (co->progress) fprintf(co->progress, "\n");
    pt_acts_free(a);
    pt_decoder_free(dec);
    free(g);
    free(bsrc), free(tin), free(tout), free(tlen);
}

void pt_calib_opts_default(pt_calib_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_lines = 256;
    o->name = "petit";
}

int pt_calibrate(const pt_model *m, const spm_model *sp, const pt_quant_policy *pol, const char *path,
                 const pt_calib_opts *co, pt_calib **out) {
    *out = NULL;
    int **ids = NULL, *lens = NULL, n = 0;
    if (read_calib(path, co->max_lines, sp, &m->cfg, &ids, &lens, &n)) return -1;
    /* the cache's key: the weights, the policy and the sentences' ids; a
     * cache without gradients does not serve a run that wants them */
    const char *cache = co->cache;
    uint64_t key = 0;
    if (cache) {
        key = rans_hash((const uint8_t *)m->mem, m->n_params * sizeof(float));
        key = pt_hash_u64(key ^ rans_hash((const uint8_t *)pol, sizeof *pol));
        for (int i = 0; i < n; i++)
            key = pt_hash_u64(key ^ rans_hash((const uint8_t *)ids[i], (size_t)lens[i] * sizeof(int)));
    }
    if (cache && !pt_calib_load(m, pol, cache, key, out) && co->grads && !pt_calib_has_grads(*out)) {
        pt_calib_free(*out);
        *out = NULL;
    }
    if (*out) {
        if (co->progress) fprintf(co->progress, "%s: calibration statistics from %s\n", co->name, cache);
    } else {
        *out = pt_calib_new(m, pol);
        calibrate(m, *out, ids, lens, n, co);
        if (cache && pt_calib_save(*out, cache, key)) /* a warning: the statistics are good */
            fprintf(co->progress ? co->progress : stderr, "%s: warning: could not cache the statistics: %s\n",
                    co->name, pt_error());
    }
    for (int i = 0; i < n; i++) free(ids[i]);
    free(ids), free(lens);
    return 0;
}
