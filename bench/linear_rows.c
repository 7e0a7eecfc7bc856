/* linear_rows.c: nn_linear (OpenBLAS sgemm) against nn_linear_rows (no
 * packing) and nn_plinear (W packed once into panels, what translation uses)
 * on the per-step linear layers of the decoder of the base model (D = 256,
 * FF = 1024, V = 8000), N = batch x beam rows.
 *
 *   make && cc -O3 -march=native -fopenmp -Isrc bench/linear_rows.c build/libpetit.a \
 *       -lopenblas -lm -o /tmp/lr && /tmp/lr
 *   /tmp/lr [--reps R] [--threads T] [--copies K] [--ms M]
 *
 * Each (N, in, out) is timed R times for each function, the three alternating
 * call by call so that a busy machine slows both alike; a sample is the mean
 * of enough calls to last about M ms; the table shows the median sample.
 * --copies K rotates through K copies of W (and X, Y) so that W comes from
 * memory rather than cache, as for the mmapped weights of a whole model.
 * It also prints the largest |difference| from nn_linear's output. Speedups
 * are against nn_linear.
 *
 * Not a test: tests/test_linear_rows.c checks the results. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "nn/nn.h"

static float *random_matrix(size_t n, unsigned seed) {
    float *a = malloc(n * sizeof(float));
    if (!a) {
        fprintf(stderr, "linear_rows: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        a[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
    return a;
}

typedef void (*linear_fn)(float *, const float *, const float *, const float *, int, int, int);

typedef struct {
    int N, in, out, copies;
    float **X, **W, **Y, *b;
    nn_pmat *P; /* W packed for nn_plinear */
    int next; /* copy used by the next call */
} problem;

static double sample(linear_fn f, problem *p, int calls) {
    double t0 = bench_now();
    for (int i = 0; i < calls; i++) {
        int c = p->next;
        p->next = (p->next + 1) % p->copies;
        f(p->Y[c], p->X[c], p->W[c], p->b, p->N, p->in, p->out);
    }
    return (bench_now() - t0) / calls;
}

static double sample_packed(problem *p, int calls) {
    double t0 = bench_now();
    for (int i = 0; i < calls; i++) {
        int c = p->next;
        p->next = (p->next + 1) % p->copies;
        nn_plinear(p->Y[c], p->X[c], &p->P[c], p->b, p->N);
    }
    return (bench_now() - t0) / calls;
}

static int arg(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "linear_rows: %s needs a value\n", argv[*i]);
        exit(2);
    }
    return atoi(argv[++*i]);
}

int main(int argc, char **argv) {
    int reps = 15, threads = 1, copies = 1, ms = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps")) reps = arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--threads")) threads = arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--copies")) copies = arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--ms")) ms = arg(argc, argv, &i);
        else {
            fprintf(stderr, "usage: %s [--reps R] [--threads T] [--copies K] [--ms M]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1 || copies < 1 || ms < 1) {
        fprintf(stderr, "linear_rows: --reps, --copies and --ms must be >= 1\n");
        return 2;
    }
    nn_set_threads(threads);
    static const int Ns[] = {32, 128};
    static const int shapes[][2] = {{256, 768}, {256, 256}, {256, 1024}, {1024, 256}, {256, 8000}};
    static const char *const what[] = {"qkv", "self-out", "ff1", "ff2", "logits"};
    printf("nn_linear (%s) vs nn_linear_rows, %d thread(s), median of %d samples of ~%d ms, "
           "%d cop%s of W\n",
           nn_backend(), threads, reps, ms, copies, copies == 1 ? "y" : "ies");
    printf("%-9s %4s %5s %5s | %9s %7s | %9s %7s | %7s | %9s %7s | %7s | %9s\n", "layer", "N", "in", "out",
           "linear us", "GFLOP/s", "rows us", "GFLOP/s", "speedup", "packed us", "GFLOP/s", "speedup",
           "max|diff|");
    for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
            problem p = {Ns[ni], shapes[si][0], shapes[si][1], copies, NULL, NULL, NULL, NULL, NULL, 0};
            p.P = malloc((size_t)copies * sizeof(nn_pmat));
            p.X = malloc((size_t)copies * sizeof(float *));
            p.W = malloc((size_t)copies * sizeof(float *));
            p.Y = malloc((size_t)copies * sizeof(float *));
            for (int c = 0; c < copies; c++) {
                p.X[c] = random_matrix((size_t)p.N * p.in, 1u + c);
                p.W[c] = random_matrix((size_t)p.out * p.in, 1000u + c);
                p.Y[c] = random_matrix((size_t)p.N * p.out, 2000u + c);
                nn_pmat_init(&p.P[c], p.W[c], p.in, p.out);
            }
            p.b = random_matrix((size_t)p.out, 7u);
            float *Y0 = malloc((size_t)p.N * p.out * sizeof(float));

            /* warm up, compare, and size a sample to about ms milliseconds */
            nn_linear(Y0, p.X[0], p.W[0], p.b, p.N, p.in, p.out);
            nn_linear_rows(p.Y[0], p.X[0], p.W[0], p.b, p.N, p.in, p.out);
            double maxdiff = 0.0;
            for (size_t i = 0; i < (size_t)p.N * p.out; i++)
                maxdiff = fmax(maxdiff, fabs((double)Y0[i] - p.Y[0][i]));
            nn_plinear(p.Y[0], p.X[0], &p.P[0], p.b, p.N);
            for (size_t i = 0; i < (size_t)p.N * p.out; i++)
                maxdiff = fmax(maxdiff, fabs((double)Y0[i] - p.Y[0][i]));
            double t1 = sample(nn_linear, &p, 2) + sample(nn_linear_rows, &p, 2) + sample_packed(&p, 2);
            int calls = (int)(2e-3 * ms / t1) + 1;

            double *ta = malloc((size_t)reps * sizeof(double)), *tb = malloc((size_t)reps * sizeof(double));
            double *tc = malloc((size_t)reps * sizeof(double));
            for (int r = 0; r < reps; r++) {
                ta[r] = sample(nn_linear, &p, calls);
                tb[r] = sample(nn_linear_rows, &p, calls);
                tc[r] = sample_packed(&p, calls);
            }
            double a = bench_median(ta, reps), bt = bench_median(tb, reps), ct = bench_median(tc, reps);
            double flop = 2.0 * p.N * p.in * p.out;
            printf("%-9s %4d %5d %5d | %9.1f %7.1f | %9.1f %7.1f | %6.2fx | %9.1f %7.1f | %6.2fx | %9.2g\n",
                   what[si], p.N, p.in, p.out, 1e6 * a, 1e-9 * flop / a, 1e6 * bt, 1e-9 * flop / bt, a / bt,
                   1e6 * ct, 1e-9 * flop / ct, a / ct, maxdiff);
            fflush(stdout);

            free(ta), free(tb), free(tc), free(Y0), free(p.b);
            for (int c = 0; c < copies; c++) free(p.X[c]), free(p.W[c]), free(p.Y[c]), nn_pmat_free(&p.P[c]);
            free(p.X), free(p.W), free(p.Y), free(p.P);
        }
    return 0;
}
