/* trainer.c: AdamW, learning-rate schedules, the optimizer step over
 * accumulated batches, evaluation, and checkpoints in GGUF. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compress/ecq.h"
#include "model/pack.h"
#include "nn/nn.h"
#include "train/dist.h"
#include "train/train.h"

/* ---- options and schedules ------------------------------------------- */

static const char *sched_names[] = {"inv_sqrt", "cosine", "constant"};
const char *pt_schedule_name(int s) { return s >= 0 && s < 3 ? sched_names[s] : "?"; }
int pt_schedule_parse(const char *s) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, sched_names[i])) return i;
    return -1;
}

void pt_train_opts_default(pt_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->lr = 5e-4f;
    o->warmup = 4000;
    o->schedule = PT_SCHED_INV_SQRT;
    o->total_steps = 0;
    o->min_lr = 0.0f;
    o->beta1 = 0.9f;
    o->beta2 = 0.98f;
    o->eps = 1e-9f;
    o->weight_decay = 0.0f;
    o->clip = 1.0f;
    o->smoothing = 0.1f;
    o->kd_tau = 1.0f;
    o->accum = 1;
    o->batch_tokens = 4096;
    o->seed = 1;
    pt_quant_policy_default(&o->qat, NN_F32);
}

float pt_lr_at(const pt_train_opts *o, long s) {
    if (s < 1) s = 1;
    double w = o->warmup > 0 ? o->warmup : 0;
    double lr = o->lr;
    switch (o->schedule) {
    case PT_SCHED_INV_SQRT:
        if (w > 0) lr *= fmin((double)s / w, sqrt(w / (double)s));
        break;
    case PT_SCHED_COSINE:
        if (w > 0 && s < w) lr *= (double)s / w;
        else if (o->total_steps > w) {
            double prog = fmin(1.0, ((double)s - w) / ((double)o->total_steps - w));
            lr = o->min_lr + (lr - o->min_lr) * 0.5 * (1.0 + cos(3.14159265358979323846 * prog));
        }
        break;
    default:
        if (w > 0 && s < w) lr *= (double)s / w;
    }
    return (float)lr;
}

/* ---- trainer --------------------------------------------------------- */

static void lsq_alloc(pt_trainer *t);

int pt_trainer_init(pt_trainer *t, const pt_config *cfg, const pt_train_opts *o) {
    memset(t, 0, sizeof *t);
    if (pt_model_init(&t->model, cfg)) return -1;
    size_t n = t->model.n_params * sizeof(float);
    t->grads = pt_alloc_aligned(n);
    t->adam_m = pt_alloc_aligned(n);
    t->adam_v = pt_alloc_aligned(n);
    t->opts = *o;
    t->best_dev = INFINITY;
    t->nranks = 1;
    if (o->qat.type != NN_F32) t->qat_w = pt_alloc_aligned(n);
    return 0; /* LSQ's steps are made from the weights at the first step */
}

static void lsq_alloc(pt_trainer *t) {
    t->lsq_n = pt_lsq_blocks(&t->model, &t->opts.qat);
    size_t b = (t->lsq_n ? t->lsq_n : 1) * sizeof(float);
    t->lsq_s = pt_calloc(1, b), t->lsq_m = pt_calloc(1, b), t->lsq_v = pt_calloc(1, b), t->lsq_g = pt_calloc(1, b);
}

/* The model the passes compute with: the weights themselves, or with QAT
 * their fake-quantized copy (refreshed from the current weights). */
