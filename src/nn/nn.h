/* nn: fp32 kernels for the transformer, forward and backward.
 *
 * Matrix convention (stated once): row-major; a linear layer is
 *     Y (N, out) = X (N, in) · W^T + b,   W: (out, in)     (PyTorch's nn.Linear)
 * "rows" are tokens. Kernels write their outputs; functions named *_acc add
 * into them (gradients accumulate across micro-batches and tied uses).
 *
 * Every kernel gives the same bits for any thread count: parallel loops split
 * over independent outputs, and every reduction runs in a fixed order. The
 * one exception is OpenBLAS's sgemm, which is deterministic for a fixed
 * thread count (see README, "Determinism").
 *
 * nn_sgemm_ref is the plain reference (and the fallback without CBLAS);
 * nn_sgemm picks CBLAS when built with it.
 */
#ifndef PETIT_NN_H
#define PETIT_NN_H

#include <stddef.h>
#include <stdint.h>

#include "nn/isa.h"

/* Threads for this thread's kernels (OpenMP's count for the calling thread;
 * OpenBLAS always single-threaded: nn_sgemm threads itself); n <= 0: all
 * cores. Per calling thread: threads that never set it use the last count
 * set by any. */
void nn_set_threads(int n);
int nn_threads(void);
const char *nn_backend(void); /* "openblas" or "builtin" */

/* C (M, N) = op(A) · op(B) + beta·C, op(X) = X or X^T (ta/tb nonzero).
 * A is (M, K) if !ta else (K, M); B is (K, N) if !tb else (N, K). */
void nn_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc);
void nn_sgemm_ref(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc);

/* Y (N, out) = X (N, in) W^T + b   (b may be NULL) */
void nn_linear(float *Y, const float *X, const float *W, const float *b, int N, int in, int out);
/* The same product for few rows (the decoder's per-step layers, N = batch x
 * beam): W is read in place, never packed, so it may be an mmapped tensor.
 * Register-tiled dot products (AVX2/FMA, portable fallback), threads over
 * blocks of output columns. Y[i, :] is the same bits for any thread count
 * and whatever the other rows of X are; not the same bits as nn_linear.
 * See linear_rows.c. */
void nn_linear_rows(float *Y, const float *X, const float *W, const float *b, int N, int in, int out);
/* W (out, in) copied once into panels of NN_PANEL of its rows, k-major, for
 * nn_plinear (packed.c): the decoder's per-step layers at inference. */
#define NN_PANEL 16
typedef struct {
    int in, out;
    float *w; /* ceil(out / NN_PANEL) panels of in x NN_PANEL floats, 32-byte aligned */
    int owned; /* w is ours to free (nn_pmat_init) */
} nn_pmat;
/* floats of a packed (out, in) matrix */
size_t nn_pmat_floats(int in, int out);
/* pack W into buf (nn_pmat_floats(in, out) floats, 32-byte aligned, the
 * caller's), or into a buffer of its own (nn_pmat_init, freed by nn_pmat_free) */
void nn_pmat_pack(nn_pmat *p, float *buf, const float *W, int in, int out);
void nn_pmat_init(nn_pmat *p, const float *W, int in, int out);
void nn_pmat_free(nn_pmat *p);
size_t nn_pmat_bytes(const nn_pmat *p);
/* row j of W (in floats) */
void nn_pmat_row(const nn_pmat *p, int j, float *dst);
/* Y (N, out) = X (N, in) W^T + b: a register-tiled product over the panels
 * (AVX2/FMA, portable fallback), threads over panels. Each Y[i, j] is one
 * FMA chain over k in order, then + b[j]: the same bits for any thread
 * count and whatever the other rows of X are. */
void nn_plinear(float *Y, const float *X, const nn_pmat *W, const float *b, int N);
/* dX (N, in) = dY W (beta: 0 overwrite, 1 add); dW += dY^T X; db += colsum(dY).
 * dX, dW, db may each be NULL to skip. */
void nn_linear_backward(float *dX, float beta, float *dW, float *db, const float *dY,
                        const float *X, const float *W, int N, int in, int out);

/* LayerNorm over rows of width D: out = (x - mean) * rstd * w + b; mean/rstd (N) saved */
void nn_layernorm(float *out, float *mean, float *rstd, const float *x, const float *w,
                  const float *b, int N, int D, float eps);
