/* nn.c: fp32 transformer kernels. See nn.h for the conventions. */
#include "nn/nn.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef PETIT_BLAS
#include <cblas.h>
#endif

/* ---- threads --------------------------------------------------------- */

/* The thread count is the calling thread's (OpenMP's nthreads-var is per
 * thread too): two translators on two threads each keep their own. A thread
 * that never chose (OpenMP's workers, a new application thread) gets the
 * count last chosen anywhere. */
static int g_threads_default = 1;
static _Thread_local int t_threads;

/* Below this many elements of work a parallel region costs more than it
 * saves (and on a busy machine, much more): run serially. */
#define PAR_MIN 32768

void nn_set_threads(int n) {
#ifdef _OPENMP
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
#else
    n = 1;
#endif
#ifdef PETIT_BLAS
    openblas_set_num_threads(1); /* nn_sgemm does the threading */
#endif
    t_threads = n;
    __atomic_store_n(&g_threads_default, n, __ATOMIC_RELAXED);
}

int nn_threads(void) { return t_threads ? t_threads : __atomic_load_n(&g_threads_default, __ATOMIC_RELAXED); }

const char *nn_backend(void) {
#ifdef PETIT_BLAS
    return "openblas";
#else
    return "builtin";
#endif
}

/* ---- reductions ------------------------------------------------------ */

/* Dot product and sum with 8 independent partial sums, combined in a fixed
 * order: the compiler vectorizes them without -ffast-math, and the result
 * does not depend on threads. */
static inline float dot8(const float *a, const float *b, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline float sum8(const float *a, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i];
    return s;
}

float nn_dot(const float *a, const float *b, int n) { return dot8(a, b, n); }

/* Inside a parallel region: this thread's share [*c0, *c1) of n columns. */
static void thread_cols(int n, int *c0, int *c1) {
    int nt = 1, t = 0;
#ifdef _OPENMP
    nt = omp_get_num_threads();
    t = omp_get_thread_num();
#endif
    *c0 = (int)((long)n * t / nt);
    *c1 = (int)((long)n * (t + 1) / nt);
}

/* ---- GEMM ------------------------------------------------------------ */

/* The reference: one C element at a time for dot-shaped products, row
 * updates for axpy-shaped ones, so each loop runs over contiguous memory. */
void nn_sgemm_ref(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc) {
#pragma omp parallel for schedule(static) if ((long)M * N * K > PAR_MIN)
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        if (beta == 0.0f) memset(c, 0, (size_t)N * sizeof(float));
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++) c[j] *= beta;
        if (!ta && tb) { /* C = A B^T: dot products of rows */
            const float *a = A + (size_t)i * lda;
            for (int j = 0; j < N; j++) c[j] += dot8(a, B + (size_t)j * ldb, K);
        } else {
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                if (a == 0.0f) continue;
                if (!tb) {
                    const float *b = B + (size_t)k * ldb;
                    for (int j = 0; j < N; j++) c[j] += a * b[j];
                } else {
                    for (int j = 0; j < N; j++) c[j] += a * B[(size_t)j * ldb + k];
                }
            }
        }
    }
}

/* With CBLAS: OpenBLAS runs single-threaded and the threads here split C
 * into column or row blocks, one sgemm call each. Mixing OpenBLAS's own
 * thread pool with OpenMP's makes them fight over the cores (badly so on a
 * busy 2-core machine), and this way every element of C is computed by the
 * same kernel with the same K order for any thread count. */
void nn_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
#ifdef PETIT_BLAS
    if (K <= 0) {
        nn_sgemm_ref(ta, tb, M, N, 0, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int nt = nn_threads();
    if (nt <= 1 || (double)M * N * K < 4e5) {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int split_n = N >= M; /* split the larger side */
    int len = split_n ? N : M;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int t = 0; t < nt; t++) {
        int a0 = (int)((long)len * t / nt), a1 = (int)((long)len * (t + 1) / nt);
        a0 &= ~15, a1 = t == nt - 1 ? len : a1 & ~15; /* blocks on 16-column boundaries */
        if (a1 <= a0) continue;
        if (split_n) {
            const float *Bb = tb ? B + (size_t)a0 * ldb : B + a0;
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        M, a1 - a0, K, 1.0f, A, lda, Bb, ldb, beta, C + a0, ldc);
        } else {
            const float *Ab = ta ? A + a0 : A + (size_t)a0 * lda;
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        a1 - a0, N, K, 1.0f, Ab, lda, B, ldb, beta, C + (size_t)a0 * ldc, ldc);
        }
    }
#else
    nn_sgemm_ref(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
#endif
}

