/* average: the mean of several models' weights (checkpoint averaging, as
 * Marian's and fairseq's average_checkpoints): the last snapshots of one run
 * averaged often translate better than any one of them. */
#ifndef PETIT_AVERAGE_H
#define PETIT_AVERAGE_H

#include "model/model.h"

/* out = the element-wise mean of the n float models ms[0..n) (sums in
 * double, in the order given). They must have one layout: the same
 * configuration's tensors, names and shapes. out is initialized here (free
 * it with pt_model_free). 0, or -1 with an error naming the first model
 * that differs and how. */
int pt_model_average(pt_model *out, const pt_model *const *ms, int n);

#endif
