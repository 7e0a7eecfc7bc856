/* quantize.c: policy, fake quantization, GPTQ statistics and integer
 * tensors for a model file (see quantize.h). */
#include "model/quantize.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "nn/gptq.h"
#include "nn/quant.h"

void pt_quant_policy_default(pt_quant_policy *p, int type) {
    p->type = type;
    p->emb_type = type;
    p->groups = PT_QP_ALL;
}

int pt_quant_groups_parse(const char *s, unsigned *out) {
    unsigned g = 0;
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == 3 && !strncmp(p, "all", 3)) g |= PT_QP_ALL;
        else if (n == 3 && !strncmp(p, "emb", 3)) g |= PT_QP_EMB;
        else if (n == 4 && !strncmp(p, "attn", 4)) g |= PT_QP_ATTN;
        else if (n == 3 && !strncmp(p, "ffn", 3)) g |= PT_QP_FFN;
        else return pt_set_error("unknown tensor group '%.*s' (emb, attn, ffn, all)", (int)n, p);
        p += n;
        if (*p == ',') p++;
    }
    if (!g) return pt_set_error("no tensor group given (emb, attn, ffn, all)");
    *out = g;
    return 0;
}

void pt_quant_set_keys(gguf_writer *w, const pt_quant_policy *p, const char *method) {
    char groups[32] = "";
    if ((p->groups & PT_QP_ALL) == PT_QP_ALL) strcpy(groups, "all");
    else
        snprintf(groups, sizeof groups, "%s%s%s", p->groups & PT_QP_EMB ? "emb," : "",
                 p->groups & PT_QP_ATTN ? "attn," : "", p->groups & PT_QP_FFN ? "ffn," : "");
    size_t n = strlen(groups);
    if (n && groups[n - 1] == ',') groups[n - 1] = 0;
    gguf_set_str(w, "petit.quant.type", nn_qtype_name(p->type));
    gguf_set_str(w, "petit.quant.method", method);
    gguf_set_str(w, "petit.quant.emb_type", nn_qtype_name(p->emb_type));
    gguf_set_str(w, "petit.quant.tensors", groups);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

int pt_quant_tensor_type(const pt_model *m, int i, const pt_quant_policy *p) {
    const pt_tensor *t = &m->tensors[i];
    if (t->rows < 2 || t->cols % NN_QK || !ends_with(t->name, ".weight")) return NN_F32;
    if (!strcmp(t->name, "tok_emb.weight")) return p->groups & PT_QP_EMB ? p->emb_type : NN_F32;
    if (strstr(t->name, ".attn.") || strstr(t->name, ".self.") || strstr(t->name, ".cross."))
        return p->groups & PT_QP_ATTN ? p->type : NN_F32;
    if (strstr(t->name, ".ffn.")) return p->groups & PT_QP_FFN ? p->type : NN_F32;
    return NN_F32; /* learned positions */
}

void pt_fake_quant(const pt_model *m, float *dst, const float *src, const pt_quant_policy *p) {
    for (int i = 0; i < m->n_tensors; i++) {
        const pt_tensor *t = &m->tensors[i];
        const float *s = src + t->offset;
        float *d = dst + t->offset;
        int type = pt_quant_tensor_type(m, i, p);
        if (type == NN_F32) {
            if (d != s) memcpy(d, s, (size_t)t->rows * t->cols * sizeof(float));
            continue;
        }
#pragma omp parallel for schedule(static)
        for (int r = 0; r < t->rows; r++) {
            uint8_t buf[sizeof(nn_block_q8_0) * 64]; /* rows up to 2048 wide in one go */
            for (int c0 = 0; c0 < t->cols; c0 += 64 * NN_QK) {
                int n = t->cols - c0 < 64 * NN_QK ? t->cols - c0 : 64 * NN_QK;
                nn_quantize_row(type, buf, s + (size_t)r * t->cols + c0, n);
                nn_dequantize_row(type, d + (size_t)r * t->cols + c0, buf, n);
            }
        }
    }
}

/* ---- LSQ ---------------------------------------------------------------- */

static void lsq_range(int type, int *qn, int *qp) {
    *qn = type == NN_Q4_0 ? -8 : -127;
    *qp = type == NN_Q4_0 ? 7 : 127;
}

static float lsq_step(float s) { return nn_f32_from_fp16(nn_fp16_from_f32(fmaxf(s, 1e-7f))); }

size_t pt_lsq_blocks(const pt_model *m, const pt_quant_policy *p) {
    size_t n = 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (pt_quant_tensor_type(m, i, p) != NN_F32) n += (size_t)m->tensors[i].rows * (m->tensors[i].cols / NN_QK);
    return n;
}

/* runs the body for every block of the policy's tensors, with type, off (its
 * first weight in the block layout) and blk (its index among the steps) */
#define FOR_LSQ_BLOCKS(m, p, ...)                                                  \
    do {                                                                             \
        size_t nb_ = 0;                                                              \
        for (int i_ = 0; i_ < (m)->n_tensors; i_++) {                                \
            const pt_tensor *t_ = &(m)->tensors[i_];                                 \
            int type = pt_quant_tensor_type((m), i_, (p));                           \
            if (type == NN_F32) continue;                                            \
            long nblk_ = (long)t_->rows * (t_->cols / NN_QK);                        \
            _Pragma("omp parallel for schedule(static)")                             \
            for (long k_ = 0; k_ < nblk_; k_++) {                                    \
                size_t off = t_->offset + (size_t)k_ * NN_QK, blk = nb_ + (size_t)k_; \
                __VA_ARGS__                                                          \
            }                                                                        \
            nb_ += (size_t)nblk_;                                                    \
        }                                                                            \
    } while (0)

void pt_lsq_init(const pt_model *m, const pt_quant_policy *p, const float *w, float *s) {
    FOR_LSQ_BLOCKS(m, p, {
        int qn, qp;
        lsq_range(type, &qn, &qp);
        float amax = 0.0f;
        for (int j = 0; j < NN_QK; j++) amax = fmaxf(amax, fabsf(w[off + j]));
        s[blk] = amax > 0.0f ? amax / (float)-qn : 1e-4f;
    });
}

void pt_lsq_fake_quant(const pt_model *m, const pt_quant_policy *p, float *dst, const float *w, const float *s) {
    for (int i = 0; i < m->n_tensors; i++) /* the float tensors */
        if (pt_quant_tensor_type(m, i, p) == NN_F32)
            memcpy(dst + m->tensors[i].offset, w + m->tensors[i].offset,
                   (size_t)m->tensors[i].rows * m->tensors[i].cols * sizeof(float));
    FOR_LSQ_BLOCKS(m, p, {
        int qn, qp;
        lsq_range(type, &qn, &qp);
        float st = lsq_step(s[blk]);
        for (int j = 0; j < NN_QK; j++) dst[off + j] = st * fminf(fmaxf(rintf(w[off + j] / st), (float)qn), (float)qp);
    });
}

void pt_lsq_backward(const pt_model *m, const pt_quant_policy *p, const float *w, const float *s, float *g,
                     float *gs) {
    FOR_LSQ_BLOCKS(m, p, {
        int qn, qp;
        lsq_range(type, &qn, &qp);
        float st = lsq_step(s[blk]), acc = 0.0f;
        for (int j = 0; j < NN_QK; j++) {
            float v = w[off + j] / st, q = rintf(v);
            if (q < (float)qn) acc += g[off + j] * (float)qn, g[off + j] = 0.0f;
            else if (q > (float)qp) acc += g[off + j] * (float)qp, g[off + j] = 0.0f;
            else acc += g[off + j] * (q - v);
        }
        gs[blk] = acc / sqrtf((float)(NN_QK * qp));
    });
}

int pt_quant_add_tensors_lsq(gguf_writer *w, const pt_model *m, const float *block,
                             const pt_quant_policy *p, const float *steps, pt_quant_keep *keep) {
    if (pt_quant_add_tensors(w, m, block, p, NULL, 0.0, keep, NULL)) return -1;
    /* overwrite the RTN blocks with the learned steps' (the buffers are ours until written) */
    size_t nb = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const pt_tensor *t = &m->tensors[i];
        int type = pt_quant_tensor_type(m, i, p);
        if (type == NN_F32) continue;
        int qn, qp;
        lsq_range(type, &qn, &qp);
        size_t bs = nn_qrow_bytes(type, NN_QK), nblk = (size_t)t->rows * (t->cols / NN_QK);
        uint8_t *q = keep->bufs[i];
        for (size_t k = 0; k < nblk; k++) {
            const float *x = block + t->offset + k * NN_QK;
            float st = lsq_step(steps[nb + k]);
            int code[NN_QK];
            for (int j = 0; j < NN_QK; j++) {
                int c = (int)fminf(fmaxf(rintf(x[j] / st), (float)qn), (float)qp);
                code[j] = type == NN_Q4_0 ? c + 8 : c;
            }
            nn_qblock_pack(type, q + k * bs, st, code);
        }
        nb += nblk;
    }
    return 0;
}

