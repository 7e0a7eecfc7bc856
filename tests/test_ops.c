/* test_ops: each kernel of src/nn/nn.h checked alone (test_gradcheck checks
 * the whole model).
 *
 * Gradient checks: small random inputs, a scalar loss L = sum(w * out) with a
 * random projection w (so dout = w), the op's backward against central
 * differences (L(x+h) - L(x-h)) / (x+h - (x-h)). The forward runs in float,
 * L is accumulated in double, and the step is the one actually taken in
 * float. Each check states its step h and its tolerance
 *     |analytic - numeric| <= atol + rtol * |numeric|
 * chosen from the rounding error of the float forward (about 1e-7 * |L
 * terms touched| / 2h) and the truncation error (h^2/6 * L'''), with a
 * margin of 5-10x over the worst error seen.
 *
 * Set PETIT_TEST_VERBOSE=1 to print the worst error ratio of every check. */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "nn/nn.h"
#include "test.h"

static int verbose;

static float *fvec(size_t n) { return pt_malloc((n ? n : 1) * sizeof(float)); }

static void fill_normal(float *x, size_t n, pt_rng *r, float sd, float mean) {
    for (size_t i = 0; i < n; i++) x[i] = mean + sd * pt_rng_normal(r);
}

static double dot_d(const float *w, const float *y, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)w[i] * y[i];
    return s;
}

/* ---- the finite-difference driver ------------------------------------ */

typedef double (*loss_fn)(void *ctx);

/* For every x[r*ldx + c] (r < rows, c < cols) compare g[r*ldg + c] with the
 * central difference of f. One CHECK per call; the first few mismatches are
 * printed. */
static void fd_check(const char *what, loss_fn f, void *ctx, float *x, int ldx, const float *g,
                     int ldg, int rows, int cols, float h, double atol, double rtol) {
    int bad = 0, n = 0;
    double worst = 0.0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            float *xi = x + (size_t)r * ldx + c, keep = *xi;
            float xp = keep + h, xm = keep - h;
            *xi = xp;
            double lp = f(ctx);
            *xi = xm;
            double lm = f(ctx);
            *xi = keep;
            double num = (lp - lm) / ((double)xp - (double)xm);
            double a = g[(size_t)r * ldg + c], err = fabs(a - num), tol = atol + rtol * fabs(num);
            if (err / tol > worst) worst = err / tol;
            n++;
            if (!(err <= tol) && bad++ < 5)
                fprintf(stderr, "  %s [%d,%d]: analytic %.8g numeric %.8g\n", what, r, c, a, num);
        }
    if (verbose) printf("  %-40s %4d elements, worst |a-n|/tol %.3f\n", what, n, worst);
    CHECK(bad == 0, "%s: %d of %d gradient elements off", what, bad, n);
}

/* max |a - b| over n elements at strides lda / ldb */
static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as "large" */
    }
    return m;
}

/* ---- nn_linear ------------------------------------------------------- */

typedef struct {
    float *X, *W, *b, *Y, *w;
    int N, in, out;
} lin_ctx;

static double lin_loss(void *p) {
    lin_ctx *c = p;
    nn_linear(c->Y, c->X, c->W, c->b, c->N, c->in, c->out);
    return dot_d(c->w, c->Y, (size_t)c->N * c->out);
}

/* h = 0.25: L is linear in each input, so the difference is exact up to the
 * float rounding of Y (~1e-7 * |Y| * sqrt(out) / 2h ~ 1e-6).
 * Tolerance 1e-4 + 1e-4 |n|. */