/* ---- linear ---------------------------------------------------------- */

void nn_linear(float *Y, const float *X, const float *W, const float *b, int N, int in, int out) {
    nn_sgemm(0, 1, N, out, in, X, in, W, in, 0.0f, Y, out);
    if (b) {
#pragma omp parallel for schedule(static) if ((long)N * out > PAR_MIN)
        for (int r = 0; r < N; r++) {
            float *y = Y + (size_t)r * out;
            for (int c = 0; c < out; c++) y[c] += b[c];
        }
    }
}

void nn_colsum_acc(float *db, const float *dY, int N, int C) {
    /* threads split the columns; each column sums its rows in order */
#pragma omp parallel if ((long)N * C > PAR_MIN)
    {
        int c0, c1;
        thread_cols(C, &c0, &c1);
        for (int r = 0; r < N; r++) {
            const float *d = dY + (size_t)r * C;
            for (int c = c0; c < c1; c++) db[c] += d[c];
        }
    }
}

void nn_linear_backward(float *dX, float beta, float *dW, float *db, const float *dY,
                        const float *X, const float *W, int N, int in, int out) {
    if (dX) nn_sgemm(0, 0, N, in, out, dY, out, W, in, beta, dX, in);
    if (dW) nn_sgemm(1, 0, out, in, N, dY, out, X, in, 1.0f, dW, in);
    if (db) nn_colsum_acc(db, dY, N, out);
}

/* ---- LayerNorm ------------------------------------------------------- */

void nn_layernorm(float *out, float *mean, float *rstd, const float *x, const float *w,
                  const float *b, int N, int D, float eps) {
#pragma omp parallel for schedule(static) if ((long)N * D > PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * D;
        float *o = out + (size_t)r * D;
        float m = sum8(xr, D) / (float)D;
        float acc[8] = {0}, v;
        int i = 0;
        for (; i + 8 <= D; i += 8)
            for (int k = 0; k < 8; k++) acc[k] += (xr[i + k] - m) * (xr[i + k] - m);
        v = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for (; i < D; i++) v += (xr[i] - m) * (xr[i] - m);
        v /= (float)D;
        float s = 1.0f / sqrtf(v + eps);
        for (i = 0; i < D; i++) o[i] = (xr[i] - m) * s * w[i] + b[i];
        mean[r] = m;
        rstd[r] = s;
    }
}

void nn_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                           const float *mean, const float *rstd, const float *w, int N, int D) {
#pragma omp parallel for schedule(static) if ((long)N * D > PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * D, *g = dout + (size_t)r * D;
        float *d = dx + (size_t)r * D;
        float m = mean[r], s = rstd[r];
        float a = 0.0f, c = 0.0f; /* mean(dxhat), mean(dxhat * xhat) */
        for (int i = 0; i < D; i++) {
            float xh = (xr[i] - m) * s, dxh = g[i] * w[i];
            a += dxh;
            c += dxh * xh;
        }
        a /= (float)D;
        c /= (float)D;
        for (int i = 0; i < D; i++) {
            float xh = (xr[i] - m) * s;
            d[i] += s * (g[i] * w[i] - a - xh * c);
        }
    }
    /* parameter gradients: columns split across threads, rows in order */
#pragma omp parallel if ((long)N * D > PAR_MIN)
    {
        int c0, c1;
        thread_cols(D, &c0, &c1);
        for (int r = 0; r < N; r++) {
            const float *xr = x + (size_t)r * D, *g = dout + (size_t)r * D;
            float m = mean[r], s = rstd[r];
            for (int i = c0; i < c1; i++) {
                dw[i] += g[i] * (xr[i] - m) * s;
                db[i] += g[i];
            }
        }
    }
}

/* ---- activations ----------------------------------------------------- */

void nn_act(float *out, const float *in, size_t n, int act) {
    if (act == NN_ACT_RELU) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
    } else if (act == NN_ACT_GELU) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (size_t i = 0; i < n; i++) out[i] = 0.5f * in[i] * (1.0f + erff(in[i] * 0.70710678118654752f));
    } else {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (size_t i = 0; i < n; i++) out[i] = in[i] / (1.0f + expf(-in[i]));
    }
}

void nn_act_backward(float *din, const float *dout, const float *in, size_t n, int act) {
    if (act == NN_ACT_RELU) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (size_t i = 0; i < n; i++) din[i] = in[i] > 0.0f ? dout[i] : 0.0f;
    } else if (act == NN_ACT_GELU) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float x = in[i];
            din[i] = dout[i] * (0.5f * (1.0f + erff(x * 0.70710678118654752f)) +
                                x * 0.39894228040143268f * expf(-0.5f * x * x));
        }
    } else {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float sg = 1.0f / (1.0f + expf(-in[i]));
            din[i] = dout[i] * sg * (1.0f + in[i] * (1.0f - sg));
        }
    }
}

