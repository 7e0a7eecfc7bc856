/* calib.h: GPTQ's and the Fisher's statistics for a model over real text.
 *
 * pt_calibrate reads the first max_lines non-empty lines of a source-language
 * file (UTF-8, no NUL bytes, mostly pieces the model knows), translates them
 * greedily with m itself, then runs m teacher-forced on those translations
 * with pt_calib attached to the policy's tensors (model/quantize.h); with
 * grads, each sentence's loss gradient is added to the Fisher's diagonal too
 * (pt_calib_add_grads). cache (or NULL): a file that keeps the statistics for
 * later runs on the same weights, policy and sentences (pt_calib_save/load);
 * a cache that cannot be written is a warning, not an error. */
#ifndef PETIT_DECODE_CALIB_H
#define PETIT_DECODE_CALIB_H

#include <stdio.h>

#include "model/model.h"
#include "model/quantize.h"
#include "text/spm.h"

typedef struct {
    int max_lines;     /* the first N non-empty lines (default 256) */
    int grads;         /* also the Fisher's samples (one backward pass a sentence) */
    const char *cache; /* or NULL */
    FILE *progress;    /* a progress line and notes here (NULL: quiet) */
    const char *name;  /* the progress lines' prefix (default "petit") */
} pt_calib_opts;

void pt_calib_opts_default(pt_calib_opts *o);
/* 0 and *out (free with pt_calib_free), or -1 with pt_error; m is not
 * changed */
int pt_calibrate(const pt_model *m, const spm_model *sp, const pt_quant_policy *pol, const char *path,
                 const pt_calib_opts *o, pt_calib **out);

#endif