static void check_linear(int N, int in, int out, uint64_t seed) {
    pt_rng r = {seed};
    lin_ctx c = {fvec((size_t)N * in), fvec((size_t)out * in), fvec(out), fvec((size_t)N * out),
                 fvec((size_t)N * out), N, in, out};
    fill_normal(c.X, (size_t)N * in, &r, 1, 0);
    fill_normal(c.W, (size_t)out * in, &r, 0.5f, 0);
    fill_normal(c.b, out, &r, 1, 0);
    fill_normal(c.w, (size_t)N * out, &r, 1, 0);
    float *dX = fvec((size_t)N * in), *dW = fvec((size_t)out * in), *db = fvec(out);
    for (size_t i = 0; i < (size_t)N * in; i++) dX[i] = 1e3f; /* beta = 0 overwrites */
    memset(dW, 0, sizeof(float) * out * in);
    memset(db, 0, sizeof(float) * out);
    nn_linear_backward(dX, 0.0f, dW, db, c.w, c.X, c.W, N, in, out);
    char what[64];
    snprintf(what, sizeof what, "linear %dx%d->%d dX", N, in, out);
    fd_check(what, lin_loss, &c, c.X, in, dX, in, N, in, 0.25f, 1e-4, 1e-4);
    snprintf(what, sizeof what, "linear %dx%d->%d dW", N, in, out);
    fd_check(what, lin_loss, &c, c.W, in, dW, in, out, in, 0.25f, 1e-4, 1e-4);
    snprintf(what, sizeof what, "linear %dx%d->%d db", N, in, out);
    fd_check(what, lin_loss, &c, c.b, out, db, out, 1, out, 0.25f, 1e-4, 1e-4);

    /* accumulation: beta = 1 adds into dX; dW and db always add. Start from
     * random values R and expect R + grad (to float rounding). */
    float *R = fvec((size_t)N * in + (size_t)out * in + out);
    fill_normal(R, (size_t)N * in + (size_t)out * in + out, &r, 1, 0);
    float *dX2 = fvec((size_t)N * in), *dW2 = fvec((size_t)out * in), *db2 = fvec(out);
    memcpy(dX2, R, sizeof(float) * N * in);
    memcpy(dW2, R + N * in, sizeof(float) * out * in);
    memcpy(db2, R + N * in + out * in, sizeof(float) * out);
    nn_linear_backward(dX2, 1.0f, dW2, db2, c.w, c.X, c.W, N, in, out);
    int bad = 0;
    for (int i = 0; i < N * in; i++) bad += !(fabsf(dX2[i] - (R[i] + dX[i])) <= 1e-5f * (1 + fabsf(dX[i])));
    CHECK(bad == 0, "linear beta=1: %d of %d dX elements are not R + dX", bad, N * in);
    bad = 0;
    for (int i = 0; i < out * in; i++)
        bad += !(fabsf(dW2[i] - (R[N * in + i] + dW[i])) <= 1e-5f * (1 + fabsf(dW[i])));
    CHECK(bad == 0, "linear: dW overwritten instead of accumulated (%d of %d)", bad, out * in);
    bad = 0;
    for (int i = 0; i < out; i++)
        bad += !(fabsf(db2[i] - (R[N * in + out * in + i] + db[i])) <= 1e-5f * (1 + fabsf(db[i])));
    CHECK(bad == 0, "linear: db overwritten instead of accumulated (%d of %d)", bad, out);

    /* NULL skips: dW and db alone leave dX alone, and give the same values */
    memset(dW2, 0, sizeof(float) * out * in);
    memset(db2, 0, sizeof(float) * out);
    nn_linear_backward(NULL, 0.0f, dW2, db2, c.w, c.X, c.W, N, in, out);
    CHECK(max_diff(dW2, dW, (size_t)out * in) == 0 && max_diff(db2, db, out) == 0,
          "linear: dW/db differ when dX is skipped");
    memcpy(dX2, R, sizeof(float) * N * in);
    nn_linear_backward(dX2, 0.0f, NULL, NULL, c.w, c.X, c.W, N, in, out);
    CHECK(max_diff(dX2, dX, (size_t)N * in) == 0, "linear: dX differs when dW/db are skipped");

    /* b = NULL: no bias */
    float *Y2 = fvec((size_t)N * out);
    nn_linear(c.Y, c.X, c.W, c.b, N, in, out);
    nn_linear(Y2, c.X, c.W, NULL, N, in, out);
    bad = 0;
    for (int i = 0; i < N; i++)
        for (int o = 0; o < out; o++)
            bad += !(fabsf(c.Y[i * out + o] - (Y2[i * out + o] + c.b[o])) <= 1e-6f * (1 + fabsf(c.Y[i * out + o])));
    CHECK(bad == 0, "linear: Y with bias != Y without bias + b (%d)", bad);

    free(R), free(dX2), free(dW2), free(db2), free(Y2);
    free(dX), free(dW), free(db);
    free(c.X), free(c.W), free(c.b), free(c.Y), free(c.w);
}

/* ---- nn_layernorm ---------------------------------------------------- */

typedef struct {
    float *x, *lw, *lb, *out, *mean, *rstd, *w;
    int N, D;
} ln_ctx;

static double ln_loss(void *p) {
    ln_ctx *c = p;
    nn_layernorm(c->out, c->mean, c->rstd, c->x, c->lw, c->lb, c->N, c->D, 1e-5f);
    return dot_d(c->w, c->out, (size_t)c->N * c->D);
}

/* h = 1e-2: only the perturbed row changes, rounding ~1e-6 / 2h = 5e-5;
 * truncation ~h^2/6 * few = 1e-4 for rows of std ~1.
 * Tolerance 1e-3 + 1e-2 |n|. dw and db are exactly linear: same bound. */
