/* cmd_quantize.c: `petit quantize` — a float model to 8- or 4-bit integer
 * weights, by round to nearest or by GPTQ with calibration sentences.
 *
 * GPTQ needs each linear layer's inputs on real text: the calibration
 * sentences are translated (greedy) by the float model itself, then run
 * through the model teacher-forced on those translations, which gives the
 * decoder the inputs it will see when translating. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "cli/cli.h"
#include "compress/rans.h"
#include "decode/decode.h"
#include "model/quantize.h"
#include "nn/nn.h"
#include "text/spm.h"

static const char *usage_text =
    "usage: petit quantize -m MODEL.gguf -o OUT.gguf --type q8|q4 [options]\n"
    "\n"
    "Writes a copy of a float (F32) model with integer weights: Q8_0 (8.5 bits a\n"
    "weight) or Q4_0 (4.5 bits), ggml's block layouts. The input is not changed.\n"
    "\n"
    "  -m, --model FILE      the float model\n"
    "  -o, --output FILE     the quantized model (not the input)\n"
    "  --type q8|q4          integer type\n"
    "  --method rtn|gptq     round to nearest (default), or GPTQ (needs --calib)\n"
    "  --calib FILE          GPTQ: source-language sentences, one per line\n"
    "  --calib-lines N       GPTQ: use the first N non-empty lines (default 256)\n"
    "  --damp X              GPTQ: damping, a fraction of the Hessian's mean diagonal (0.01)\n"
    "  --tensors LIST        weights to quantize: all (default), or a comma list of\n"
    "                        emb (embedding = output layer), attn, ffn\n"
    "  --emb-type q8|q4|f32  the embedding's type (default: --type)\n"
    "  --threads N           threads (default: all cores)\n"
    "  -q, --quiet           no per-tensor lines\n";

/* source lines of a calibration file, checked: text, not empty, and in the
 * model's vocabulary (mostly known pieces) */