/* ---- GPTQ statistics ---------------------------------------------------- */

struct pt_calib {
    const pt_model *m;
    double **H; /* per tensor: (cols, cols) or NULL */
    long *rows;
    double *fisher; /* per tensor: sum over gradient samples of sum g^2 */
    long fisher_n;  /* gradient samples */
    float *scale;   /* per tensor: the lambda multiplier (pt_calib_allocate), or NULL */
};

static void observe(void *ctx, int tensor, const float *X, int N, int in) {
    pt_calib *c = ctx;
    if (tensor < 0 || !c->H[tensor]) return;
    nn_gptq_accumulate(c->H[tensor], X, N, in);
    c->rows[tensor] += N;
}

pt_calib *pt_calib_new(const pt_model *m, const pt_quant_policy *p) {
    pt_calib *c = pt_calloc(1, sizeof *c);
    c->m = m;
    c->H = pt_calloc((size_t)m->n_tensors, sizeof(double *));
    c->rows = pt_calloc((size_t)m->n_tensors, sizeof(long));
    c->fisher = pt_calloc((size_t)m->n_tensors, sizeof(double));
    for (int i = 0; i < m->n_tensors; i++)
        if (pt_quant_tensor_type(m, i, p) != NN_F32) {
            size_t n = (size_t)m->tensors[i].cols;
            c->H[i] = pt_calloc(n * n, sizeof(double));
        }
    return c;
}

