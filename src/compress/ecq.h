/* ecq: entropy-constrained quantization of a weight tensor.
 *
 * Levels are k·Δ on a uniform grid, k in [-(2^(b-1)-1), 2^(b-1)-1] (b = 2..8
 * bits; zero is always a level). Δ (rounded to fp16) is the larger of
 * max|w| / (2^(b-1)-1), so that the levels reach every weight, and
 * sqrt(6 λ_t / ln 2), the step of a uniform quantizer whose distortion-rate
 * slope is λ_t per bit (D = Δ²/12, dD/dR = -2 ln2 D): a grid finer than
 * that would only spend bits the penalty then has to take back.
 * Each weight takes the level minimizing
 *     (w - kΔ)^2 + λ_t · (-log2 P_k)
 * where P is the distribution of the levels themselves: start from plain
 * rounding, re-estimate P from the assignment, assign again, until fewer
 * than 0.1% of the weights move (or 20 rounds). A level nobody takes gets
 * probability 0 and is gone for good, so levels die as λ grows and the
 * survivors gather near zero: rate falls, zeros (sparsity) grow.
 *
 * λ_t = Λ · var(w) for one global knob Λ: the penalty is in units of the
 * tensor's own squared weights, so the same Λ trades error against bits
 * alike in every tensor, whatever its scale. (ECQx also weighs λ by layer
 * size; petit's objective is per weight already, so the larger tensors
 * dominate the bit count without it.)
 *
 * A level k is stored as the byte k + 128, ready for the entropy coder.
 */
#ifndef PETIT_ECQ_H
#define PETIT_ECQ_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int bits;
    float delta;      /* Δ, fp16-exact */
    double lambda;    /* λ_t used */
    double entropy;   /* bits per weight of the final assignment (zero-order) */
    double mse;       /* mean (w - kΔ)^2 */
    double sparsity;  /* fraction of weights at level 0 */
    int levels;       /* distinct levels used */
    int rounds;
} ecq_result;

/* Per-row steps: each row r of a (rows, cols) matrix is divided by its RMS
 * before the assignment, so one grid serves rows of different scales; the
 * row's step is Δ_r = Δ · rms_r, rounded to fp16 (row_step[r], its bits).
 * Weight (r, c) decodes to k · Δ_r. Same arguments otherwise; res->delta is
 * the normalized grid's Δ and res->mse is measured on the decoded weights. */
int ecq_assign_rows(const float *w, int rows, int cols, int bits, double Lambda, uint8_t *sym,
                    uint16_t *row_step, double *prob, int max_rounds, ecq_result *res);

/* Assign w[0..n) (n > 0); sym[i] = k_i + 128. prob (256 doubles, or NULL)
 * starts the rounds from a distribution instead of plain rounding (the
 * previous step's, in ECQ-aware training) and receives the final one.
 * max_rounds <= 0: until settled (20 at most). Returns 0, or -1 with
 * pt_set_error for bits outside 2..8 or a lambda that is negative or NaN. */
int ecq_assign(const float *w, size_t n, int bits, double Lambda, uint8_t *sym, double *prob,
               int max_rounds, ecq_result *res);

/* ecq_assign_rows, then GPTQ's sweep with the ECQ quantizer (nn/gptq.h's
 * nn_gptq_ecq) on the same row steps: each column's levels are chosen on
 * weights that carry the earlier columns' errors, pushed through H = X^T X
 * of the layer's calibration inputs (cols, cols), and a column whose error
 * costs the output less pays more for bits. The code lengths are re-estimated
 * from the levels before each of `rounds` sweeps (the first from ECQ's).
 * res: as ecq_assign_rows (mse against w). Returns 0, or -1 with pt_error. */
int ecq_gptq_rows(const float *w, int rows, int cols, int bits, double Lambda, const double *H, double damp,
                  int rounds, uint8_t *sym, uint16_t *row_step, ecq_result *res);

#endif
