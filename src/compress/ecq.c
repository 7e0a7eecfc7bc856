/* ecq.c: entropy-constrained level assignment (see ecq.h). */
#include "compress/ecq.h"

#include <math.h>
#include <string.h>

#include <stdlib.h>

#include "base/base.h"
#include "nn/gptq.h"
#include "nn/quant.h"

/* the levels' counts and code lengths -log2 P (INFINITY: a level nobody takes) */
static void code_lengths(const uint8_t *sym, size_t n, uint64_t cnt[256], double cost[256]) {
    memset(cnt, 0, 256 * sizeof *cnt);
    for (size_t i = 0; i < n; i++) cnt[sym[i]]++;
    for (int s = 0; s < 256; s++) cost[s] = cnt[s] ? -log2((double)cnt[s] / (double)n) : INFINITY;
}

/* zero-order entropy of the counts, in bits per symbol; *levels: symbols used */
static double entropy_of(const uint64_t cnt[256], size_t n, int *levels) {
    double h = 0;
    *levels = 0;
    for (int s = 0; s < 256; s++)
        if (cnt[s]) h -= (double)cnt[s] / (double)n * log2((double)cnt[s] / (double)n), ++*levels;
    return h;
}

/* the best level for w given cost[] (bits of each level, INFINITY = dead):
 * plain rounding k0, then every level between k0 and zero while moving
 * toward zero can still pay (the error grows by at least Δ² per step) */
static int best_level(float w, float delta, int kmax, double lam, const double *cost, int reach) {
    int k0 = (int)lrintf(w / delta);
    if (k0 > kmax) k0 = kmax;
    if (k0 < -kmax) k0 = -kmax;
    int best = 0;
    double bc = INFINITY;
    int dir = k0 > 0 ? -1 : 1;
    for (int j = -1; j <= reach; j++) { /* one step away from zero too: rounding may sit on a dead level */
        int k = k0 + dir * j;
        if (k > kmax || k < -kmax) continue;
        if (j > 0 && (k0 > 0 ? k < 0 : k > 0)) break; /* passed zero */
        double e = (double)w - (double)k * delta, c = e * e + lam * cost[k + 128];
        if (c < bc) bc = c, best = k;
    }
    if (cost[128] < INFINITY) { /* zero, however far */
        double c = (double)w * w + lam * cost[128];
        if (c < bc) best = 0;
    }
    return best;
}

int ecq_assign(const float *w, size_t n, int bits, double Lambda, uint8_t *sym, double *prob, int max_rounds,
               ecq_result *res) {
    if (bits < 2 || bits > 8) return pt_set_error("ecq: bits %d outside 2..8", bits);
    if (!(Lambda >= 0) || !isfinite(Lambda)) return pt_set_error("ecq: lambda must be a number >= 0");
    if (max_rounds <= 0) max_rounds = 20;
    int kmax = (1 << (bits - 1)) - 1;
    double mean = 0, var = 0;
    float amax = 0;
    for (size_t i = 0; i < n; i++) mean += w[i], amax = fmaxf(amax, fabsf(w[i]));
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) var += ((double)w[i] - mean) * ((double)w[i] - mean);
    var /= (double)n;
    /* the grid: fine enough to reach max|w| with kmax levels, and no finer
     * than a uniform quantizer at this rate-distortion slope wants: with
     * D = Δ²/12 and dD/dR = -2 ln2 D, a slope of λ_t per bit gives
     * Δ = sqrt(6 λ_t / ln 2) */
    float dmin = amax > 0 ? amax / (float)kmax : 1.0f;
    float dlam = (float)sqrt(6.0 * Lambda * var / log(2.0));
    float delta = nn_f32_from_fp16(nn_fp16_from_f32(dlam > dmin ? dlam : dmin));
    if (delta == 0.0f) delta = 6.1035156e-5f; /* tiny weights: the smallest normal half */
    double lam = Lambda * var;
    double cost[256];
    uint64_t cnt[256];
    /* start: the given distribution, or plain rounding's */
    for (int s = 0; s < 256; s++) cost[s] = INFINITY;
    if (prob) {
        for (int k = -kmax; k <= kmax; k++) cost[k + 128] = prob[k + 128] > 0 ? -log2(prob[k + 128]) : INFINITY;
        if (!(cost[128] < INFINITY)) cost[128] = 30; /* zero stays possible */
    } else {
        for (int k = -kmax; k <= kmax; k++) cost[k + 128] = 0;
    }
    int reach = delta > 0 ? (int)ceil(sqrt(lam * 32.0) / delta) + 1 : 1;
    if (reach > 2 * kmax) reach = 2 * kmax;
    int rounds = 0;
    size_t moved = n;
    for (; rounds < max_rounds && moved * 1000 > n; rounds++) {
        moved = 0;
        double l = rounds == 0 && !prob ? 0.0 : lam; /* round 0 without a prior: plain rounding */
#pragma omp parallel for schedule(static) reduction(+ : moved) if (n > 65536)
        for (size_t i = 0; i < n; i++) {
            uint8_t s = (uint8_t)(best_level(w[i], delta, kmax, l, cost, reach) + 128);
            moved += rounds == 0 || s != sym[i];
            sym[i] = s;
        }
        code_lengths(sym, n, cnt, cost);
        if (lam == 0) { rounds++; break; } /* nothing to trade: rounding is the answer */
    }
    double mse = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)w[i] - (double)((int)sym[i] - 128) * delta;
        mse += e * e;
    }
    if (prob)
        for (int s = 0; s < 256; s++) prob[s] = (double)cnt[s] / (double)n;
    if (res) {
        res->bits = bits, res->delta = delta, res->lambda = lam, res->rounds = rounds;
        res->entropy = entropy_of(cnt, n, &res->levels);
        res->mse = mse / (double)n, res->sparsity = (double)cnt[128] / (double)n;
    }
    return 0;
}