pt_observer pt_calib_observer(pt_calib *c) { return (pt_observer){observe, c}; }

long pt_calib_rows(const pt_calib *c, int tensor) { return c->rows[tensor]; }

const double *pt_calib_H(const pt_calib *c, int tensor) {
    return c && c->H[tensor] && c->rows[tensor] > 0 ? c->H[tensor] : NULL;
}

/* sum of g^2 in fixed chunks, the chunks' sums added in order: the same
 * bits for any thread count */
#define FISHER_CHUNK 16384
void pt_calib_add_grads(pt_calib *c, const float *grads) {
    const pt_model *m = c->m;
    for (int i = 0; i < m->n_tensors; i++) {
        if (!c->H[i]) continue;
        const float *g = grads + m->tensors[i].offset;
        size_t n = (size_t)m->tensors[i].rows * m->tensors[i].cols, nc = (n + FISHER_CHUNK - 1) / FISHER_CHUNK;
        double part[256], *ps = nc <= 256 ? part : pt_malloc(nc * sizeof(double));
#pragma omp parallel for schedule(static) if (nc > 4)
        for (size_t k = 0; k < nc; k++) {
            size_t j1 = (k + 1) * FISHER_CHUNK < n ? (k + 1) * FISHER_CHUNK : n;
            double ss = 0;
            for (size_t j = k * FISHER_CHUNK; j < j1; j++) ss += (double)g[j] * g[j];
            ps[k] = ss;
        }
        for (size_t k = 0; k < nc; k++) c->fisher[i] += ps[k];
        if (ps != part) free(ps);
    }
    c->fisher_n++;
}

