/* train: the corpus and its batches, AdamW with schedules and clipping, and
 * the trainer state that checkpoints capture and resume bit for bit.
 *
 * What it is not: the command line (src/cli/cmd_train.c prints progress,
 * writes metrics and decides when to stop) and the model's math (src/model/).
 */
#ifndef PETIT_TRAIN_H
#define PETIT_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "model/quantize.h"
#include "text/spm.h"

/* ---- corpus ---------------------------------------------------------- */

/* Tokenized parallel text. Example i: source ids (ending with EOS) and
 * target ids (no BOS/EOS; the batcher adds them). */
typedef struct {
    int n;            /* examples kept */
    int *src_off, *tgt_off; /* (n+1) offsets into ids */
    int *src_ids, *tgt_ids;
    long lines;       /* lines read */
    long skipped_long, skipped_empty;
    uint64_t fingerprint; /* hash of all ids, to detect a changed corpus on resume */
} pt_corpus;

/* Read and tokenize two line-aligned files. Pairs with an empty side are
 * skipped, and so are pairs longer than max_len tokens (source + EOS, or
 * BOS + target); both are counted. Different line counts are an error.
 * max_lines > 0 reads only the first max_lines pairs. */
int pt_corpus_load(pt_corpus *c, const char *src_path, const char *tgt_path, const spm_model *sp,
                   int eos_id, int max_len, long max_lines);
/* The same with the target side tokenized by tgt_sp (NULL: sp) */
int pt_corpus_load_sides(pt_corpus *c, const char *src_path, const char *tgt_path, const spm_model *sp,
                         const spm_model *tgt_sp, int eos_id, int max_len, long max_lines);
/* A corpus from id arrays (tests, synthetic data): n examples. */
void pt_corpus_from_ids(pt_corpus *c, int n, const int *const *src, const int *src_len,
                        const int *const *tgt, const int *tgt_len);
void pt_corpus_free(pt_corpus *c);

/* One epoch's batches: examples of similar length together, at most
 * max_tokens padded tokens a batch (B * max(S, T)), order shuffled from
 * (seed, epoch) so that it can be rebuilt exactly on resume. */
typedef struct {
    int n_batches;
    int *start, *count; /* batch k = order[start[k] .. start[k]+count[k]) */
    int *order;         /* example indices */
    pt_acts_caps caps;  /* activation capacity the largest batches need */
} pt_epoch;

void pt_epoch_build(pt_epoch *e, const pt_corpus *c, int max_tokens, uint64_t seed, int epoch,
                    int shuffle);
void pt_epoch_free(pt_epoch *e);

/* Padded id arrays for batch k of an epoch (buffers owned by pt_batcher). */
typedef struct {
    int *src, *src_len, *tgt_in, *tgt_out, *tgt_len, *ord;
    size_t cap_s, cap_t, cap_b;
    pt_batch batch;
} pt_batcher;
const pt_batch *pt_batcher_make(pt_batcher *b, const pt_corpus *c, const pt_epoch *e, int k,
                                int pad_id, int bos_id, int eos_id);
/* Shard `rank` of `nranks` of batch k: its rows rank, rank+nranks, ...
 * padded to their own longest (B may be 0 when the batch is small). */
const pt_batch *pt_batcher_make_shard(pt_batcher *b, const pt_corpus *c, const pt_epoch *e, int k,
                                      int pad_id, int bos_id, int eos_id, int rank, int nranks);
void pt_batcher_free(pt_batcher *b);

/* ---- optimizer ------------------------------------------------------- */

enum pt_schedule { PT_SCHED_INV_SQRT = 0, PT_SCHED_COSINE = 1, PT_SCHED_CONSTANT = 2 };
const char *pt_schedule_name(int s);
int pt_schedule_parse(const char *s);

typedef struct {
    float lr;
    int warmup;
    int schedule;
    long total_steps; /* for cosine */
    float min_lr;     /* cosine floor */
    float beta1, beta2, eps, weight_decay, clip;
    float smoothing;
    int accum;        /* batches per optimizer step */
    int batch_tokens;
    uint64_t seed;
    /* quantization-aware training: qat.type NN_F32 = off. The forward and
     * backward passes see the policy's weights rounded to integers and back
     * (pt_fake_quant); the gradient passes straight through the rounding
     * (STE) to the float weights, which AdamW updates. */
    pt_quant_policy qat;
    int qat_lsq; /* learn the step of every block (LSQ) instead of RTN's */
    /* ECQ-aware training (ecq_bits > 0): the passes see every policy weight
     * re-assigned by entropy-constrained quantization (compress/ecq.h) each
     * step, straight-through gradient; the model is written packed */
    double ecq_lambda;
    int ecq_bits;
    /* word-level distillation (the trainer's teacher set): loss
     * (1-kd_alpha) CE + kd_alpha kd_tau^2 KL(teacher_tau || student_tau)
     * over the teacher's kd_topk most likely tokens (0: all) */
    float kd_alpha, kd_tau;
    int kd_topk;
} pt_train_opts;

void pt_train_opts_default(pt_train_opts *o);

/* learning rate at (1-based) step s */
float pt_lr_at(const pt_train_opts *o, long s);

/* ---- distillation (distill.c) ---------------------------------------- */

/* A teacher run beside the student: its forward pass over each batch gives
 * the soft targets of pt_soft_targets. */
typedef struct {
    const pt_model *model; /* borrowed; any weights (F32 or integer) */
    int k;                 /* entries kept per position (vocab: all) */
    float alpha, tau;
    pt_acts *acts;
    int *ids;
    float *p;
    size_t cap; /* rows ids/p hold */
    pt_soft_targets soft;
} pt_teacher;

