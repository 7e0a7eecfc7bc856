/* average.c: the mean of several models' weights. */
#include "model/average.h"

#include <string.h>

#include "base/base.h"

int pt_model_average(pt_model *out, const pt_model *const *ms, int n) {
    if (n < 1) return pt_set_error("no models to average");
    const pt_model *a = ms[0];
    for (int k = 1; k < n; k++) {
        const pt_model *b = ms[k];
        pt_config cb = b->cfg;
        cb.dropout = a->cfg.dropout; /* a training setting, not the model's */
        if (memcmp(&cb, &a->cfg, sizeof cb)) /* all ints and floats: no padding */
            return pt_set_error("model %d's configuration differs from model 1's", k + 1);
        if (b->n_params != a->n_params || b->n_tensors != a->n_tensors)
            return pt_set_error("model %d has %zu weights in %d tensors, model 1 %zu in %d", k + 1, b->n_params,
                                b->n_tensors, a->n_params, a->n_tensors);
        for (int i = 0; i < a->n_tensors; i++) {
            const pt_tensor *x = &a->tensors[i], *y = &b->tensors[i];
            if (strcmp(x->name, y->name) || x->rows != y->rows || x->cols != y->cols || x->offset != y->offset)
                return pt_set_error("model %d: tensor %d is %s (%d x %d), model 1's %s (%d x %d)", k + 1, i, y->name,
                                    y->rows, y->cols, x->name, x->rows, x->cols);
        }
        if (b->n_quant || !b->mem) return pt_set_error("model %d has integer weights: average float models", k + 1);
    }
    if (a->n_quant || !a->mem) return pt_set_error("model 1 has integer weights: average float models");
    if (pt_model_init(out, &a->cfg)) return -1;
    float *y = out->mem;
    size_t N = a->n_params;
#pragma omp parallel for schedule(static) if (N > 65536)
    for (size_t i = 0; i < N; i++) {
        double s = 0;
        for (int k = 0; k < n; k++) s += ms[k]->mem[i];
        y[i] = (float)(s / n);
    }
    return 0;
}