/* ---- elementwise ----------------------------------------------------- */

void nn_dropout(float *x, size_t n, float p, uint64_t key) {
    if (p <= 0.0f) return;
    float scale = 1.0f / (1.0f - p);
    uint32_t thr = (uint32_t)(p * 65536.0f);
    /* one 64-bit hash gives the 16-bit uniforms of 4 consecutive elements */
    size_t groups = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t g = 0; g < groups; g++) {
        uint64_t r = pt_hash_u64(key ^ (uint64_t)g);
        for (size_t i = 4 * g; i < 4 * g + 4 && i < n; i++, r >>= 16)
            x[i] = ((uint32_t)r & 0xffffu) >= thr ? x[i] * scale : 0.0f;
    }
}

void nn_add(float *x, const float *y, size_t n) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

void nn_add3(float *out, const float *x, const float *y, size_t n) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = x[i] + y[i];
}

/* ---- attention ------------------------------------------------------- */

void nn_attend(float *out, float *p, const float *q, const float *k, const float *v, int ld,
               int n, int dh, float scale) {
    float mx = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        p[j] = scale * dot8(q, k + (size_t)j * ld, dh);
        if (p[j] > mx) mx = p[j];
    }
    float inv = 1.0f / nn_exp_sub_sum(p, n, mx);
    for (int j = 0; j < n; j++) p[j] *= inv;
    memset(out, 0, (size_t)dh * sizeof(float));
    for (int j = 0; j < n; j++) {
        const float *vj = v + (size_t)j * ld;
        float pj = p[j];
        for (int d = 0; d < dh; d++) out[d] += pj * vj[d];
    }
}

/* where head h's map rows start inside one batch row's maps */
static size_t head_ofs(const nn_mask *m, int h, int Tq, int Tk) {
    size_t o = 0;
    for (int g = 0; g < h; g++) o += (size_t)nn_mask_width(m, g, Tk);
    return o * (size_t)Tq;
}

void nn_attention(float *ctx, float *P, const float *q, int ldq, const float *k,
                  const float *v, int ldkv, int B, int Tq, int Tk, int H, int dh,
                  const nn_mask *m) {
    const float scale = 1.0f / sqrtf((float)dh);
    const int D = H * dh;
    const size_t cols = nn_mask_pcols(m, H, Tk);
#pragma omp parallel for schedule(static) collapse(2) if ((long)B * H * Tq * Tk * dh > PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int w = nn_mask_width(m, h, Tk);
            float *Pbh = P + (size_t)b * Tq * cols + head_ofs(m, h, Tq, Tk);
            for (int i = 0; i < Tq; i++) {
                float *p = Pbh + (size_t)i * w;
                int j0, st, n = nn_mask_span(m, b, h, i, Tk, &j0, &st);
                nn_attend(ctx + (size_t)(b * Tq + i) * D + h * dh, p, q + (size_t)(b * Tq + i) * ldq + h * dh,
                          k + (size_t)(b * Tk + j0) * ldkv + h * dh, v + (size_t)(b * Tk + j0) * ldkv + h * dh,
                          ldkv * st, n, dh, scale);
                for (int s = n; s < w; s++) p[s] = 0.0f;
            }
        }
}

