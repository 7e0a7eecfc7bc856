/* multiaxis_steps: decoding time per token against the output position, dense
 * vs multiaxis decoder self-attention, up to a long output (a document, not a
 * sentence). Built and run by bench/multiaxis.sh.
 *
 * Two models of the same shape with the same random weights (timing does not
 * depend on training), one dense, one multiaxis (half the heads local, half
 * grid, window W). Each greedily decodes LEN tokens of one sentence (EOS is
 * forbidden by its bias, so every run has the same length), REPS times,
 * alternating; the decoder's profile gives each step's time and its
 * self-attention core's. Positions are grouped in buckets; per bucket, the
 * median over runs of the mean over the bucket.
 *
 * usage: multiaxis_steps [--len N] [--window W] [--d-model D] [--heads H] [--ff F]
 *                        [--layers L] [--vocab V] [--reps N] [--threads N] [--svg FILE]
 *                        [--src-ids FILE]
 * --src-ids: the source, ids on the first line (without EOS; at most LEN of them are
 * used); default 16 random ids. Prints a table and, last, one JSON line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "bench.h"
#include "decode/decode.h"
#include "nn/nn.h"

/* mean of x[a..b) */
static double mean(const double *x, int a, int b) {
    double s = 0;
    for (int i = a; i < b; i++) s += x[i];
    return s / (b - a);
}

static void svg_line(FILE *f, const double *y, int n, double ymax, int len, const char *color, int dash) {
    fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='1.5'%s points='", color,
            dash ? " stroke-dasharray='5,3'" : "");
    for (int i = 0; i < n; i++)
        fprintf(f, "%.1f,%.1f ", 60 + 620.0 * (i + 0.5) / n, 350 - 300.0 * y[i] / ymax);
    fprintf(f, "'/>\n");
    (void)len;
}

