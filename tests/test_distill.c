/* test_distill: knowledge distillation.
 * 1. The loss (1-alpha) CE + alpha tau^2 KL and its gradient, and the
 *    teacher's top-k targets, against PyTorch (tools/kd_ref.py ->
 *    tests/data/kd_ref.gguf) in four settings (top-k or all, tau 0.5..2,
 *    alpha 0..1, with and without label smoothing).
 * 2. End to end: a student of another depth and decoder kind (1+1 layers,
 *    multiaxis) learns from a 2+2 dense teacher by word-level distillation
 *    alone (alpha 1: no reference term), teacher-forced on the teacher's
 *    own greedy outputs, until its greedy outputs are the teacher's on at
 *    least 90% of the sources.
 * 3. A student started from its teacher's layers holds the picked layers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "gguf/gguf.h"
#include "nn/nn.h"
#include "test.h"
#include "train/train.h"

static const void *tensor(const gguf_file *g, const char *name) {
    const gguf_tensor *t = gguf_find_tensor(g, name);
    if (!t) {
        fprintf(stderr, "kd_ref.gguf: no tensor %s\n", name);
        exit(1);
    }
    return t->data;
}

static void against_torch(void) {
    gguf_file *g = gguf_open("tests/data/kd_ref.gguf");
    CHECK(g != NULL, "%s", pt_error());
    if (!g) return;
    uint32_t N, V, pad, ns;
    CHECK(!gguf_get_u32(g, "kd.n", &N) && !gguf_get_u32(g, "kd.vocab", &V) && !gguf_get_u32(g, "kd.pad", &pad) &&
              !gguf_get_u32(g, "kd.settings", &ns), "fixture keys");
    const float *z = tensor(g, "logits"), *zt = tensor(g, "teacher_logits");
    const int *y = tensor(g, "labels");
    float *work = malloc((size_t)N * V * sizeof(float)), *p = malloc((size_t)N * V * sizeof(float));
    int *ids = malloc((size_t)N * V * sizeof(int));
    for (uint32_t s = 0; s < ns; s++) {
        char key[64];
        uint32_t k;
        float tau, alpha, eps, want;
#define KEY(name) (snprintf(key, sizeof key, "kd.%u." name, s), key)
        CHECK(!gguf_get_u32(g, KEY("k"), &k) && !gguf_get_f32(g, KEY("tau"), &tau) &&
                  !gguf_get_f32(g, KEY("alpha"), &alpha) && !gguf_get_f32(g, KEY("eps"), &eps) &&
                  !gguf_get_f32(g, KEY("loss"), &want), "setting %u keys", s);
        int kk = k ? (int)k : (int)V;
        nn_soft_targets(ids, p, zt, (int)N, (int)V, kk, tau);
        const float *wp = tensor(g, KEY("p"));
        if (k) {
            const int *wid = tensor(g, KEY("ids"));
            CHECK(!memcmp(ids, wid, (size_t)N * k * sizeof(int)), "setting %u: top-%u ids differ from torch.topk", s, k);
        }
        double perr = 0;
        for (size_t i = 0; i < (size_t)N * kk; i++) perr = fmax(perr, fabs(p[i] - wp[i]));
        CHECK(perr < 2e-7, "setting %u: teacher probabilities off by %.3g", s, perr);
        const int *tid = k ? ids : NULL;
        double loss = nn_kd(z, y, tid, p, kk, (int)N, (int)V, eps, alpha, tau, (int)pad);
        snprintf(key, sizeof key, "setting %u loss", s);
        CHECK_CLOSE(loss, want, 1e-5, 2e-6, key);
        memcpy(work, z, (size_t)N * V * sizeof(float));
        double loss2 = nn_kd_backward(work, y, tid, p, kk, (int)N, (int)V, eps, alpha, tau, (int)pad, 1.0f);
        CHECK(loss2 == loss, "setting %u: backward's loss %.9g, forward's %.9g", s, loss2, loss);
        const float *wg = tensor(g, KEY("grad"));
        double gerr = 0;
        for (size_t i = 0; i < (size_t)N * V; i++) gerr = fmax(gerr, fabs(work[i] - wg[i]));
        CHECK(gerr < 1e-6, "setting %u: gradient off by %.3g", s, gerr);
        /* alpha 0 is the plain label-smoothed cross-entropy */
        if (alpha == 0.0f) {
            double ce = nn_xent(z, y, (int)N, (int)V, eps, (int)pad);
            CHECK_CLOSE(loss, ce, 1e-6, 1e-7, "alpha 0 = nn_xent");
        }
#undef KEY
    }
    free(work), free(p), free(ids);
    gguf_close(g);
}

/* a random dense teacher (2+2 layers) and a student of another shape, both on V tokens */
static void config(pt_config *c, int layers, int attn) {
    pt_config_default(c);
    c->vocab = 48, c->d_model = 32, c->n_heads = 2, c->d_ff = 64;
    c->enc_layers = c->dec_layers = layers, c->max_len = 24, c->dropout = 0;
    c->pad_id = 3, c->bos_id = 1, c->eos_id = 2, c->unk_id = 0;
    if (attn == PT_ATTN_MULTIAXIS) c->dec_attn = attn, c->attn_window = 2, c->local_heads = 1, c->grid_heads = 1;
}

