/* linear_rows.c: Y (N, out) = X (N, in) W^T + b for few rows, without packing.
 *
 * The decoder's per-step linear layers have N = batch x beam rows (1..128)
 * and weights mmapped from the model file. nn_linear hands them to
 * OpenBLAS's sgemm, which copies (packs) a panel of W on every call; for so
 * few rows the packing costs a large share of the product. Here W is read
 * where it lies: since W is (out, in) row-major, each output column is the
 * dot product of a row of X with a row of W, both contiguous.
 *
 * The AVX2/FMA kernel computes a tile of LR_R rows of X by LR_C rows of W in
 * LR_R x LR_C vector accumulators of 8 floats: per step of 8 along k it
 * loads LR_R + LR_C vectors and does LR_R x LR_C FMAs. For one block of LR_C
 * rows of W the tiles sweep down the rows of X, so the block stays in L1
 * while X streams from L2 (X is cut into chunks of LR_XBYTES, one pass over W
 * each). The first tile of a block prefetches the next block of W into L2,
 * and every tile the next line of its rows of Y: W and Y usually come from
 * L3 or memory, and the hardware prefetchers miss these short strided
 * streams. Threads split the output columns (the rows of W) into contiguous
 * ranges of blocks.
 *
 * Every element Y[i, j] is computed by the same sequence of operations
 * whatever tile, thread or N it falls in: 8 lanes of FMAs in k order, the
 * last in % 8 elements in lanes 0..in%8-1 (masked loads, the other lanes
 * add exact zeros), the lanes summed as ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)),
 * then + b[j]. So the result is the same bits for any thread count, and a
 * row's result does not depend on the other rows of the batch. It is not
 * the same bits as nn_linear (OpenBLAS, or nn_sgemm_ref's mul-then-add).
 *
 * The portable version below (nn_isa() scalar, or a CPU without AVX2)
 * computes one element at a time with the same lane structure (separate
 * multiply and add).
 *
 * Not here: backward, transposed W, strided X or Y, other ISAs. */
#include <stddef.h>
#include <stdint.h>

#include "nn/isa.h"
#include "nn/nn.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef NN_X86
#include <immintrin.h>
#endif

/* Tile shape: rows of X x rows of W. 12 accumulators + 3 or 4 operands fill
 * the 16 ymm registers. Override with -DLR_R=.. -DLR_C=.. to experiment
 * (LR_R <= 6, LR_C <= 8); see bench/linear_rows.c. */
#ifndef LR_R
#define LR_R 3
#endif
#ifndef LR_C
#define LR_C 4
#endif

/* Rows of X per pass over W: at most this many bytes of X, so that they
 * stay in L2 while a pass reads all of W. */
#ifndef LR_XBYTES
#define LR_XBYTES (256 * 1024)
#endif

/* Below this many multiply-adds the product runs on one thread (as nn_sgemm). */
#define LR_PAR_MIN 400000.0

typedef void columns_fn(float *Y, const float *X, const float *W, const float *b, int N, int in, int out, int j);

#ifdef NN_X86
NN_TARGET_BEGIN_AVX2

#define LR_INLINE static inline __attribute__((always_inline))

/* Lanes of a, b, c, d summed, each as ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)):
 * returns (sum a, sum b, sum c, sum d). Each result lane depends only on its
 * own input vector. */
LR_INLINE __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 ab = _mm256_hadd_ps(a, b); /* a01 a23 b01 b23 | a45 a67 b45 b67 */
    __m256 cd = _mm256_hadd_ps(c, d);
    __m256 s = _mm256_hadd_ps(ab, cd); /* a0123 b0123 c0123 d0123 | a4567 .. */
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* lanes 0..n-1 set, for n = 0..8 */
LR_INLINE __m256i tail_mask(int n) {
    static const int32_t bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(bits + 8 - n));
}

/* Y[r, c] (r < R, c < C; row stride ldy) = X[r, :] . W[c, :] + b[c].
 * R and C are constants once inlined, so acc lives in registers. */
