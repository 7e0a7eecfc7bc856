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

void nn_set_threads(int n); /* OpenMP and BLAS threads; n <= 0: all cores */
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
 * the sparsity pattern of attention lives: a new pattern is a new kind here. */
enum nn_mask_kind {
    NN_MASK_PAD = 0,    /* j < klen[b] */
    NN_MASK_CAUSAL = 1, /* j <= i */
};
typedef struct {
    int kind;
    const int *klen; /* (B) key lengths, for NN_MASK_PAD */
} nn_mask;

/* First key and one-past-last key a query may look at; the loop in between
 * asks nn_mask_allows for patterns with holes. */
static inline int nn_mask_end(const nn_mask *m, int b, int i, int Tk) {
    if (m->kind == NN_MASK_CAUSAL) return i + 1 < Tk ? i + 1 : Tk;
    return m->klen ? m->klen[b] : Tk;
}

/* One query of one head over n keys and values (rows of stride ld, head
 * slice already applied): p (n) receives the softmax probabilities, out (dh)
 * the weighted sum of the values. The training kernel and the incremental
 * decoder both compute attention with it, so they agree bit for bit. */
void nn_attend(float *out, float *p, const float *q, const float *k, const float *v, int ld,
               int n, int dh, float scale);

/* Multi-head attention core (projections are done by the caller).
 * q: rows (b*Tq + i) with stride ldq; k, v: rows (b*Tk + j) with stride ldkv;
 * head h reads columns [h*dh, (h+1)*dh). ctx: (B*Tq, H*dh). P: (B, H, Tq, Tk)
 * softmax probabilities, saved for backward (0 where masked). */
void nn_attention(float *ctx, float *P, const float *q, int ldq, const float *k,
                  const float *v, int ldkv, int B, int Tq, int Tk, int H, int dh,
                  const nn_mask *m);
/* Gradients: dq (stride ldq), dk/dv (stride ldkv) are overwritten (every row
 * of them that the mask can reach; the rest is zeroed). dS: scratch of P's size. */
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

#endif
