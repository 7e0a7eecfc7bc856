/* gptq: GPTQ post-training quantization of one weight matrix (Frantar et
 * al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative
 * Pre-trained Transformers") to quant.h's Q8_0 or Q4_0.
 *
 * A linear layer y = W x (W: rows = out, cols = in) sees inputs X (n, in).
 * RTN rounds each weight alone; GPTQ minimizes the output error
 *     || X W^T - X Q^T ||^2 = sum_rows (w - q)^T H (w - q),   H = X^T X,
 * by rounding one column j at a time and pushing the rounding error of
 * column j onto the columns not yet rounded, through the upper Cholesky
 * factor U of H^-1 (H^-1 = U^T U):
 *     e = (w_j - q_j) / U[j][j];   w_c -= e * U[j][c]   for c > j.
 * Rows are independent given U. Each row's block scale is chosen (RTN,
 * nn_qblock_scale) from its current, error-updated weights when the sweep
 * enters the block's 32 columns. Columns go in natural order (no act-order);
 * the updates are applied lazily, 128 columns at a time, as in the paper.
 * With a diagonal H no error moves between columns and GPTQ is RTN.
 *
 * Cost: O(cols^3) for the factorizations (double), O(rows * cols^2) for the
 * sweep (float, OpenMP over tiles of rows; results do not depend on the
 * thread count). Not here: act-order, grouping other than 32, calibration.
 */
#ifndef PETIT_GPTQ_H
#define PETIT_GPTQ_H

#include <stdint.h>

/* H (in, in) += X^T X for X (n, in) row-major; H is double, row-major,
 * full (both triangles), zeroed by the caller before the first call. */
void nn_gptq_accumulate(double *H, const float *X, int n, int in);

/* Quantize W (rows, cols) to type (NN_Q8_0 or NN_Q4_0) into dst
 * (rows * nn_qrow_bytes(type, cols) bytes) given H = sum X^T X (cols, cols;
 * read only, its upper triangle is used). cols % 32 == 0. W is used as
 * scratch (left holding the error-updated weights). damp: fraction of the
 * mean of H's diagonal added to the diagonal (the paper uses 0.01); if H is
 * not positive definite after damping, it is retried with 10x and 100x
 * that damping (0.01 and 0.1 when damp is 0). Inputs with H[j][j] == 0
 * (never active) get W[:, j] = 0 and a unit diagonal, as in the paper's code.
 * Returns 0, or -1 with pt_set_error (H not finite or not positive
 * definite, bad arguments); dst is then unspecified. */
int nn_gptq_quantize(int type, void *dst, float *W, int rows, int cols, const double *H, double damp);

/* GPTQ's sweep with an entropy-constrained quantizer instead of rounding
 * (compress/ecq.h's ecq_gptq_rows): row r's weights take levels k * step[r],
 * |k| <= kmax, each column's level minimizing
 *     (w - k step[r])^2 + lam_row[r] * f_j * bits[k + 128]
 * on the error-updated weights, f_j = U_jj^2 / mean(1 / U_ii^2) (columns whose
 * error costs the output less pay more for bits; f = 1 for a diagonal H);
 * bits[s] is the code length of symbol s (INFINITY: a dead level, never
 * taken; level 0 must live). sym (rows * cols) receives k + 128. W is
 * scratch; damping and errors as nn_gptq_quantize. No restriction on cols. */
int nn_gptq_ecq(float *W, int rows, int cols, const double *H, double damp, const float *step, int kmax,
                const double *bits, const double *lam_row, uint8_t *sym);

#endif