void pt_ecq_fake_quant(const pt_model *m, const pt_quant_policy *p, float *dst, const float *w, double lambda,
                       const float *scale, int bits, double *prob, int rounds) {
    size_t most = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        size_t n = (size_t)m->tensors[i].rows * m->tensors[i].cols;
        if (pt_quant_tensor_type(m, i, p) == NN_F32) memcpy(dst + m->tensors[i].offset, w + m->tensors[i].offset, n * 4);
        else if (n > most) most = n;
    }
    uint8_t *sym = pt_malloc(most ? most : 1);
    uint16_t *steps = pt_malloc(most ? most * 2 : 2);
    for (int i = 0; i < m->n_tensors; i++) {
        const pt_tensor *t = &m->tensors[i];
        if (pt_quant_tensor_type(m, i, p) == NN_F32) continue;
        double *pr = prob ? prob + (size_t)i * 256 : NULL;
        if (pr && pr[0] < 0) pr = NULL; /* no distribution yet: start from rounding */
        ecq_assign_rows(w + t->offset, t->rows, t->cols, bits, lambda * (scale ? scale[i] : 1.0f), sym, steps, pr,
                        rounds, NULL);
        if (prob && !pr) { /* keep this step's distribution for the next */
            uint64_t cnt[256] = {0};
            size_t n = (size_t)t->rows * t->cols;
            for (size_t j = 0; j < n; j++) cnt[sym[j]]++;
            for (int s = 0; s < 256; s++) prob[(size_t)i * 256 + s] = (double)cnt[s] / (double)n;
        }
        float *d = dst + t->offset;
#pragma omp parallel for schedule(static)
        for (int r = 0; r < t->rows; r++) {
            float st = nn_f32_from_fp16(steps[r]);
            for (int c = 0; c < t->cols; c++)
                d[(size_t)r * t->cols + c] = (float)((int)sym[(size_t)r * t->cols + c] - 128) * st;
        }
    }
    free(sym), free(steps);
}

/* ECQ codes every weight matrix (the policy's groups: all) */
static pt_quant_policy ecq_policy(void) {
    pt_quant_policy p;
    pt_quant_policy_default(&p, NN_Q8_0);
    return p;
}

/* the model over the fake-quantized weights (made once: qat_w stays put) */
static const pt_model *qat_view(pt_trainer *t) {
    if (!t->qat_view.w) pt_model_view(&t->model, t->qat_w, &t->qat_view);
    return &t->qat_view;
}

static const pt_model *compute_model(pt_trainer *t) {
    if (t->opts.ecq_bits > 0) {
        pt_quant_policy pol = ecq_policy();
        if (!t->qat_w) t->qat_w = pt_alloc_aligned(t->model.n_params * sizeof(float));
        if (!t->ecq_prob) {
            t->ecq_prob = pt_malloc((size_t)t->model.n_tensors * 256 * sizeof(double));
            for (int i = 0; i < t->model.n_tensors; i++) t->ecq_prob[(size_t)i * 256] = -1;
        }
        pt_ecq_fake_quant(&t->model, &pol, t->qat_w, t->model.mem, t->opts.ecq_lambda, t->ecq_scale,
                          t->opts.ecq_bits, t->ecq_prob, 2);
        return qat_view(t);
    }
    if (t->opts.qat.type == NN_F32) return &t->model;
    if (!t->qat_w) t->qat_w = pt_alloc_aligned(t->model.n_params * sizeof(float));
    if (t->opts.qat_lsq) {
        if (!t->lsq_s) { /* first use: steps from the weights */
            lsq_alloc(t);
            pt_lsq_init(&t->model, &t->opts.qat, t->model.mem, t->lsq_s);
        }
        pt_lsq_fake_quant(&t->model, &t->opts.qat, t->qat_w, t->model.mem, t->lsq_s);
    } else {
        pt_fake_quant(&t->model, t->qat_w, t->model.mem, &t->opts.qat);
    }
    return qat_view(t);
}

void pt_trainer_free(pt_trainer *t) {
    pt_model_free(&t->model);
    pt_free_aligned(t->grads);
    pt_free_aligned(t->adam_m);
    pt_free_aligned(t->adam_v);
    pt_free_aligned(t->qat_w);
    pt_model_view_free(&t->qat_view);
    free(t->lsq_s), free(t->lsq_m), free(t->lsq_v), free(t->lsq_g);
    free(t->ecq_prob), free(t->ecq_scale);
    pt_acts_free(t->acts);
    memset(t, 0, sizeof *t);
}

static void reserve_caps(pt_trainer *t, pt_acts_caps need) { pt_acts_reserve(&t->acts, &t->model.cfg, need); }

void pt_trainer_reserve(pt_trainer *t, int B, int S, int T) { reserve_caps(t, pt_caps_of(B, S, T)); }

/* Sum of squares in a fixed number of fixed chunks, added in order: the same
 * bits for any thread count. */