static int read_calib(const char *cmd, const char *path, int max_lines, const spm_model *sp, const pt_config *c,
                      int ***ids_out, int **len_out, int *n_out) {
    size_t n;
    char *buf = pt_read_file(path, &n);
    if (!buf) return cli_fail(cmd, "%s", pt_error());
    if (memchr(buf, 0, n)) {
        free(buf);
        return cli_fail(cmd, "%s: not a text file (it has NUL bytes)", path);
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
            rc = cli_fail(cmd, "%s:%ld: not UTF-8 text", path, lineno);
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
    if (!rc && !cnt) rc = cli_fail(cmd, "%s: no sentences (the calibration file is empty)", path);
    if (!rc && unk * 5 > pieces)
        rc = cli_fail(cmd, "%s does not match the model: %.0f%% of its pieces are unknown to the model's vocabulary",
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
static void calibrate(const char *cmd, pt_model *m, pt_calib *calib, int **src, const int *slen, int n,
                      int grads, int quiet) {
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
    float *g = grads ? pt_malloc(m->n_params * sizeof(float)) : NULL;
    long rows = 0;
    double t0 = pt_time();
    for (int i = 0; i < n; i += batch) {
        int B = n - i < batch ? n - i : batch, S = 0, T = 0;
        m->observe_ctx = NULL; /* not while translating */
        void (*obs)(void *, int, const float *, int, int) = m->observe;
        m->observe = NULL;
        pt_decode(dec, (const int *const *)(src + i), slen + i, B, &o);
        m->observe = obs;
        m->observe_ctx = calib;
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
        pt_forward(m, a, &bt, 0.0f, 0, &ntok);
        if (g) { /* one sentence at a time: a sample of the Fisher is one sentence's gradient */
            obs = m->observe;
            m->observe = NULL;
            for (int b = 0; b < B; b++) {
                int S1 = slen[i + b], T1 = tlen[b];
                pt_batch b1 = {1, S1, T1, src[i + b], slen + i + b, tin + b * T, tout + b * T, tlen + b, NULL};
                memset(g, 0, m->n_params * sizeof(float));
                pt_forward_backward(m, a, &b1, 0.0f, 0, 1.0f, g, &ntok);
                pt_calib_add_grads(calib, g);
            }
            m->observe = obs;
        }
        if (!quiet)
            fprintf(stderr, "\rpetit %s: calibration %d/%d sentences, %ld target tokens (%.0f s)", cmd, i + B, n,
                    rows, pt_time() - t0);
    }
    if (!quiet) fprintf(stderr, "\n");
    pt_acts_free(a);
    pt_decoder_free(dec);
    free(g);
    free(bsrc), free(tin), free(tout), free(tlen);
}

int cli_calibrate(const char *cmd, const gguf_file *g, const char *model_path, pt_model *m,
                  const pt_quant_policy *pol, const char *path, int max_lines, int grads, const char *cache,
                  int quiet, pt_calib **out) {
    spm_model *sp = NULL, *tsp = NULL;
    *out = NULL;
    if (spm_from_gguf(g, "petit.tokenizer", &sp, &tsp)) return cli_fail_path(cmd, model_path);
    int **ids = NULL, *lens = NULL, n = 0;
    int rc = read_calib(cmd, path, max_lines, sp, &m->cfg, &ids, &lens, &n);
    if (!rc) {
        /* the cache's key: the weights, the policy and the sentences' ids; a
         * cache without gradients does not serve a run that wants them */
        uint64_t key = 0;
        if (cache) {
            key = rans_hash((const uint8_t *)m->mem, m->n_params * sizeof(float));
            key = pt_hash_u64(key ^ rans_hash((const uint8_t *)pol, sizeof *pol));
            for (int i = 0; i < n; i++)
                key = pt_hash_u64(key ^ rans_hash((const uint8_t *)ids[i], (size_t)lens[i] * sizeof(int)));
        }
        if (cache && !pt_calib_load(m, pol, cache, key, out) && grads && !pt_calib_has_grads(*out)) {
            pt_calib_detach(*out);
            *out = NULL;
        }
        if (*out) {
            if (!quiet) fprintf(stderr, "petit %s: calibration statistics from %s\n", cmd, cache);
        } else {
            *out = pt_calib_attach(m, pol);
            calibrate(cmd, m, *out, ids, lens, n, grads, quiet);
            m->observe = NULL; /* statistics are complete */
            if (cache && pt_calib_save(*out, cache, key))
                fprintf(stderr, "petit %s: warning: could not cache the statistics: %s\n", cmd, pt_error());
        }
        for (int i = 0; i < n; i++) free(ids[i]);
        free(ids), free(lens);
    }
    spm_free(sp);
    if (tsp) spm_free(tsp);
    return rc;
}

int cmd_quantize(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *calib_path = NULL, *groups = "all", *emb = NULL;
    int type = -1, gptq = 0, quiet = 0, threads = 0;
    long calib_lines = 256, x;
    double damp = 0.01;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(f)) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(f, "-q") || !strcmp(f, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!v) return cli_usage("quantize", "%s needs a value", f);
        i++;
        if (!strcmp(f, "-m") || !strcmp(f, "--model")) in = v;
        else if (!strcmp(f, "-o") || !strcmp(f, "--output")) out = v;
        else if (!strcmp(f, "--type")) {
            type = nn_qtype_parse(v);
            if (type != NN_Q8_0 && type != NN_Q4_0)
                return cli_usage("quantize", "unknown --type '%s' (q8 or q4)", v);
        } else if (!strcmp(f, "--method")) {
            if (strcmp(v, "rtn") && strcmp(v, "gptq"))
                return cli_usage("quantize", "unknown --method '%s' (rtn or gptq)", v);
            gptq = !strcmp(v, "gptq");
        } else if (!strcmp(f, "--calib")) calib_path = v;
        else if (!strcmp(f, "--calib-lines")) {
            if (cli_int("quantize", f, v, 1, 1000000, &calib_lines)) return 2;
        } else if (!strcmp(f, "--damp")) {
            if (cli_float("quantize", f, v, 0.0, 10.0, &damp)) return 2;
        } else if (!strcmp(f, "--tensors")) groups = v;
        else if (!strcmp(f, "--emb-type")) emb = v;
        else if (!strcmp(f, "--threads")) {
            if (cli_int("quantize", f, v, 0, 1024, &x)) return 2;
            threads = (int)x;
        } else return cli_unknown("quantize", f);
    }
    if (!in || !out) return cli_usage("quantize", "-m MODEL and -o OUT are required");
    if (type < 0) return cli_usage("quantize", "--type q8|q4 is required");
    if (gptq && !calib_path) return cli_usage("quantize", "--method gptq needs --calib FILE");
    if (!gptq && calib_path) return cli_usage("quantize", "--calib is for --method gptq");
    if (!strcmp(in, out) || cli_same_file(in, out))
        return cli_usage("quantize", "the output would overwrite the input model");
    if (pt_atomic_check(out)) return cli_fail("quantize", "%s", pt_error()); /* before the work */
    pt_quant_policy pol;
    pt_quant_policy_default(&pol, type);
    if (pt_quant_groups_parse(groups, &pol.groups)) return cli_usage("quantize", "--tensors: %s", pt_error());
    if (emb) {
        pol.emb_type = nn_qtype_parse(emb);
        if (pol.emb_type < 0) return cli_usage("quantize", "unknown --emb-type '%s' (q8, q4 or f32)", emb);
    }
    nn_set_threads(threads);

    gguf_file *g;
    pt_model m;
    if (cli_load_float_model("quantize", "is already quantized", in, &g, &m)) return 1;
    int rc = 1;
    pt_calib *calib = NULL;
    if (gptq && cli_calibrate("quantize", g, in, &m, &pol, calib_path, (int)calib_lines, 0, NULL, quiet, &calib)) goto done;
    gguf_writer *w = gguf_writer_init();
    cli_copy_meta(w, g);
    pt_quant_set_keys(w, &pol, gptq ? "gptq" : "rtn");
    pt_quant_keep keep = {0};
    double t0 = pt_time();
    if (pt_quant_add_tensors(w, &m, m.mem, &pol, calib, damp, &keep, quiet ? NULL : stderr)) {
        cli_fail("quantize", "%s", pt_error());
    } else if (gguf_write(w, out)) {
        cli_fail_path("quantize", out);
    } else {
        int nq = 0;
        for (int i = 0; i < m.n_tensors; i++) nq += pt_quant_tensor_type(&m, i, &pol) != NN_F32;
        if (!nq)
            fprintf(stderr, "petit quantize: %s: no weight matrix to quantize (--tensors selects none whose rows "
                            "are a multiple of 32 weights); %s is a float copy\n", in, out);
        struct stat st;
        long long ob = stat(out, &st) ? 0 : (long long)st.st_size;
        fprintf(stderr, "petit quantize: %s -> %s: %s %s, %.1f MB -> %.1f MB (%.1f s)\n", in, out, nn_qtype_name(type),
                gptq ? "GPTQ" : "RTN", gguf_size(g) / 1e6, ob / 1e6, pt_time() - t0);
        rc = 0;
    }
    pt_quant_keep_free(&keep);
    gguf_writer_free(w);
done:
    pt_calib_detach(calib);
    pt_model_free(&m);
    gguf_close(g);
    return rc;
}
