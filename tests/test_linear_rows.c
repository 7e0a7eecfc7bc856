/* test_linear_rows: nn_linear_rows and nn_plinear (W packed into panels)
 * against a double-precision reference; every check below runs for both.
 *
 * Shapes: every (N, in, out) with N in {1,2,3,5,17,128}, in in {1,7,8,9,64,
 * 129,256,1024}, out in {1,3,4,5,31,256,4000}: remainder rows and columns of
 * the register tile, in not a multiple of 8 (masked tail), in < 8 (tail
 * only). Each shape runs with and without bias, on 1 and 2 threads.
 *
 * Error budget, per element: y = sum_k x_k w_k + b is a chain of at most
 * d = ceil(in/8) + 5 roundings for nn_linear_rows (ceil(in/8) lane FMAs, or
 * multiply-adds in the portable version, 3 levels of the lane sum, the
 * bias) and d = 2 in + 1 for nn_plinear (one FMA per k, or a multiply and an
 * add in the portable version, then the bias), so
 *     |y - ref| <= 1.01 * d * 2^-24 * S,   S = sum_k |x_k w_k| + |b|
 * (the classic gamma_d bound for a sum; relative to S rather than |ref|, which
 * may cancel to near 0). ref is computed in double. A dropped or doubled
 * term of the tail is ~|x w| ~ S/in, far beyond the budget for in > 1; with
 * in = 1 the budget is ~1e-6 S, still far below a dropped term.
 *
 * Bits: 1 and 2 threads give identical Y; each row alone (N = 1) gives the
 * same bits as within the batch; Y is fully written (it starts as NaN) and
 * nothing past it is touched.
 *
 * All of it at every instruction-set level the CPU has (nn/isa.h): the
 * portable kernels at scalar, the AVX2 ones at avx2 and above.
 *
 * Set PETIT_TEST_VERBOSE=1 to print the worst error / budget per shape. */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "nn/nn.h"
#include "test.h"

static int verbose;
static int packed; /* 0: nn_linear_rows, 1: nn_plinear */
static const char *kname(void) {
    static char b[64];
    snprintf(b, sizeof b, "%s at %s", packed ? "nn_plinear" : "nn_linear_rows", nn_isa_name(nn_isa()));
    return b;
}

/* Y = X W^T + b with the kernel under test (nn_plinear packs W first) */
static void product(float *Y, const float *X, const float *W, const float *b, int N, int in, int out) {
    if (!packed) {
        nn_linear_rows(Y, X, W, b, N, in, out);
        return;
    }
    nn_pmat p;
    nn_pmat_init(&p, W, in, out);
    nn_plinear(Y, X, &p, b, N);
    float *row = pt_malloc((in ? in : 1) * sizeof(float));
    int same = 1;
    for (int j = 0; j < out; j++) {
        nn_pmat_row(&p, j, row);
        same &= memcmp(row, W + (size_t)j * in, (size_t)in * sizeof(float)) == 0;
    }
    CHECK(same, "nn_pmat_row: in=%d out=%d: a row of W does not come back as it was", in, out);
    free(row);
    nn_pmat_free(&p);
}

static float *fvec(size_t n) { return pt_malloc((n ? n : 1) * sizeof(float)); }

static void fill_normal(float *x, size_t n, pt_rng *r, float sd) {
    for (size_t i = 0; i < n; i++) x[i] = sd * pt_rng_normal(r);
}

#define GUARD 16 /* floats after Y that must stay as they are */

/* Y (N, out) [+ GUARD] filled with NaN; the guard holds a sentinel */
static void poison(float *Y, size_t n) {
    for (size_t i = 0; i < n; i++) Y[i] = NAN;
    for (size_t i = n; i < n + GUARD; i++) Y[i] = 12345.0f;
}

static int guard_intact(const float *Y, size_t n) {
    for (size_t i = n; i < n + GUARD; i++)
        if (Y[i] != 12345.0f) return 0;
    return 1;
}

/* ref (N, out) = X W^T in double; S (N, out) = sum |x w| */
static void reference(double *ref, double *S, const float *X, const float *W, int N, int in, int out) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < out; j++) {
            double s = 0.0, a = 0.0;
            for (int k = 0; k < in; k++) {
                double p = (double)X[(size_t)i * in + k] * W[(size_t)j * in + k];
                s += p, a += fabs(p);
            }
            ref[(size_t)i * out + j] = s, S[(size_t)i * out + j] = a;
        }
}

/* elements of Y outside the budget; *worst = max |y - ref| / budget */
static int count_bad(const float *Y, const double *ref, const double *S, const float *b, int N, int in,
                     int out, double *worst) {
    double d = packed ? 2.0 * in + 1 : (in + 7) / 8 + 5, rel = 1.01 * d * 0x1p-24;
    int bad = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < out; j++) {
            size_t e = (size_t)i * out + j;
            double want = ref[e] + (b ? b[j] : 0.0), mag = S[e] + (b ? fabs(b[j]) : 0.0);
            double err = fabs((double)Y[e] - want), tol = rel * mag;
            if (tol > 0 && err / tol > *worst) *worst = err / tol;
            if (!(err <= tol) && bad++ < 3)
                fprintf(stderr, "  %s: N=%d in=%d out=%d bias=%d Y[%d,%d] = %.9g, want %.9g (budget %.3g)\n", kname(), N,
                        in, out, b != NULL, i, j, Y[e], want, tol);
        }
    return bad;
}

