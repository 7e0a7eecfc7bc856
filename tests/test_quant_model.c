/* test_quant_model: a model written with integer weights (pt_quant_add_tensors)
 * and loaded back (pt_model_from_gguf) computes what the float model with
 * fake-quantized weights (pt_fake_quant) computes.
 *
 * Both numeric contracts of the integer product (nn/quant.h), at every
 * instruction-set level the CPU has:
 *   - weights only (NN_QACT_F32): dequantized weights times fp32
 *     activations, so the logits match the fake-quantized model's to float
 *     rounding (budget 1e-4 absolute on logits of size ~1);
 *   - integer (NN_QACT_INT8): activations rounded to Q8_0, integer dot
 *     products: the logits match the scalar kernel's to float rounding (the
 *     SIMD kernels only sum the per-block terms in another order), and the
 *     loss the fake-quantized model's to 2% (a relative error of about 2^-8
 *     per product from the activations' rounding);
 *   - the default is the contract nn_qlinear_act reports (weights only for
 *     8 rows or more except on AVX-512 VNNI; integer for fewer rows).
 * Both for Q8_0 and Q4_0 (embedding at Q8_0), and the policy: F32 tensors
 * stay F32, pt_quant_tensor_type agrees with what was written. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "model/quantize.h"
#include "nn/quant.h"
#include "test.h"

static double run(const pt_model *m, int B, int S, int T, float *logits_out) {
    pt_acts *a = pt_acts_new(&m->cfg, B, S, T);
    int src[64], sl[8], tin[64], tout[64], tl[8];
    for (int b = 0; b < B; b++) {
        sl[b] = S, tl[b] = T;
        for (int j = 0; j < S; j++) src[b * S + j] = j == S - 1 ? m->cfg.eos_id : 4 + (b * 7 + j * 13) % 90;
        for (int j = 0; j < T; j++) {
            tin[b * T + j] = j == 0 ? m->cfg.bos_id : 4 + (b * 5 + j * 11) % 90;
            tout[b * T + j] = j == T - 1 ? m->cfg.eos_id : 4 + (b * 5 + (j + 1) * 11) % 90;
        }
    }
    pt_batch bt = {B, S, T, src, sl, tin, tout, tl, NULL};
    int n;
    double loss = pt_forward(m, a, &bt, 0.0f, 0, &n);
    if (logits_out) memcpy(logits_out, pt_acts_logits(a), (size_t)B * T * m->cfg.vocab * sizeof(float));
    pt_acts_free(a);
    return loss / n;
}

static void check_type(int type) {
    pt_config c;
    pt_config_default(&c);
    c.vocab = 100, c.d_model = 64, c.n_heads = 2, c.d_ff = 128, c.enc_layers = 1, c.dec_layers = 2;
    c.max_len = 16, c.dropout = 0;
    c.pad_id = 0, c.bos_id = 1, c.eos_id = 2, c.unk_id = 3;
    pt_model mf;
    CHECK(pt_model_init(&mf, &c) == 0, "init");
    pt_model_init_weights(&mf, 5);
    pt_quant_policy pol;
    pt_quant_policy_default(&pol, type);
    pol.emb_type = NN_Q8_0;

    char path[] = "/tmp/petit_qmodel_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    gguf_writer *w = gguf_writer_init();
    pt_config_to_gguf(&mf.cfg, w);
    pt_quant_keep keep = {0};
    CHECK(pt_quant_add_tensors(w, &mf, mf.mem, &pol, NULL, 0.01, &keep, NULL) == 0, "add tensors");
    CHECK(gguf_write(w, path) == 0, "write: %s", pt_error());
    gguf_writer_free(w);
    pt_quant_keep_free(&keep);

    gguf_file *g = gguf_open(path);
    pt_model mq;
    CHECK(g && pt_model_from_gguf(&mq, g) == 0, "load: %s", pt_error());
    int nq = 0, agree = 1;
    for (int i = 0; i < mq.n_tensors; i++) {
        int want = pt_quant_tensor_type(&mf, i, &pol);
        const gguf_tensor *t = gguf_find_tensor(g, mq.tensors[i].name);
        agree &= t && (int)t->type == want && mq.w[i].type == want;
        nq += want != NN_F32;
    }
    CHECK(agree, "%s: tensor types in the file follow the policy", nn_qtype_name(type));
    CHECK(mq.n_quant == nq && nq == 1 + 1 * 4 + 2 * 7, "%s: %d quantized tensors (want %d)", nn_qtype_name(type),
          mq.n_quant, 1 + 4 + 14);

    /* the reference: float weights rounded through the same format */
    pt_fake_quant(&mf, mf.mem, mf.mem, &pol);
    /* a float model of its own from the integer file (petit train --init):
     * the same weights, every one */
    pt_model md;
    CHECK(pt_model_load(&md, path) == 0, "load as float: %s", pt_error());
    CHECK(md.n_quant == 0 && md.n_params == mf.n_params && !memcmp(md.mem, mf.mem, mf.n_params * sizeof(float)),
          "%s: the dequantized float model is not the fake-quantized one", nn_qtype_name(type));
    pt_model_free(&md);
    int B = 2, S = 5, T = 6, V = c.vocab;
    size_t nl = (size_t)B * T * V;
    float *lf = pt_malloc(nl * 4), *lq = pt_malloc(nl * 4), *li = pt_malloc(nl * 4), *la = pt_malloc(nl * 4);
    double loss_f = run(&mf, B, S, T, lf), loss_q, loss_i;
    /* the integer contract's reference: the scalar kernel */
    int isa0 = nn_isa();
    nn_set_isa(NN_ISA_SCALAR);
    nn_q_set_act(NN_QACT_INT8);
    run(&mq, B, S, T, li);
    nn_set_isa(isa0);
    TEST_EACH_ISA(nn_qtype_name(type), isa) {
        const char *in = nn_isa_name(isa), *tn = nn_qtype_name(type);
        /* weights only: the fake-quantized model to float rounding */
        nn_q_set_act(NN_QACT_F32);
        loss_q = run(&mq, B, S, T, lq);
        double worst = 0;
        for (size_t i = 0; i < nl; i++) worst = fmax(worst, fabs(lf[i] - lq[i]));
        CHECK(worst <= 1e-4, "%s at %s, weights only: logits differ by %g from the fake-quantized model", tn, in, worst);
        printf("    weights only: loss %.6f vs %.6f, worst logit difference %.2g\n", loss_q, loss_f, worst);
        /* integer: the scalar kernel's logits up to the order of float sums,
         * and the fake-quantized model's loss to 2% (the activations' rounding) */
        nn_q_set_act(NN_QACT_INT8);
        loss_i = run(&mq, B, S, T, lq);
        worst = 0;
        for (size_t i = 0; i < nl; i++) worst = fmax(worst, fabs(li[i] - lq[i]));
        CHECK(worst <= 1e-4, "%s at %s, integer: logits differ by %g from the scalar kernel's", tn, in, worst);
        CHECK(fabs(loss_f - loss_i) <= 0.02 * loss_f, "%s at %s, integer: loss %g vs %g", tn, in, loss_i, loss_f);
        printf("    integer: loss %.6f vs %.6f, worst logit difference from scalar %.2g\n", loss_i, loss_f, worst);
        /* the default picks one of the two, as nn_qlinear_act says */
        nn_q_set_act(NN_QACT_AUTO);
        int act = nn_qlinear_act(B * S);
        run(&mq, B, S, T, la);
        nn_q_set_act(act);
        run(&mq, B, S, T, lq);
        CHECK(act == nn_qlinear_act(B * T) && !memcmp(la, lq, nl * 4),
              "%s at %s: the default is not the %s contract it reports", tn, in, act == NN_QACT_F32 ? "f32" : "int8");
        printf("    default for %d rows: %s\n", B * S, act == NN_QACT_F32 ? "weights only" : "integer");
        nn_q_set_act(NN_QACT_AUTO);
        /* few rows: integer products at every level */
        double lf3 = run(&mf, 1, 3, 3, NULL), lq3 = run(&mq, 1, 3, 3, NULL);
        CHECK(nn_qlinear_act(3) == NN_QACT_INT8, "3 rows should be integer products");
        CHECK(fabs(lf3 - lq3) <= 0.02 * lf3, "%s at %s, 3 rows: loss %g vs %g", tn, in, lq3, lf3);
    }
    nn_q_set_act(NN_QACT_AUTO);
    free(lf), free(lq), free(li), free(la);
    /* and the float model itself is different (the check above is not vacuous) */
    CHECK(PT_W(&mq, d_up_w, 0)->type != NN_F32 && PT_W(&mq, d_up_b, 0)->type == NN_F32 &&
              PT_W(&mq, d_up_w, 0)->data != mq.mem + mq.tensors[mq.first[PT_KIND(d_up_w)]].offset,
          "resolved weights: the FFN's integer blocks, its bias in floats");
    pt_model_free(&mq);
    gguf_close(g);
    pt_model_free(&mf);
    unlink(path);
}

int main(void) {
    check_type(NN_Q8_0);
    check_type(NN_Q4_0);
    return test_done("test_quant_model");
}
