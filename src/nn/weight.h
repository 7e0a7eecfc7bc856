/* weight: a weight matrix resolved once, at load, and the one product every
 * layer calls.
 *
 * An nn_weight says what a matrix W (out, in) is: its type (enum nn_qtype),
 * its data (floats, or ggml blocks), and for a float matrix at inference its
 * copy in nn_plinear's panels. nn_matmul picks the kernel from a table of
 * type traits (as ggml's type_traits_cpu[]), one row per type; each kernel
 * picks its instruction set from nn_isa() (nn/isa.h), chosen once at run
 * time. A new type is one row of the table plus its kernels and their tests
 * (docs/ARCHITECTURE.md).
 */
#ifndef PETIT_NN_WEIGHT_H
#define PETIT_NN_WEIGHT_H

#include "nn/nn.h"
#include "nn/quant.h"

typedef struct {
    int type;           /* enum nn_qtype */
    int in, out;        /* W is (out, in) */
    const void *data;   /* F32: out x in floats; else out rows of nn_qrow_bytes(type, in) */
    const nn_pmat *pk;  /* F32: the panels, or NULL (training: W changes every step) */
} nn_weight;

typedef struct {
    const char *name;   /* "F32", "Q8_0", ... */
    int block;          /* weights a block (1 for F32) */
    /* Y (N, out) = X (N, in) W^T + b (b may be NULL) */
    void (*matmul)(float *Y, const float *X, const nn_weight *W, const float *b, int N);
    /* row j of W as in floats; returns dst, or a pointer into W for F32 */
    const float *(*row)(const nn_weight *W, int j, float *dst);
} nn_type_traits;

/* The traits of a type, or NULL for a type petit does not compute with */
const nn_type_traits *nn_traits(int type);

/* Y (N, out) = X (N, in) W^T + b, by W's type:
 *   F32, packed:    nn_plinear (the same bits for any N and any other rows)
 *   F32, few rows:  nn_linear_rows (N <= NN_ROWS_MAX; W read in place)
 *   F32, many rows: nn_linear (BLAS)
 *   Q8_0, Q4_0:     nn_qlinear (nn/quant.h: its two numeric contracts) */
#define NN_ROWS_MAX 64
static inline void nn_matmul(float *Y, const float *X, const nn_weight *W, const float *b, int N) {
    nn_traits(W->type)->matmul(Y, X, W, b, N);
}
/* row j of W as in floats (dst: W->in floats of scratch) */
static inline const float *nn_weight_row(const nn_weight *W, int j, float *dst) {
    return nn_traits(W->type)->row(W, j, dst);
}

#endif
