/* test_gradcheck: finite-difference checks of every parameter's gradient and
 * of each kernel's backward, on tiny models in every configuration
 * (pre/post-norm, relu/gelu/swish, sinusoidal/learned positions, padding).
 * fp32 central differences (h = 1e-3: relu kinks spoil larger steps): tolerance |a-n| <= 2e-3 + 3e-2 |n| per element. */
#include <string.h>

#include "base/base.h"
#include "model/model.h"
#include "nn/nn.h"
#include "test.h"

/* B=3 sentences: source lengths 5, 7, 3 (S=7), target lengths 6, 2, 4 (T=6) */
static int src[3 * 7], src_len[3] = {5, 7, 3}, tin[3 * 6], tout[3 * 6], tlen[3] = {6, 2, 4};

static void make_batch(pt_batch *b, const pt_config *c, pt_rng *r) {
    for (int i = 0; i < 3; i++) {
        for (int t = 0; t < 7; t++)
            src[i * 7 + t] = t < src_len[i] - 1 ? 4 + (int)(pt_rng_next(r) % (uint64_t)(c->vocab - 4))
                             : t == src_len[i] - 1 ? c->eos_id : c->pad_id;
        for (int t = 0; t < 6; t++) {
            int y = 4 + (int)(pt_rng_next(r) % (uint64_t)(c->vocab - 4));
            tout[i * 6 + t] = t < tlen[i] - 1 ? y : t == tlen[i] - 1 ? c->eos_id : c->pad_id;
        }
        for (int t = 0; t < 6; t++)
            tin[i * 6 + t] = t == 0 ? c->bos_id : t < tlen[i] ? tout[i * 6 + t - 1] : c->pad_id;
    }
    *b = (pt_batch){3, 7, 6, src, src_len, tin, tout, tlen, NULL};
}

/* multiaxis: the decoder's 2 heads are 1 local + 1 grid, W = 2 */
static void check_model(int norm, int act, int pos, int emb_scale, int multiaxis) {
    pt_config c;
    pt_config_default(&c);
    c.vocab = 23, c.d_model = 8, c.n_heads = 2, c.d_ff = 12, c.enc_layers = 2, c.dec_layers = 2;
    c.max_len = 10, c.norm = norm, c.act = act, c.pos = pos, c.emb_scale = emb_scale, c.dropout = 0;
    if (multiaxis) c.dec_attn = PT_ATTN_MULTIAXIS, c.attn_window = 2, c.local_heads = 1, c.grid_heads = 1;
    pt_model m;
    CHECK(pt_model_init(&m, &c) == 0, "init: %s", pt_error());
    pt_model_init_weights(&m, 7);
    pt_rng r = {123};
    /* perturb so that biases and LN parameters are not at their trivial values */
    for (size_t i = 0; i < m.n_params; i++) m.mem[i] += 0.2f * pt_rng_normal(&r);
    pt_batch bt;
    make_batch(&bt, &c, &r);
    pt_acts *a = pt_acts_new(&c, 3, 7, 6);
    float *g = pt_alloc_aligned(m.n_params * sizeof(float));
    int ntok;
    double loss = pt_forward_backward(&m, a, &bt, 0.1f, 0, 1.0f, g, &ntok);
    CHECK(ntok == 12, "tokens %d", ntok);
    CHECK(loss > 0 && isfinite(loss), "loss %g", loss);
    int bad = 0, checked = 0;
    for (int ti = 0; ti < m.n_tensors; ti++) {
        const pt_tensor *t = &m.tensors[ti];
        size_t n = (size_t)t->rows * t->cols;
        for (int s = 0; s < 4; s++) {
            size_t i = t->offset + (size_t)(pt_rng_next(&r) % n);
            float keep = m.mem[i], h = 1e-3f;
            m.mem[i] = keep + h;
            double lp = pt_forward(&m, a, &bt, 0.1f, 0, &ntok);
            m.mem[i] = keep - h;
            double lm = pt_forward(&m, a, &bt, 0.1f, 0, &ntok);
            m.mem[i] = keep;
            double num = (lp - lm) / (2 * h);
            checked++;
            if (fabs(g[i] - num) > 2e-3 + 3e-2 * fabs(num)) {
                if (bad++ < 10)
                    fprintf(stderr, "  %s/%s/%s: %s[%zu]: analytic %.6g numeric %.6g\n",
                            pt_norm_name(norm), pt_act_name(act), pt_pos_name(pos), t->name,
                            i - t->offset, g[i], num);
            }
        }
    }
    CHECK(bad == 0, "%s/%s/%s: %d of %d gradient elements off", pt_norm_name(norm),
          pt_act_name(act), pt_pos_name(pos), bad, checked);
    /* padding must not leak: changing a PAD source token or a padded target
     * input does not change the loss */
    double l0 = pt_forward(&m, a, &bt, 0.1f, 0, &ntok);
    src[2 * 7 + 5] = 9;
    tin[1 * 6 + 4] = 11;
    double l1 = pt_forward(&m, a, &bt, 0.1f, 0, &ntok);
    CHECK(l0 == l1, "padding changed the loss: %.9g vs %.9g", l0, l1);
    pt_free_aligned(g);
    pt_acts_free(a);
    pt_model_free(&m);
}

