/* packed.c: Y (N, out) = X (N, in) W^T + b with W repacked once into panels.
 *
 * nn_linear_rows reads W (out, in) where it lies: each output is the dot
 * product of two contiguous rows, so its kernel loads as many vectors as it
 * does FMAs per tile row and column, and sums the lanes at the end. Here W
 * is copied once, at load, into panels of NN_PANEL = 16 of its rows, each
 * stored k-major: panel p holds W[16p + c, k] at k * 16 + c. A tile of
 * PK_R = 6 rows of X by one panel keeps 6 x 2 vector accumulators; per k it
 * loads the panel's two vectors, broadcasts one float of each X row, and
 * does 12 FMAs (the usual register tile of a packed GEMM). No lane sums:
 * lane c of an accumulator is output column c.
 *
 * Order: threads split the panels into contiguous ranges; for each panel
 * the tiles sweep down the rows of X, so the panel (in x 64 bytes: 16 KB
 * for in = 256) stays in L1 or L2 while X streams from L2.
 *
 * Every element Y[i, j] is the FMA chain acc = fma(X[i, k], W[j, k], acc)
 * for k = 0 .. in-1 from acc = 0, then + b[j]: the same operations in the
 * same order whatever tile, thread, panel or N it falls in, so the result is
 * the same bits for any thread count and a row's result does not depend on
 * the other rows of the batch. The portable version (nn_isa() scalar, or no
 * AVX2) rounds the multiply and the add separately, in the same order.
 *
 * The packed copy takes ceil(out / 16) x 16 x in floats; nn_pmat_row gives a
 * row of W back (the tied embedding reads its rows from the output layer's
 * panels). */
#include <stddef.h>
#include <string.h>

#include "base/base.h"
#include "nn/isa.h"
#include "nn/nn.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef NN_X86
#include <immintrin.h>
#endif

#define PK_R 6          /* rows of X per tile */
#define PK_PAR_MIN 4e5  /* multiply-adds below which one thread does it all */

size_t nn_pmat_floats(int in, int out) { return (size_t)(out + NN_PANEL - 1) / NN_PANEL * NN_PANEL * in; }

void nn_pmat_pack(nn_pmat *p, float *buf, const float *W, int in, int out) {
    int np = (out + NN_PANEL - 1) / NN_PANEL;
    p->in = in, p->out = out, p->w = buf, p->owned = 0;
#pragma omp parallel for schedule(static) if ((double)in * out > 2e5)
    for (int q = 0; q < np; q++) {
        float *dst = buf + (size_t)q * NN_PANEL * in;
        int c1 = out - q * NN_PANEL < NN_PANEL ? out - q * NN_PANEL : NN_PANEL;
        const float *src[NN_PANEL];
        for (int c = 0; c < c1; c++) src[c] = W + ((size_t)q * NN_PANEL + c) * in;
        for (int k = 0; k < in; k++, dst += NN_PANEL) { /* writes in order, 16 read streams */
            for (int c = 0; c < c1; c++) dst[c] = src[c][k];
            for (int c = c1; c < NN_PANEL; c++) dst[c] = 0.0f;
        }
    }
}

void nn_pmat_init(nn_pmat *p, const float *W, int in, int out) {
    nn_pmat_pack(p, pt_alloc_aligned(nn_pmat_floats(in, out) * sizeof(float)), W, in, out);
    p->owned = 1;
}

void nn_pmat_free(nn_pmat *p) {
    if (!p) return;
    if (p->owned) pt_free_aligned(p->w);
    p->w = NULL;
}

size_t nn_pmat_bytes(const nn_pmat *p) {
    return (size_t)(p->out + NN_PANEL - 1) / NN_PANEL * NN_PANEL * p->in * sizeof(float);
}

void nn_pmat_row(const nn_pmat *p, int j, float *dst) {
    const float *s = p->w + (size_t)(j / NN_PANEL) * NN_PANEL * p->in + j % NN_PANEL;
    for (int k = 0; k < p->in; k++) dst[k] = s[(size_t)k * NN_PANEL];
}

typedef void panels_fn(float *Y, int ldy, const float *X, int N, int in, const float *W, const float *b, int q0,
                       int q1, int np, int nc_last);

#ifdef NN_X86
NN_TARGET_BEGIN_AVX2

#define PK_INLINE static inline __attribute__((always_inline))

/* Y[r, c] (r < R, row stride ldy; c < 16 (P - 1) + nc) for P consecutive
 * panels from pw, nc columns of the last one. R and P are constants once
 * inlined (R x 2P <= 12), so the accumulators live in registers: with few
 * rows, more panels keep enough FMA chains in flight. */