static void end_to_end(void) {
    enum { NS = 48, MAXO = 12 };
    pt_config tc, sc;
    config(&tc, 2, PT_ATTN_DENSE);
    config(&sc, 1, PT_ATTN_MULTIAXIS);
    pt_model teacher;
    pt_model_init(&teacher, &tc);
    pt_model_init_weights(&teacher, 5);
    /* sharper than an initial model: a teacher with preferences of its own */
    for (size_t i = 0; i < teacher.n_params; i++) teacher.mem[i] *= 2.5f;
    pt_acts *ta = pt_acts_new(&tc, 1, tc.max_len, tc.max_len);
    uint64_t r = 99;
    int *src[NS], sl[NS], *tgt[NS], tl[NS];
    int distinct = 0;
    for (int i = 0; i < NS; i++) {
        sl[i] = 3 + (int)(pt_hash_u64(r++) % 6);
        src[i] = malloc((size_t)(sl[i] + 1) * sizeof(int));
        for (int j = 0; j < sl[i]; j++) src[i][j] = 4 + (int)(pt_hash_u64(r++) % (uint64_t)(tc.vocab - 4));
        src[i][sl[i]++] = tc.eos_id;
        tgt[i] = malloc(MAXO * sizeof(int));
        tl[i] = pt_greedy_reference(&teacher, ta, src[i], sl[i], tgt[i], MAXO);
        if (tl[i] == 0) tgt[i][tl[i]++] = 4; /* the corpus needs a non-empty side */
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = tl[j] == tl[i] && !memcmp(tgt[j], tgt[i], (size_t)tl[i] * sizeof(int));
        distinct += !seen;
    }
    CHECK(distinct >= NS / 2, "the teacher says only %d different things to %d sources: a weak test", distinct, NS);
    pt_corpus corp;
    pt_corpus_from_ids(&corp, NS, (const int *const *)src, sl, (const int *const *)tgt, tl);

    pt_train_opts o;
    pt_train_opts_default(&o);
    o.lr = 3e-3f, o.warmup = 20, o.schedule = PT_SCHED_CONSTANT, o.smoothing = 0, o.batch_tokens = 400;
    o.kd_alpha = 1.0f, o.kd_tau = 1.0f, o.kd_topk = 8; /* the teacher alone teaches */
    pt_trainer t;
    CHECK(pt_trainer_init(&t, &sc, &o) == 0, "%s", pt_error());
    pt_model_init_weights(&t.model, 6);
    pt_teacher kd;
    CHECK(pt_teacher_init(&kd, &teacher, &sc, o.kd_topk, o.kd_alpha, o.kd_tau) == 0, "%s", pt_error());
    t.teacher = &kd;
    pt_epoch ep = {0};
    pt_batcher bb = {0};
    pt_step_stats st;
    int steps = 0, match = 0;
    pt_acts *sa = pt_acts_new(&sc, 1, sc.max_len, sc.max_len);
    int out[MAXO];
    for (; steps < 3000; steps++) {
        if (pt_trainer_step(&t, &corp, &ep, &bb, &st)) {
            CHECK(0, "step: %s", pt_error());
            break;
        }
        if (steps % 100 != 99) continue;
        match = 0;
        for (int i = 0; i < NS; i++) {
            int n = pt_greedy_reference(&t.model, sa, src[i], sl[i], out, MAXO);
            match += n == tl[i] && !memcmp(out, tgt[i], (size_t)n * sizeof(int));
        }
        if (match >= NS * 95 / 100) break;
    }
    printf("student (1+1 multiaxis) after %d steps: %d of %d greedy outputs are the teacher's (%d distinct), "
           "loss %.4f\n", steps + 1, match, NS, distinct, st.loss);
    CHECK(match >= NS * 9 / 10, "only %d of %d outputs match the teacher's", match, NS);

    /* the same student started from the teacher: needs the same width; takes the top layer */
    pt_config wc = tc;
    wc.enc_layers = 1, wc.dec_layers = 1;
    pt_model w;
    pt_model_init(&w, &wc);
    int copied = -1;
    CHECK(pt_model_init_from_teacher(&w, &teacher, &copied) == 0 && copied == w.n_tensors, "copied %d of %d: %s",
          copied, w.n_tensors, pt_error());
    int a = pt_model_find(&w, "dec.0.ffn.up.weight"), b = pt_model_find(&teacher, "dec.1.ffn.up.weight");
    CHECK(a >= 0 && b >= 0 && !memcmp(w.mem + w.tensors[a].offset, teacher.mem + teacher.tensors[b].offset,
                                      (size_t)w.tensors[a].rows * w.tensors[a].cols * sizeof(float)),
          "student decoder layer 0 is not the teacher's top layer");
    int e = pt_model_find(&w, "tok_emb.weight");
    CHECK(!memcmp(w.mem + w.tensors[e].offset, teacher.p.tok_emb, (size_t)wc.vocab * wc.d_model * sizeof(float)),
          "embedding not copied");
    pt_config narrow = sc;
    narrow.d_ff = 32;
    pt_model nm;
    pt_model_init(&nm, &narrow);
    CHECK(pt_model_init_from_teacher(&nm, &teacher, NULL) != 0, "a narrower student cannot start from the teacher");
    pt_config other = sc;
    other.vocab = 40;
    pt_teacher bad;
    CHECK(pt_teacher_init(&bad, &teacher, &other, 8, 0.5f, 1.0f) != 0, "a student with another vocabulary is refused");

    pt_model_free(&nm);
    pt_model_free(&w);
    pt_acts_free(sa);
    pt_acts_free(ta);
    pt_epoch_free(&ep);
    pt_batcher_free(&bb);
    pt_teacher_free(&kd);
    pt_trainer_free(&t);
    pt_corpus_free(&corp);
    pt_model_free(&teacher);
    for (int i = 0; i < NS; i++) free(src[i]), free(tgt[i]);
}

int main(void) {
    nn_set_threads(1);
    against_torch();
    end_to_end();
    return test_done("test_distill");
}