void nn_attention_backward(float *dq, float *dk, float *dv, float *dS, const float *dctx,
                           const float *P, const float *q, int ldq, const float *k,
                           const float *v, int ldkv, int B, int Tq, int Tk, int H, int dh,
                           const nn_mask *m) {
    const float scale = 1.0f / sqrtf((float)dh);
    const int D = H * dh;
    const size_t cols = nn_mask_pcols(m, H, Tk);
#pragma omp parallel for schedule(static) collapse(2) if ((long)B * H * Tq * Tk * dh > PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int w = nn_mask_width(m, h, Tk);
            size_t o = (size_t)b * Tq * cols + head_ofs(m, h, Tq, Tk);
            /* dS = P * (dP - rowsum(P * dP)), dP = dctx v^T */
            for (int i = 0; i < Tq; i++) {
                const float *g = dctx + (size_t)(b * Tq + i) * D + h * dh;
                const float *p = P + o + (size_t)i * w;
                float *ds = dS + o + (size_t)i * w;
                int j0, st, n = nn_mask_span(m, b, h, i, Tk, &j0, &st);
                const float *vb = v + (size_t)(b * Tk + j0) * ldkv + h * dh;
                const float *kb = k + (size_t)(b * Tk + j0) * ldkv + h * dh;
                size_t ld = (size_t)ldkv * st;
                float dot = 0.0f;
                for (int s = 0; s < n; s++) {
                    float x = dot8(g, vb + s * ld, dh);
                    ds[s] = x;
                    dot += x * p[s];
                }
                for (int s = 0; s < n; s++) ds[s] = p[s] * (ds[s] - dot) * scale;
                for (int s = n; s < w; s++) ds[s] = 0.0f;
                /* dq_i = sum_j dS_ij k_j */
                float *dqi = dq + (size_t)(b * Tq + i) * ldq + h * dh;
                memset(dqi, 0, (size_t)dh * sizeof(float));
                for (int s = 0; s < n; s++) {
                    const float *kj = kb + s * ld;
                    for (int d = 0; d < dh; d++) dqi[d] += ds[s] * kj[d];
                }
            }
            /* dk_j = sum_i dS_ij q_i ; dv_j = sum_i P_ij dctx_i, rows updated in
             * order of i (contiguous rows of dh floats) */
            for (int j = 0; j < Tk; j++) {
                memset(dk + (size_t)(b * Tk + j) * ldkv + h * dh, 0, (size_t)dh * sizeof(float));
                memset(dv + (size_t)(b * Tk + j) * ldkv + h * dh, 0, (size_t)dh * sizeof(float));
            }
            for (int i = 0; i < Tq; i++) {
                const float *qi = q + (size_t)(b * Tq + i) * ldq + h * dh;
                const float *g = dctx + (size_t)(b * Tq + i) * D + h * dh;
                const float *p = P + o + (size_t)i * w;
                const float *ds = dS + o + (size_t)i * w;
                int j0, st, n = nn_mask_span(m, b, h, i, Tk, &j0, &st);
                size_t ld = (size_t)ldkv * st;
                float *dkb = dk + (size_t)(b * Tk + j0) * ldkv + h * dh;
                float *dvb = dv + (size_t)(b * Tk + j0) * ldkv + h * dh;
                for (int s = 0; s < n; s++) {
                    float *dkj = dkb + s * ld, *dvj = dvb + s * ld;
                    float sj = ds[s], pj = p[s];
                    for (int d = 0; d < dh; d++) {
                        dkj[d] += sj * qi[d];
                        dvj[d] += pj * g[d];
                    }
                }
            }
        }
}

/* ---- loss ------------------------------------------------------------ */

static double xent_row(float *g, const float *z, int label, int V, float eps, float scale) {
    float mx = -FLT_MAX;
    for (int v = 0; v < V; v++)
        if (z[v] > mx) mx = z[v];
    float sum = 0.0f, zsum = 0.0f;
    for (int v = 0; v < V; v++) {
        sum += expf(z[v] - mx);
        zsum += z[v];
    }
    double lse = (double)mx + log((double)sum);
    /* -log p_y = lse - z_y ; sum_v -log p_v = V*lse - sum z */
    double loss = (1.0 - eps) * (lse - z[label]) + (eps / V) * (V * lse - zsum);
    if (g) {
        float off = eps / (float)V, mx2 = (float)(lse - (double)mx), fm = mx;
        for (int v = 0; v < V; v++) g[v] = (expf((z[v] - fm) - mx2) - off) * scale;
        g[label] -= (1.0f - eps) * scale;
    }
    return loss;
}

double nn_xent_backward(float *logits, const int *labels, int N, int V, float smoothing,
                        int ignore, float scale) {
    double *row = pt_malloc((size_t)(N > 0 ? N : 1) * sizeof(double));
#pragma omp parallel for schedule(static) if ((long)N * V > PAR_MIN)
    for (int r = 0; r < N; r++) {
        float *z = logits + (size_t)r * V;
        if (labels[r] == ignore) {
            memset(z, 0, (size_t)V * sizeof(float));
            row[r] = 0.0;
        } else {
            row[r] = xent_row(z, z, labels[r], V, smoothing, scale);
        }
    }
    double s = 0.0;
    for (int r = 0; r < N; r++) s += row[r];
    free(row);
    return s;
}

/* Distillation row: (1-alpha) * smoothed CE + alpha * tau^2 * KL(p || softmax(z/tau)),
 * p over the k entries ids (ids NULL: all V). Gradient (times scale) into g. */