int ecq_assign_rows(const float *w, int rows, int cols, int bits, double Lambda, uint8_t *sym,
                    uint16_t *row_step, double *prob, int max_rounds, ecq_result *res) {
    size_t n = (size_t)rows * cols;
    float *u = pt_malloc(n * sizeof(float)), *rms = pt_malloc((size_t)rows * sizeof(float));
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int r = 0; r < rows; r++) {
        const float *x = w + (size_t)r * cols;
        double ss = 0;
        for (int c = 0; c < cols; c++) ss += (double)x[c] * x[c];
        float q = (float)sqrt(ss / cols);
        rms[r] = q > 0 ? q : 1.0f;
        for (int c = 0; c < cols; c++) u[(size_t)r * cols + c] = x[c] / rms[r];
    }
    ecq_result rr;
    int rc = ecq_assign(u, n, bits, Lambda, sym, prob, max_rounds, &rr);
    if (!rc) {
        double mse = 0;
        for (int r = 0; r < rows; r++) {
            row_step[r] = nn_fp16_from_f32(rr.delta * rms[r]);
            float d = nn_f32_from_fp16(row_step[r]);
            for (int c = 0; c < cols; c++) {
                double e = (double)w[(size_t)r * cols + c] - (double)((int)sym[(size_t)r * cols + c] - 128) * d;
                mse += e * e;
            }
        }
        rr.mse = mse / (double)n;
        if (res) *res = rr;
    }
    free(u), free(rms);
    return rc;
}

int ecq_gptq_rows(const float *w, int rows, int cols, int bits, double Lambda, const double *H, double damp,
                  int rounds, uint8_t *sym, uint16_t *row_step, ecq_result *res) {
    ecq_result r0;
    if (ecq_assign_rows(w, rows, cols, bits, Lambda, sym, row_step, NULL, 0, &r0)) return -1;
    size_t n = (size_t)rows * cols;
    int kmax = (1 << (bits - 1)) - 1;
    float *step = pt_malloc((size_t)rows * sizeof(float)), *W = pt_malloc(n * sizeof(float));
    double *lam_row = pt_malloc((size_t)rows * sizeof(double)), cost[256];
    for (int r = 0; r < rows; r++) {
        step[r] = nn_f32_from_fp16(row_step[r]);
        double s = r0.delta > 0 ? step[r] / r0.delta : 1.0; /* the row's RMS, as its step carries it */
        lam_row[r] = r0.lambda * s * s;
    }
    /* act-order: the columns whose inputs are largest go first, while the
     * most columns remain to absorb their errors */
    int *perm = pt_malloc((size_t)cols * sizeof(int));
    for (int j = 0; j < cols; j++) perm[j] = j;
    for (int i = 1; i < cols; i++) { /* insertion sort, stable: H[j][j] descending */
        int x = perm[i], j = i;
        while (j > 0 && H[(size_t)perm[j - 1] * cols + perm[j - 1]] < H[(size_t)x * cols + x]) perm[j] = perm[j - 1], j--;
        perm[j] = x;
    }
    double *Hp = pt_malloc((size_t)cols * cols * sizeof(double));
    for (int i = 0; i < cols; i++)
        for (int j = 0; j < cols; j++) Hp[(size_t)i * cols + j] = H[(size_t)perm[i] * cols + perm[j]];
    uint8_t *sp = pt_malloc(n);
    uint64_t cnt[256];
    int rc = 0;
    for (int it = 0; it < rounds && !rc; it++) {
        /* code lengths from the current levels: ECQ's, then the sweep's own */
        code_lengths(sym, n, cnt, cost);
        if (!(cost[128] < INFINITY)) cost[128] = 30; /* zero stays possible */
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) W[(size_t)r * cols + j] = w[(size_t)r * cols + perm[j]];
        rc = nn_gptq_ecq(W, rows, cols, Hp, damp, step, kmax, cost, lam_row, sp);
        for (int r = 0; r < rows && !rc; r++)
            for (int j = 0; j < cols; j++) sym[(size_t)r * cols + perm[j]] = sp[(size_t)r * cols + j];
    }
    free(perm), free(Hp), free(sp);
    if (!rc && res) {
        double mse = 0;
        for (size_t i = 0; i < n; i++) {
            double e = (double)w[i] - (double)((int)sym[i] - 128) * step[i / (size_t)cols];
            mse += e * e;
        }
        code_lengths(sym, n, cnt, cost);
        *res = r0;
        res->entropy = entropy_of(cnt, n, &res->levels);
        res->mse = mse / (double)n, res->sparsity = (double)cnt[128] / (double)n;
        res->rounds = rounds;
    }
    free(step), free(W), free(lam_row);
    return rc;
}
