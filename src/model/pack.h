/* pack: entropy-coded model files. The policy's weight matrices (see
 * quantize.h) are ECQ-assigned to levels kΔ (compress/ecq.h) and the levels
 * rANS-coded (compress/rans.h); the rest stays F32.
 *
 * In the GGUF file a coded tensor keeps its name, with type I8 and shape
 * [bytes]: its data is the coded streams. Its metadata, under
 * petit.ecq.NAME.:
 *   rows, cols (u32)      the matrix
 *   bits (u32), delta (f32)   the grid: k in [-(2^(bits-1)-1), ...], w = kΔ
 *   freq (u32[256])       the rANS table of the symbols k + 128
 *   len (u32[4])          the interleaved streams' byte lengths
 *   hash (u64)            FNV-1a 64 of the symbols
 *   scale (f32)           the tensor's lambda multiplier (pack --fisher; 1 without):
 *                         what ECQ-aware fine-tuning reads back (train --ecq-scales)
 * and the file has petit.quant.method = "ecq", petit.ecq.lambda (f32).
 *
 * Loading decodes every coded tensor into the integer format petit computes
 * with, exactly: Q4_0 for bits <= 4 (code k + 8), Q8_0 otherwise (code k),
 * every block's scale Δ. A table, length or hash that does not check out is
 * an error naming the tensor; nothing is decoded into garbage.
 */
#ifndef PETIT_PACK_H
#define PETIT_PACK_H

#include <stdio.h>

#include "gguf/gguf.h"
#include "model/model.h"
#include "model/quantize.h"

typedef struct {
    double params;     /* weights coded */
    double bytes;      /* coded bytes (streams only) */
    double table_bytes; /* their metadata, roughly */
    double entropy_bits; /* sum of n H over the coded tensors */
    double zeros;      /* weights at level 0 */
    double stream_bytes; /* the rANS streams alone */
    double worst_ratio;  /* max over tensors of stream bits / (n H): the coder's overhead */
} pt_pack_stats;

/* Add m's tensors to w, the policy's ones ECQ-assigned (Lambda x scale[i],
 * scale NULL: x 1; bits) and coded; each tensor's streams are decoded back at once and compared with
 * the levels (an error if they differ). Where calib (or NULL) has
 * statistics for a tensor, the levels come from GPTQ's sweep with the ECQ
 * quantizer (compress/ecq.h's ecq_gptq_rows, damping damp). Buffers in keep
 * (as pt_quant_add_tensors). progress: a line per tensor, or NULL. */
int pt_pack_add_tensors(gguf_writer *w, const pt_model *m, const float *block, const pt_quant_policy *p,
                        double Lambda, int bits, const pt_calib *calib, double damp, const float *scale,
                        pt_quant_keep *keep, FILE *progress, pt_pack_stats *st);

/* The file-level keys of a packed model: petit.quant.* (method ecq, type =
 * the integer type the coded tensors load as) and petit.ecq.lambda, .bits */
void pt_pack_set_keys(gguf_writer *w, const pt_quant_policy *p, double Lambda, int bits);

/* Is this tensor of g entropy-coded? */
int pt_pack_is_coded(const gguf_file *g, const gguf_tensor *t);
/* A coded tensor's lambda multiplier (its scale key): 0, or -1 if missing
 * or not a positive number */
int pt_pack_scale(const gguf_file *g, const gguf_tensor *t, float *scale);
/* Decode a coded tensor of (rows, cols) into its integer format: *type is
 * set to NN_Q4_0 or NN_Q8_0 and dst (pt_pack_decoded_bytes) written. */
size_t pt_pack_decoded_bytes(const gguf_file *g, const gguf_tensor *t, int rows, int cols); /* 0: error */
int pt_pack_decode(const gguf_file *g, const gguf_tensor *t, int rows, int cols, int *type, void *dst);
/* The empirical entropy (bits per weight) of a coded tensor's symbols, from
 * its table; -1 if not coded */
double pt_pack_entropy(const gguf_file *g, const gguf_tensor *t, double *n_weights);

#endif