static void check_layernorm(int N, int D, uint64_t seed) {
    pt_rng r = {seed};
    size_t n = (size_t)N * D;
    ln_ctx c = {fvec(n), fvec(D), fvec(D), fvec(n), fvec(N), fvec(N), fvec(n), N, D};
    fill_normal(c.x, n, &r, 1, 0);
    for (int i = 0; i < N; i++) /* rows with different means and spreads */
        for (int j = 0; j < D; j++) c.x[i * D + j] = c.x[i * D + j] * (0.7f + 0.3f * i) + 0.5f * i - 1.0f;
    fill_normal(c.lw, D, &r, 0.3f, 1);
    fill_normal(c.lb, D, &r, 0.5f, 0);
    fill_normal(c.w, n, &r, 1, 0);
    ln_loss(&c); /* mean/rstd for backward */
    float *dx = fvec(n), *dw = fvec(D), *db = fvec(D);
    memset(dx, 0, n * sizeof(float));
    memset(dw, 0, D * sizeof(float));
    memset(db, 0, D * sizeof(float));
    nn_layernorm_backward(dx, dw, db, c.w, c.x, c.mean, c.rstd, c.lw, N, D);
    char what[64];
    snprintf(what, sizeof what, "layernorm N=%d D=%d dx", N, D);
    fd_check(what, ln_loss, &c, c.x, D, dx, D, N, D, 1e-2f, 1e-3, 1e-2);
    snprintf(what, sizeof what, "layernorm N=%d D=%d dw", N, D);
    fd_check(what, ln_loss, &c, c.lw, D, dw, D, 1, D, 1e-2f, 1e-3, 1e-2);
    snprintf(what, sizeof what, "layernorm N=%d D=%d db", N, D);
    fd_check(what, ln_loss, &c, c.lb, D, db, D, 1, D, 1e-2f, 1e-3, 1e-2);

    /* every row normalized: mean 0, variance 1 (before the affine part) */
    float *ones = fvec(D), *zeros = fvec(D);
    for (int j = 0; j < D; j++) ones[j] = 1, zeros[j] = 0;
    nn_layernorm(c.out, c.mean, c.rstd, c.x, ones, zeros, N, D, 1e-5f);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double m = 0, v = 0;
        for (int j = 0; j < D; j++) m += c.out[i * D + j];
        m /= D;
        for (int j = 0; j < D; j++) v += (c.out[i * D + j] - m) * (c.out[i * D + j] - m);
        v /= D;
        worst = fmax(worst, fmax(fabs(m), fabs(v - 1) * 0.1));
    }
    if (D > 1) CHECK(worst < 1e-5, "layernorm D=%d: rows not normalized (%g)", D, worst);

    /* all three accumulate: from random R, expect R + grad */
    ln_loss(&c);
    float *R = fvec(n + 2 * (size_t)D), *dx2 = fvec(n), *dw2 = fvec(D), *db2 = fvec(D);
    fill_normal(R, n + 2 * (size_t)D, &r, 1, 0);
    memcpy(dx2, R, n * sizeof(float));
    memcpy(dw2, R + n, D * sizeof(float));
    memcpy(db2, R + n + D, D * sizeof(float));
    nn_layernorm_backward(dx2, dw2, db2, c.w, c.x, c.mean, c.rstd, c.lw, N, D);
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad += !(fabsf(dx2[i] - (R[i] + dx[i])) <= 1e-5f * (1 + fabsf(dx[i])));
    for (int i = 0; i < D; i++) {
        bad += !(fabsf(dw2[i] - (R[n + i] + dw[i])) <= 1e-5f * (1 + fabsf(dw[i])));
        bad += !(fabsf(db2[i] - (R[n + D + i] + db[i])) <= 1e-5f * (1 + fabsf(db[i])));
    }
    CHECK(bad == 0, "layernorm D=%d: %d gradient elements not accumulated", D, bad);

    free(ones), free(zeros), free(R), free(dx2), free(dw2), free(db2);
    free(dx), free(dw), free(db);
    free(c.x), free(c.lw), free(c.lb), free(c.out), free(c.mean), free(c.rstd), free(c.w);
}

/* ---- activations ----------------------------------------------------- */

typedef struct {
    float *x, *y, *w;
    size_t n;
    int act;
} act_ctx;

static double act_loss(void *p) {
    act_ctx *c = p;
    nn_act(c->y, c->x, c->n, c->act);
    return dot_d(c->w, c->y, c->n);
}

/* Elementwise, so one output moves per step. relu: h = 1e-2 with every
 * |x| >= 0.05 (no kink inside the step), exact up to rounding. gelu, swish:
 * h = 1e-3, rounding ~1e-7 * |y| / 2h <= 4e-4 at |x| ~ 8, truncation
 * ~h^2/6 ~ 2e-7. Tolerance 1e-3 + 1e-3 |n|. */
static void check_act(int act, const char *name, uint64_t seed) {
    pt_rng r = {seed};
    enum { n = 67 };
    act_ctx c = {fvec(n), fvec(n), fvec(n), n, act};
    for (int i = 0; i < n; i++) {
        float v;
        do v = 2.5f * pt_rng_normal(&r);
        while (fabsf(v) < 0.05f);
        c.x[i] = v;
    }
    c.x[0] = 8.0f, c.x[1] = -8.0f, c.x[2] = 0.06f, c.x[3] = -0.06f; /* tails and near 0 */
    fill_normal(c.w, n, &r, 1, 0);
    float *g = fvec(n), *g2 = fvec(n);
    nn_act_backward(g, c.w, c.x, n, act);
    char what[64];
    snprintf(what, sizeof what, "act %s", name);
    fd_check(what, act_loss, &c, c.x, n, g, n, 1, n, act == NN_ACT_RELU ? 1e-2f : 1e-3f, 1e-3, 1e-3);
    /* din may alias dout */
    memcpy(g2, c.w, sizeof(float) * n);
    nn_act_backward(g2, g2, c.x, n, act);
    CHECK(max_diff(g, g2, n) == 0, "act %s: in-place backward differs", name);
    free(g), free(g2), free(c.x), free(c.y), free(c.w);
}

/* ---- attention ------------------------------------------------------- */

typedef struct {
    float *q, *k, *v, *ctx, *P, *w;
    int ldq, ldkv, B, Tq, Tk, H, dh;
    const nn_mask *m;
} att_ctx;