/* dx (N, D) += ...; dw, db += ... */
void nn_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                           const float *mean, const float *rstd, const float *w, int N, int D);

enum nn_act { NN_ACT_RELU = 0, NN_ACT_GELU = 1, NN_ACT_SWISH = 2 };
void nn_act(float *out, const float *in, size_t n, int act);
/* din = dout * act'(in) (din may alias dout) */
void nn_act_backward(float *din, const float *dout, const float *in, size_t n, int act);

/* dropout with a stateless mask: element i is kept iff its 16-bit uniform
 * (bits 16*(i%4) of hash(key ^ i/4)) is >= p*65536, kept values scaled by
 * 1/(1-p). A function of (key, i) only, so it is its own backward. */
void nn_dropout(float *x, size_t n, float p, uint64_t key);

/* dot product, fixed summation order (8 partial sums) */
float nn_dot(const float *a, const float *b, int n);

/* x[i] += y[i] */
void nn_add(float *x, const float *y, size_t n);
/* out[i] = x[i] + y[i] */
void nn_add3(float *out, const float *x, const float *y, size_t n);
/* db[c] += sum_r dY[r, c] (rows in order) */
void nn_colsum_acc(float *db, const float *dY, int N, int C);

/* Which keys j a query i may attend to, per head. The mask is the only place
 * the sparsity pattern of attention lives: a new pattern is a new kind here.
 * For every query the allowed keys are an arithmetic progression
 * j = first + s*step, s in [0, n): nn_mask_span gives it. */
enum nn_mask_kind {
    NN_MASK_PAD = 0,       /* j < klen[b] */
    NN_MASK_CAUSAL = 1,    /* j <= i */
    NN_MASK_MULTIAXIS = 2, /* per head: local, grid, or causal (below) */
};
/* NN_MASK_MULTIAXIS, window W: heads [0, n_local) are local, i-W < j <= i;
 * heads [n_local, n_local + n_grid) are grid, j <= i and (i-j) mod W = 0; the
 * rest are causal. Attention maps (P) store, per query, only its row of
 * allowed keys: nn_mask_width floats for head h (Tk for dense heads, W for
 * local, ceil(Tk/W) for grid), so no T x T map exists for a sparse head. */
typedef struct {
    int kind;
    const int *klen; /* (B) key lengths, for NN_MASK_PAD */
    int window, n_local, n_grid; /* NN_MASK_MULTIAXIS */
} nn_mask;

enum { NN_HEAD_DENSE = 0, NN_HEAD_LOCAL = 1, NN_HEAD_GRID = 2 };
static inline int nn_mask_head(const nn_mask *m, int h) {
    if (m->kind != NN_MASK_MULTIAXIS) return NN_HEAD_DENSE;
    return h < m->n_local ? NN_HEAD_LOCAL : h < m->n_local + m->n_grid ? NN_HEAD_GRID : NN_HEAD_DENSE;
}

/* The keys query i (of batch row b, head h) may attend to, among Tk:
 * j = *first + s * *step for s in [0, return value). Self-attention kinds
 * (causal, multiaxis) need i < Tk. */
static inline int nn_mask_span(const nn_mask *m, int b, int h, int i, int Tk, int *first, int *step) {
    *first = 0, *step = 1;
    if (m->kind == NN_MASK_PAD) return m->klen ? m->klen[b] : Tk;
    int end = i + 1 < Tk ? i + 1 : Tk;
    switch (nn_mask_head(m, h)) {
    case NN_HEAD_LOCAL:
        *first = end > m->window ? end - m->window : 0;
        return end - *first;
    case NN_HEAD_GRID:
        *first = i % m->window, *step = m->window;
        return i / m->window + 1;
    default: return end;
    }
}

/* floats per query row of head h's attention map, and the offset of head h's
 * block (in units of Tq rows) inside one batch row's maps; nn_mask_pcols(m,
 * H, Tk) = the sum over all heads: a map for (B, Tq) queries holds
 * B * Tq * nn_mask_pcols floats. */