static double sum_squares(const float *x, size_t n) {
    enum { CHUNKS = 64 };
    double part[CHUNKS];
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int c = 0; c < CHUNKS; c++) {
        size_t a = n * (size_t)c / CHUNKS, b = n * (size_t)(c + 1) / CHUNKS;
        double s = 0.0;
        for (size_t i = a; i < b; i++) s += (double)x[i] * x[i];
        part[c] = s;
    }
    double s = 0.0;
    for (int c = 0; c < CHUNKS; c++) s += part[c];
    return s;
}

/* AdamW on gradients g * gscale (gscale: 1/tokens times the clip factor) */
static void adamw(pt_trainer *t, float lr, float gscale) {
    const pt_train_opts *o = &t->opts;
    float b1 = o->beta1, b2 = o->beta2;
    double bc1 = 1.0 - pow(b1, (double)t->step), bc2 = 1.0 - pow(b2, (double)t->step);
    float step_size = (float)(lr / bc1), bc2s = (float)sqrt(bc2);
    for (int k = 0; k < t->model.n_tensors; k++) {
        const pt_tensor *te = &t->model.tensors[k];
        size_t off = te->offset, n = (size_t)te->rows * te->cols;
        float *p = t->model.mem + off, *g = t->grads + off, *m = t->adam_m + off, *v = t->adam_v + off;
        float decay = te->decay ? 1.0f - lr * o->weight_decay : 1.0f;
#pragma omp parallel for schedule(static) if (n > 32768)
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] * gscale;
            p[i] *= decay;
            m[i] = b1 * m[i] + (1.0f - b1) * gi;
            v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
            p[i] -= step_size * m[i] / (sqrtf(v[i]) / bc2s + o->eps);
        }
    }
}

/* AdamW without decay on the LSQ steps (kept positive) */
static void adam_steps(pt_trainer *t, float lr, float gscale) {
    const pt_train_opts *o = &t->opts;
    float b1 = o->beta1, b2 = o->beta2;
    double bc1 = 1.0 - pow(b1, (double)t->step), bc2 = 1.0 - pow(b2, (double)t->step);
    float step_size = (float)(lr / bc1), bc2s = (float)sqrt(bc2);
    float *p = t->lsq_s, *g = t->lsq_g, *m = t->lsq_m, *v = t->lsq_v;
#pragma omp parallel for schedule(static) if (t->lsq_n > 32768)
    for (size_t i = 0; i < t->lsq_n; i++) {
        float gi = g[i] * gscale;
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        p[i] = fmaxf(p[i] - step_size * m[i] / (sqrtf(v[i]) / bc2s + o->eps), 1e-7f);
    }
}

static void next_batch(pt_trainer *t, const pt_corpus *c, pt_epoch *ep, int *new_epoch) {
    if (t->batch_pos >= ep->n_batches) {
        t->epoch++;
        t->batch_pos = 0;
        pt_epoch_free(ep);
        pt_epoch_build(ep, c, t->opts.batch_tokens, t->opts.seed, t->epoch, 1);
        *new_epoch = 1;
    }
    reserve_caps(t, ep->caps); /* once per epoch: no reallocation mid-epoch */
}