LR_INLINE void tile(float *Y, int ldy, const float *X, const float *W, const float *b, int in,
                    const int R, const int C, const float *pf, int pfy) {
    if (pfy) /* the Y line after this one, in each row: written a few blocks on */
        for (int r = 0; r < R; r++) _mm_prefetch((const char *)(Y + (size_t)r * ldy + 16), _MM_HINT_T0);
    __m256 acc[LR_R][LR_C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    int k = 0;
    /* The smaller side's R or C vectors stay in registers, the other side's
     * stream one at a time: R + C loads and R x C FMAs per step. The empty
     * asm keeps GCC from folding the loads into the FMAs, which it would
     * otherwise do, loading one operand R or C times per step. */
    for (; k + 8 <= in; k += 8) {
        if (pf)
            for (int c = 0; c < C; c++) _mm_prefetch((const char *)(pf + (size_t)c * in + k), _MM_HINT_T1);
        if (R <= C) {
            __m256 x[LR_R];
            for (int r = 0; r < R; r++) {
                x[r] = _mm256_loadu_ps(X + (size_t)r * in + k);
                __asm__("" : "+x"(x[r]));
            }
            for (int c = 0; c < C; c++) {
                __m256 w = _mm256_loadu_ps(W + (size_t)c * in + k);
                __asm__("" : "+x"(w));
                for (int r = 0; r < R; r++) acc[r][c] = _mm256_fmadd_ps(x[r], w, acc[r][c]);
            }
        } else {
            __m256 w[LR_C];
            for (int c = 0; c < C; c++) {
                w[c] = _mm256_loadu_ps(W + (size_t)c * in + k);
                __asm__("" : "+x"(w[c]));
            }
            for (int r = 0; r < R; r++) {
                __m256 x = _mm256_loadu_ps(X + (size_t)r * in + k);
                __asm__("" : "+x"(x));
                for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(x, w[c], acc[r][c]);
            }
        }
    }
    if (k < in) { /* masked lanes load as 0: acc + 0*0 leaves them as they are */
        __m256i m = tail_mask(in - k);
        __m256 x[LR_R];
        for (int r = 0; r < R; r++) x[r] = _mm256_maskload_ps(X + (size_t)r * in + k, m);
        for (int c = 0; c < C; c++) {
            __m256 w = _mm256_maskload_ps(W + (size_t)c * in + k, m);
            for (int r = 0; r < R; r++) acc[r][c] = _mm256_fmadd_ps(x[r], w, acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++) {
        float *y = Y + (size_t)r * ldy;
        for (int c0 = 0; c0 < C; c0 += 4) {
            int n = C - c0 < 4 ? C - c0 : 4;
            /* pad a short group with copies of its last vector */
            __m256 a0 = acc[r][c0], a1 = acc[r][c0 + (n > 1)], a2 = acc[r][c0 + (n > 2 ? 2 : n - 1)],
                   a3 = acc[r][c0 + (n > 3 ? 3 : n - 1)];
            __m128 s = hsum4(a0, a1, a2, a3);
            if (n == 4) {
                if (b) s = _mm_add_ps(s, _mm_loadu_ps(b + c0));
                _mm_storeu_ps(y + c0, s);
            } else {
                float t[4];
                _mm_storeu_ps(t, s);
                for (int c = 0; c < n; c++) y[c0 + c] = b ? t[c] + b[c0 + c] : t[c];
            }
        }
    }
}

/* Y[r, c] for all N rows and C rows of W starting at W (C <= LR_C). */
LR_INLINE void column_block(float *Y, int ldy, const float *X, const float *W, const float *b,
                            int N, int in, const int C, const float *pfw, int pfy) {
    int r = 0;
    if (N >= LR_R) { /* the first tile also prefetches pfw, the next block of W */
        tile(Y, ldy, X, W, b, in, LR_R, C, pfw, pfy);
        r = LR_R;
    }
    for (; r + LR_R <= N; r += LR_R)
        tile(Y + (size_t)r * ldy, ldy, X + (size_t)r * in, W, b, in, LR_R, C, NULL, pfy);
    float *y = Y + (size_t)r * ldy;
    const float *x = X + (size_t)r * in;
    switch (N - r) { /* the last N % LR_R rows */
    case 0: break;
    case 1: tile(y, ldy, x, W, b, in, 1, C, NULL, pfy); break;
#if LR_R > 2
    case 2: tile(y, ldy, x, W, b, in, 2, C, NULL, pfy); break;
#endif
#if LR_R > 3
    case 3: tile(y, ldy, x, W, b, in, 3, C, NULL, pfy); break;
#endif
#if LR_R > 4
    case 4: tile(y, ldy, x, W, b, in, 4, C, NULL, pfy); break;
#endif
#if LR_R > 5
    case 5: tile(y, ldy, x, W, b, in, 5, C, NULL, pfy); break;
#endif
    }
}

/* Y[:, j:j+LR_C] or, at the end, the last columns one at a time */
static void columns_avx2(float *Y, const float *X, const float *W, const float *b, int N, int in, int out,
                    int j) {
    const float *w = W + (size_t)j * in, *bj = b ? b + j : NULL;
    if (j + LR_C <= out) {
        const float *next = j + 2 * LR_C <= out ? w + (size_t)LR_C * in : NULL;
        column_block(Y + j, out, X, w, bj, N, in, LR_C, next, j + 16 < out);
    } else {
        for (; j < out; j++, w += in, bj = b ? b + j : NULL)
            column_block(Y + j, out, X, w, bj, N, in, 1, NULL, 0);
    }
}

NN_TARGET_END
#endif /* NN_X86 */

/* ---- portable (nn_isa() scalar): the reference the AVX2 kernel is tested against */

/* X[0, :] . W[0, :] with the lane structure of the AVX2 kernel (multiply
 * and add rounded separately). */
static float dot_lanes(const float *x, const float *w, int in) {
    float l[8] = {0};
    int k = 0;
    for (; k + 8 <= in; k += 8)
        for (int i = 0; i < 8; i++) l[i] += x[k + i] * w[k + i];
    for (int i = 0; k + i < in; i++) l[i] += x[k + i] * w[k + i];
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

static void columns_scalar(float *Y, const float *X, const float *W, const float *b, int N, int in, int out,
                           int j) {
    int j1 = j + LR_C < out ? j + LR_C : out;
    for (int r = 0; r < N; r++)
        for (int c = j; c < j1; c++) {
            float s = dot_lanes(X + (size_t)r * in, W + (size_t)c * in, in);
            Y[(size_t)r * out + c] = b ? s + b[c] : s;
        }
}

void nn_linear_rows(float *Y, const float *X, const float *W, const float *b, int N, int in, int out) {
    if (N <= 0 || out <= 0) return;
    int nblocks = (out + LR_C - 1) / LR_C; /* block t: columns [t*LR_C, t*LR_C + LR_C) */
    /* rows per pass over W: a chunk of X that stays in L2 */
    int chunk = (int)(LR_XBYTES / ((size_t)(in > 0 ? in : 1) * sizeof(float))) / LR_R * LR_R;
    if (chunk < LR_R) chunk = LR_R;
    int nt = nn_threads();
    (void)nt; /* without OpenMP */
    columns_fn *columns = columns_scalar;
#ifdef NN_X86
    if (nn_isa() >= NN_ISA_AVX2) columns = columns_avx2;
#endif
#pragma omp parallel num_threads(nt) if (nt > 1 && (double)N * in * out >= LR_PAR_MIN)
    {
        int t0 = 0, t1 = nblocks;
#ifdef _OPENMP
        int n = omp_get_num_threads(), i = omp_get_thread_num();
        t0 = (int)((long)nblocks * i / n), t1 = (int)((long)nblocks * (i + 1) / n);
#endif
        for (int r = 0; r < N; r += chunk) {
            int rows = N - r < chunk ? N - r : chunk;
            for (int t = t0; t < t1; t++)
                columns(Y + (size_t)r * out, X + (size_t)r * in, W, b, rows, in, out, t * LR_C);
        }
    }
}
