/* weight.c: the type traits table and the products it points to. */
#include "nn/weight.h"

#include <stddef.h>

static void f32_matmul(float *Y, const float *X, const nn_weight *W, const float *b, int N) {
    if (W->pk) nn_plinear(Y, X, W->pk, b, N);
    else if (N <= NN_ROWS_MAX) nn_linear_rows(Y, X, W->data, b, N, W->in, W->out);
    else nn_linear(Y, X, W->data, b, N, W->in, W->out);
}

static const float *f32_row(const nn_weight *W, int j, float *dst) {
    if (!W->pk) return (const float *)W->data + (size_t)j * W->in;
    nn_pmat_row(W->pk, j, dst);
    return dst;
}

static void q_matmul(float *Y, const float *X, const nn_weight *W, const float *b, int N) {
    nn_qmat q = {W->type, W->out, W->in, W->data};
    nn_qlinear(Y, X, &q, b, N);
}

static const float *q_row(const nn_weight *W, int j, float *dst) {
    nn_dequantize_row(W->type, dst, (const char *)W->data + (size_t)j * nn_qrow_bytes(W->type, W->in), W->in);
    return dst;
}

static const nn_type_traits traits[] = {
    [NN_F32] = {"F32", 1, f32_matmul, f32_row},
    [NN_Q4_0] = {"Q4_0", NN_QK, q_matmul, q_row},
    [NN_Q8_0] = {"Q8_0", NN_QK, q_matmul, q_row},
};

const nn_type_traits *nn_traits(int type) {
    if (type < 0 || type >= (int)(sizeof traits / sizeof traits[0]) || !traits[type].matmul) return NULL;
    return &traits[type];
}