int main(int argc, char **argv) {
    int len = 2048, W = 16, D = 256, H = 4, F = 1024, L = 6, V = 8000, reps = 3, threads = 1;
    const char *svg = NULL, *src_ids = NULL;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
            printf("usage: multiaxis_steps [--len N] [--window W] [--d-model D] [--heads H] [--ff F]\n"
                   "       [--layers L] [--vocab V] [--reps N] [--threads N] [--svg FILE]\n");
            return 0;
        }
        if (i + 1 >= argc) { fprintf(stderr, "multiaxis_steps: %s needs a value\n", f); return 2; }
        const char *v = argv[++i];
        if (!strcmp(f, "--svg")) { svg = v; continue; }
        if (!strcmp(f, "--src-ids")) { src_ids = v; continue; }
        int x = atoi(v);
        if (x < 1) { fprintf(stderr, "multiaxis_steps: %s %s: want a positive integer\n", f, v); return 2; }
        if (!strcmp(f, "--len")) len = x;
        else if (!strcmp(f, "--window")) W = x;
        else if (!strcmp(f, "--d-model")) D = x;
        else if (!strcmp(f, "--heads")) H = x;
        else if (!strcmp(f, "--ff")) F = x;
        else if (!strcmp(f, "--layers")) L = x;
        else if (!strcmp(f, "--vocab")) V = x;
        else if (!strcmp(f, "--reps")) reps = x;
        else if (!strcmp(f, "--threads")) threads = x;
        else { fprintf(stderr, "multiaxis_steps: unknown option %s\n", f); return 2; }
    }
    nn_set_threads(threads);
    pt_model m[2];
    for (int k = 0; k < 2; k++) {
        pt_config c;
        pt_config_default(&c);
        c.vocab = V, c.d_model = D, c.n_heads = H, c.d_ff = F, c.enc_layers = L, c.dec_layers = L;
        c.max_len = len + 2, c.dropout = 0;
        if (k) c.dec_attn = PT_ATTN_MULTIAXIS, c.attn_window = W, c.local_heads = H / 2, c.grid_heads = H - H / 2;
        if (pt_model_init(&m[k], &c)) { fprintf(stderr, "multiaxis_steps: %s\n", pt_error()); return 1; }
        pt_model_init_weights(&m[k], 1);
        m[k].p.out_b[c.eos_id] = -1e30f; /* never stop early */
    }
    int *src = pt_malloc(sizeof(int) * (size_t)(len + 2)), ns = 0;
    if (src_ids) {
        FILE *f = fopen(src_ids, "r");
        if (!f) { fprintf(stderr, "multiaxis_steps: %s: cannot read\n", src_ids); return 1; }
        int id, c;
        while (ns < len && fscanf(f, "%d", &id) == 1) {
            src[ns++] = id >= 0 && id < V ? id : 0;
            while ((c = fgetc(f)) == ' ') {}
            if (c == '\n' || c == EOF) break;
            ungetc(c, f);
        }
        fclose(f);
    } else {
        pt_rng r = {7};
        for (; ns < 16; ns++) src[ns] = 4 + (int)(pt_rng_next(&r) % (uint64_t)(V - 4));
    }
    src[ns++] = m[0].cfg.eos_id;
    const int *srcs[1] = {src};
    int slen[1] = {ns};
    printf("source: %d tokens\n", ns);
    pt_decode_opts o;
    pt_decode_opts_default(&o);
    o.beam = 1, o.max_len_a = 0, o.max_len_b = (float)len;

    int nb = len >= 256 ? 32 : 8, bw = len / nb; /* buckets of bw positions */
    if (bw < 1) bw = 1, nb = len;
    double *step = pt_malloc(sizeof(double) * len), *attn = pt_malloc(sizeof(double) * len);
    double *bs = pt_calloc((size_t)2 * nb * reps, sizeof(double)), *ba = pt_calloc((size_t)2 * nb * reps, sizeof(double));
    double total[2][64] = {{0}};
    for (int rep = 0; rep < reps; rep++)
        for (int kk = 0; kk < 2; kk++) {
            int k = rep % 2 ? 1 - kk : kk;
            pt_decoder *d = pt_decoder_new(&m[k]);
            pt_decoder_profile(d, step, attn, len);
            double t0 = pt_time();
            if (pt_decode(d, srcs, slen, 1, &o)) { fprintf(stderr, "multiaxis_steps: %s\n", pt_error()); return 1; }
            total[k][rep % 64] = pt_time() - t0;
            int n = 0;
            pt_decode_hyp(d, 0, 0, &n, NULL);
            if (n < len) { fprintf(stderr, "multiaxis_steps: decoded %d tokens, wanted %d\n", n, len); return 1; }
            for (int b = 0; b < nb; b++) {
                bs[((size_t)k * nb + b) * reps + rep] = mean(step, b * bw, (b + 1) * bw);
                ba[((size_t)k * nb + b) * reps + rep] = mean(attn, b * bw, (b + 1) * bw);
            }
            pt_decoder_free(d);
        }
    double ms[2][1024], ma[2][1024];
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < nb; b++) {
            ms[k][b] = 1e3 * bench_median(bs + ((size_t)k * nb + b) * reps, reps);
            ma[k][b] = 1e3 * bench_median(ba + ((size_t)k * nb + b) * reps, reps);
        }
    printf("decoder %d layers, D=%d, %d heads, FFN %d, vocabulary %d; multiaxis: %d local + %d grid heads, W=%d\n",
           L, D, H, F, V, H / 2, H - H / 2, W);
    printf("greedy, 1 sentence, %d tokens, %d thread(s), median of %d runs; ms per token\n\n", len, threads, reps);
    printf("%11s | %9s %9s %6s | %9s %9s %6s | %8s %8s\n", "positions", "dense", "self-att", "share",
           "multiaxis", "self-att", "share", "att x", "step x");
    for (int b = 0; b < nb; b++)
        printf("%5d-%-5d | %9.3f %9.3f %5.1f%% | %9.3f %9.3f %5.1f%% | %8.2f %8.2f\n", b * bw, (b + 1) * bw - 1,
               ms[0][b], ma[0][b], 100 * ma[0][b] / ms[0][b], ms[1][b], ma[1][b], 100 * ma[1][b] / ms[1][b],
               ma[0][b] / ma[1][b], ms[0][b] / ms[1][b]);
    int last = nb - 1;
    if (svg) {
        FILE *f = fopen(svg, "w");
        if (!f) { fprintf(stderr, "multiaxis_steps: %s: cannot write\n", svg); return 1; }
        double ymax = 0;
        for (int b = 0; b < nb; b++) ymax = ms[0][b] > ymax ? ms[0][b] : ymax;
        ymax *= 1.1;
        fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='720' height='400' font-family='sans-serif' font-size='12'>\n"
                   "<rect width='720' height='400' fill='white'/>\n"
                   "<text x='360' y='20' text-anchor='middle' font-size='14'>Decoding time per token vs output position "
                   "(D=%d, %d+%d layers, W=%d)</text>\n"
                   "<line x1='60' y1='350' x2='680' y2='350' stroke='black'/><line x1='60' y1='50' x2='60' y2='350' stroke='black'/>\n",
                D, L, L, W);
        for (int i = 0; i <= 4; i++) {
            fprintf(f, "<text x='55' y='%.1f' text-anchor='end'>%.2f</text>\n", 354 - 75.0 * i, ymax * i / 4);
            fprintf(f, "<text x='%.1f' y='368' text-anchor='middle'>%d</text>\n", 60 + 155.0 * i, len * i / 4);
        }
        fprintf(f, "<text x='370' y='390' text-anchor='middle'>output position</text>\n"
                   "<text x='15' y='200' transform='rotate(-90 15 200)' text-anchor='middle'>ms per token</text>\n");
        svg_line(f, ms[0], nb, ymax, len, "#c0392b", 0);
        svg_line(f, ma[0], nb, ymax, len, "#c0392b", 1);
        svg_line(f, ms[1], nb, ymax, len, "#2471a3", 0);
        svg_line(f, ma[1], nb, ymax, len, "#2471a3", 1);
        const char *lab[4] = {"dense: step", "dense: self-attention", "multiaxis: step", "multiaxis: self-attention"};
        for (int i = 0; i < 4; i++)
            fprintf(f, "<line x1='80' y1='%d' x2='110' y2='%d' stroke='%s' stroke-width='1.5'%s/><text x='115' y='%d'>%s</text>\n",
                    60 + 16 * i, 60 + 16 * i, i < 2 ? "#c0392b" : "#2471a3", i % 2 ? " stroke-dasharray='5,3'" : "",
                    64 + 16 * i, lab[i]);
        fprintf(f, "</svg>\n");
        fclose(f);
    }
    double td[64], tm[64];
    for (int i = 0; i < reps && i < 64; i++) td[i] = total[0][i], tm[i] = total[1][i];
    double Td = bench_median(td, reps < 64 ? reps : 64), Tm = bench_median(tm, reps < 64 ? reps : 64);
    printf("\nwhole decode: dense %.2f s, multiaxis %.2f s (%.2fx)\n", Td, Tm, Td / Tm);
    printf("{\"len\": %d, \"window\": %d, \"attn_speedup_%d\": %.2f, \"step_speedup_%d\": %.2f, "
           "\"attn_share_dense_%d\": %.3f, \"attn_share_multiaxis_%d\": %.3f, \"attn_speedup_first_bucket\": %.2f, "
           "\"step_speedup_first_bucket\": %.2f, \"decode_speedup\": %.2f}\n",
           len, W, len, ma[0][last] / ma[1][last], len, ms[0][last] / ms[1][last], len, ma[0][last] / ms[0][last], len,
           ma[1][last] / ms[1][last], ma[0][0] / ma[1][0], ms[0][0] / ms[1][0], Td / Tm);
    for (int k = 0; k < 2; k++) pt_model_free(&m[k]);
    free(step), free(attn), free(bs), free(ba), free(src);
    return 0;
}