int pt_trainer_step(pt_trainer *t, const pt_corpus *c, pt_epoch *ep, pt_batcher *bb,
                    pt_step_stats *st) {
    const pt_config *cfg = &t->model.cfg;
    memset(st, 0, sizeof *st);
    if (!ep->order) pt_epoch_build(ep, c, t->opts.batch_tokens, t->opts.seed, t->epoch, 1);
    int accum = t->opts.accum > 0 ? t->opts.accum : 1;
    /* gradients of the summed loss; the 1/tokens of the mean is folded into
     * the scale AdamW applies, together with the clipping coefficient */
    memset(t->grads, 0, t->model.n_params * sizeof(float));
    double loss = 0.0;
    int ntok = 0, new_epoch = 0;
    t->step++;
    const pt_model *cm = compute_model(t);
    for (int a = 0; a < accum; a++) {
        next_batch(t, c, ep, &new_epoch);
        const pt_batch *b = pt_batcher_make_shard(bb, c, ep, (int)t->batch_pos++, cfg->pad_id, cfg->bos_id,
                                                  cfg->eos_id, t->rank, t->nranks);
        st->flops += pt_train_flops(cfg, b->B, b->S, b->T);
        if (b->B == 0) continue; /* a batch smaller than the ranks: nothing here */
        pt_trainer_reserve(t, b->B, b->S, b->T);
        pt_batch kb;
        if (t->teacher) { /* distillation: the same batch with the teacher's targets */
            kb = *b;
            kb.soft = pt_teacher_targets(t->teacher, b);
            b = &kb;
        }
        uint64_t key = pt_hash_u64(t->opts.seed ^ pt_hash_u64((uint64_t)t->step * 64 + (uint64_t)a + 1)) | 1;
        int n;
        loss += pt_forward_backward(cm, t->acts, b, t->opts.smoothing, key, 1.0f, t->grads, &n);
        ntok += n;
        for (int i = 0; i < b->B; i++) st->src_tokens += b->src_len[i];
    }
    if (t->nranks > 1) { /* data parallel: every rank ends with the sums over all */
        pt_dist_sum_f32(t->grads, t->model.n_params);
        double sums[4] = {loss, ntok, st->src_tokens, st->flops};
        pt_dist_sum_f64(sums, 4);
        loss = sums[0], ntok = (int)sums[1], st->src_tokens = (int)sums[2], st->flops = sums[3];
    }
    if (t->opts.qat.type != NN_F32 && t->opts.qat_lsq)
        pt_lsq_backward(&t->model, &t->opts.qat, t->model.mem, t->lsq_s, t->grads, t->lsq_g);
    double norm = sqrt(sum_squares(t->grads, t->model.n_params)) / ntok;
    if (!isfinite(norm) || !isfinite(loss)) {
        t->step--;
        return pt_set_error("step %ld: loss or gradient is not finite (loss %g, grad norm %g)",
                            t->step + 1, loss / ntok, norm);
    }
    double coef = 1.0;
    if (t->opts.clip > 0 && norm > 0 && t->opts.clip / (norm + 1e-6) < 1.0) coef = t->opts.clip / (norm + 1e-6);
    float lr = pt_lr_at(&t->opts, t->step);
    adamw(t, lr, (float)(coef / ntok));
    if (t->opts.qat.type != NN_F32 && t->opts.qat_lsq) adam_steps(t, lr, (float)(coef / ntok));
    st->loss = loss / ntok;
    st->tokens = ntok;
    st->lr = lr;
    st->grad_norm = (float)norm;
    st->new_epoch = new_epoch;
    return 0;
}

double pt_trainer_eval(pt_trainer *t, const pt_corpus *c, pt_batcher *bb) {
    const pt_config *cfg = &t->model.cfg;
    pt_epoch e;
    pt_epoch_build(&e, c, t->opts.batch_tokens, 0, 0, 0);
    reserve_caps(t, e.caps);
    double loss = 0.0;
    long ntok = 0;
    const pt_model *cm = compute_model(t);
    for (int k = t->rank; k < e.n_batches; k += t->nranks) { /* each rank its share of the batches */
        const pt_batch *b = pt_batcher_make(bb, c, &e, k, cfg->pad_id, cfg->bos_id, cfg->eos_id);
        pt_trainer_reserve(t, b->B, b->S, b->T);
        int n;
        loss += pt_forward(cm, t->acts, b, 0.0f, 0, &n);
        ntok += n;
    }
    pt_epoch_free(&e);
    if (t->nranks > 1) {
        double sums[2] = {loss, (double)ntok};
        pt_dist_sum_f64(sums, 2);
        loss = sums[0], ntok = (long)sums[1];
    }
    return ntok ? loss / (double)ntok : 0.0;
}

/* ---- files ----------------------------------------------------------- */

static void add_common(gguf_writer *w, const pt_model *m, const spm_model *sp, const spm_model *tsp) {
    pt_config_to_gguf(&m->cfg, w);
    if (sp) spm_to_gguf(sp, tsp, w, "petit.tokenizer");
}

int pt_model_save(const pt_model *m, const spm_model *sp, const char *path) {
    return pt_model_save_sides(m, sp, NULL, path);
}

int pt_model_save_sides(const pt_model *m, const spm_model *sp, const spm_model *tgt_sp, const char *path) {
    gguf_writer *w = gguf_writer_init();
    add_common(w, m, sp, tgt_sp);
    pt_model_add_tensors(m, m->mem, "", w);
    int rc = gguf_write(w, path);
    gguf_writer_free(w);
    return rc;
}

