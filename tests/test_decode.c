/* test_decode: the incremental decoder against full recomputation.
 * A small model trained here briefly (pre-norm and post-norm) translates 40
 * Multi30k sentences: greedy ids equal pt_greedy_reference's (which reruns
 * the whole network each step); beam search gives the same results batched
 * and one sentence at a time; every n-best hypothesis's score equals its
 * teacher-forced log-probability within 1e-3; beam 1 equals greedy. */
#include <string.h>

#include "base/base.h"
#include "decode/decode.h"
#include "nn/nn.h"
#include "test.h"
#include "text/spm.h"
#include "train/train.h"

#define N 40

/* multiaxis: 0 = dense decoder; else 4 heads: 1 local, 2 grid, 1 dense, W = 4 */
static void run(int norm, int act, int pos, int multiaxis) {
    char src[1024], tgt[1024];
    snprintf(src, sizeof src, "%s/train/multi30k.en", test_data_dir());
    snprintf(tgt, sizeof tgt, "%s/train/multi30k.fr", test_data_dir());
    spm_model *sp = spm_load_file("tests/data/m30k-1k.model");
    CHECK(sp != NULL, "vocab: %s", pt_error());
    if (!sp) return;
    pt_config c;
    pt_config_default(&c);
    c.vocab = spm_vocab_size(sp), c.d_model = 32, c.n_heads = 2, c.d_ff = 64;
    c.enc_layers = 2, c.dec_layers = 2, c.max_len = 48, c.dropout = 0;
    c.norm = norm, c.act = act, c.pos = pos;
    if (multiaxis)
        c.n_heads = 4, c.dec_attn = PT_ATTN_MULTIAXIS, c.attn_window = 4, c.local_heads = 1, c.grid_heads = 2;
    pt_train_opts o;
    pt_train_opts_default(&o);
    o.lr = 3e-3f, o.warmup = 20, o.schedule = PT_SCHED_CONSTANT, o.batch_tokens = 1000;
    pt_corpus corp;
    CHECK(pt_corpus_load(&corp, src, tgt, sp, c.eos_id, c.max_len, 150) == 0, "corpus: %s", pt_error());
    pt_trainer t;
    CHECK(pt_trainer_init(&t, &c, &o) == 0, "init: %s", pt_error());
    pt_model_init_weights(&t.model, 2);
    pt_epoch ep = {0};
    pt_batcher bb = {0};
    pt_step_stats st;
    for (int s = 0; s < 150; s++) pt_trainer_step(&t, &corp, &ep, &bb, &st);
    printf("%s/%s/%s/%s: trained to loss %.3f\n", pt_norm_name(norm), pt_act_name(act), pt_pos_name(pos),
           pt_attn_name(c.dec_attn), st.loss);
    const pt_model *m = &t.model;

    const int *srcs[N];
    int lens[N];
    for (int i = 0; i < N; i++) { /* every 3rd pair: some seen, lengths vary */
        int ex = (i * 3) % corp.n;
        srcs[i] = corp.src_ids + corp.src_off[ex];
        lens[i] = corp.src_off[ex + 1] - corp.src_off[ex];
    }
    pt_decoder *d = pt_decoder_new(m);
    pt_decode_opts g;
    pt_decode_opts_default(&g);
    g.beam = 1;
    CHECK(pt_decode(d, srcs, lens, N, &g) == 0, "decode: %s", pt_error());
    pt_acts *a = pt_acts_new(&c, 1, c.max_len, c.max_len);
    int ref[64], same = 0, differs = 0;
    int *greedy[N], glen[N];
    for (int i = 0; i < N; i++) {
        int max_out = (int)(2.0 * lens[i] + 10);
        if (max_out > c.max_len - 1) max_out = c.max_len - 1;
        int n = pt_greedy_reference(m, a, srcs[i], lens[i], ref, max_out), k;
        const int *ids = pt_decode_hyp(d, i, 0, &k, NULL);
        greedy[i] = pt_malloc(64 * sizeof(int));
        memcpy(greedy[i], ids, (size_t)k * sizeof(int));
        glen[i] = k;
        if (k == n && !memcmp(ids, ref, (size_t)n * sizeof(int))) same++;
        else if (differs++ < 3) fprintf(stderr, "  sentence %d: incremental %d ids, reference %d\n", i, k, n);
    }
    CHECK(same == N, "greedy: %d of %d sentences equal full recomputation", same, N);

    /* beam 4, batched vs one at a time, and scores by teacher forcing */
    pt_decode_opts bo;
    pt_decode_opts_default(&bo);
    bo.beam = 4, bo.nbest = 4, bo.len_penalty = 0.6f;
    CHECK(pt_decode(d, srcs, lens, N, &bo) == 0, "beam: %s", pt_error());
    int nh[N], hl[N][4], hid[N][4][64];
    float hs[N][4];
    for (int i = 0; i < N; i++) {
        nh[i] = pt_decode_n_hyps(d, i);
        for (int r = 0; r < nh[i]; r++) {
            const int *ids = pt_decode_hyp(d, i, r, &hl[i][r], &hs[i][r]);
            memcpy(hid[i][r], ids, (size_t)hl[i][r] * sizeof(int));
        }
    }
    int batch_ok = 0, score_bad = 0, beam_better = 0;
    for (int i = 0; i < N; i++) {
        pt_decode(d, &srcs[i], &lens[i], 1, &bo);
        int ok = pt_decode_n_hyps(d, i - i) == nh[i];
        for (int r = 0; ok && r < nh[i]; r++) {
            int k;
            float s;
            const int *ids = pt_decode_hyp(d, 0, r, &k, &s);
            ok = k == hl[i][r] && !memcmp(ids, hid[i][r], (size_t)k * sizeof(int)) && fabsf(s - hs[i][r]) < 1e-4f;
        }
        batch_ok += ok;
        for (int r = 0; r < nh[i]; r++) { /* teacher-forced log-probability */
            int n = hl[i][r], tin[64], tout[64], T = n + 1;
            int max_out = (int)(2.0 * lens[i] + 10);
            if (max_out > c.max_len - 1) max_out = c.max_len - 1;
            tin[0] = c.bos_id;
            for (int j = 0; j < n; j++) tin[j + 1] = hid[i][r][j], tout[j] = hid[i][r][j];
            tout[n] = c.eos_id;
            pt_batch bt = {1, lens[i], T, srcs[i], &lens[i], tin, tout, &T, NULL};
            int ntok;
            double nll = pt_forward(m, a, &bt, 0.0f, 0, &ntok);
            double nll_noeos = nll;
            if (n == max_out) { /* at the length limit: maybe no EOS term */
                tout[n] = c.pad_id;
                nll_noeos = pt_forward(m, a, &bt, 0.0f, 0, &ntok);
            }
            double raw = hs[i][r] * pow(n == max_out ? n : n + 1, 0.6);
            if (fabs(-nll - raw) > 1e-3 * (1 + fabs(raw)) && fabs(-nll_noeos - raw) > 1e-3 * (1 + fabs(raw))) {
                if (score_bad++ < 3)
                    fprintf(stderr, "  sentence %d rank %d: beam score %.5f, teacher-forced %.5f\n", i, r, raw, -nll);
            }
        }
        if (glen[i] != hl[i][0] || memcmp(greedy[i], hid[i][0], (size_t)glen[i] * sizeof(int))) beam_better++;
    }
    CHECK(batch_ok == N, "beam: %d of %d sentences equal alone and batched", batch_ok, N);
    CHECK(score_bad == 0, "beam: %d hypothesis scores differ from teacher forcing", score_bad);
    printf("  greedy == reference: %d/%d; beam 4 differs from greedy on %d sentences\n", same, N, beam_better);
    /* beam 1 is greedy */
    bo.beam = 1, bo.nbest = 1;
    pt_decode(d, srcs, lens, N, &bo);
    int b1 = 0;
    for (int i = 0; i < N; i++) {
        int k;
        const int *ids = pt_decode_hyp(d, i, 0, &k, NULL);
        b1 += k == glen[i] && !memcmp(ids, greedy[i], (size_t)k * sizeof(int));
        free(greedy[i]);
    }
    CHECK(b1 == N, "beam 1 equals greedy on %d of %d", b1, N);
    pt_acts_free(a);
    pt_decoder_free(d);
    pt_epoch_free(&ep);
    pt_batcher_free(&bb);
    pt_trainer_free(&t);
    pt_corpus_free(&corp);
    spm_free(sp);
}

int main(void) {
    nn_set_threads(1);
    run(PT_NORM_PRE, NN_ACT_RELU, PT_POS_SINUSOIDAL, 0);
    run(PT_NORM_POST, NN_ACT_GELU, PT_POS_LEARNED, 0);
    run(PT_NORM_PRE, NN_ACT_RELU, PT_POS_SINUSOIDAL, 1);
    return test_done("test_decode");
}