static inline int nn_mask_width(const nn_mask *m, int h, int Tk) {
    switch (nn_mask_head(m, h)) {
    case NN_HEAD_LOCAL: return m->window < Tk ? m->window : Tk;
    case NN_HEAD_GRID: return (Tk + m->window - 1) / m->window;
    default: return Tk;
    }
}
static inline size_t nn_mask_pcols(const nn_mask *m, int H, int Tk) {
    size_t n = 0;
    for (int h = 0; h < H; h++) n += (size_t)nn_mask_width(m, h, Tk);
    return n;
}

/* One query of one head over n keys and values (rows of stride ld, head
 * slice already applied): p (n) receives the softmax probabilities, out (dh)
 * the weighted sum of the values. The training kernel and the incremental
 * decoder both compute attention with it, so they agree bit for bit. */
void nn_attend(float *out, float *p, const float *q, const float *k, const float *v, int ld,
               int n, int dh, float scale);

/* IEEE half floats (half.c): conversion, round to nearest even one way,
 * exact the other; and nn_attend over keys and values stored as halves
 * (the decoder's caches), arithmetic in float. */
void nn_f32_to_f16(uint16_t *dst, const float *src, size_t n);
void nn_f16_to_f32(float *dst, const uint16_t *src, size_t n);
void nn_attend_f16(float *out, float *p, const float *q, const uint16_t *k, const uint16_t *v, int ld,
                   int n, int dh, float scale);

/* Multi-head attention core (projections are done by the caller).
 * q: rows (b*Tq + i) with stride ldq; k, v: rows (b*Tk + j) with stride ldkv;
 * head h reads columns [h*dh, (h+1)*dh). ctx: (B*Tq, H*dh). P: the softmax
 * probabilities, saved for backward: per batch row, per head, Tq rows of
 * nn_mask_width floats (the allowed keys in order, then zeros); for dense
 * masks that is (B, H, Tq, Tk). */
void nn_attention(float *ctx, float *P, const float *q, int ldq, const float *k,
                  const float *v, int ldkv, int B, int Tq, int Tk, int H, int dh,
                  const nn_mask *m);
/* Gradients: dq (stride ldq), dk/dv (stride ldkv) are overwritten (every row
 * of them; rows no query can reach are zeroed). dS: scratch of P's size. */
void nn_attention_backward(float *dq, float *dk, float *dv, float *dS, const float *dctx,
                           const float *P, const float *q, int ldq, const float *k,
                           const float *v, int ldkv, int B, int Tq, int Tk, int H, int dh,
                           const nn_mask *m);

/* Label-smoothed cross-entropy over logits (N, V), in place: on return the
 * logits hold d(loss)/d(logits) * scale. Rows whose label is `ignore` get a
 * zero gradient and no loss. Returns the sum of the per-row losses. */
double nn_xent_backward(float *logits, const int *labels, int N, int V, float smoothing,
                        int ignore, float scale);
/* loss only, logits untouched */
double nn_xent(const float *logits, const int *labels, int N, int V, float smoothing, int ignore);

/* Distillation loss over logits (N, V), in place like nn_xent_backward:
 *   (1 - alpha) * smoothed CE(labels) + alpha * tau^2 * KL(p || softmax(z / tau))
 * with p the teacher's distribution at temperature tau, given per row as k
 * probabilities t_p (N, k) of the ids t_ids (N, k); t_ids NULL: k == V, dense.
 * The gradient is (1-alpha)(softmax(z) - y) + alpha*tau*(softmax(z/tau) - p). */
double nn_kd_backward(float *logits, const int *labels, const int *t_ids, const float *t_p, int k, int N,
                      int V, float smoothing, float alpha, float tau, int ignore, float scale);
/* loss only, logits untouched */
double nn_kd(const float *logits, const int *labels, const int *t_ids, const float *t_p, int k, int N, int V,
             float smoothing, float alpha, float tau, int ignore);
/* The teacher's targets: per row of logits (N, V), softmax(z / tau) restricted
 * to its k largest entries and renormalized: ids (N, k) most likely first,
 * p (N, k). k >= V: the whole distribution into p (N, V), ids unused. */
void nn_soft_targets(int *ids, float *p, const float *logits, int N, int V, int k, float tau);

/* x[i] = exp(x[i] - sub) for i < n; returns the sum of the new x (vmath.c:
 * vectorized, relative error < 2e-7, a fixed summation order) */
float nn_exp_sub_sum(float *x, int n, float sub);
/* the same sum, x untouched */
float nn_exp_sum(const float *x, int n, float sub);

#endif
