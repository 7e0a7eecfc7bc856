/* model: the encoder–decoder transformer of MODEL.md — its configuration, its
 * parameters in one block with named pointers, and the training forward and
 * backward passes over a padded batch.
 *
 * What it is not: the incremental decoder (src/decode/) and the optimizer
 * (src/train/). Letters: B batch, S source length, T target length, D model
 * width, H heads, F FFN width, V vocabulary, P positions, Le/Ld layers.
 */
#ifndef PETIT_MODEL_H
#define PETIT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "nn/nn.h"
#include "nn/weight.h"
#include "nn/quant.h"

enum pt_norm { PT_NORM_PRE = 0, PT_NORM_POST = 1 };
enum pt_pos { PT_POS_SINUSOIDAL = 0, PT_POS_LEARNED = 1 };
enum pt_attn { PT_ATTN_DENSE = 0, PT_ATTN_MULTIAXIS = 1 };

typedef struct {
    int vocab;      /* V */
    int d_model;    /* D */
    int n_heads;    /* H */
    int d_ff;       /* F */
    int enc_layers; /* Le */
    int dec_layers; /* Ld */
    int max_len;    /* P: longest sequence (tokens incl. BOS/EOS) */
    int norm;       /* enum pt_norm */
    int act;        /* enum nn_act */
    int pos;        /* enum pt_pos */
    int emb_scale;  /* multiply token embeddings by sqrt(D) */
    int dec_attn;   /* enum pt_attn: decoder self-attention */
    int attn_window; /* multiaxis: W */
    int local_heads; /* multiaxis: heads [0, local) look at the last W positions */
    int grid_heads;  /* multiaxis: the next ones at every W-th position back;
                        the rest (if any) are dense causal heads */
    float dropout;
    float ln_eps;
    int pad_id, bos_id, eos_id, unk_id;
    int mask_pad;   /* decoding never emits PAD: its log-probability is -inf
                       after the log-softmax (Marian's bad_words_ids [[pad]]) */
} pt_config;

void pt_config_default(pt_config *c);
/* 0 if the configuration is usable, else -1 and an error naming the field */
int pt_config_check(const pt_config *c);
const char *pt_norm_name(int norm);
const char *pt_act_name(int act);
const char *pt_pos_name(int pos);
const char *pt_attn_name(int attn);
int pt_attn_parse(const char *s);
int pt_norm_parse(const char *s);
int pt_act_parse(const char *s);
int pt_pos_parse(const char *s);
/* hyperparameters as petit.* GGUF keys, and back (with validation) */
void pt_config_to_gguf(const pt_config *c, gguf_writer *w);
int pt_config_from_gguf(pt_config *c, const gguf_file *g);

/* The decoder self-attention mask of a configuration (causal, or multiaxis) */
static inline nn_mask pt_dec_self_mask(const pt_config *c) {
    nn_mask m = {.kind = NN_MASK_CAUSAL};
    if (c->dec_attn == PT_ATTN_MULTIAXIS)
        m = (nn_mask){NN_MASK_MULTIAXIS, NULL, c->attn_window, c->local_heads, c->grid_heads};
    return m;
}

/* Parameters: one contiguous block; every pointer below points into it.
 * Encoder and decoder tensors are stacked over layers. */
typedef struct {
    float *tok_emb;  /* (V, D) tied input/output embedding */
    float *pos_emb;  /* (P, D) learned positions only */
    float *e_ln1_w;  /* (Le, D) */
    float *e_ln1_b;  /* (Le, D) */
    float *e_qkv_w;  /* (Le, 3D, D) */
    float *e_qkv_b;  /* (Le, 3D) */
    float *e_o_w;    /* (Le, D, D) */
    float *e_o_b;    /* (Le, D) */
    float *e_ln2_w;  /* (Le, D) */
    float *e_ln2_b;  /* (Le, D) */
    float *e_up_w;   /* (Le, F, D) */
    float *e_up_b;   /* (Le, F) */
    float *e_down_w; /* (Le, D, F) */
    float *e_down_b; /* (Le, D) */
    float *e_lnf_w;  /* (D) pre-norm only */
    float *e_lnf_b;  /* (D) */
    float *d_ln1_w;  /* (Ld, D) */
    float *d_ln1_b;  /* (Ld, D) */
    float *d_qkv_w;  /* (Ld, 3D, D) */
    float *d_qkv_b;  /* (Ld, 3D) */
    float *d_o_w;    /* (Ld, D, D) */
    float *d_o_b;    /* (Ld, D) */
    float *d_ln2_w;  /* (Ld, D) */
    float *d_ln2_b;  /* (Ld, D) */
    float *d_cq_w;   /* (Ld, D, D) cross-attention queries */
    float *d_cq_b;   /* (Ld, D) */
    float *d_ckv_w;  /* (Ld, 2D, D) cross-attention keys and values */
    float *d_ckv_b;  /* (Ld, 2D) */
    float *d_co_w;   /* (Ld, D, D) */
    float *d_co_b;   /* (Ld, D) */
    float *d_ln3_w;  /* (Ld, D) */
    float *d_ln3_b;  /* (Ld, D) */
    float *d_up_w;   /* (Ld, F, D) */
    float *d_up_b;   /* (Ld, F) */
    float *d_down_w; /* (Ld, D, F) */
    float *d_down_b; /* (Ld, D) */
    float *d_lnf_w;  /* (D) pre-norm only */
    float *d_lnf_b;  /* (D) */
    float *out_b;    /* (V) logits bias */
} pt_params;