int pt_calib_has_grads(const pt_calib *c) { return c && c->fisher_n > 0; }

double pt_calib_fisher(const pt_calib *c, int tensor) {
    if (!c || !c->H[tensor] || c->fisher_n == 0) return 0;
    const pt_tensor *t = &c->m->tensors[tensor];
    return c->fisher[tensor] / ((double)c->fisher_n * t->rows * t->cols);
}

void pt_lambda_allocate(const double *sens, const double *n, int k, double power, double *mult) {
    double lg = 0, nn = 0;
    for (int i = 0; i < k; i++)
        if (sens[i] > 0 && n[i] > 0) lg += n[i] * log(sens[i]), nn += n[i];
    double G = nn > 0 ? lg / nn : 0; /* log of the size-weighted geometric mean */
    for (int i = 0; i < k; i++) mult[i] = sens[i] > 0 && nn > 0 ? exp(power * (G - log(sens[i]))) : 1.0;
}

int pt_calib_allocate(pt_calib *c, const float *block, double power) {
    const pt_model *m = c->m;
    if (c->fisher_n == 0) return pt_set_error("calibration: no gradients were collected");
    int k = m->n_tensors;
    double *sens = pt_calloc((size_t)k, sizeof(double)), *n = pt_calloc((size_t)k, sizeof(double));
    for (int i = 0; i < k; i++) {
        if (!c->H[i]) continue;
        const pt_tensor *t = &m->tensors[i];
        size_t cnt = (size_t)t->rows * t->cols;
        const float *w = block + t->offset;
        double ms = 0;
        for (size_t j = 0; j < cnt; j++) ms += (double)w[j] * w[j];
        sens[i] = pt_calib_fisher(c, i) * ms / (double)cnt, n[i] = (double)cnt;
    }
    double *mult = pt_malloc((size_t)k * sizeof(double));
    pt_lambda_allocate(sens, n, k, power, mult);
    free(c->scale);
    c->scale = pt_malloc((size_t)k * sizeof(float));
    for (int i = 0; i < k; i++) c->scale[i] = (float)mult[i];
    free(sens), free(n), free(mult);
    return 0;
}

const float *pt_calib_scales(const pt_calib *c) { return c ? c->scale : NULL; }

static const char calib_magic[8] = {'P', 'T', 'C', 'A', 'L', 'I', 'B', '1'};

int pt_calib_save(const pt_calib *c, const char *path, uint64_t key) {
    pt_atomic_file af;
    if (pt_atomic_open(&af, path)) return -1;
    FILE *f = af.f;
    const pt_model *m = c->m;
    int32_t nt = m->n_tensors;
    int64_t fn = c->fisher_n;
    int ok = fwrite(calib_magic, 8, 1, f) == 1 && fwrite(&key, 8, 1, f) == 1 && fwrite(&nt, 4, 1, f) == 1 &&
             fwrite(&fn, 8, 1, f) == 1;
    for (int i = 0; i < nt && ok; i++) {
        uint8_t has = c->H[i] != NULL;
        int64_t rows = c->rows[i];
        size_t n = (size_t)m->tensors[i].cols * m->tensors[i].cols;
        ok = fwrite(&has, 1, 1, f) == 1 && fwrite(&rows, 8, 1, f) == 1 && fwrite(&c->fisher[i], 8, 1, f) == 1 &&
             (!has || fwrite(c->H[i], sizeof(double), n, f) == n);
    }
    if (!ok) {
        int e = errno;
        pt_atomic_abort(&af);
        return pt_set_error("%s: write failed: %s", path, strerror(e ? e : EIO));
    }
    return pt_atomic_commit(&af);
}