static int save_quant(const pt_model *m, const spm_model *sp, const spm_model *tsp, const pt_quant_policy *q,
                      const char *method, const char *path) {
    gguf_writer *w = gguf_writer_init();
    add_common(w, m, sp, tsp);
    pt_quant_set_keys(w, q, method);
    pt_quant_keep keep = {0};
    int rc = pt_quant_add_tensors(w, m, m->mem, q, NULL, 0.0, &keep, NULL);
    if (!rc) rc = gguf_write(w, path);
    pt_quant_keep_free(&keep);
    gguf_writer_free(w);
    return rc;
}

int pt_model_save_quant(const pt_model *m, const spm_model *sp, const pt_quant_policy *q,
                        const char *method, const char *path) {
    return save_quant(m, sp, NULL, q, method, path);
}

static int save_packed(const pt_trainer *t, const spm_model *sp, const char *path) {
    gguf_writer *w = gguf_writer_init();
    add_common(w, &t->model, sp, t->tgt_vocab);
    pt_quant_keep keep = {0};
    pt_pack_stats st;
    pt_quant_policy pol = ecq_policy();
    pt_pack_set_keys(w, &pol, t->opts.ecq_lambda, t->opts.ecq_bits);
    int rc = pt_pack_add_tensors(w, &t->model, t->model.mem, &pol, t->opts.ecq_lambda, t->opts.ecq_bits, NULL, 0,
                                 t->ecq_scale, &keep, NULL, &st);
    if (!rc) rc = gguf_write(w, path);
    pt_quant_keep_free(&keep);
    gguf_writer_free(w);
    return rc;
}

int pt_trainer_ecq_scales_from(pt_trainer *t, const char *packed_path) {
    gguf_file *g = gguf_open(packed_path);
    if (!g) return -1;
    const pt_model *m = &t->model;
    pt_quant_policy pol = ecq_policy();
    float *sc = pt_malloc((size_t)m->n_tensors * sizeof(float));
    int rc = 0;
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        sc[i] = 1.0f;
        if (pt_quant_tensor_type(m, i, &pol) == NN_F32) continue;
        const gguf_tensor *gt = gguf_find_tensor(g, m->tensors[i].name);
        if (!gt || !pt_pack_is_coded(g, gt))
            rc = pt_set_error("%s: %s is not an entropy-coded tensor there (not a packed model of this architecture)",
                              packed_path, m->tensors[i].name);
        else if (pt_pack_scale(g, gt, &sc[i]))
            rc = pt_set_error("%s: no lambda multiplier for %s (pack it with this version of petit pack)", packed_path,
                              m->tensors[i].name);
    }
    gguf_close(g);
    if (rc) {
        free(sc);
        return -1;
    }
    free(t->ecq_scale);
    t->ecq_scale = sc;
    return 0;
}

int pt_trainer_save_quant(const pt_trainer *t, const spm_model *sp, const char *path) {
    if (t->opts.ecq_bits > 0) return save_packed(t, sp, path);
    if (!t->opts.qat_lsq || !t->lsq_s) return save_quant(&t->model, sp, t->tgt_vocab, &t->opts.qat, "qat", path);
    const pt_model *m = &t->model;
    const pt_quant_policy *q = &t->opts.qat;
    gguf_writer *w = gguf_writer_init();
    add_common(w, m, sp, t->tgt_vocab);
    pt_quant_set_keys(w, q, "qat-lsq");
    pt_quant_keep keep = {0};
    int rc = pt_quant_add_tensors_lsq(w, m, m->mem, q, t->lsq_s, &keep);
    if (!rc) rc = gguf_write(w, path);
    pt_quant_keep_free(&keep);
    gguf_writer_free(w);
    return rc;
}

/* The trainer's state and options in a checkpoint, for saving and loading
 * alike; the ECQ, distillation and QAT settings only for such a run */