#define PT_N_PARAM_KINDS 39

/* One named tensor of the model file: a layer's slice of a stacked array. */
typedef struct {
    char name[48];
    size_t offset; /* floats from the start of the block */
    int rows, cols; /* (rows, cols) row-major; cols = 1... for vectors rows=1 */
    int decay;     /* AdamW weight decay applies (2-D weights) */
} pt_tensor;

typedef struct {
    pt_config cfg;
    size_t n_params;
    float *mem;       /* the block */
    pt_params p;      /* named pointers into mem */
    int n_tensors;
    pt_tensor *tensors;
    int mapped;       /* mem points into a mapped file: not ours to free */
    /* Every tensor resolved once, at load (nn/weight.h): its type and data
     * (F32: into mem; integer: the file's blocks or owned), and for a float
     * matrix after pt_model_pack its panels. pt_mm multiplies by them. */
    nn_weight *w;
    int first[PT_N_PARAM_KINDS]; /* tensor index of each kind's layer 0, or -1 if absent */
    int n_quant; /* tensors stored as integers */
    void *owned; /* integer tensors decoded from an entropy-coded file (model/pack.h) */
    nn_pmat *pk;  /* pt_model_pack: the panels of every float matrix (w[i].pk points here) */
    float *pk_mem;
    size_t pk_bytes;
} pt_model;

/* Sees the input X (N, in) of a product with the model's weight `tensor`
 * (an index into tensors[]): GPTQ's calibration. It belongs to a forward
 * pass's activations (pt_acts_observe), never to the model, so a model
 * being calibrated is still immutable and shared. */
typedef struct {
    void (*fn)(void *ctx, int tensor, const float *X, int N, int in);
    void *ctx;
} pt_observer;

/* Lay out (and zero) the parameter block for cfg. */
int pt_model_init(pt_model *m, const pt_config *cfg);
void pt_model_free(pt_model *m);
/* Point a pt_params at another block with the same layout (gradients, moments). */
void pt_params_point(const pt_model *m, float *block, pt_params *out);
/* petit's initialization (MODEL.md), from seed */
void pt_model_init_weights(pt_model *m, uint64_t seed);
/* index of the tensor with this name, or -1 */
int pt_model_find(const pt_model *m, const char *name);
/* Add the weights (as F32 tensors, borrowed) to a GGUF writer, names prefixed */
void pt_model_add_tensors(const pt_model *m, const float *block, const char *prefix,
                          gguf_writer *w);
/* A model over a GGUF file's tensors: config from its keys, weights used in
 * place when the file stores them contiguously in layout order (petit's
 * writer does: no copy, the mapping is shared), else copied. The gguf_file
 * must outlive the model. */
int pt_model_from_gguf(pt_model *m, const gguf_file *g);
/* A float model with a block of its own (pt_model_init's: trainable, the
 * file not kept): F32 tensors copied; integer or packed ones dequantized
 * row by row as their kernels read them when dequantize is set, else an
 * error. Training's starting points and checkpoints load this way. */
int pt_model_own_from_gguf(pt_model *m, const gguf_file *g, int dequantize);
/* pt_model_own_from_gguf(dequantize) of the file at path; errors name it */
int pt_model_load(pt_model *m, const char *path);
/* m's layout over another block of the same shape (QAT's fake-quantized
 * weights): view shares m's configuration and tensor table, its weights
 * point into block. Free with pt_model_view_free (block stays the caller's). */