static double kd_row(float *g, const float *z, int label, const int *ids, const float *p, int k, int V,
                     float eps, float alpha, float tau, float scale) {
    float mx = -FLT_MAX;
    for (int v = 0; v < V; v++)
        if (z[v] > mx) mx = z[v];
    double sum = 0.0, sumt = 0.0, zsum = 0.0;
    float it = 1.0f / tau;
    for (int v = 0; v < V; v++) {
        sum += expf(z[v] - mx);
        sumt += expf((z[v] - mx) * it);
        zsum += z[v];
    }
    double lse = (double)mx + log(sum); /* log sum exp z */
    double lset = log(sumt);            /* log sum exp (z - mx)/tau */
    double ce = (1.0 - eps) * (lse - z[label]) + (eps / V) * (V * lse - zsum);
    double kl = 0.0;
    for (int i = 0; i < k; i++) {
        int v = ids ? ids[i] : i;
        if (p[i] > 0.0f) kl += p[i] * (log((double)p[i]) - ((double)(z[v] - mx) * it - lset));
    }
    double loss = (1.0 - alpha) * ce + (double)alpha * tau * tau * kl;
    if (g) { /* in place: each g[v] reads only z[v] */
        float a1 = (1.0f - alpha) * scale, at = alpha * tau * scale, off = eps / (float)V;
        float s1 = (float)(lse - (double)mx), st = (float)lset;
        for (int v = 0; v < V; v++) {
            float d = z[v] - mx;
            g[v] = a1 * (expf(d - s1) - off) + at * expf(d * it - st);
        }
        g[label] -= a1 * (1.0f - eps);
        for (int i = 0; i < k; i++) g[ids ? ids[i] : i] -= at * p[i];
    }
    return loss;
}

double nn_kd_backward(float *logits, const int *labels, const int *t_ids, const float *t_p, int k, int N,
                      int V, float smoothing, float alpha, float tau, int ignore, float scale) {
    double *row = pt_malloc((size_t)(N > 0 ? N : 1) * sizeof(double));
#pragma omp parallel for schedule(static) if ((long)N * V > PAR_MIN)
    for (int r = 0; r < N; r++) {
        float *z = logits + (size_t)r * V;
        if (labels[r] == ignore) {
            memset(z, 0, (size_t)V * sizeof(float));
            row[r] = 0.0;
        } else {
            row[r] = kd_row(z, z, labels[r], t_ids ? t_ids + (size_t)r * k : NULL, t_p + (size_t)r * k, k, V,
                            smoothing, alpha, tau, scale);
        }
    }
    double s = 0.0;
    for (int r = 0; r < N; r++) s += row[r];
    free(row);
    return s;
}

double nn_kd(const float *logits, const int *labels, const int *t_ids, const float *t_p, int k, int N, int V,
             float smoothing, float alpha, float tau, int ignore) {
    double s = 0.0;
    for (int r = 0; r < N; r++)
        if (labels[r] != ignore)
            s += kd_row(NULL, logits + (size_t)r * V, labels[r], t_ids ? t_ids + (size_t)r * k : NULL,
                        t_p + (size_t)r * k, k, V, smoothing, alpha, tau, 0);
    return s;
}

void nn_soft_targets(int *ids, float *p, const float *logits, int N, int V, int k, float tau) {
#pragma omp parallel for schedule(static) if ((long)N * V > PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *z = logits + (size_t)r * V;
        float *pr = p + (size_t)r * k;
        float mx = -FLT_MAX, it = 1.0f / tau;
        for (int v = 0; v < V; v++)
            if (z[v] > mx) mx = z[v];
        if (k >= V) {
            double s = 0.0;
            for (int v = 0; v < V; v++) s += pr[v] = expf((z[v] - mx) * it);
            for (int v = 0; v < V; v++) pr[v] = (float)(pr[v] / s);
            continue;
        }
        /* the k largest logits, kept sorted by insertion (k is small) */
        int *ir = ids + (size_t)r * k, n = 0;
        for (int v = 0; v < V; v++) {
            if (n == k && z[v] <= z[ir[k - 1]]) continue;
            int j = n < k ? n++ : k - 1;
            while (j > 0 && z[ir[j - 1]] < z[v]) ir[j] = ir[j - 1], j--;
            ir[j] = v;
        }
        double s = 0.0;
        for (int i = 0; i < k; i++) s += pr[i] = expf((z[ir[i]] - mx) * it);
        for (int i = 0; i < k; i++) pr[i] = (float)(pr[i] / s);
    }
}

double nn_xent(const float *logits, const int *labels, int N, int V, float smoothing, int ignore) {
    double s = 0.0;
    for (int r = 0; r < N; r++)
        if (labels[r] != ignore) s += xent_row(NULL, logits + (size_t)r * V, labels[r], V, smoothing, 0);
    return s;
}