/* a pure-kernel check: sgemm against the reference in all four transposes */
static void check_sgemm(void) {
    int M = 37, N = 29, K = 41;
    pt_rng r = {5};
    float *A = pt_malloc(sizeof(float) * M * K), *B = pt_malloc(sizeof(float) * K * N);
    float *C1 = pt_malloc(sizeof(float) * M * N), *C2 = pt_malloc(sizeof(float) * M * N);
    for (int i = 0; i < M * K; i++) A[i] = pt_rng_normal(&r);
    for (int i = 0; i < K * N; i++) B[i] = pt_rng_normal(&r);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            for (int i = 0; i < M * N; i++) C1[i] = C2[i] = (float)i * 0.01f;
            nn_sgemm(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, 0.5f, C1, N);
            /* naive triple loop */
            double maxerr = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double s = 0.5 * C2[i * N + j];
                    for (int k = 0; k < K; k++)
                        s += (double)(ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
                    double e = fabs(s - C1[i * N + j]);
                    if (e > maxerr) maxerr = e;
                }
            CHECK(maxerr < 1e-4, "sgemm ta=%d tb=%d max error %g", ta, tb, maxerr);
            for (int i = 0; i < M * N; i++) C2[i] = (float)i * 0.01f;
            nn_sgemm_ref(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, 0.5f, C2, N);
            double e2 = 0;
            for (int i = 0; i < M * N; i++) e2 = fmax(e2, fabs(C1[i] - C2[i]));
            CHECK(e2 < 1e-4, "sgemm_ref ta=%d tb=%d differs from sgemm by %g", ta, tb, e2);
        }
    free(A), free(B), free(C1), free(C2);
}

int main(void) {
    nn_set_threads(2);
    check_sgemm();
    check_model(PT_NORM_PRE, NN_ACT_RELU, PT_POS_SINUSOIDAL, 1, 0);
    check_model(PT_NORM_PRE, NN_ACT_GELU, PT_POS_LEARNED, 0, 0);
    check_model(PT_NORM_POST, NN_ACT_SWISH, PT_POS_SINUSOIDAL, 1, 0);
    check_model(PT_NORM_POST, NN_ACT_GELU, PT_POS_LEARNED, 0, 0);
    check_model(PT_NORM_PRE, NN_ACT_RELU, PT_POS_SINUSOIDAL, 1, 1);
    check_model(PT_NORM_POST, NN_ACT_GELU, PT_POS_LEARNED, 0, 1);
    return test_done("test_gradcheck");
}