enum { CK_ECQ = 1, CK_KD = 2, CK_QAT = 4 };
#define TU32(key, f) GGUF_FIELD_INT(key, GGUF_V_U32, pt_trainer, f, 0, 0)
#define TF32(key, f) GGUF_FIELD_FLOAT(key, pt_trainer, f, 0, 0)
static const gguf_field ckpt_keys[] = {
    GGUF_FIELD_LONG("petit.train.step", pt_trainer, step, 0, 0),
    TU32("petit.train.epoch", epoch),
    GGUF_FIELD_LONG("petit.train.batch_pos", pt_trainer, batch_pos, 0, 0),
    GGUF_FIELD_DOUBLE("petit.train.best_dev", pt_trainer, best_dev, 0, 0),
    TU32("petit.train.bad_evals", bad_evals),
    GGUF_FIELD_U64("petit.train.data_fingerprint", pt_trainer, data_fp, 0, 0),
    GGUF_FIELD_U64("petit.train.seed", pt_trainer, opts.seed, 0, 0),
    TF32("petit.train.lr", opts.lr),
    TU32("petit.train.warmup", opts.warmup),
    GGUF_FIELD_ENUM("petit.train.schedule", pt_trainer, opts.schedule, pt_schedule_name, pt_schedule_parse, 0, 0),
    GGUF_FIELD_LONG("petit.train.total_steps", pt_trainer, opts.total_steps, 0, 0),
    TF32("petit.train.min_lr", opts.min_lr),
    TF32("petit.train.beta1", opts.beta1),
    TF32("petit.train.beta2", opts.beta2),
    TF32("petit.train.eps", opts.eps),
    TF32("petit.train.weight_decay", opts.weight_decay),
    TF32("petit.train.clip", opts.clip),
    TF32("petit.train.smoothing", opts.smoothing),
    TU32("petit.train.accum", opts.accum),
    TU32("petit.train.batch_tokens", opts.batch_tokens),
    GGUF_FIELD_DOUBLE("petit.train.ecq_lambda", pt_trainer, opts.ecq_lambda, 0, CK_ECQ),
    GGUF_FIELD_INT("petit.train.ecq_bits", GGUF_V_U32, pt_trainer, opts.ecq_bits, 0, CK_ECQ),
    GGUF_FIELD_FLOAT("petit.train.kd_alpha", pt_trainer, opts.kd_alpha, 0, CK_KD),
    GGUF_FIELD_FLOAT("petit.train.kd_tau", pt_trainer, opts.kd_tau, 0, CK_KD),
    GGUF_FIELD_INT("petit.train.kd_topk", GGUF_V_U32, pt_trainer, opts.kd_topk, 0, CK_KD),
    GGUF_FIELD_INT("petit.train.qat_type", GGUF_V_U32, pt_trainer, opts.qat.type, 0, CK_QAT),
    GGUF_FIELD_INT("petit.train.qat_emb_type", GGUF_V_U32, pt_trainer, opts.qat.emb_type, 0, CK_QAT),
    GGUF_FIELD_UNSIGNED("petit.train.qat_groups", pt_trainer, opts.qat.groups, 0, CK_QAT),
    GGUF_FIELD_INT("petit.train.qat_lsq", GGUF_V_U32, pt_trainer, opts.qat_lsq, 0, CK_QAT),
};
#undef TU32
#undef TF32
#define N_CKPT_KEYS ((int)(sizeof ckpt_keys / sizeof ckpt_keys[0]))

static unsigned ckpt_groups(const pt_train_opts *o) {
    return (o->ecq_bits > 0 ? CK_ECQ : 0) | (o->kd_alpha > 0 ? CK_KD : 0) | (o->qat.type != NN_F32 ? CK_QAT : 0);
}

int pt_checkpoint_save(const pt_trainer *t, const spm_model *sp, const char *path) {
    const pt_train_opts *o = &t->opts;
    gguf_writer *w = gguf_writer_init();
    add_common(w, &t->model, sp, t->tgt_vocab);
    gguf_fields_write(w, ckpt_keys, N_CKPT_KEYS, t, ckpt_groups(o));
    if (t->ecq_scale)
        gguf_set_arr(w, "petit.train.ecq_scale", GGUF_V_F32, t->ecq_scale, (uint64_t)t->model.n_tensors);
    if (o->qat.type != NN_F32) {
        gguf_set_u32(w, "petit.train.qat_lsq", (uint32_t)(o->qat_lsq && t->lsq_s)); /* the steps exist */
        if (o->qat_lsq && t->lsq_s) {
            uint64_t ne = t->lsq_n ? t->lsq_n : 1;
            gguf_add_tensor(w, "lsq.step", GGUF_TYPE_F32, 1, &ne, t->lsq_s, ne * sizeof(float));
            gguf_add_tensor(w, "lsq.m", GGUF_TYPE_F32, 1, &ne, t->lsq_m, ne * sizeof(float));
            gguf_add_tensor(w, "lsq.v", GGUF_TYPE_F32, 1, &ne, t->lsq_v, ne * sizeof(float));
        }
    }
    pt_model_add_tensors(&t->model, t->model.mem, "", w);
    pt_model_add_tensors(&t->model, t->adam_m, "opt.m.", w);
    pt_model_add_tensors(&t->model, t->adam_v, "opt.v.", w);
    int rc = gguf_write(w, path);
    gguf_writer_free(w);
    return rc;
}