static double att_loss(void *p) {
    att_ctx *c = p;
    nn_attention(c->ctx, c->P, c->q, c->ldq, c->k, c->v, c->ldkv, c->B, c->Tq, c->Tk, c->H, c->dh, c->m);
    return dot_d(c->w, c->ctx, (size_t)c->B * c->Tq * c->H * c->dh);
}

/* fused: one buffer (B*T, 3D) holding q | k | v, as the self-attention
 * projections write it; needs Tq == Tk. Otherwise q lives in its own
 * (B*Tq, 3D) buffer and k | v in a (B*Tk, 3D) one (columns 2D..3D of q's
 * buffer and 0..D of k/v's are unused and must stay untouched).
 *
 * h = 1e-2: a step in k or v moves up to Tq rows of ctx; rounding
 * ~1e-6 / 2h = 5e-5, truncation ~h^2/6 * few ~ 1e-4 (inputs of std 1, dh = 4).
 * Tolerance 1e-3 + 1e-2 |n|. */
/* Whether the mask lets query i of head h (batch row b) see key j: written
 * from the definitions (nn.h), independently of nn_mask_span. */
static int allowed(const nn_mask *m, int b, int h, int i, int j) {
    if (m->kind == NN_MASK_PAD) return j < m->klen[b];
    if (j > i) return 0;
    if (m->kind == NN_MASK_CAUSAL || h >= m->n_local + m->n_grid) return 1;
    if (h < m->n_local) return i - m->window < j;
    return (i - j) % m->window == 0;
}