static void check_shape(int N, int in, int out, uint64_t seed) {
    pt_rng r = {seed};
    size_t ny = (size_t)N * out;
    float *X = fvec((size_t)N * in), *W = fvec((size_t)out * in), *b = fvec(out);
    fill_normal(X, (size_t)N * in, &r, 1.0f);
    fill_normal(W, (size_t)out * in, &r, 0.5f);
    fill_normal(b, out, &r, 1.0f);
    double *ref = pt_malloc(ny * sizeof(double)), *S = pt_malloc(ny * sizeof(double));
    reference(ref, S, X, W, N, in, out);
    float *Y1 = fvec(ny + GUARD), *Y2 = fvec(ny + GUARD);

    double worst = 0.0;
    for (int bias = 0; bias < 2; bias++) {
        const float *bb = bias ? b : NULL;
        nn_set_threads(1);
        poison(Y1, ny);
        product(Y1, X, W, bb, N, in, out);
        nn_set_threads(2);
        poison(Y2, ny);
        product(Y2, X, W, bb, N, in, out);
        int bad1 = count_bad(Y1, ref, S, bb, N, in, out, &worst);
        int bad2 = count_bad(Y2, ref, S, bb, N, in, out, &worst);
        CHECK(bad1 == 0 && bad2 == 0, "%s: N=%d in=%d out=%d bias=%d: %d (1 thread) and %d (2 threads) of %zu "
              "elements outside the error budget", kname(), N, in, out, bias, bad1, bad2, ny);
        CHECK(memcmp(Y1, Y2, ny * sizeof(float)) == 0, "%s: N=%d in=%d out=%d bias=%d: 1 and 2 threads differ",
              kname(), N, in, out, bias);
        CHECK(guard_intact(Y1, ny) && guard_intact(Y2, ny), "%s: N=%d in=%d out=%d bias=%d: wrote past Y",
              kname(), N, in, out, bias);
    }
    if (verbose) printf("  %-14s N=%-4d in=%-5d out=%-5d worst |err|/budget %.3f\n", kname(), N, in, out, worst);
    nn_set_threads(1);
    free(X), free(W), free(b), free(ref), free(S), free(Y1), free(Y2);
}

/* a row's result does not depend on the rest of the batch: each row alone
 * gives the bits it gets within all N rows */
static void check_rows_alone(int N, int in, int out, int threads, uint64_t seed) {
    pt_rng r = {seed};
    float *X = fvec((size_t)N * in), *W = fvec((size_t)out * in), *b = fvec(out);
    float *Y = fvec((size_t)N * out), *y = fvec(out);
    fill_normal(X, (size_t)N * in, &r, 1.0f);
    fill_normal(W, (size_t)out * in, &r, 0.5f);
    fill_normal(b, out, &r, 1.0f);
    nn_set_threads(threads);
    product(Y, X, W, b, N, in, out);
    int differ = 0;
    for (int i = 0; i < N; i++) {
        product(y, X + (size_t)i * in, W, b, 1, in, out);
        differ += memcmp(y, Y + (size_t)i * out, (size_t)out * sizeof(float)) != 0;
    }
    CHECK(differ == 0, "%s: N=%d in=%d out=%d, %d thread(s): %d rows differ when computed alone", kname(), N,
          in, out, threads, differ);
    nn_set_threads(1);
    free(X), free(W), free(b), free(Y), free(y);
}

/* degenerate sizes: in = 0 gives Y = b (or 0); N = 0 and out = 0 write nothing */
static void check_empty(void) {
    float b[3] = {1.5f, -2.0f, 0.25f}, Y[6 + GUARD], X[1] = {0}, W[12] = {0};
    poison(Y, 6);
    product(Y, X, W, b, 2, 0, 3);
    int ok = 1;
    for (int i = 0; i < 6; i++) ok &= Y[i] == b[i % 3];
    CHECK(ok && guard_intact(Y, 6), "%s: in = 0 with bias: Y is not b", kname());
    poison(Y, 6);
    product(Y, X, W, NULL, 2, 0, 3);
    ok = 1;
    for (int i = 0; i < 6; i++) ok &= Y[i] == 0.0f;
    CHECK(ok, "%s: in = 0 without bias: Y is not 0", kname());
    poison(Y, 0);
    product(Y, X, W, b, 0, 4, 3);
    product(Y, X, W, b, 2, 4, 0);
    CHECK(guard_intact(Y, 0), "%s: N = 0 or out = 0 wrote to Y", kname());
}

int main(void) {
    verbose = getenv("PETIT_TEST_VERBOSE") != NULL;
    double t0 = pt_time();
    static const int Ns[] = {1, 2, 3, 5, 17, 128};
    static const int ins[] = {1, 7, 8, 9, 64, 129, 256, 1024};
    static const int outs[] = {1, 3, 4, 5, 31, 256, 4000};
    TEST_EACH_ISA("nn_linear_rows and nn_plinear", isa) for (packed = 0; packed < 2; packed++) {
        uint64_t seed = 1;
        for (size_t a = 0; a < sizeof Ns / sizeof *Ns; a++)
            for (size_t c = 0; c < sizeof ins / sizeof *ins; c++)
                for (size_t d = 0; d < sizeof outs / sizeof *outs; d++)
                    check_shape(Ns[a], ins[c], outs[d], seed++);

        check_rows_alone(17, 129, 31, 1, 101);
        check_rows_alone(128, 256, 256, 2, 102); /* large enough to run threaded */
        check_rows_alone(5, 9, 4000, 2, 103);
        check_rows_alone(40, 64, 200, 2, 104);  /* panels in chunks, rows past the last tile */
        check_empty();
    }

    nn_set_threads(2);
    if (nn_threads() < 2) printf("test_linear_rows: built without OpenMP, the 2-thread runs used 1\n");
    nn_set_threads(1);
    if (verbose) printf("  %.3f s\n", pt_time() - t0);
    return test_done("test_linear_rows");
}
