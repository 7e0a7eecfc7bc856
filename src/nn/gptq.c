/* gptq: GPTQ for one weight matrix (see gptq.h for the algorithm).
 *
 * Layout: H, its factors and H^-1 are (n, n) double, row-major; only upper
 * triangles are kept up to date. U, the upper Cholesky factor of H^-1, is
 * turned into float for the sweep, which runs in float like the paper's
 * reference (PyTorch, fp32). Every parallel loop splits independent rows
 * and keeps each element's order of operations, so the result does not
 * depend on the thread count.
 */
#include "nn/gptq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "nn/quant.h"

#define GPTQ_BLOCK 128 /* columns per lazy batch (a multiple of NN_QK) */
#define GPTQ_TILE 16   /* rows swept together, so each U row is read once per tile */

void nn_gptq_accumulate(double *H, const float *X, int n, int in) {
    /* row i of H belongs to one thread; X is walked in chunks of rows so a
     * chunk stays in cache while every thread reads it */
    for (int r0 = 0; r0 < n; r0 += 64) {
        int r1 = r0 + 64 < n ? r0 + 64 : n;
#pragma omp parallel for schedule(static) if ((double)(r1 - r0) * in * in > 1e6)
        for (int i = 0; i < in; i++) {
            double *hi = H + (size_t)i * in;
            for (int r = r0; r < r1; r++) {
                const float *x = X + (size_t)r * in;
                double xi = x[i];
                if (xi == 0.0) continue;
                for (int j = 0; j < in; j++) hi[j] += xi * x[j];
            }
        }
    }
}

/* A = R^T R with R upper, over A's upper triangle. Right-looking, so the
 * inner loop is a contiguous update of a row. Single-threaded: a parallel
 * loop per pivot means n barriers, which stall badly when cores are busy
 * (0.1 s for n = 1024 as it is). Returns the failing pivot
 * (not > 0, or not finite) or -1 when A is positive definite. */
static int chol_upper(double *A, int n) {
    for (int k = 0; k < n; k++) {
        double *rk = A + (size_t)k * n;
        if (!(rk[k] > 0.0) || !isfinite(rk[k])) return k;
        double d = sqrt(rk[k]), inv = 1.0 / d;
        rk[k] = d;
        for (int j = k + 1; j < n; j++) rk[j] *= inv;
        for (int i = k + 1; i < n; i++) {
            double *ri = A + (size_t)i * n, f = rk[i];
            for (int j = i; j < n; j++) ri[j] -= f * rk[j];
        }
    }
    return -1;
}

/* upper triangle of A^-1 = R^-1 R^-T, given R (upper) in A's upper
 * triangle; V, T are (n, n) scratch. V = R^-1 by back substitution, row by
 * row from the bottom: V[i][j] = -(sum_{i<k<=j} R[i][k] V[k][j]) / R[i][i]. */
static void chol_inverse(double *A, double *V, double *T, int n) {
    memset(V, 0, (size_t)n * n * sizeof *V);
    for (int i = n - 1; i >= 0; i--) {
        const double *ri = A + (size_t)i * n;
        double *vi = V + (size_t)i * n;
        for (int k = i + 1; k < n; k++) {
            const double *vk = V + (size_t)k * n;
            for (int j = k; j < n; j++) vi[j] += ri[k] * vk[j];
        }
        double inv = 1.0 / ri[i];
        for (int j = i + 1; j < n; j++) vi[j] *= -inv;
        vi[i] = inv;
    }
    /* T = V^T (lower), so that A^-1[i][j] = sum_{k >= j} V[i][k] T[k][j]
     * is a sum of contiguous rows of T */
    for (int i = 0; i < n; i++)
        for (int k = i; k < n; k++) T[(size_t)k * n + i] = V[(size_t)i * n + k];
#pragma omp parallel for schedule(dynamic, 8)
    for (int i = 0; i < n; i++) {
        double *ai = A + (size_t)i * n;
        const double *vi = V + (size_t)i * n;
        for (int j = i; j < n; j++) ai[j] = 0.0;
        for (int k = i; k < n; k++) {
            const double *tk = T + (size_t)k * n;
            for (int j = i; j <= k; j++) ai[j] += vi[k] * tk[j];
        }
    }
}

/* U (n, n float, upper) with U^T U = (H + damp)^-1; dead inputs already
 * handled in A. 0, or -1 with the failing pivot in *piv. */
