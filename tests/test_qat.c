/* test_qat: quantization-aware training.
 *
 * 1. A QAT step computes with the fake-quantized weights and applies the
 *    straight-through gradient: its loss equals pt_forward_backward on the
 *    RTN-rounded copy of the weights, and the gradient it accumulated is
 *    that copy's gradient (bit for bit: same kernels, same batch, same key).
 * 2. Training through the rounding lowers the loss of the rounded model:
 *    a Q4_0 QAT fine-tune of a float model, from the RTN-rounded starting
 *    point, reaches a lower eval loss (measured on the rounded weights)
 *    than the rounded starting model had.
 * 3. The written model is RTN of the float weights: loading it gives the
 *    same logits as the fake-quantized float model.
 * 4. A checkpoint keeps the QAT settings.
 * 5. LSQ: the steps move, the rounded model's loss falls, the written model
 *    is exactly what training computed with, checkpoints keep the steps.
 * 6. ECQ-aware training: a step computes with the ECQ levels (straight-
 *    through gradient), and after 80 steps the model packs to a lower loss
 *    than the same steps of float training, packed. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "gguf/gguf.h"
#include "nn/nn.h"
#include "nn/quant.h"
#include "test.h"
#include "text/spm.h"
#include "train/train.h"

int main(void) {
    nn_set_threads(1);
    char src[1024], tgt[1024];
    snprintf(src, sizeof src, "%s/train/multi30k.en", test_data_dir());
    snprintf(tgt, sizeof tgt, "%s/train/multi30k.fr", test_data_dir());
    spm_model *sp = spm_load_file("tests/data/m30k-1k.model");
    CHECK(sp != NULL, "vocab: %s", pt_error());
    if (!sp) return test_done("test_qat");
    pt_config c;
    pt_config_default(&c);
    c.vocab = spm_vocab_size(sp), c.d_model = 64, c.n_heads = 2, c.d_ff = 128;
    c.enc_layers = 1, c.dec_layers = 1, c.max_len = 48, c.dropout = 0;
    c.pad_id = spm_pad_id(sp), c.bos_id = spm_bos_id(sp), c.eos_id = spm_eos_id(sp);
    pt_corpus corp;
    CHECK(pt_corpus_load(&corp, src, tgt, sp, c.eos_id, c.max_len, 300) == 0, "corpus: %s", pt_error());

    /* a float model, briefly trained */
    pt_train_opts o;
    pt_train_opts_default(&o);
    o.lr = 3e-3f, o.warmup = 10, o.schedule = PT_SCHED_CONSTANT, o.batch_tokens = 1500, o.seed = 2;
    pt_trainer f;
    CHECK(pt_trainer_init(&f, &c, &o) == 0, "init");
    pt_model_init_weights(&f.model, 4);
    pt_epoch ep = {0};
    pt_batcher bb = {0};
    pt_step_stats st;
    for (int s = 0; s < 120; s++) CHECK(pt_trainer_step(&f, &corp, &ep, &bb, &st) == 0, "step: %s", pt_error());
    pt_epoch_free(&ep);
    memset(&ep, 0, sizeof ep);

    /* the QAT trainer starts from its weights */
    pt_train_opts q = o;
    q.lr = 1e-3f, q.warmup = 1;
    pt_quant_policy_default(&q.qat, NN_Q4_0);
    pt_trainer t;
    CHECK(pt_trainer_init(&t, &c, &q) == 0, "init qat");
    memcpy(t.model.mem, f.model.mem, f.model.n_params * sizeof(float));
    double before = pt_trainer_eval(&t, &corp, &bb); /* on the rounded weights */
    double float_loss = pt_trainer_eval(&f, &corp, &bb);

    /* 1: one step against a manual forward/backward on the rounded copy */
    size_t n = t.model.n_params;
    float *rounded = pt_alloc_aligned(n * 4), *g = pt_alloc_aligned(n * 4);
    pt_fake_quant(&t.model, rounded, t.model.mem, &q.qat);
    CHECK(memcmp(rounded, t.model.mem, n * 4) != 0, "rounding changes the weights");
    pt_model view;
    pt_model_view(&t.model, rounded, &view);
    pt_epoch_build(&ep, &corp, q.batch_tokens, q.seed, 0, 1);
    const pt_batch *b = pt_batcher_make(&bb, &corp, &ep, 0, c.pad_id, c.bos_id, c.eos_id);
    pt_trainer_reserve(&t, b->B, b->S, b->T);
    memset(g, 0, n * 4);
    uint64_t key = pt_hash_u64(q.seed ^ pt_hash_u64((uint64_t)1 * 64 + 0 + 1)) | 1; /* step 1, batch 0 */
    int ntok;
    pt_acts *a = pt_acts_new(&c, b->B, b->S, b->T);
    double manual = pt_forward_backward(&view, a, b, q.smoothing, key, 1.0f, g, &ntok);
    pt_acts_free(a);
    pt_epoch_free(&ep);
    memset(&ep, 0, sizeof ep);
    CHECK(pt_trainer_step(&t, &corp, &ep, &bb, &st) == 0, "qat step: %s", pt_error());
    CHECK(fabs(st.loss - manual / ntok) <= 1e-6 * fabs(st.loss), "QAT step loss %.9g, rounded model's %.9g", st.loss,
          manual / ntok);
    CHECK(memcmp(t.grads, g, n * 4) == 0, "QAT gradient is not the rounded model's gradient (STE)");

    /* 2: training through the rounding helps the rounded model more than
     * the same float training rounded afterwards */
    for (int s = 1; s < 80; s++) CHECK(pt_trainer_step(&t, &corp, &ep, &bb, &st) == 0, "step: %s", pt_error());
    double after = pt_trainer_eval(&t, &corp, &bb);
    pt_train_opts fo = q;
    pt_quant_policy_default(&fo.qat, NN_F32);
    pt_trainer f2;
    CHECK(pt_trainer_init(&f2, &c, &fo) == 0, "init float twin");
    memcpy(f2.model.mem, f.model.mem, n * 4);
    pt_epoch ep2 = {0};
    for (int s = 0; s < 80; s++) CHECK(pt_trainer_step(&f2, &corp, &ep2, &bb, &st) == 0, "step: %s", pt_error());
    double f2_float = pt_trainer_eval(&f2, &corp, &bb);
    f2.opts.qat = q.qat; /* evaluate its rounded weights */
    double f2_rtn = pt_trainer_eval(&f2, &corp, &bb);
    printf("eval loss: float %.4f, Q4_0 RTN of it %.4f; after 80 more steps: float %.4f, its RTN %.4f, QAT %.4f\n",
           float_loss, before, f2_float, f2_rtn, after);
    CHECK(after < before - 0.02, "QAT did not lower the rounded model's loss (%.4f -> %.4f)", before, after);
    CHECK(after < f2_rtn, "QAT (%.4f) no better than float training rounded afterwards (%.4f)", after, f2_rtn);
    /* 6: ECQ-aware training: a step computes with the ECQ levels, and the
     * fine-tuned model packs to a lower loss than the float-trained twin */
    pt_quant_policy all;
    pt_quant_policy_default(&all, NN_Q8_0);
    const double lam = 0.3;
    pt_train_opts eo = o;
    eo.lr = 1e-3f, eo.warmup = 1, eo.ecq_lambda = lam, eo.ecq_bits = 8;
    pt_trainer et, ev;
    CHECK(pt_trainer_init(&et, &c, &eo) == 0 && pt_trainer_init(&ev, &c, &o) == 0, "init ecq");
    memcpy(et.model.mem, f.model.mem, n * 4);
    double *prob = pt_malloc((size_t)f.model.n_tensors * 256 * sizeof(double));
    for (int i = 0; i < f.model.n_tensors; i++) prob[(size_t)i * 256] = -1;
    pt_ecq_fake_quant(&et.model, &all, rounded, et.model.mem, lam, NULL, 8, prob, 2);
    pt_model ecv;
    pt_model_view(&et.model, rounded, &ecv);
    pt_epoch ep4 = {0};
    pt_epoch_build(&ep4, &corp, eo.batch_tokens, eo.seed, 0, 1);
    b = pt_batcher_make(&bb, &corp, &ep4, 0, c.pad_id, c.bos_id, c.eos_id);
    a = pt_acts_new(&c, b->B, b->S, b->T);
    memset(g, 0, n * 4);
    key = pt_hash_u64(eo.seed ^ pt_hash_u64((uint64_t)1 * 64 + 0 + 1)) | 1;
    manual = pt_forward_backward(&ecv, a, b, eo.smoothing, key, 1.0f, g, &ntok);
    pt_acts_free(a);
    pt_epoch_free(&ep4);
    memset(&ep4, 0, sizeof ep4);
    CHECK(pt_trainer_step(&et, &corp, &ep4, &bb, &st) == 0, "ecq step: %s", pt_error());
    CHECK(fabs(st.loss - manual / ntok) <= 1e-6 * fabs(st.loss), "ECQ step loss %.9g, the levels' %.9g", st.loss,
          manual / ntok);
    CHECK(memcmp(et.grads, g, n * 4) == 0, "ECQ gradient is not the levels' gradient (STE)");
    for (int s = 1; s < 80; s++) CHECK(pt_trainer_step(&et, &corp, &ep4, &bb, &st) == 0, "ecq step: %s", pt_error());
    /* packed losses: the levels a fresh ECQ gives each model's weights */
    pt_ecq_fake_quant(&f.model, &all, ev.model.mem, f.model.mem, lam, NULL, 8, NULL, 0);
    double pack_start = pt_trainer_eval(&ev, &corp, &bb);
    pt_ecq_fake_quant(&f2.model, &all, ev.model.mem, f2.model.mem, lam, NULL, 8, NULL, 0);
    double pack_float_ft = pt_trainer_eval(&ev, &corp, &bb);
    pt_ecq_fake_quant(&et.model, &all, ev.model.mem, et.model.mem, lam, NULL, 8, NULL, 0);
    double pack_ecq_ft = pt_trainer_eval(&ev, &corp, &bb);
    printf("ECQ lambda %.1f, packed model's loss: start %.4f; after 80 steps: float training %.4f, ECQ-aware %.4f\n",
           lam, pack_start, pack_float_ft, pack_ecq_ft);
    CHECK(pack_ecq_ft < pack_float_ft, "ECQ-aware training (%.4f) no better than float training packed (%.4f)",
          pack_ecq_ft, pack_float_ft);
    /* 7: each tensor's own share of lambda: a multiplier changes that
     * tensor's levels only; it is kept by checkpoints and written into the
     * packed model, from which a new run reads it back */
    {
        int up = pt_model_find(&et.model, "dec.0.ffn.up.weight"), qkv = pt_model_find(&et.model, "enc.0.attn.qkv.weight");
        float *sc = pt_malloc((size_t)et.model.n_tensors * sizeof(float)), *w1 = pt_malloc(n * 4), *w2 = pt_malloc(n * 4);
        for (int i = 0; i < et.model.n_tensors; i++) sc[i] = 1.0f;
        sc[up] = 4.0f;
        pt_ecq_fake_quant(&et.model, &all, w1, et.model.mem, lam, NULL, 8, NULL, 0);
        pt_ecq_fake_quant(&et.model, &all, w2, et.model.mem, lam, sc, 8, NULL, 0);
        const pt_tensor *tu = &et.model.tensors[up], *tq = &et.model.tensors[qkv];
        size_t nu = (size_t)tu->rows * tu->cols, nq = (size_t)tq->rows * tq->cols, zu1 = 0, zu2 = 0;
        for (size_t j = 0; j < nu; j++) zu1 += w1[tu->offset + j] == 0, zu2 += w2[tu->offset + j] == 0;
        CHECK(zu2 > zu1, "a 4x lambda did not zero more of the tensor's weights (%zu vs %zu)", zu2, zu1);
        CHECK(memcmp(w1 + tq->offset, w2 + tq->offset, nq * 4) == 0, "another tensor's levels changed");
        et.ecq_scale = sc;
        char pk[] = "/tmp/petit_ecqs_XXXXXX", ck2[64];
        int fd2 = mkstemp(pk);
        close(fd2);
        snprintf(ck2, sizeof ck2, "%s.ckpt", pk);
        CHECK(pt_checkpoint_save(&et, sp, ck2) == 0, "checkpoint: %s", pt_error());
        pt_trainer r2;
        CHECK(pt_checkpoint_load(&r2, ck2) == 0, "resume: %s", pt_error());
        CHECK(r2.ecq_scale && r2.ecq_scale[up] == 4.0f && r2.ecq_scale[qkv] == 1.0f, "the checkpoint lost the multipliers");
        pt_trainer_free(&r2);
        CHECK(pt_trainer_save_quant(&et, sp, pk) == 0, "save packed: %s", pt_error());
        CHECK(pt_trainer_ecq_scales_from(&ev, pk) == 0, "read the multipliers: %s", pt_error());
        CHECK(ev.ecq_scale && ev.ecq_scale[up] == 4.0f && ev.ecq_scale[qkv] == 1.0f,
              "the packed model's multipliers are not the trainer's");
        CHECK(pt_trainer_ecq_scales_from(&ev, ck2) == -1, "a float checkpoint was taken for a packed model");
        unlink(pk), unlink(ck2);
        free(w1), free(w2);
    }
    free(prob);
    pt_epoch_free(&ep4);
    pt_trainer_free(&et), pt_trainer_free(&ev);

    pt_epoch_free(&ep2);
    pt_trainer_free(&f2);

    /* 3: the written model is the rounded float weights */
    char path[] = "/tmp/petit_qat_XXXXXX", ck[64];
    int fd = mkstemp(path);
    close(fd);
    CHECK(pt_model_save_quant(&t.model, sp, &q.qat, "qat", path) == 0, "save: %s", pt_error());
    gguf_file *gf = gguf_open(path);
    pt_model mq;
    CHECK(gf && pt_model_from_gguf(&mq, gf) == 0, "load: %s", pt_error());
    CHECK(mq.n_quant > 0, "integer tensors written");
    pt_fake_quant(&t.model, rounded, t.model.mem, &q.qat); /* view is over rounded */
    b = pt_batcher_make(&bb, &corp, &ep, 1, c.pad_id, c.bos_id, c.eos_id);
    a = pt_acts_new(&c, b->B, b->S, b->T);
    size_t nl = (size_t)b->B * b->T * c.vocab;
    float *l1 = pt_malloc(nl * 4);
    pt_forward(&view, a, b, 0, 0, &ntok);
    memcpy(l1, pt_acts_logits(a), nl * 4);
    /* the weights-only contract (nn/quant.h): what this checks is the weights
     * written; the integer contract's error is tests/test_quant_model.c's */
    nn_q_set_act(NN_QACT_F32);
    pt_forward(&mq, a, b, 0, 0, &ntok);
    nn_q_set_act(NN_QACT_AUTO);
    double worst = 0;
    for (size_t i = 0; i < nl; i++) worst = fmax(worst, fabs(l1[i] - pt_acts_logits(a)[i]));
    CHECK(worst < 1e-4, "written model's logits differ from the rounded float model by %g", worst);
    pt_acts_free(a);
    free(l1);
    pt_model_free(&mq);
    gguf_close(gf);

    /* 4: checkpoints keep the QAT settings */
    snprintf(ck, sizeof ck, "%s.ckpt", path);
    CHECK(pt_checkpoint_save(&t, sp, ck) == 0, "checkpoint: %s", pt_error());
    pt_trainer r;
    CHECK(pt_checkpoint_load(&r, ck) == 0, "resume: %s", pt_error());
    CHECK(r.opts.qat.type == NN_Q4_0 && r.opts.qat.emb_type == NN_Q4_0 && r.opts.qat.groups == PT_QP_ALL,
          "QAT settings after resume: type %d emb %d groups %u", r.opts.qat.type, r.opts.qat.emb_type, r.opts.qat.groups);
    pt_trainer_free(&r);

    /* 5: LSQ: learned steps; the written model is what training computed with */
    pt_train_opts l = q;
    l.qat_lsq = 1;
    pt_trainer ls;
    CHECK(pt_trainer_init(&ls, &c, &l) == 0, "init lsq");
    memcpy(ls.model.mem, f.model.mem, n * 4);
    pt_epoch ep3 = {0};
    double lsq_before = pt_trainer_eval(&ls, &corp, &bb);
    float *s0 = pt_malloc(ls.lsq_n * 4);
    memcpy(s0, ls.lsq_s, ls.lsq_n * 4);
    for (int s = 0; s < 80; s++) CHECK(pt_trainer_step(&ls, &corp, &ep3, &bb, &st) == 0, "lsq step: %s", pt_error());
    double lsq_after = pt_trainer_eval(&ls, &corp, &bb);
    size_t moved = 0;
    for (size_t i = 0; i < ls.lsq_n; i++) moved += fabsf(ls.lsq_s[i] - s0[i]) > 1e-3f * s0[i];
    printf("LSQ: %zu steps, %zu moved by > 0.1%%; rounded model's loss %.4f -> %.4f (RTN-step QAT: %.4f)\n",
           ls.lsq_n, moved, lsq_before, lsq_after, after);
    CHECK(moved > ls.lsq_n / 10, "LSQ steps hardly moved (%zu of %zu)", moved, ls.lsq_n);
    CHECK(lsq_after < lsq_before - 0.02, "LSQ did not lower the rounded model's loss");
    CHECK(pt_trainer_save_quant(&ls, sp, path) == 0, "save lsq: %s", pt_error());
    gf = gguf_open(path);
    CHECK(gf && pt_model_from_gguf(&mq, gf) == 0, "load lsq: %s", pt_error());
    pt_model lv;
    pt_lsq_fake_quant(&ls.model, &l.qat, rounded, ls.model.mem, ls.lsq_s);
    pt_model_view(&ls.model, rounded, &lv);
    b = pt_batcher_make(&bb, &corp, &ep, 1, c.pad_id, c.bos_id, c.eos_id); /* bb was used since */
    nl = (size_t)b->B * b->T * c.vocab;
    a = pt_acts_new(&c, b->B, b->S, b->T);
    l1 = pt_malloc(nl * 4);
    pt_forward(&lv, a, b, 0, 0, &ntok);
    memcpy(l1, pt_acts_logits(a), nl * 4);
    nn_q_set_act(NN_QACT_F32); /* as above */
    pt_forward(&mq, a, b, 0, 0, &ntok);
    nn_q_set_act(NN_QACT_AUTO);
    worst = 0;
    for (size_t i = 0; i < nl; i++) worst = fmax(worst, fabs(l1[i] - pt_acts_logits(a)[i]));
    CHECK(worst < 1e-4, "LSQ model's logits differ from training's rounded weights by %g", worst);
    pt_acts_free(a), free(l1);
    pt_model_free(&mq), gguf_close(gf);
    CHECK(pt_checkpoint_save(&ls, sp, ck) == 0, "lsq checkpoint: %s", pt_error());
    CHECK(pt_checkpoint_load(&r, ck) == 0, "lsq resume: %s", pt_error());
    CHECK(r.opts.qat_lsq == 1 && r.lsq_n == ls.lsq_n && !memcmp(r.lsq_s, ls.lsq_s, ls.lsq_n * 4) &&
              !memcmp(r.lsq_v, ls.lsq_v, ls.lsq_n * 4), "LSQ steps and moments survive a checkpoint");
    pt_trainer_free(&r);
    unlink(path), unlink(ck);
    free(s0);
    pt_epoch_free(&ep3);
    pt_trainer_free(&ls);

    pt_model_view_free(&view), pt_model_view_free(&lv), pt_model_view_free(&ecv);
    pt_free_aligned(rounded), pt_free_aligned(g);
    pt_epoch_free(&ep);
    pt_batcher_free(&bb);
    pt_trainer_free(&t), pt_trainer_free(&f);
    pt_corpus_free(&corp);
    spm_free(sp);
    return test_done("test_qat");
}