static void check_attention(const nn_mask *m, const char *name, int B, int Tq, int Tk, int fused,
                            int H, uint64_t seed) {
    const int dh = 4, D = H * dh, ld = 3 * D;
    const size_t cols = nn_mask_pcols(m, H, Tk);
    pt_rng r = {seed};
    size_t nq = (size_t)B * Tq * ld, nkv = (size_t)B * Tk * ld;
    float *qbuf = fvec(nq), *kvbuf = fused ? qbuf : fvec(nkv);
    fill_normal(qbuf, nq, &r, 1, 0);
    if (!fused) fill_normal(kvbuf, nkv, &r, 1, 0);
    att_ctx c = {qbuf, kvbuf + D, kvbuf + 2 * D, fvec((size_t)B * Tq * D), fvec((size_t)B * Tq * cols),
                 fvec((size_t)B * Tq * D), ld, ld, B, Tq, Tk, H, dh, m};
    fill_normal(c.w, (size_t)B * Tq * D, &r, 1, 0);
    att_loss(&c);

    /* gradient buffers with the same layout, prefilled with a sentinel so
     * that stray writes and unwritten rows both show */
    const float sent = 777.0f;
    float *dqbuf = fvec(nq), *dkvbuf = fused ? dqbuf : fvec(nkv);
    for (size_t i = 0; i < nq; i++) dqbuf[i] = sent;
    if (!fused)
        for (size_t i = 0; i < nkv; i++) dkvbuf[i] = sent;
    float *dS = fvec((size_t)B * Tq * cols);
    nn_attention_backward(dqbuf, dkvbuf + D, dkvbuf + 2 * D, dS, c.w, c.P, c.q, ld, c.k, c.v, ld, B, Tq,
                          Tk, H, dh, m);
    if (!fused) {
        int stray = 0;
        for (int i = 0; i < B * Tq; i++)
            for (int j = D; j < ld; j++) stray += dqbuf[(size_t)i * ld + j] != sent;
        for (int i = 0; i < B * Tk; i++)
            for (int j = 0; j < D; j++) stray += dkvbuf[(size_t)i * ld + j] != sent;
        CHECK(stray == 0, "attention %s: %d writes outside dq/dk/dv columns", name, stray);
    }

    char what[80];
    snprintf(what, sizeof what, "attention %s dq", name);
    fd_check(what, att_loss, &c, c.q, ld, dqbuf, ld, B * Tq, D, 1e-2f, 1e-3, 1e-2);
    snprintf(what, sizeof what, "attention %s dk", name);
    fd_check(what, att_loss, &c, c.k, ld, dkvbuf + D, ld, B * Tk, D, 1e-2f, 1e-3, 1e-2);
    snprintf(what, sizeof what, "attention %s dv", name);
    fd_check(what, att_loss, &c, c.v, ld, dkvbuf + 2 * D, ld, B * Tk, D, 1e-2f, 1e-3, 1e-2);

    /* probabilities: each map row holds exactly the allowed keys in order
     * (then zeros) and sums to 1; keys a head's queries may not see get
     * exactly zero dk and dv in that head's columns */
    att_loss(&c);
    int leak = 0, badsum = 0, badspan = 0;
    char *reach = calloc((size_t)B * Tk * H, 1);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int w = nn_mask_width(m, h, Tk);
            size_t o = (size_t)b * Tq * cols;
            for (int g = 0; g < h; g++) o += (size_t)Tq * nn_mask_width(m, g, Tk);
            for (int i = 0; i < Tq; i++) {
                const float *p = c.P + o + (size_t)i * w;
                int j0, st, n = nn_mask_span(m, b, h, i, Tk, &j0, &st), s = 0;
                double sum = 0;
                for (int j = 0; j < Tk; j++) {
                    if (!allowed(m, b, h, i, j)) continue;
                    badspan += s >= n || j0 + s * st != j;
                    reach[((size_t)b * Tk + j) * H + h] = 1;
                    s++;
                }
                badspan += s != n || n > w;
                for (int t = 0; t < w; t++) {
                    if (t >= n) leak += p[t] != 0.0f;
                    sum += p[t];
                }
                badsum += !(fabs(sum - 1) < 1e-5);
            }
        }
    CHECK(badspan == 0, "attention %s: %d query spans differ from the mask's definition", name, badspan);
    CHECK(leak == 0, "attention %s: %d map entries past the allowed keys are not exactly 0", name, leak);
    CHECK(badsum == 0, "attention %s: %d probability rows do not sum to 1", name, badsum);
    int nz = 0, masked = 0;
    for (int j = 0; j < B * Tk; j++)
        for (int h = 0; h < H; h++)
            if (!reach[(size_t)j * H + h]) {
                masked++;
                for (int d = h * dh; d < (h + 1) * dh; d++)
                    nz += dkvbuf[(size_t)j * ld + D + d] != 0.0f || dkvbuf[(size_t)j * ld + 2 * D + d] != 0.0f;
            }
    CHECK(nz == 0, "attention %s: %d gradient elements of masked keys are not exactly 0", name, nz);
    if (m->kind == NN_MASK_PAD) CHECK(masked > 0, "attention %s: the test masks no key", name);
    /* per query: moving the keys and values it may not see changes no bit of
     * its output (in any head) */
    {
        float *ctx0 = fvec((size_t)B * Tq * D), *kv2 = fvec(nkv);
        memcpy(ctx0, c.ctx, sizeof(float) * B * Tq * D);
        memcpy(kv2, kvbuf, sizeof(float) * nkv);
        int moved = 0, tried = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < Tq; i++) {
                int any = 0;
                for (int h = 0; h < H; h++)
                    for (int j = 0; j < Tk; j++)
                        if (!allowed(m, b, h, i, j)) {
                            any = 1;
                            for (int d = h * dh; d < (h + 1) * dh; d++) {
                                kvbuf[(size_t)(b * Tk + j) * ld + D + d] -= 2.0f;
                                kvbuf[(size_t)(b * Tk + j) * ld + 2 * D + d] += 5.0f;
                            }
                        }
                if (!any) continue;
                tried++;
                att_loss(&c);
                moved += memcmp(ctx0 + (size_t)(b * Tq + i) * D, c.ctx + (size_t)(b * Tq + i) * D,
                                sizeof(float) * D) != 0;
                memcpy(kvbuf, kv2, sizeof(float) * nkv);
            }
        CHECK(moved == 0, "attention %s: %d of %d queries depend on keys they may not see", name, moved, tried);
        if (m->kind != NN_MASK_PAD || masked) CHECK(tried > 0, "attention %s: no query has a masked key", name);
        att_loss(&c);
        free(ctx0), free(kv2);
    }
    /* and masked keys do not move the output: changing them changes no bit */
    if (masked) {
        float *ctx0 = fvec((size_t)B * Tq * D);
        memcpy(ctx0, c.ctx, sizeof(float) * B * Tq * D);
        float *kv2 = fvec(nkv);
        memcpy(kv2, kvbuf, sizeof(float) * nkv);
        for (int j = 0; j < B * Tk; j++)
            for (int h = 0; h < H; h++)
                if (!reach[(size_t)j * H + h])
                    for (int d = h * dh; d < (h + 1) * dh; d++) {
                        kvbuf[(size_t)j * ld + D + d] += 3.0f;
                        kvbuf[(size_t)j * ld + 2 * D + d] += 3.0f;
                    }
        att_loss(&c);
        CHECK(memcmp(ctx0, c.ctx, sizeof(float) * B * Tq * D) == 0,
              "attention %s: masked keys change the output", name);
        memcpy(kvbuf, kv2, sizeof(float) * nkv);
        free(ctx0), free(kv2);
    }
    free(reach);

    free(dS), free(c.ctx), free(c.P), free(c.w);
    free(qbuf), free(dqbuf);
    if (!fused) free(kvbuf), free(dkvbuf);
}

/* A window as long as the sequence makes a local head a causal one: the same
 * keys in the same order, so the same bits. */
static void check_local_is_causal(void) {
    const int B = 2, T = 6, H = 2, dh = 4, D = H * dh, ld = 3 * D;
    pt_rng r = {47};
    float *x = fvec((size_t)B * T * ld), *c1 = fvec((size_t)B * T * D), *c2 = fvec((size_t)B * T * D);
    float *P = fvec((size_t)B * H * T * T);
    fill_normal(x, (size_t)B * T * ld, &r, 1, 0);
    nn_mask causal = {.kind = NN_MASK_CAUSAL}, local = {NN_MASK_MULTIAXIS, NULL, T, H, 0};
    nn_attention(c1, P, x, ld, x + D, x + 2 * D, ld, B, T, T, H, dh, &causal);
    nn_attention(c2, P, x, ld, x + D, x + 2 * D, ld, B, T, T, H, dh, &local);
    CHECK(memcmp(c1, c2, sizeof(float) * B * T * D) == 0, "local attention with W = T differs from causal");
    free(x), free(c1), free(c2), free(P);
}

/* vectorized exp: relative error within 2e-7 (+ denormal-range floor) of
 * exp() in double, over the whole float range the softmaxes use and odd
 * lengths (the vector body and the scalar tail); the sum returned is the sum */
