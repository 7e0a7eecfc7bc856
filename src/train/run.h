/* run: the training loop — steps, validation, the stop rules, saving — with
 * what a caller shows or writes left to its callbacks. petit train and
 * petit distill are this loop plus option parsing and printing; a program
 * linking libpetit gets the same loop.
 *
 * Every decision to stop is taken by all ranks together (dist.h): a signal
 * on one rank stops all, and the rules below see the same numbers on each.
 */
#ifndef PETIT_TRAIN_RUN_H
#define PETIT_TRAIN_RUN_H

#include <signal.h>

#include "train/dist.h"
#include "train/train.h"

typedef struct {
    long max_steps;      /* stop at this step (0: no cap) */
    long max_epochs;     /* stop at the end of this epoch (0: no cap) */
    long valid_every;    /* dev loss every N steps (with a dev set) */
    long patience;       /* stop after N validations without a new best (0: never) */
    long save_every;     /* the save callback every N steps, and once at the end */
    long snapshot_every; /* the snapshot callback every N steps (0: never) */
    long log_every;      /* the progress callback every N steps, at validations and at the stop */
} pt_run_opts;

typedef enum {
    PT_STOP_NONE,     /* still running (or a failure) */
    PT_STOP_STEPS,    /* reached max_steps */
    PT_STOP_EPOCHS,   /* reached max_epochs */
    PT_STOP_PATIENCE, /* the dev loss stopped improving */
    PT_STOP_SIGNAL,   /* *stop was set */
} pt_stop_reason;

/* What the progress callback sees: the averages since its last call. */
typedef struct {
    long step;
    int epoch;           /* 1-based */
    double loss;         /* mean of the steps' losses since the last call */
    float lr, grad_norm; /* the last step's */
    double tok_s;        /* source + target tokens per second since the last call */
    double gflops;       /* GFLOP/s since the last call */
    double elapsed;      /* seconds since the loop started */
    double eta;          /* seconds to max_steps at the rate so far (NAN without a cap) */
    double interval;     /* seconds since the last call */
    double dev_loss;     /* the last dev loss (NAN before the first validation) */
    int validated;       /* dev_loss was computed at this step */
    pt_dist_stats comm;  /* this rank's waits and reductions since the last call */
} pt_progress;

typedef struct {
    void *ctx;
    /* optional; a non-zero return from save or snapshot stops the loop
     * (pt_train_run returns 2: the callback has said why) */
    void (*progress)(void *ctx, const pt_trainer *t, const pt_progress *p);
    int (*save)(void *ctx, const pt_trainer *t);     /* checkpoint and model */
    int (*snapshot)(void *ctx, const pt_trainer *t); /* the model at this step, kept */
    volatile sig_atomic_t *stop; /* set (by a signal handler) to stop after this step */
} pt_run_hooks;

/* Trains t on train (dev: NULL or a set to validate on) until a stop rule
 * holds, then saves once more. Returns 0 with *why set; 1 when a step failed
 * (pt_error says why; nothing saved after the last save); 2 when a callback
 * failed. t->step, best_dev and bad_evals carry on from a resumed state. */
int pt_train_run(pt_trainer *t, const pt_corpus *train, const pt_corpus *dev, const pt_run_opts *o,
                 const pt_run_hooks *h, pt_stop_reason *why);

const char *pt_stop_reason_str(pt_stop_reason r); /* "reached --max-steps", ... */

#endif
