/* test_learn: petit learns for real. A small model trains on the first 200
 * pairs of Multi30k (real text, tokenized by a committed SentencePiece model)
 * until it reproduces them: greedy decoding of every training source must
 * give exactly the reference target ids for at least 95% of the pairs. */
#include <string.h>

#include "base/base.h"
#include "nn/nn.h"
#include "test.h"
#include "text/spm.h"
#include "train/train.h"

int main(void) {
    nn_set_threads(1); /* robust on a busy machine; results do not depend on it */
    char src[1024], tgt[1024];
    snprintf(src, sizeof src, "%s/train/multi30k.en", test_data_dir());
    snprintf(tgt, sizeof tgt, "%s/train/multi30k.fr", test_data_dir());
    spm_model *sp = spm_load_file("tests/data/m30k-1k.model");
    CHECK(sp != NULL, "vocab: %s", pt_error());
    if (!sp) return test_done("test_learn");
    pt_config c;
    pt_config_default(&c);
    c.vocab = spm_vocab_size(sp), c.d_model = 64, c.n_heads = 4, c.d_ff = 256;
    c.enc_layers = 2, c.dec_layers = 2, c.max_len = 64, c.dropout = 0;
    c.pad_id = spm_pad_id(sp), c.bos_id = spm_bos_id(sp), c.eos_id = spm_eos_id(sp);
    pt_train_opts o;
    pt_train_opts_default(&o);
    o.lr = 3e-3f, o.warmup = 30, o.schedule = PT_SCHED_CONSTANT, o.smoothing = 0;
    o.batch_tokens = 1200, o.seed = 3;
    pt_corpus corp;
    CHECK(pt_corpus_load(&corp, src, tgt, sp, c.eos_id, c.max_len, 200) == 0, "corpus: %s", pt_error());
    CHECK(corp.n >= 190, "only %d pairs kept", corp.n);
    pt_trainer t;
    CHECK(pt_trainer_init(&t, &c, &o) == 0, "init: %s", pt_error());
    pt_model_init_weights(&t.model, 11);
    pt_epoch ep = {0};
    pt_batcher bb = {0};
    pt_step_stats st;
    double t0 = pt_time(), first = 0, loss = 0;
    int steps = 0;
    for (; steps < 1500; steps++) {
        CHECK(pt_trainer_step(&t, &corp, &ep, &bb, &st) == 0, "step: %s", pt_error());
        if (steps == 0) first = st.loss;
        loss = 0.9 * loss + 0.1 * st.loss;
        if (steps > 50 && loss < 0.02) break;
    }
    printf("trained %d steps in %.1fs: loss %.3f -> %.4f\n", steps, pt_time() - t0, first, loss);
    CHECK(loss < 0.05, "training loss only fell to %.4f", loss);
    /* greedy decoding reproduces the references */
    pt_acts *a = pt_acts_new(&c, 1, c.max_len, c.max_len);
    int out[64], exact = 0;
    for (int i = 0; i < corp.n; i++) {
        const int *s = corp.src_ids + corp.src_off[i];
        int sl = corp.src_off[i + 1] - corp.src_off[i];
        const int *ref = corp.tgt_ids + corp.tgt_off[i];
        int rl = corp.tgt_off[i + 1] - corp.tgt_off[i];
        int n = pt_greedy_reference(&t.model, a, s, sl, out, c.max_len - 1);
        exact += n == rl && !memcmp(out, ref, (size_t)n * sizeof(int));
        if (i < 3) {
            size_t len;
            char *txt = spm_decode(sp, out, n, &len);
            printf("  %s\n", txt);
            free(txt);
        }
    }
    printf("greedy output equals the reference for %d of %d pairs\n", exact, corp.n);
    CHECK(exact >= corp.n * 95 / 100, "only %d of %d reproduced", exact, corp.n);
    printf("total %.1fs\n", pt_time() - t0);
    pt_acts_free(a);
    pt_epoch_free(&ep);
    pt_batcher_free(&bb);
    pt_trainer_free(&t);
    pt_corpus_free(&corp);
    spm_free(sp);
    return test_done("test_learn");
}