void pt_model_view(const pt_model *m, float *block, pt_model *view);
void pt_model_view_free(pt_model *view);
/* For inference, once the weights are final: copy every float weight matrix
 * (the embedding, also the output layer, included; not the learned
 * positions) into nn_plinear's panels now, so that every product with it,
 * of any number of rows, runs one kernel and gives the same bits. A mapped
 * file's pages of a copied tensor are given back to the system (read from
 * the file again if anything touches them), so the model's memory stays
 * about the same. Nothing for integer tensors (they have their own
 * kernels). The model is immutable from here on: translators on several
 * threads share it. Freed by pt_model_free. */
void pt_model_pack(pt_model *m);
/* The weight of a kind (its pt_params field) in layer l: PT_W(m, d_qkv_w, l) */
#define PT_KIND(field) ((int)(offsetof(pt_params, field) / sizeof(float *)))
#define PT_W(m, field, l) (&(m)->w[(m)->first[PT_KIND(field)] + (l)])
/* Y (N, W->out) = X (N, W->in) W^T + b for a weight of m (nn_matmul) */
void pt_mm(const pt_model *m, const nn_weight *W, float *Y, const float *X, const float *b, int N);
/* Row id of the token embedding: a pointer into mem, or (quantized) the row
 * dequantized into scratch (D floats). */
const float *pt_emb_row(const pt_model *m, int id, float *scratch);

/* Copy tensors named prefix+name from a GGUF file into block; checks shapes */
int pt_model_load_tensors(const pt_model *m, float *block, const char *prefix, const gguf_file *g);

/* ---- training forward/backward over one padded batch ---------------- */

/* Word-level distillation targets for a batch (nn_kd_backward): the
 * teacher's distribution at each of the B*T target positions, k entries. */
typedef struct {
    const int *ids; /* (B*T, k), NULL: k = V, the whole distribution */
    const float *p; /* (B*T, k) */
    int k;
    float alpha, tau; /* loss = (1-alpha) CE + alpha tau^2 KL */
} pt_soft_targets;

typedef struct {
    int B, S, T;
    const int *src;     /* (B, S) source ids, EOS then PAD */
    const int *src_len; /* (B) */
    const int *tgt_in;  /* (B, T) BOS + target */
    const int *tgt_out; /* (B, T) target + EOS, PAD elsewhere */
    const int *tgt_len; /* (B) */
    const pt_soft_targets *soft; /* distillation (pt_forward_backward only), or NULL */
} pt_batch;

/* Activations and gradient scratch. Sized by capacities in elements, so one
 * allocation serves batches of many shapes (many short sentences or a few
 * long ones): a batch fits when each of its products is within capacity. */
typedef struct {
    size_t ns, nt;       /* B*S, B*T: source and target rows */
    size_t pss, ptt, pts; /* B*S*S, B*T*T, B*T*S: attention maps per head */
    size_t tmax;         /* T: the longest target (sizes sparse maps) */
} pt_acts_caps;
static inline pt_acts_caps pt_caps_of(int B, int S, int T) {
    pt_acts_caps c = {(size_t)B * S, (size_t)B * T, (size_t)B * S * S, (size_t)B * T * T,
                      (size_t)B * T * S, (size_t)T};
    return c;
}
/* elementwise max */
pt_acts_caps pt_caps_max(pt_acts_caps a, pt_acts_caps b);
int pt_caps_fit(pt_acts_caps have, pt_acts_caps need);

typedef struct pt_acts pt_acts;
pt_acts *pt_acts_new_caps(const pt_config *cfg, pt_acts_caps caps);
/* For pt_encode only (no backward): the layers share their buffers, so the
 * memory is one layer's, not enc_layers' */
pt_acts *pt_acts_new_inference(const pt_config *cfg, pt_acts_caps caps);
pt_acts *pt_acts_new(const pt_config *cfg, int max_B, int max_S, int max_T);
pt_acts_caps pt_acts_capacity(const pt_acts *a);
/* Make *a (NULL or not) fit need: kept when it does, else replaced by one
 * with the larger of both capacities */
void pt_acts_reserve(pt_acts **a, const pt_config *cfg, pt_acts_caps need);
void pt_acts_free(pt_acts *a);
/* the logits (B*T, V) of the last forward (overwritten by backward) */
float *pt_acts_logits(pt_acts *a);
/* the sinusoidal position table (P, D) */
const float *pt_acts_pe(const pt_acts *a);
/* pt_forward / pt_forward_backward through a show o (copied; NULL: none) the
 * input of every product with a model weight */
