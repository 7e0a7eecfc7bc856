/* quant: integer weights — ggml's Q8_0 and Q4_0 block formats, and the
 * linear layer that computes with them.
 *
 * Formats (32 weights a block, the layouts GGUF readers know):
 *   Q8_0: { f16 d; int8 q[32]; }     34 bytes, w[i] = d * q[i]
 *   Q4_0: { f16 d; uint8 qs[16]; }   18 bytes, w[i] = d * (nib[i] - 8), where
 *         nib[j] = qs[j] & 15 and nib[j+16] = qs[j] >> 4  (j < 16)
 * A matrix (rows, cols) is rows x cols/32 blocks, row after row; cols must
 * be a multiple of 32.
 *
 * Round to nearest (RTN), as ggml's reference quantizers:
 *   Q8_0: d = max|x| / 127, q = round(x / d)
 *   Q4_0: m = the x of largest |x| (with its sign), d = m / -8,
 *         nib = min(15, trunc(x / d + 8.5))
 * (the scale is computed in fp32 and stored as fp16).
 *
 * Products: nn_qlinear quantizes the rows of X to Q8_0 on the fly (per block
 * of 32, d = max|x|/127) and sums integer dot products block by block:
 *   y[n, o] = b[o] + sum_blocks dW * dX * sum_i qW[i] * qX[i]
 * Kernels: a scalar reference and AVX2 and AVX-512 versions, chosen at run
 * time from the CPU's features (nn_isa, nn/isa.h); every version computes the same
 * integer sums, so they differ from the reference only by the order of the
 * float accumulation of the per-block terms.
 */
#ifndef PETIT_QUANT_H
#define PETIT_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "nn/isa.h"

#define NN_QK 32 /* weights per block */

/* tensor types: ggml's numbers (the same as gguf.h's GGUF_TYPE_*) */
enum nn_qtype { NN_F32 = 0, NN_Q4_0 = 2, NN_Q8_0 = 8 };

typedef struct {
    uint16_t d;
    int8_t q[NN_QK];
} nn_block_q8_0;
typedef struct {
    uint16_t d;
    uint8_t qs[NN_QK / 2];
} nn_block_q4_0;

/* A weight matrix W (rows = out, cols = in) in any of the types above. */
typedef struct {
    int type; /* enum nn_qtype */
    int rows, cols;
    const void *data;
} nn_qmat;

uint16_t nn_fp16_from_f32(float f); /* round to nearest even; inf/nan kept */
float nn_f32_from_fp16(uint16_t h);

const char *nn_qtype_name(int type);   /* "F32", "Q8_0", "Q4_0", "?" */
int nn_qtype_parse(const char *s);     /* "q8", "q8_0", "q4", "q4_0", "f32"; -1 */
/* bytes of one row of n weights (n % 32 == 0 for the block types); 0 if bad */
size_t nn_qrow_bytes(int type, int n);

/* RTN: quantize one row of n floats into dst (nn_qrow_bytes(type, n) bytes) */
void nn_quantize_row(int type, void *dst, const float *x, int n);
void nn_dequantize_row(int type, float *dst, const void *src, int n);
/* the integer code and the fp16-rounded scale RTN gives one block of 32
 * (for GPTQ, which picks the scale per block from the running weights):
 * returns the scale d as stored; q[i] the code (Q8_0: -127..127; Q4_0: 0..15) */
float nn_qblock_scale(int type, const float *x);
int nn_qblock_code(int type, float x, float d);
/* the weight a code stands for */
static inline float nn_qblock_value(int type, int code, float d) {
    return type == NN_Q4_0 ? (float)(code - 8) * d : (float)code * d;
}
/* write one block from its scale and 32 codes */
void nn_qblock_pack(int type, void *dst, float d, const int *code);

/* Y (N, out) = X (N, in) W^T + b (b may be NULL), W quantized (or F32: then
 * nn_linear). Few rows (N < 8): integer dot products (nn_qlinear_int). More
 * rows, without VNNI: W is dequantized 64 rows at a time and multiplied in
 * fp32 (compute-bound; see quant.c). Threads split the rows of W. Scratch
 * is kept per thread and only grows (no allocation once warm). */
void nn_qlinear(float *Y, const float *X, const nn_qmat *W, const float *b, int N);
/* the integer product for any N: X quantized to Q8_0 per block on the fly */
void nn_qlinear_int(float *Y, const float *X, const nn_qmat *W, const float *b, int N);

/* The two numeric contracts of nn_qlinear (the kernel is nn_isa()'s):
 *   NN_QACT_F32   weights only: rows of W are dequantized and multiplied by
 *                 X in fp32. Equals X (dequantized W)^T to float rounding
 *                 (the reference: nn_linear on the dequantized weights).
 *   NN_QACT_INT8  integer: X is rounded to Q8_0 per block of 32 (one scale
 *                 per block, max|x|/127) and multiplied in integers
 *                 (nn_qlinear_int). Its reference is the scalar kernel, which
 *                 every SIMD version equals up to the order of the per-block
 *                 float sums; against the F32 contract it adds the
 *                 activations' rounding, a relative error of about 2^-8 per
 *                 product (tests/test_quant_model.c: the loss within 2%).
 * NN_QACT_AUTO (the default) picks by speed: INT8 for fewer than 8 rows
 * (memory-bound: the integer dot products stream W) and, on AVX-512 VNNI,
 * for any N (dpbusd beats fp32 FMAs); F32 for 8 rows or more otherwise
 * (AVX2 has no integer product faster than its FMAs). nn_qlinear_act(N)
 * says which contract a product of N rows gets now. */
enum nn_qact { NN_QACT_AUTO = 0, NN_QACT_F32 = 1, NN_QACT_INT8 = 2 };
void nn_q_set_act(int act); /* process-wide; AUTO, F32 or INT8 */
int nn_qlinear_act(int N);  /* NN_QACT_F32 or NN_QACT_INT8 */

#endif