static int hinv_factor(float *U, double *A, double *V, double *T, int n, int *piv) {
    if ((*piv = chol_upper(A, n)) >= 0) return -1;
    chol_inverse(A, V, T, n);
    if ((*piv = chol_upper(A, n)) >= 0) return -1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) U[(size_t)i * n + j] = j >= i ? (float)A[(size_t)i * n + j] : 0.0f;
    return 0;
}

/* Sweep rows r0..r1 (at most GPTQ_TILE) of W through all columns. */
static void sweep_tile(int type, unsigned char *dst, float *W, int r0, int r1, int cols, const float *U) {
    size_t row_bytes = nn_qrow_bytes(type, cols), block_bytes = nn_qrow_bytes(type, NN_QK);
    float E[GPTQ_TILE][GPTQ_BLOCK]; /* scaled errors of the batch, per row */
    float d[GPTQ_TILE];             /* each row's scale of the current group */
    int code[GPTQ_TILE][NN_QK];
    for (int b0 = 0; b0 < cols; b0 += GPTQ_BLOCK) {
        int b1 = b0 + GPTQ_BLOCK < cols ? b0 + GPTQ_BLOCK : cols;
        for (int j = b0; j < b1; j++) {
            const float *uj = U + (size_t)j * cols;
            for (int r = r0; r < r1; r++) {
                float *w = W + (size_t)r * cols;
                int t = r - r0;
                /* scale from the group's current weights: earlier batches
                 * are applied, and updates within a batch are immediate */
                if (j % NN_QK == 0) d[t] = nn_qblock_scale(type, w + j);
                int c = nn_qblock_code(type, w[j], d[t]);
                code[t][j % NN_QK] = c;
                float e = (w[j] - nn_qblock_value(type, c, d[t])) / uj[j];
                E[t][j - b0] = e;
                for (int k = j + 1; k < b1; k++) w[k] -= e * uj[k];
                if (j % NN_QK == NN_QK - 1)
                    nn_qblock_pack(type, dst + (size_t)r * row_bytes + (size_t)(j / NN_QK) * block_bytes, d[t],
                                   code[t]);
            }
        }
        /* lazy part: the batch's errors reach the later columns at once */
        for (int r = r0; r < r1; r++) {
            float *w = W + (size_t)r * cols;
            for (int j = b0; j < b1; j++) {
                const float *uj = U + (size_t)j * cols;
                float e = E[r - r0][j - b0];
                for (int k = b1; k < cols; k++) w[k] -= e * uj[k];
            }
        }
    }
}

/* The dead inputs of H zeroed in W, then U (cols, cols) with U^T U =
 * (H + damping)^-1, damping raised as nn_gptq_quantize says. NULL, with
 * pt_set_error, when H is not finite or not positive definite. */
static float *gptq_prepare(float *W, int rows, int cols, const double *H, double damp) {
    if (!(damp >= 0.0) || !isfinite(damp)) {
        pt_set_error("gptq: bad damping %g", damp);
        return NULL;
    }
    size_t nn = (size_t)cols * cols;
    for (size_t e = 0; e < nn; e++)
        if (!isfinite(H[e])) {
            pt_set_error("gptq: H[%zu][%zu] is not finite", e / (size_t)cols, e % (size_t)cols);
            return NULL;
        }
    double *A = pt_malloc(3 * nn * sizeof *A), *V = A + nn, *T = V + nn;
    float *U = pt_malloc(nn * sizeof *U);
    /* inputs that are never active: no information, the weight is moot */
    double mean = 0.0;
    for (int j = 0; j < cols; j++) {
        double h = H[(size_t)j * cols + j];
        if (h == 0.0)
            for (int r = 0; r < rows; r++) W[(size_t)r * cols + j] = 0.0f;
        mean += h == 0.0 ? 1.0 : h;
    }
    mean /= cols;
    int rc = -1, piv = 0;
    double f = damp;
    for (int attempt = 0; attempt < 3 && rc; attempt++) {
        if (attempt) f = f > 0.0 ? 10.0 * f : 0.01;
        memcpy(A, H, nn * sizeof *A);
        for (int j = 0; j < cols; j++) {
            double *a = A + (size_t)j * cols + j;
            *a = (*a == 0.0 ? 1.0 : *a) + f * mean;
        }
        rc = hinv_factor(U, A, V, T, cols, &piv);
    }
    free(A);
    if (rc) {
        pt_set_error("gptq: H (%d x %d) is not positive definite (pivot %d), even with damping %g", cols, cols,
                     piv, f);
        free(U);
        return NULL;
    }
    return U;
}