PK_INLINE void tile(float *Y, int ldy, const float *X, int in, const float *pw, const float *b, int nc,
                    const int R, const int P) {
    const size_t ps = (size_t)in * NN_PANEL; /* floats from one panel to the next */
    __m256 acc[PK_R][12];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
#pragma GCC unroll 12
        for (int v = 0; v < 2 * P; v++) acc[r][v] = _mm256_setzero_ps();
    for (int k = 0; k < in; k++) {
        __m256 w[12];
#pragma GCC unroll 12
        for (int v = 0; v < 2 * P; v++) w[v] = _mm256_load_ps(pw + (size_t)(v >> 1) * ps + (size_t)k * NN_PANEL + 8 * (v & 1));
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            __m256 x = _mm256_broadcast_ss(X + (size_t)r * in + k);
#pragma GCC unroll 12
            for (int v = 0; v < 2 * P; v++) acc[r][v] = _mm256_fmadd_ps(x, w[v], acc[r][v]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        float *y = Y + (size_t)r * ldy;
#pragma GCC unroll 12
        for (int v = 0; v < 2 * P; v++) {
            int c0 = 8 * v, n = v < 2 * P - 2 ? 8 : nc - 8 * (v & 1); /* columns of this vector */
            if (n >= 8) {
                __m256 s = b ? _mm256_add_ps(acc[r][v], _mm256_loadu_ps(b + c0)) : acc[r][v];
                _mm256_storeu_ps(y + c0, s);
            } else if (n > 0) { /* the last, partial panel */
                float t[8];
                _mm256_storeu_ps(t, acc[r][v]);
                for (int c = 0; c < n; c++) y[c0 + c] = b ? t[c] + b[c0 + c] : t[c];
            }
        }
    }
}

/* Y[:, 16 q0 .. 16 q1) for all N rows: panels [q0, q1), the last nc_last
 * columns wide (the others 16). Full tiles of PK_R rows one panel at a time
 * (the panel stays in cache while X streams), then the N % PK_R last rows
 * over several panels at once. */
static void panels_avx2(float *Y, int ldy, const float *X, int N, int in, const float *W, const float *b, int q0,
                        int q1, int np, int nc_last) {
    const size_t ps = (size_t)in * NN_PANEL;
    for (int q = q0; q < q1; q++) {
        int nc = q == np - 1 ? nc_last : NN_PANEL;
        const float *pw = W + (size_t)q * ps, *bq = b ? b + (size_t)q * NN_PANEL : NULL;
        for (int r = 0; r + PK_R <= N; r += PK_R)
            tile(Y + (size_t)r * ldy + (size_t)q * NN_PANEL, ldy, X + (size_t)r * in, in, pw, bq, nc, PK_R, 1);
    }
    int r = N / PK_R * PK_R, R = N - r;
    if (!R) return;
    int P = R == 1 ? 6 : R == 2 ? 3 : R == 3 ? 2 : 1;
    float *y = Y + (size_t)r * ldy;
    const float *x = X + (size_t)r * in;
    for (int q = q0; q < q1;) {
        int p = q1 - q >= P ? P : 1, nc = q + p == np ? nc_last : NN_PANEL;
        const float *pw = W + (size_t)q * ps, *bq = b ? b + (size_t)q * NN_PANEL : NULL;
        float *yq = y + (size_t)q * NN_PANEL;
#define PK_TILE(RR, PP) tile(yq, ldy, x, in, pw, bq, nc, RR, PP)
        if (p == 1) switch (R) {
            case 1: PK_TILE(1, 1); break;
            case 2: PK_TILE(2, 1); break;
            case 3: PK_TILE(3, 1); break;
            case 4: PK_TILE(4, 1); break;
            default: PK_TILE(5, 1); break;
            }
        else switch (R) {
            case 1: PK_TILE(1, 6); break;
            case 2: PK_TILE(2, 3); break;
            default: PK_TILE(3, 2); break;
            }
#undef PK_TILE
        q += p;
    }
}

NN_TARGET_END
#endif /* NN_X86 */

/* portable (nn_isa() scalar): the same chain, multiply and add rounded separately */
static void panels_scalar(float *Y, int ldy, const float *X, int N, int in, const float *W, const float *b, int q0,
                   int q1, int np, int nc_last) {
    for (int q = q0; q < q1; q++) {
        const float *pw = W + (size_t)q * in * NN_PANEL;
        int nc = q == np - 1 ? nc_last : NN_PANEL;
        for (int r = 0; r < N; r++)
            for (int c = 0; c < nc; c++) {
                float acc = 0.0f;
                for (int k = 0; k < in; k++) acc += X[(size_t)r * in + k] * pw[(size_t)k * NN_PANEL + c];
                size_t j = (size_t)q * NN_PANEL + c;
                Y[(size_t)r * ldy + j] = b ? acc + b[j] : acc;
            }
    }
}

void nn_plinear(float *Y, const float *X, const nn_pmat *W, const float *b, int N) {
    int in = W->in, out = W->out, np = (out + NN_PANEL - 1) / NN_PANEL;
    if (N <= 0 || out <= 0) return;
    int nt = nn_threads(), last = out - (np - 1) * NN_PANEL;
    /* chunks of panels handed out as threads come free: a thread slowed by
     * the machine's other work does fewer (the results do not depend on it) */
    int cs = (np + 4 * nt - 1) / (4 * nt);
    cs = cs < 6 ? (np < 6 ? np : 6) : (cs + 5) / 6 * 6; /* whole groups for the last rows' tiles */
    int nch = (np + cs - 1) / cs;
    (void)nt, (void)nch; /* without OpenMP */
    panels_fn *panels = panels_scalar;
#ifdef NN_X86
    if (nn_isa() >= NN_ISA_AVX2) panels = panels_avx2;
#endif
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1 && nch > 1 && (double)N * in * out >= PK_PAR_MIN)
    for (int ch = 0; ch < nch; ch++) {
        int q0 = ch * cs, q1 = q0 + cs < np ? q0 + cs : np;
        panels(Y, out, X, N, in, W->w, b, q0, q1, np, last);
    }
}