void pt_acts_observe(pt_acts *a, const pt_observer *o);

/* ---- one decoder layer, for training and decoding ------------------- */

/* A layer's buffers over N rows. res[k] is the residual stream entering
 * sublayer k (res[0] the layer's input, res[K] its output); ln[k] is the
 * LayerNorm's output (pre-norm) or its input, the residual sum (post-norm).
 * Training keeps one set per layer (the backward pass reads them);
 * incremental decoding points every res[k] at one stream updated in place
 * and shares the rest across layers. */
typedef struct {
    float *res[4];
    float *ln[3], *mean[3], *rstd[3];
    float *qkv;  /* (N, 3D) */
    float *P;    /* (B, H, Tq, Tq) training's self-attention probabilities */
    float *ctx;  /* (N, D) */
    float *cq;   /* (N, D) cross-attention queries (decoder only) */
    float *ckv;  /* (Ns, 2D) training's cross keys and values */
    float *cP;   /* (B, H, T, S) */
    float *cctx; /* (N, D) */
    float *up;   /* (N, F) before the activation */
    float *act;  /* (N, F) (decoding: the same buffer as up) */
    const pt_observer *obs; /* NULL, or sees the input of each of the layer's products */
} pt_layer_bufs;

/* The attention cores of a decoder layer, run between its projections:
 * self: L->qkv (N, 3D) -> L->ctx (N, D); cross: L->cq (N, D) -> L->cctx.
 * Training attends over the whole target sequence and the encoder output;
 * decoding over its caches (decode.c). */
typedef struct {
    void (*self)(void *ctx, int l, pt_layer_bufs *L);
    void (*cross)(void *ctx, int l, pt_layer_bufs *L);
    void *ctx;
} pt_dec_attn;

/* Decoder layer l over N rows: L->res[0] in, L->res[3] out; y is (N, D)
 * scratch for each sublayer's output; dropout_key 0 for none. */
void pt_dec_layer(const pt_model *m, int l, pt_layer_bufs *L, float *y, int N, const pt_dec_attn *at,
                  uint64_t dropout_key);
/* out (N, D) = token embeddings of ids (scaled by sqrt(D) if emb_scale) +
 * the position t0 + r % T of row r (learned, or sin_pe: pt_acts_pe) */
void pt_embed(const pt_model *m, const float *sin_pe, float *out, const int *ids, int N, int T, int t0);
/* logits (N, V) from the last layer's output x: the final LayerNorm
 * (pre-norm; into ln, mean, rstd) and the tied output layer. out_w, out_b:
 * another output layer (a shortlist's rows of it: logits (N, out_w->out)),
 * or NULL for the model's */
void pt_dec_logits(const pt_model *m, const nn_weight *out_w, const float *out_b, float *logits, const float *x,
                   float *ln, float *mean, float *rstd, int N);

/* Forward. Returns the summed label-smoothed loss over non-PAD targets and
 * sets *n_tokens. dropout_key: 0 disables dropout (evaluation). */
double pt_forward(const pt_model *m, pt_acts *a, const pt_batch *bt, float smoothing,
                  uint64_t dropout_key, int *n_tokens);
/* Forward + backward: gradients of (sum of losses) * scale are ADDED into
 * grads (same layout as m->mem). Returns the summed loss. */
double pt_forward_backward(const pt_model *m, pt_acts *a, const pt_batch *bt, float smoothing,
                           uint64_t dropout_key, float scale, float *grads, int *n_tokens);

/* The encoder alone (no dropout): returns its output (B*S, D), owned by a.
 * a needs capacity ns >= B*S and pss >= B*S*S (pt_caps_of(B, S, 0)). */
const float *pt_encode(const pt_model *m, pt_acts *a, const int *src, const int *src_len, int B, int S);

/* Greedy decoding of one sentence by full recomputation: every step reruns
 * the whole forward pass on the prefix (O(T^2)). Slow and simple: the oracle
 * for the incremental decoder and the check of what a trained model emits.
 * src: src_len ids ending with EOS. Writes at most max_out ids (no BOS, no
 * EOS) and returns how many. `a` must fit B=1, S=src_len, T=max_out+1. */
int pt_greedy_reference(const pt_model *m, pt_acts *a, const int *src, int src_len, int *out,
                        int max_out);

/* Matmul FLOPs of forward+backward for a padded batch (for GFLOP/s figures) */
double pt_train_flops(const pt_config *c, int B, int S, int T);

#endif