int nn_gptq_quantize(int type, void *dst, float *W, int rows, int cols, const double *H, double damp) {
    if (type != NN_Q8_0 && type != NN_Q4_0) return pt_set_error("gptq: type %d is not Q8_0 or Q4_0", type);
    if (cols <= 0 || cols % NN_QK || rows < 0)
        return pt_set_error("gptq: bad shape (%d, %d): cols must be a positive multiple of %d", rows, cols,
                            NN_QK);
    float *U = gptq_prepare(W, rows, cols, H, damp);
    if (!U) return -1;
    int tiles = (rows + GPTQ_TILE - 1) / GPTQ_TILE;
#pragma omp parallel for schedule(dynamic, 1)
    for (int t = 0; t < tiles; t++) {
        int r0 = t * GPTQ_TILE, r1 = r0 + GPTQ_TILE < rows ? r0 + GPTQ_TILE : rows;
        sweep_tile(type, dst, W, r0, r1, cols, U);
    }
    free(U);
    return 0;
}

/* ---- GPTQ with the entropy-constrained quantizer -------------------------- */

/* the level k (|k| <= kmax) of w on step d minimizing (w - k d)^2 + lam * bits[k + 128],
 * among the levels between 0 and the nearest one (and one past it) */
static inline int ecq_pick(float w, float d, int kmax, const double *bits, double lam) {
    int kn = d > 0 ? (int)lrintf(w / d) : 0;
    if (kn > kmax) kn = kmax;
    if (kn < -kmax) kn = -kmax;
    int lo = kn < 0 ? kn - (kn > -kmax) : 0, hi = kn > 0 ? kn + (kn < kmax) : 0;
    if (kn == 0) lo = -1 > -kmax ? -1 : -kmax, hi = kmax > 0 ? 1 : 0;
    int best = 0;
    double bc = INFINITY;
    for (int k = lo; k <= hi; k++) {
        double b = bits[k + 128];
        if (!isfinite(b)) continue; /* a dead level */
        double e = (double)w - (double)k * d, c = e * e + lam * b;
        if (c < bc) bc = c, best = k;
    }
    return best;
}

int nn_gptq_ecq(float *W, int rows, int cols, const double *H, double damp, const float *step, int kmax,
                const double *bits, const double *lam_row, uint8_t *sym) {
    if (cols <= 0 || rows < 0) return pt_set_error("gptq: bad shape (%d, %d)", rows, cols);
    float *U = gptq_prepare(W, rows, cols, H, damp);
    if (!U) return -1;
    /* a column's penalty scale: U_jj^2 (what quantizing it costs the layer's
     * output, per squared error, is 1 / U_jj^2) over its mean across columns */
    double *colf = pt_malloc((size_t)cols * sizeof(double)), m = 0;
    for (int j = 0; j < cols; j++) m += 1.0 / ((double)U[(size_t)j * cols + j] * U[(size_t)j * cols + j]);
    m /= cols;
    for (int j = 0; j < cols; j++) colf[j] = (double)U[(size_t)j * cols + j] * U[(size_t)j * cols + j] * m;
#pragma omp parallel for schedule(dynamic, 4)
    for (int r = 0; r < rows; r++) {
        float *w = W + (size_t)r * cols, E[GPTQ_BLOCK];
        uint8_t *sr = sym + (size_t)r * cols;
        float d = step[r];
        for (int b0 = 0; b0 < cols; b0 += GPTQ_BLOCK) {
            int b1 = b0 + GPTQ_BLOCK < cols ? b0 + GPTQ_BLOCK : cols;
            for (int j = b0; j < b1; j++) {
                const float *uj = U + (size_t)j * cols;
                int k = ecq_pick(w[j], d, kmax, bits, lam_row[r] * colf[j]);
                sr[j] = (uint8_t)(k + 128);
                float e = (w[j] - (float)k * d) / uj[j];
                E[j - b0] = e;
                for (int c = j + 1; c < b1; c++) w[c] -= e * uj[c];
            }
            for (int j = b0; j < b1; j++) {
                const float *uj = U + (size_t)j * cols;
                float e = E[j - b0];
                for (int c = b1; c < cols; c++) w[c] -= e * uj[c];
            }
        }
    }
    free(colf);
    free(U);
    return 0;
}