static void check_exp(void) {
    const int lens[] = {1, 7, 8, 9, 31, 1000};
    pt_rng r = {48};
    double worst = 0, worst_sum = 0;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int n = lens[li];
        float *x = fvec((size_t)n), *y = fvec((size_t)n);
        for (int rep = 0; rep < 50; rep++) {
            float sub = 4.0f * (pt_rng_uniform(&r) - 0.5f);
            /* softmax arguments x - max are <= 0; a few positive ones too */
            for (int i = 0; i < n; i++) x[i] = y[i] = -87.0f + 97.0f * pt_rng_uniform(&r) + sub;
            if (rep == 0) x[0] = y[0] = sub; /* exp(0) = 1 exactly */
            float sum = nn_exp_sub_sum(y, n, sub);
            CHECK(nn_exp_sum(x, n, sub) == sum, "exp: nn_exp_sum differs from nn_exp_sub_sum (n=%d)", n);
            double ref_sum = 0, got_sum = 0;
            for (int i = 0; i < n; i++) {
                double e = exp((double)(x[i] - sub)); /* the argument as rounded in float */
                double err = fabs(y[i] - e) / (e + 1e-37);
                if (e > 1e-37 && err > worst) worst = err;
                ref_sum += e, got_sum += y[i];
            }
            double es = fabs(sum - got_sum) / got_sum;
            if (es > worst_sum) worst_sum = es;
            if (rep == 0) CHECK(y[0] == 1.0f, "exp(0) = %.9g", y[0]);
            (void)ref_sum;
        }
        free(x), free(y);
    }
    CHECK(worst < 2e-7, "exp at %s: worst relative error %.3g (budget 2e-7)", nn_isa_name(nn_isa()), worst);
    CHECK(worst_sum < 1e-6, "exp at %s: the returned sum is off by %.3g relative", nn_isa_name(nn_isa()), worst_sum);
}

/* ---- cross-entropy --------------------------------------------------- */

typedef struct {
    float *z;
    const int *labels;
    int N, V, ignore;
    float eps;
} xent_ctx;

static double xent_loss(void *p) {
    xent_ctx *c = p;
    return nn_xent(c->z, c->labels, c->N, c->V, c->eps, c->ignore);
}

/* h = 3e-3: the float sum of exponentials is good to ~1e-7 relative, so
 * rounding ~1e-7 / 2h ~ 2e-5; truncation ~h^2/6 ~ 2e-6.
 * Tolerance 2e-4 + 1e-3 |n| (on the gradient divided by scale). */
static void check_xent(float eps, float scale, uint64_t seed) {
    enum { N = 5, V = 11, IGN = 1 };
    const int labels[N] = {3, IGN, 10, 0, 7};
    pt_rng r = {seed};
    float *z = fvec(N * V), *g = fvec(N * V);
    fill_normal(z, N * V, &r, 2, 0);
    for (int v = 0; v < V; v++) z[3 * V + v] += 40.0f; /* a row far from 0: the max shift */
    memcpy(g, z, sizeof(float) * N * V);
    double lb = nn_xent_backward(g, labels, N, V, eps, IGN, scale);
    xent_ctx c = {z, labels, N, V, IGN, eps};
    double l = xent_loss(&c);
    CHECK(lb == l, "xent eps=%g: backward's loss %.17g != nn_xent's %.17g", eps, lb, l);
    CHECK(l > 0 && isfinite(l), "xent eps=%g: loss %g", eps, l);
    /* numeric gradient of scale * L */
    float *gs = fvec(N * V);
    for (int i = 0; i < N * V; i++) gs[i] = g[i] / scale;
    char what[64];
    snprintf(what, sizeof what, "xent eps=%g scale=%g", eps, scale);
    fd_check(what, xent_loss, &c, z, V, gs, V, N, V, 3e-3f, 2e-4, 1e-3);
    int nz = 0;
    for (int v = 0; v < V; v++) nz += g[1 * V + v] != 0.0f;
    CHECK(nz == 0, "xent: the ignored row has %d nonzero gradients", nz);
    /* the ignored row adds no loss: nn_xent over the other rows alone */
    double l4 = 0;
    for (int i = 0; i < N; i++)
        if (labels[i] != IGN) l4 += nn_xent(z + i * V, labels + i, 1, V, eps, IGN);
    CHECK(fabs(l4 - l) <= 1e-12 * l, "xent: loss %.17g != sum of rows %.17g", l, l4);
    /* an unsmoothed loss by hand, in double */
    if (eps == 0.0f) {
        double ref = 0;
        for (int i = 0; i < N; i++) {
            if (labels[i] == IGN) continue;
            double mx = -1e300, s = 0;
            for (int v = 0; v < V; v++) mx = fmax(mx, z[i * V + v]);
            for (int v = 0; v < V; v++) s += exp(z[i * V + v] - mx);
            ref += mx + log(s) - z[i * V + labels[i]];
        }
        CHECK_CLOSE(l, ref, 1e-5, 1e-6, "xent loss vs double reference");
    }
    free(z), free(g), free(gs);
}

/* ---- dropout --------------------------------------------------------- */

typedef struct {
    float *x, *y, *w;
    size_t n;
    float p;
    uint64_t key;
} drop_ctx;