/* Checks that the teacher speaks the student's vocabulary and reads as far;
 * k <= 0 keeps the whole distribution. */
int pt_teacher_init(pt_teacher *t, const pt_model *teacher, const pt_config *student, int k, float alpha,
                    float tau);
void pt_teacher_free(pt_teacher *t);
/* The teacher's targets for batch b (valid until the next call) */
const pt_soft_targets *pt_teacher_targets(pt_teacher *t, const pt_batch *b);
/* Start a student from its teacher (same width and vocabulary; any depth):
 * embeddings, final norms and output bias copied; student layer l of Ls
 * takes teacher layer round((l+1) Lt/Ls) - 1 (2 of 6: layers 2 and 5), so
 * the top layer stays on top. *copied: tensors copied. */
int pt_model_init_from_teacher(pt_model *student, const pt_model *teacher, int *copied);

/* ---- trainer --------------------------------------------------------- */

typedef struct {
    pt_model model;
    float *grads, *adam_m, *adam_v; /* same layout as model.mem */
    pt_train_opts opts;
    long step;         /* optimizer steps done */
    int epoch;         /* current epoch (0-based) */
    long batch_pos;    /* batches of this epoch already consumed */
    double best_dev;   /* best dev loss so far (INFINITY if none) */
    int bad_evals;     /* validations without improvement */
    uint64_t data_fp;  /* corpus fingerprint */
    /* not saved: */
    pt_acts *acts;
    float *qat_w; /* QAT: the fake-quantized weights of the current step */
    pt_model qat_view; /* the model over qat_w (pt_model_view) */
    /* LSQ (saved in checkpoints): steps, their AdamW moments, gradient scratch */
    float *lsq_s, *lsq_m, *lsq_v, *lsq_g;
    size_t lsq_n;
    double *ecq_prob; /* ECQ: each tensor's level distribution, carried from step to step */
    float *ecq_scale; /* ECQ: each tensor's lambda multiplier, or NULL (all 1); saved, owned */
    pt_teacher *teacher; /* distillation: set by the caller (opts.kd_*), not owned */
    /* the target side's SentencePiece model when it is not the source's
     * (a model imported from Marian): saved with the vocabulary; set by
     * the caller, not owned */
    const spm_model *tgt_vocab;
    /* data parallelism (dist.h): this process computes shard `rank` of
     * every batch and the step sums over `nranks`; set by the caller after
     * init or checkpoint load (default 0 of 1) */
    int rank, nranks;
} pt_trainer;

int pt_trainer_init(pt_trainer *t, const pt_config *cfg, const pt_train_opts *o);
void pt_trainer_free(pt_trainer *t);

/* Statistics of one optimizer step. */
typedef struct {
    double loss;    /* mean per-token loss of the step */
    int tokens;     /* target tokens */
    int src_tokens;
    float lr, grad_norm;
    double flops;
    int new_epoch;  /* the step crossed into a new epoch */
} pt_step_stats;

/* One optimizer step: `accum` batches from the corpus (advancing epochs as
 * needed), forward+backward, clip, AdamW. *ep holds the current epoch's
 * batches and is rebuilt when the epoch changes. */
int pt_trainer_step(pt_trainer *t, const pt_corpus *c, pt_epoch *ep, pt_batcher *bb,
                    pt_step_stats *st);
/* Mean per-token cross-entropy (no smoothing, no dropout) over a corpus. */
double pt_trainer_eval(pt_trainer *t, const pt_corpus *c, pt_batcher *bb);

/* Make sure activations fit a B x S x T batch. */
void pt_trainer_reserve(pt_trainer *t, int B, int S, int T);

/* Checkpoint: config, vocabulary (sp may be NULL), weights, AdamW moments
 * and the training state. Atomic. */
int pt_checkpoint_save(const pt_trainer *t, const spm_model *sp, const char *path);
/* Model file: config, vocabulary, weights only. Atomic. */
int pt_model_save(const pt_model *m, const spm_model *sp, const char *path);
/* The same with a target-side SentencePiece model (NULL: sp serves both) */
int pt_model_save_sides(const pt_model *m, const spm_model *sp, const spm_model *tgt_sp, const char *path);
/* The same with the policy's weights as integers (RTN of m's weights: after
 * QAT, exactly the values training computed with); method is recorded as
 * petit.quant.method. */
int pt_model_save_quant(const pt_model *m, const spm_model *sp, const pt_quant_policy *q,
                        const char *method, const char *path);
/* A QAT trainer's integer model: its LSQ steps if it learns them, else RTN;
 * an ECQ trainer's packed model (ECQ at its lambda, run to convergence) */
int pt_trainer_save_quant(const pt_trainer *t, const spm_model *sp, const char *path);
/* one ECQ re-assignment of the policy's tensors: dst = levels of w, tensor
 * i at lambda x scale[i] (scale NULL: x 1) */
void pt_ecq_fake_quant(const pt_model *m, const pt_quant_policy *p, float *dst, const float *w, double lambda,
                       const float *scale, int bits, double *prob, int rounds);
/* ECQ-aware training with each tensor's own share of lambda: the
 * multipliers of a packed model of the same architecture (its
 * petit.ecq.NAME.scale, as pack --fisher wrote them). 0, or -1 with pt_error */
int pt_trainer_ecq_scales_from(pt_trainer *t, const char *packed_path);
/* Restore a trainer from a checkpoint (replaces t's options and config). */
int pt_checkpoint_load(pt_trainer *t, const char *path);

#endif