int pt_checkpoint_load(pt_trainer *t, const char *path) {
    gguf_file *g = gguf_open(path);
    if (!g) return -1;
    pt_model m;
    pt_train_opts o;
    pt_train_opts_default(&o);
    char msg[900];
    if (pt_model_own_from_gguf(&m, g, 0)) goto fail;
    if (pt_trainer_init(t, &m.cfg, &o)) {
        pt_model_free(&m);
        goto fail;
    }
    memcpy(t->model.mem, m.mem, m.n_params * sizeof(float));
    pt_model_free(&m);
    /* a run's kind by its keys: ECQ-aware, distillation, QAT */
    unsigned groups = (gguf_find_key(g, "petit.train.ecq_bits") >= 0 ? CK_ECQ : 0) |
                      (gguf_find_key(g, "petit.train.kd_alpha") >= 0 ? CK_KD : 0) |
                      (gguf_find_key(g, "petit.train.qat_type") >= 0 ? CK_QAT : 0);
    if (gguf_fields_read(g, ckpt_keys, N_CKPT_KEYS, t, groups)) goto fail_free;
    if (groups & CK_ECQ) {
        if (t->opts.ecq_bits < 2 || t->opts.ecq_bits > 8 || !(t->opts.ecq_lambda >= 0)) {
            pt_set_error("bad ECQ settings in the checkpoint");
            goto fail_free;
        }
        if (gguf_find_key(g, "petit.train.ecq_scale") >= 0) {
            uint32_t et;
            const void *arr;
            uint64_t n;
            if (gguf_get_arr(g, "petit.train.ecq_scale", &et, &arr, &n) || et != GGUF_V_F32 ||
                n != (uint64_t)t->model.n_tensors) {
                pt_set_error("bad ECQ scales in the checkpoint");
                goto fail_free;
            }
            t->ecq_scale = pt_malloc((size_t)n * sizeof(float));
            memcpy(t->ecq_scale, arr, (size_t)n * sizeof(float));
        }
    }
    if (groups & CK_QAT) {
        if (nn_qrow_bytes(t->opts.qat.type, NN_QK) == 0 || t->opts.qat.type == NN_F32 ||
            nn_qrow_bytes(t->opts.qat.emb_type, NN_QK) == 0 || !(t->opts.qat.groups & PT_QP_ALL)) {
            pt_set_error("bad QAT settings in the checkpoint");
            goto fail_free;
        }
        if (t->opts.qat_lsq) {
            lsq_alloc(t);
            const char *names[3] = {"lsq.step", "lsq.m", "lsq.v"};
            float *dst[3] = {t->lsq_s, t->lsq_m, t->lsq_v};
            for (int k = 0; k < 3; k++) {
                const gguf_tensor *gt = gguf_find_tensor(g, names[k]);
                if (!gt || gt->type != GGUF_TYPE_F32 || gt->n_elems != (t->lsq_n ? t->lsq_n : 1)) {
                    pt_set_error("tensor %s missing or of the wrong size", names[k]);
                    goto fail_free;
                }
                memcpy(dst[k], gt->data, gt->nbytes);
            }
        }
    }
    if (pt_model_load_tensors(&t->model, t->adam_m, "opt.m.", g) ||
        pt_model_load_tensors(&t->model, t->adam_v, "opt.v.", g))
        goto fail_free;
    gguf_close(g);
    return 0;
fail_free:
    pt_trainer_free(t);
fail:
    snprintf(msg, sizeof msg, "%s", pt_error());
    pt_set_error("%s: %s", path, msg[0] ? msg : "not a petit checkpoint");
    gguf_close(g);
    return -1;
}