static double drop_loss(void *pp) {
    drop_ctx *c = pp;
    memcpy(c->y, c->x, c->n * sizeof(float));
    nn_dropout(c->y, c->n, c->p, c->key);
    return dot_d(c->w, c->y, c->n);
}

static void check_dropout(float p, uint64_t key) {
    enum { n = 100000 };
    pt_rng r = {key + 1};
    float *x = fvec(n), *y = fvec(n), *y2 = fvec(n);
    fill_normal(x, n, &r, 1, 0);
    for (int i = 0; i < n; i++)
        if (x[i] == 0.0f) x[i] = 1.0f;
    memcpy(y, x, sizeof(float) * n);
    nn_dropout(y, n, p, key);
    const float scale = 1.0f / (1.0f - p);
    int kept = 0, wrong = 0;
    for (int i = 0; i < n; i++) {
        if (y[i] != 0.0f) {
            kept++;
            wrong += y[i] != x[i] * scale;
        }
    }
    double frac = (double)kept / n, sd = sqrt(p * (1.0 - p) / n);
    CHECK(fabs(frac - (1.0 - p)) <= 3 * sd, "dropout p=%g: kept %.5f, want %.5f +- %.5f", p, frac,
          1.0 - p, 3 * sd);
    CHECK(wrong == 0, "dropout p=%g: %d kept values not scaled by 1/(1-p)", p, wrong);
    if (verbose) printf("  dropout p=%-4g kept %.5f (want %.5f, 3 sd %.5f)\n", p, frac, 1 - p, 3 * sd);

    /* a function of (key, index) only: other data, a shorter (odd) length,
     * another thread count give the same mask */
    for (int i = 0; i < n; i++) y2[i] = 1.0f;
    nn_set_threads(1);
    nn_dropout(y2, n / 2 + 3, p, key);
    nn_set_threads(2);
    int differ = 0;
    for (int i = 0; i < n / 2 + 3; i++) differ += (y2[i] != 0.0f) != (y[i] != 0.0f);
    CHECK(differ == 0, "dropout p=%g: the same key gives a different mask (%d elements)", p, differ);
    /* another key: a different mask, about 2p(1-p) n elements differ */
    for (int i = 0; i < n; i++) y2[i] = 1.0f;
    nn_dropout(y2, n, p, key + 1);
    differ = 0;
    for (int i = 0; i < n; i++) differ += (y2[i] != 0.0f) != (y[i] != 0.0f);
    CHECK(differ > p * (1 - p) * n, "dropout p=%g: key+1 changes only %d of %d mask elements", p, differ, n);

    /* its own backward: dL/dx for L = sum(w * dropout(x)) is dropout(w).
     * L is linear in x: h = 0.25, tolerance 1e-4 + 1e-4 |n|. */
    enum { m = 37 };
    drop_ctx c = {x, fvec(m), fvec(m), m, p, key};
    fill_normal(c.w, m, &r, 1, 0);
    float *g = fvec(m);
    memcpy(g, c.w, sizeof(float) * m);
    nn_dropout(g, m, p, key);
    char what[64];
    snprintf(what, sizeof what, "dropout p=%g backward", p);
    fd_check(what, drop_loss, &c, x, m, g, m, 1, m, 0.25f, 1e-4, 1e-4);
    free(g), free(c.y), free(c.w);

    /* p = 0 is the identity */
    memcpy(y2, x, sizeof(float) * n);
    nn_dropout(y2, n, 0.0f, key);
    CHECK(memcmp(y2, x, sizeof(float) * n) == 0, "dropout p=0 changed the data");
    free(x), free(y), free(y2);
}

/* ---- sgemm ----------------------------------------------------------- */

/* nn_sgemm (OpenBLAS when built with it, the threaded split for big
 * products) against nn_sgemm_ref. Leading dimensions are padded by 3 and
 * the padding must stay untouched; beta = 0 must overwrite even NaN.
 * Tolerance: |C - Cref| <= 1e-5 * (|beta C0| + sum_k |a_ik b_kj|), i.e.
 * relative 1e-5 to the size of the terms (a float dot of K = 65 terms is
 * good to ~K * 6e-8 = 4e-6 of that in the worst case). */
