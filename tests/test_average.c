/* test_average: pt_model_average is the element-wise mean (in double, then
 * rounded once), a model averaged with itself is itself, and models of
 * another configuration or with integer weights are refused. */
#include <string.h>

#include "base/base.h"
#include "model/average.h"
#include "test.h"

static void tiny(pt_config *c) {
    pt_config_default(c);
    c->vocab = 50, c->d_model = 16, c->n_heads = 2, c->d_ff = 32, c->enc_layers = 1, c->dec_layers = 1;
    c->max_len = 16, c->dropout = 0, c->pad_id = 0, c->bos_id = 1, c->eos_id = 2, c->unk_id = 3;
}

int main(void) {
    pt_config c;
    tiny(&c);
    pt_model m[3];
    for (int k = 0; k < 3; k++) {
        CHECK(pt_model_init(&m[k], &c) == 0, "init %d", k);
        pt_model_init_weights(&m[k], 11 + k);
    }
    CHECK(memcmp(m[0].mem, m[1].mem, m[0].n_params * sizeof(float)), "seeds give different weights");
    const pt_model *ms[3] = {&m[0], &m[1], &m[2]};
    pt_model a;
    CHECK(pt_model_average(&a, ms, 3) == 0, "average of 3: %s", pt_error());
    size_t bad = 0;
    for (size_t i = 0; i < a.n_params; i++) {
        float want = (float)(((double)m[0].mem[i] + m[1].mem[i] + m[2].mem[i]) / 3);
        bad += a.mem[i] != want;
    }
    CHECK(bad == 0, "%zu of %zu weights are not the mean of the three", bad, a.n_params);
    CHECK(a.n_tensors == m[0].n_tensors && !strcmp(a.tensors[5].name, m[0].tensors[5].name), "same layout");
    pt_model_free(&a);

    const pt_model *same[2] = {&m[1], &m[1]};
    CHECK(pt_model_average(&a, same, 2) == 0, "average of a model with itself");
    CHECK(!memcmp(a.mem, m[1].mem, a.n_params * sizeof(float)), "a model averaged with itself is itself");
    pt_model_free(&a);

    pt_config c2;
    tiny(&c2);
    c2.d_ff = 48;
    pt_model o;
    CHECK(pt_model_init(&o, &c2) == 0, "init other");
    const pt_model *mixed[2] = {&m[0], &o};
    CHECK(pt_model_average(&a, mixed, 2) != 0, "a wider FFN is refused");
    CHECK(strstr(pt_error(), "model 2") != NULL, "the error names model 2: %s", pt_error());
    pt_model_free(&o);

    tiny(&c2);
    c2.attn_window = c.attn_window + 1, c2.dec_attn = c.dec_attn; /* same shapes, another model */
    CHECK(pt_model_init(&o, &c2) == 0, "init other window");
    mixed[1] = &o;
    CHECK(pt_model_average(&a, mixed, 2) != 0, "another configuration with the same shapes is refused");
    pt_model_free(&o);

    CHECK(pt_model_average(&a, ms, 0) != 0, "no models is an error");
    for (int k = 0; k < 3; k++) pt_model_free(&m[k]);
    return test_done("test_average");
}
