/* sgemm.c: how fast OpenBLAS's cblas_sgemm runs the matrix products of one
 * training step of the bench/train.sh model, on this machine, with the same
 * thread count. It is the ceiling petit's achieved GFLOP/s is compared with.
 *
 *   cc -O2 -march=native bench/sgemm.c -o sgemm -lopenblas
 *   ./sgemm [--tokens M] [--threads N] [--reps R] [--d D] [--ff F] [--vocab V]
 *           [--enc-layers L] [--dec-layers L]
 *
 * Every linear layer y = x W^T (x: (M, K), W: (N, K)) costs three products in
 * a training step: forward Y = X W^T (NT), input gradient dX = dY W (NN) and
 * weight gradient dW = dY^T X (TN, summed over the M tokens). Each distinct
 * (N, K, product) is timed alone (median of R runs after a warm-up) and the
 * summary is the step-weighted figure: the FLOPs of all linear layers of one
 * step (Le encoder + Ld decoder layers and the tied output layer) divided by
 * the time these products take at the measured speeds. Attention's batched
 * small products (QK^T, AV) are not included: they are not sgemm-shaped.
 *
 * The last line is "sgemm_gflops X" for scripts. */
#include <cblas.h>

#include "bench.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *random_matrix(size_t n) {
    float *a = malloc(n * sizeof(float));
    if (!a) {
        fprintf(stderr, "sgemm: out of memory\n");
        exit(1);
    }
    unsigned s = 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        a[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    return a;
}

enum { OP_FWD, OP_DX, OP_DW };
static const char *const op_name[] = {"fwd   Y=X·Wᵀ", "bwd  dX=dY·W", "bwd dW=dYᵀ·X"};

/* median seconds of one product; M tokens, W: (N, K). X, W and dY are
 * inputs only; every product writes to Out, so values stay bounded. */
static double time_op(int op, int M, int N, int K, int reps, const float *X, const float *Wt,
                      const float *dY, float *Out) {
    double *t = malloc((size_t)reps * sizeof(double));
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        double t0 = bench_now();
        if (op == OP_FWD) /* Y (M,N) = X (M,K) · W (N,K)ᵀ */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, X, K, Wt, K, 0.0f, Out, N);
        else if (op == OP_DX) /* dX (M,K) = dY (M,N) · W (N,K) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dY, N, Wt, K, 0.0f, Out, K);
        else /* dW (N,K) = dY (M,N)ᵀ · X (M,K) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dY, N, X, K, 0.0f, Out, K);
        if (r >= 0) t[r] = bench_now() - t0;
    }
    double med = bench_median(t, reps);
    free(t);
    return med;
}

static long arg(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "sgemm: %s needs a value\n", argv[*i]);
        exit(2);
    }
    char *end;
    long v = strtol(argv[++*i], &end, 10);
    if (*end || v <= 0 || v > 1000000) {
        fprintf(stderr, "sgemm: %s: bad value '%s'\n", argv[*i - 1], argv[*i]);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    long M = 5000, threads = 2, reps = 7, D = 256, F = 1024, V = 8000, Le = 6, Ld = 6;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokens")) M = arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--threads")) threads = arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--reps")) reps = arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--d")) D = arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--ff")) F = arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--vocab")) V = arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--enc-layers")) Le = arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--dec-layers")) Ld = arg(argc, argv, &i);
        else {
            fprintf(stderr, "usage: sgemm [--tokens M] [--threads N] [--reps R] [--d D] [--ff F] "
                            "[--vocab V] [--enc-layers L] [--dec-layers L]\n");
            return 2;
        }
    }
    openblas_set_num_threads((int)threads);

    /* the linear layers of one step: (N, K) and how many of them */
    struct { const char *what; long N, K, count; } lin[] = {
        {"qkv (self-attention)", 3 * D, D, Le + Ld},
        {"out / cross q / cross out", D, D, Le + 3 * Ld},
        {"cross kv", 2 * D, D, Ld},
        {"ffn up", F, D, Le + Ld},
        {"ffn down", D, F, Le + Ld},
        {"logits (tied embedding)", V, D, 1},
    };
    int n_lin = (int)(sizeof lin / sizeof lin[0]);
    long maxN = 0, maxK = 0;
    for (int l = 0; l < n_lin; l++) {
        if (lin[l].N > maxN) maxN = lin[l].N;
        if (lin[l].K > maxK) maxK = lin[l].K;
    }
    size_t out_n = (size_t)(M > maxK ? M : maxK) * (size_t)(maxN > maxK ? maxN : maxK);
    float *X = random_matrix((size_t)M * maxK), *W = random_matrix((size_t)maxN * maxK),
          *dY = random_matrix((size_t)M * maxN), *Out = random_matrix(out_n);

    printf("cblas_sgemm, %d thread%s, M = %ld tokens, median of %ld runs\n", (int)threads,
           threads == 1 ? "" : "s", M, reps);
    printf("%-26s %6s %6s  %-14s %9s %9s\n", "layer", "N", "K", "product", "ms", "GFLOP/s");
    double step_flops = 0, step_time = 0;
    for (int l = 0; l < n_lin; l++)
        for (int op = 0; op < 3; op++) {
            double flops = 2.0 * (double)M * (double)lin[l].N * (double)lin[l].K;
            double t = time_op(op, (int)M, (int)lin[l].N, (int)lin[l].K, (int)reps, X, W, dY, Out);
            printf("%-26s %6ld %6ld  %-14s %9.2f %9.1f\n", op ? "" : lin[l].what, lin[l].N, lin[l].K,
                   op_name[op], 1e3 * t, flops / t * 1e-9);
            step_flops += flops * (double)lin[l].count;
            step_time += t * (double)lin[l].count;
        }
    printf("one step's linear layers: %.1f GFLOP in %.1f ms\n", step_flops * 1e-9, step_time * 1e3);
    printf("sgemm_gflops %.1f\n", step_flops / step_time * 1e-9);
    free(X), free(W), free(dY), free(Out);
    return 0;
}