static void check_sgemm_case(int M, int N, int K, uint64_t seed) {
    pt_rng r = {seed};
    const float betas[3] = {0.0f, 1.0f, 0.5f};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int bi = 0; bi < 3; bi++) {
                float beta = betas[bi];
                int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
                int lda = ac + 3, ldb = bc + 3, ldc = N + 3;
                float *A = fvec((size_t)ar * lda), *B = fvec((size_t)br * ldb);
                float *C1 = fvec((size_t)M * ldc), *C2 = fvec((size_t)M * ldc), *C0 = fvec((size_t)M * ldc);
                fill_normal(A, (size_t)ar * lda, &r, 1, 0);
                fill_normal(B, (size_t)br * ldb, &r, 1, 0);
                fill_normal(C0, (size_t)M * ldc, &r, 1, 0);
                if (beta == 0.0f)
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < N; j++) C0[(size_t)i * ldc + j] = NAN;
                memcpy(C1, C0, sizeof(float) * M * ldc);
                memcpy(C2, C0, sizeof(float) * M * ldc);
                nn_sgemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C1, ldc);
                nn_sgemm_ref(ta, tb, M, N, K, A, lda, B, ldb, beta, C2, ldc);
                int bad = 0, pad = 0;
                double worst = 0;
                for (int i = 0; i < M; i++) {
                    for (int j = 0; j < N; j++) {
                        double mag = beta == 0.0f ? 0.0 : fabs(beta * C0[(size_t)i * ldc + j]);
                        double exact = beta == 0.0f ? 0.0 : (double)beta * C0[(size_t)i * ldc + j];
                        for (int k = 0; k < K; k++) {
                            double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                            double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                            mag += fabs(a * b);
                            exact += a * b;
                        }
                        double c1 = C1[(size_t)i * ldc + j], c2 = C2[(size_t)i * ldc + j];
                        double tol = 1e-5 * (mag + 1e-30);
                        if (!(fabs(c1 - c2) <= tol) || !(fabs(c2 - exact) <= tol)) bad++;
                        double e = fmax(fabs(c1 - c2), fabs(c2 - exact)) / tol;
                        worst = isnan(c1) || isnan(c2) ? INFINITY : fmax(worst, e);
                    }
                    for (int j = N; j < ldc; j++)
                        pad += memcmp(&C1[(size_t)i * ldc + j], &C0[(size_t)i * ldc + j], sizeof(float)) != 0 ||
                               memcmp(&C2[(size_t)i * ldc + j], &C0[(size_t)i * ldc + j], sizeof(float)) != 0;
                }
                CHECK(bad == 0, "sgemm %dx%dx%d ta=%d tb=%d beta=%g: %d elements off (worst %.3g x tol)", M,
                      N, K, ta, tb, beta, bad, worst);
                CHECK(pad == 0, "sgemm %dx%dx%d ta=%d tb=%d beta=%g: %d writes past N", M, N, K, ta, tb,
                      beta, pad);
                if (verbose && ta + tb + bi == 0) printf("  sgemm %dx%dx%d worst |err|/tol %.3f\n", M, N, K, worst);
                free(A), free(B), free(C0), free(C1), free(C2);
            }
}

int main(void) {
    verbose = getenv("PETIT_TEST_VERBOSE") != NULL;
    nn_set_threads(2);
    double t0 = pt_time();

    check_linear(5, 7, 6, 11);
    check_linear(1, 1, 1, 12);
    check_linear(9, 16, 13, 13);

    check_layernorm(3, 13, 21);
    check_layernorm(3, 64, 22);
    check_layernorm(1, 1, 23); /* D = 1: out = b, all of dx is 0 */

    check_act(NN_ACT_RELU, "relu", 31);
    check_act(NN_ACT_GELU, "gelu", 32);
    check_act(NN_ACT_SWISH, "swish", 33);

    /* padding: different key lengths per sentence (one of 1: a lone key
     * gets dk = 0), Tq < Tk and Tq > Tk */
    const int klen3[3] = {5, 3, 1}, klen2[2] = {2, 4};
    nn_mask pad3 = {.kind = NN_MASK_PAD, .klen = klen3}, pad2 = {.kind = NN_MASK_PAD, .klen = klen2};
    nn_mask causal = {.kind = NN_MASK_CAUSAL};
    check_attention(&pad3, "pad B=3 Tq=3 Tk=5", 3, 3, 5, 0, 2, 41);
    check_attention(&pad2, "pad B=2 Tq=6 Tk=4", 2, 6, 4, 0, 2, 42);
    check_attention(&causal, "causal fused B=2 T=5", 2, 5, 5, 1, 2, 43);
    /* multiaxis: a local, a grid and a causal head; W = 3 over T = 8 (the
     * local window and the grid stride both bite), and W = 1 (local sees only
     * itself, grid is causal) */
    nn_mask ma3 = {NN_MASK_MULTIAXIS, NULL, 3, 1, 1}, ma1 = {NN_MASK_MULTIAXIS, NULL, 1, 1, 1};
    nn_mask ma_all = {NN_MASK_MULTIAXIS, NULL, 2, 2, 1};
    check_attention(&ma3, "multiaxis W=3 fused B=2 T=8", 2, 8, 8, 1, 3, 44);
    check_attention(&ma1, "multiaxis W=1 fused B=1 T=5", 1, 5, 5, 1, 3, 45);
    check_attention(&ma_all, "multiaxis W=2 2 local + 1 grid B=2 T=7", 2, 7, 7, 1, 3, 46);
    check_local_is_causal();
    TEST_EACH_ISA("exp", isa) check_exp();

    check_xent(0.0f, 1.0f, 51);
    check_xent(0.0f, 0.37f, 52);
    check_xent(0.1f, 0.37f, 53);
    check_xent(0.1f, 2.5f, 54);

    check_dropout(0.1f, 0x1234);
    check_dropout(0.5f, 0xfeed);

    const int shapes[][3] = {{1, 1, 1}, {1, 33, 17}, {17, 1, 33}, {33, 17, 1}, {17, 33, 65},
                             {67, 129, 65}, {131, 67, 61}}; /* the last two take the threaded split */
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        check_sgemm_case(shapes[s][0], shapes[s][1], shapes[s][2], 60 + s);

    if (verbose) printf("  %.3f s\n", pt_time() - t0);
    return test_done("test_ops");
}
