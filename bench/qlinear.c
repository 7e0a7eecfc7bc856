/* qlinear: the integer linear layer (nn_qlinear, Q8_0 and Q4_0) against the
 * float ones (nn_linear_rows, nn_linear) on the shapes translation runs:
 * N rows (1 = one greedy sentence, 128 = 32 sentences x beam 4, 1024 = an
 * encoder batch) by the model's layer shapes. Prints GFLOP/s-equivalent
 * (2 N in out / time) and speedups over the best float kernel; medians of
 * --reps runs. Build: make build/bench/qlinear. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "bench.h"
#include "nn/nn.h"
#include "nn/quant.h"

static double timeit(int reps, double budget, void (*fn)(void *), void *ctx) {
    double t[64];
    fn(ctx);
    int n = 0;
    double t0 = bench_now();
    while (n < reps && n < 64) {
        double s = bench_now();
        fn(ctx);
        t[n++] = bench_now() - s;
        if (bench_now() - t0 > budget && n >= 3) break;
    }
    return bench_median(t, n);
}

typedef struct {
    int N, in, out;
    float *X, *W, *Y;
    nn_qmat q;
} job;
static void run_rows(void *p) { job *j = p; nn_linear_rows(j->Y, j->X, j->W, NULL, j->N, j->in, j->out); }
static void run_blas(void *p) { job *j = p; nn_linear(j->Y, j->X, j->W, NULL, j->N, j->in, j->out); }
static void run_q(void *p) { job *j = p; nn_qlinear(j->Y, j->X, &j->q, NULL, j->N); }

int main(int argc, char **argv) {
    int threads = 2, reps = 15;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: qlinear [--threads N] [--reps N]\n");
            return 2;
        }
    }
    nn_set_threads(threads);
    static const int Ns[] = {1, 4, 32, 128, 1024};
    static const int shapes[][2] = {{256, 768}, {256, 1024}, {1024, 256}, {256, 8000}};
    printf("kernel: %s, threads %d; GFLOP/s (2*N*in*out / median time)\n", nn_isa_name(nn_isa()), threads);
    printf("%6s %6s %6s | %9s %9s | %9s %9s | %7s %7s\n", "N", "in", "out", "f32 rows", "f32 blas", "q8_0", "q4_0",
           "q8/f32", "q4/f32");
    double sum8 = 0, sum4 = 0;
    int cnt = 0;
    pt_rng r = {1};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t a = 0; a < sizeof Ns / sizeof Ns[0]; a++) {
            job j = {.N = Ns[a], .in = shapes[s][0], .out = shapes[s][1]};
            j.X = pt_malloc((size_t)j.N * j.in * 4), j.W = pt_malloc((size_t)j.out * j.in * 4);
            j.Y = pt_malloc((size_t)j.N * j.out * 4);
            for (size_t i = 0; i < (size_t)j.N * j.in; i++) j.X[i] = pt_rng_normal(&r);
            for (size_t i = 0; i < (size_t)j.out * j.in; i++) j.W[i] = 0.05f * pt_rng_normal(&r);
            double fl = 2.0 * j.N * j.in * j.out, budget = 1.0;
            double tr = timeit(reps, budget, run_rows, &j), tb = timeit(reps, budget, run_blas, &j);
            double tq[2];
            int types[2] = {NN_Q8_0, NN_Q4_0};
            for (int t = 0; t < 2; t++) {
                size_t rb = nn_qrow_bytes(types[t], j.in);
                void *q = pt_malloc(rb * j.out);
                for (int o = 0; o < j.out; o++) nn_quantize_row(types[t], (char *)q + o * rb, j.W + (size_t)o * j.in, j.in);
                j.q = (nn_qmat){types[t], j.out, j.in, q};
                tq[t] = timeit(reps, budget, run_q, &j);
                free(q);
            }
            double tf = tr < tb ? tr : tb;
            printf("%6d %6d %6d | %9.1f %9.1f | %9.1f %9.1f | %7.2f %7.2f\n", j.N, j.in, j.out, fl / tr * 1e-9,
                   fl / tb * 1e-9, fl / tq[0] * 1e-9, fl / tq[1] * 1e-9, tf / tq[0], tf / tq[1]);
            sum8 += tf / tq[0], sum4 += tf / tq[1], cnt++;
            free(j.X), free(j.W), free(j.Y);
        }
    printf("{\"q8_vs_f32_mean\": %.2f, \"q4_vs_f32_mean\": %.2f, \"isa\": \"%s\"}\n", sum8 / cnt, sum4 / cnt,
           nn_isa_name(nn_isa()));
    return 0;
}