int pt_calib_load(const pt_model *m, const pt_quant_policy *p, const char *path, uint64_t key, pt_calib **out) {
    *out = NULL;
    FILE *f = pt_check_regular(path) ? NULL : fopen(path, "rb");
    if (!f) return 1;
    char magic[8];
    uint64_t k;
    int32_t nt;
    int64_t fn;
    if (fread(magic, 8, 1, f) != 1 || memcmp(magic, calib_magic, 8) || fread(&k, 8, 1, f) != 1 || k != key ||
        fread(&nt, 4, 1, f) != 1 || nt != m->n_tensors || fread(&fn, 8, 1, f) != 1) {
        fclose(f);
        return 1; /* another model, text or version: stale, not an error */
    }
    pt_calib *c = pt_calib_new(m, p);
    c->fisher_n = fn;
    int ok = 1;
    for (int i = 0; i < nt && ok; i++) {
        uint8_t has;
        int64_t rows;
        size_t n = (size_t)m->tensors[i].cols * m->tensors[i].cols;
        ok = fread(&has, 1, 1, f) == 1 && fread(&rows, 8, 1, f) == 1 && fread(&c->fisher[i], 8, 1, f) == 1 &&
             has == (c->H[i] != NULL) && (!has || fread(c->H[i], sizeof(double), n, f) == n);
        c->rows[i] = rows;
    }
    fclose(f);
    if (!ok) {
        pt_calib_free(c);
        return 1;
    }
    *out = c;
    return 0;
}

void pt_calib_free(pt_calib *c) {
    if (!c) return;
    for (int i = 0; i < c->m->n_tensors; i++) free(c->H[i]);
    free(c->H), free(c->rows), free(c->fisher), free(c->scale), free(c);
}

/* ---- integer tensors ------------------------------------------------------ */

int pt_quant_add_tensors(gguf_writer *w, const pt_model *m, const float *block,
                         const pt_quant_policy *p, const pt_calib *calib, double damp,
                         pt_quant_keep *keep, FILE *progress) {
    keep->bufs = pt_calloc((size_t)m->n_tensors, sizeof(void *));
    keep->n = m->n_tensors;
    for (int i = 0; i < m->n_tensors; i++) {
        const pt_tensor *t = &m->tensors[i];
        const float *src = block + t->offset;
        uint64_t ne[2] = {(uint64_t)t->cols, (uint64_t)t->rows};
        int type = pt_quant_tensor_type(m, i, p);
        if (type == NN_F32) {
            gguf_add_tensor(w, t->name, GGUF_TYPE_F32, t->rows > 1 ? 2 : 1, ne, src,
                            (size_t)t->rows * t->cols * sizeof(float));
            continue;
        }
        size_t rb = nn_qrow_bytes(type, t->cols), bytes = rb * t->rows;
        uint8_t *q = keep->bufs[i] = pt_malloc(bytes);
        double t0 = pt_time();
        int gptq = calib && calib->H[i] && calib->rows[i] > 0;
        if (gptq) {
            size_t n = (size_t)t->rows * t->cols;
            float *W = pt_malloc(n * sizeof(float));
            memcpy(W, src, n * sizeof(float));
            int rc = nn_gptq_quantize(type, q, W, t->rows, t->cols, calib->H[i], damp);
            free(W);
            if (rc) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s", pt_error());
                return pt_set_error("GPTQ on %s: %s", t->name, msg);
            }
        } else {
#pragma omp parallel for schedule(static)
            for (int r = 0; r < t->rows; r++) nn_quantize_row(type, q + (size_t)r * rb, src + (size_t)r * t->cols, t->cols);
        }
        if (progress)
            fprintf(progress, "  %-26s %5d x %-5d %s %s%s (%.1f s)\n", t->name, t->rows, t->cols,
                    nn_qtype_name(type), gptq ? "GPTQ" : "RTN",
                    gptq ? "" : calib ? ", no calibration rows" : "", pt_time() - t0);
        gguf_add_tensor(w, t->name, (uint32_t)type, 2, ne, q, bytes);
    }
    return 0;
}

void pt_quant_keep_free(pt_quant_keep *keep) {
    for (int i = 0; i < keep->n; i++) free(keep->bufs[i]);
    free(keep->bufs);
    keep->bufs = NULL;
    keep->n = 0;
}
