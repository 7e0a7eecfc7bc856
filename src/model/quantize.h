/* quantize: a float model's weights to integers (nn/quant.h's Q8_0 and
 * Q4_0), by round to nearest or GPTQ, and the fake quantization that
 * quantization-aware training computes its forward pass with.
 *
 * Policy: which weight matrices become integers. Groups:
 *   emb   tok_emb.weight: the token embedding and (tied) the output layer
 *   attn  every attention projection: enc/dec self qkv and out, cross q, kv, out
 *   ffn   the feed-forward up and down projections
 * Default: all three. Never: biases, LayerNorms, learned positions, and any
 * matrix whose row length is not a multiple of 32 (the block size). The
 * embedding may get its own type (emb_type): with a Q4_0 model, an 8-bit
 * embedding costs little size and keeps the output layer sharper.
 */
#ifndef PETIT_QUANTIZE_H
#define PETIT_QUANTIZE_H

#include <stdio.h>

#include "gguf/gguf.h"
#include "model/model.h"

enum { PT_QP_EMB = 1, PT_QP_ATTN = 2, PT_QP_FFN = 4, PT_QP_ALL = 7 };

typedef struct {
    int type;          /* NN_Q8_0 or NN_Q4_0 */
    int emb_type;      /* the embedding's type (NN_F32 keeps it float); default = type */
    unsigned groups;   /* PT_QP_* bits */
} pt_quant_policy;

void pt_quant_policy_default(pt_quant_policy *p, int type);
/* "all" or a comma list of emb, attn, ffn; -1 on an unknown name */
int pt_quant_groups_parse(const char *s, unsigned *out);
/* The petit.quant.* keys of a file with the policy's integer weights:
 * type, method (rtn, gptq, qat, qat-lsq, ecq), emb_type, and tensors (the
 * groups, as --tensors takes them) */
void pt_quant_set_keys(gguf_writer *w, const pt_quant_policy *p, const char *method);
/* the type tensor i of m gets (NN_F32: stays float) */
int pt_quant_tensor_type(const pt_model *m, int i, const pt_quant_policy *p);

/* dst = dequantize(quantize_RTN(src)) for the policy's tensors, src for the
 * rest (block layout of m). dst may equal src. */
void pt_fake_quant(const pt_model *m, float *dst, const float *src, const pt_quant_policy *p);

/* LSQ (Esser et al. 2020, learned step size quantization): QAT with a
 * learned step s per block of 32 instead of RTN's max-based one. A weight
 * w becomes s~ * clamp(round(w / s~), Qn, Qp), s~ = s rounded to fp16 (what
 * the file stores), codes Qn..Qp = -8..7 (Q4_0) or -127..127 (Q8_0). The
 * straight-through gradients: dw = dw^ where w/s~ is inside [Qn, Qp], else 0;
 * ds = g sum_i dw^_i (q_i - w_i/s~ inside, q_i at the clamp), g = 1/sqrt(32 Qp).
 * Steps are indexed by block: pt_lsq_blocks gives how many the policy's
 * tensors have, in tensor order, rows then blocks. */
size_t pt_lsq_blocks(const pt_model *m, const pt_quant_policy *p);
/* initial steps from the weights: max|w| / |Qn| per block */
void pt_lsq_init(const pt_model *m, const pt_quant_policy *p, const float *w, float *s);
/* dst = the weights the steps give (policy tensors), w elsewhere; dst != w */
void pt_lsq_fake_quant(const pt_model *m, const pt_quant_policy *p, float *dst, const float *w, const float *s);
/* g: in, gradients with respect to the quantized weights; out, the STE
 * gradients of w (zero where clamped). gs (pt_lsq_blocks): the steps' gradients. */
void pt_lsq_backward(const pt_model *m, const pt_quant_policy *p, const float *w, const float *s, float *g,
                     float *gs);

/* GPTQ's statistics for m's weights that p quantizes: a forward pass whose
 * activations observe with pt_calib_observer (pt_acts_observe) adds X^T X of
 * each linear layer's input to that weight's H. m is not changed. */
typedef struct pt_calib pt_calib;
pt_calib *pt_calib_new(const pt_model *m, const pt_quant_policy *p);
pt_observer pt_calib_observer(pt_calib *c);
long pt_calib_rows(const pt_calib *c, int tensor); /* rows seen by a tensor */
/* the tensor's H = sum X^T X (cols, cols), or NULL if it saw no rows */
const double *pt_calib_H(const pt_calib *c, int tensor);
void pt_calib_free(pt_calib *c);

/* Sensitivity (the diagonal of the empirical Fisher): grads (m's layout)
 * is one sample's gradient of the loss; each calibrated tensor adds its
 * sum of g^2. pt_calib_fisher: that tensor's mean g^2 per weight and sample
 * (0 if none). */
void pt_calib_add_grads(pt_calib *c, const float *grads);
double pt_calib_fisher(const pt_calib *c, int tensor);
int pt_calib_has_grads(const pt_calib *c); /* any samples added? */
/* Rate allocation across tensors. To second order, an error of mean square
 * D_t (in units of the tensor's mean square weight E_t[w^2]) in tensor t
 * costs the loss about n_t F_t E_t[w^2] D_t / 2, F_t its mean Fisher: so
 * the per-weight rate-distortion trade-off is equal across tensors when
 * tensor t's lambda is divided by s_t = F_t E_t[w^2]. pt_lambda_allocate:
 * mult[i] = (G / sens[i])^power, G the n-weighted geometric mean of the
 * positive sens (mult 1 where sens or n is 0): the global lambda keeps its
 * meaning on average, power 0 turns allocation off and 1 is the quadratic
 * model's optimum. pt_calib_allocate sets the multipliers from the
 * weights in block (m's layout); pt_calib_scales reads them. */
void pt_lambda_allocate(const double *sens, const double *n, int k, double power, double *mult);
int pt_calib_allocate(pt_calib *c, const float *block, double power);
const float *pt_calib_scales(const pt_calib *c); /* one per m's tensor, or NULL if unset */
/* A cache of the statistics (H, rows, Fisher) for sweeps over one model
 * and calibration text: key identifies both (the caller's hash). Save
 * writes PATH.tmp and renames it. Load: 0 and *out (detached from m's
 * passes), 1 if the file is missing, of another key or damaged (compute
 * afresh), never an error. */
int pt_calib_save(const pt_calib *c, const char *path, uint64_t key);
int pt_calib_load(const pt_model *m, const pt_quant_policy *p, const char *path, uint64_t key, pt_calib **out);

/* Add m's tensors (weights in block, m's layout) to w, the policy's ones
 * as integers: GPTQ where calib has statistics for them, else RTN. The
 * integer buffers must outlive gguf_write: they are returned in *keep
 * (free with pt_quant_keep_free). progress: print a line per tensor to it
 * (NULL: quiet). Returns 0, or -1 with pt_error (GPTQ failed). */
typedef struct {
    void **bufs;
    int n;
} pt_quant_keep;
int pt_quant_add_tensors(gguf_writer *w, const pt_model *m, const float *block,
                         const pt_quant_policy *p, const pt_calib *calib, double damp,
                         pt_quant_keep *keep, FILE *progress);
/* The same with LSQ's learned steps (exactly the weights pt_lsq_fake_quant gives) */
int pt_quant_add_tensors_lsq(gguf_writer *w, const pt_model *m, const float *block,
                             const pt_quant_policy *p, const float *steps, pt_quant_keep *keep);
void pt_quant_keep_free(pt_quant_keep *keep);

#endif
