/* test_train_run: pt_train_run's stop rules and callbacks (train/run.h), on
 * a tiny synthetic corpus: which steps save, snapshot and report, each stop
 * rule with its reason, a stop flag set between steps, and a failing save
 * callback ending the loop. (That petit train's files do not change with it
 * is t_train.sh's: bit-exact resume, metrics and messages.) */
#include <math.h>
#include <string.h>

#include "base/base.h"
#include "nn/nn.h"
#include "test.h"
#include "train/run.h"

typedef struct {
    long saves[16], snaps[16], logs[16];
    int n_save, n_snap, n_log, n_valid;
    long stop_at, fail_save_at; /* set *stop / fail the save at this step (0: never) */
    volatile sig_atomic_t *stop;
} rec;

static void on_progress(void *ctx, const pt_trainer *t, const pt_progress *p) {
    rec *r = ctx;
    if (r->n_log < 16) r->logs[r->n_log++] = p->step;
    r->n_valid += p->validated;
    CHECK(p->step == t->step && isfinite(p->loss) && p->interval >= 0, "progress at step %ld", p->step);
    if (r->stop_at && p->step == r->stop_at) *r->stop = 1;
}
static int on_save(void *ctx, const pt_trainer *t) {
    rec *r = ctx;
    if (r->n_save < 16) r->saves[r->n_save++] = t->step;
    return r->fail_save_at && t->step == r->fail_save_at;
}
static int on_snap(void *ctx, const pt_trainer *t) {
    rec *r = ctx;
    if (r->n_snap < 16) r->snaps[r->n_snap++] = t->step;
    return 0;
}

static int same(const long *got, int n, const long *want, int m) {
    if (n != m) return 0;
    for (int i = 0; i < n; i++)
        if (got[i] != want[i]) return 0;
    return 1;
}

/* 24 pairs: target = source reversed, ids 4..19 */
static void corpus(pt_corpus *c) {
    int s[24][8], t[24][8], sl[24], tl[24];
    const int *sp[24], *tp[24];
    uint64_t h = 7;
    for (int i = 0; i < 24; i++) {
        int n = 3 + i % 4;
        for (int j = 0; j < n; j++) s[i][j] = 4 + (int)((h = pt_hash_u64(h)) % 16);
        s[i][n] = 2; /* eos */
        for (int j = 0; j < n; j++) t[i][j] = s[i][n - 1 - j];
        sl[i] = n + 1, tl[i] = n, sp[i] = s[i], tp[i] = t[i];
    }
    pt_corpus_from_ids(c, 24, sp, sl, tp, tl);
}

static pt_stop_reason run(pt_trainer *t, const pt_corpus *c, const pt_corpus *dev, float lr, pt_run_opts o,
                          rec *r, int *rc) {
    pt_config cfg;
    pt_config_default(&cfg);
    cfg.vocab = 20, cfg.d_model = 16, cfg.n_heads = 2, cfg.d_ff = 32, cfg.enc_layers = 1, cfg.dec_layers = 1;
    cfg.max_len = 16, cfg.dropout = 0, cfg.pad_id = 0, cfg.bos_id = 1, cfg.eos_id = 2, cfg.unk_id = 3;
    pt_train_opts to;
    pt_train_opts_default(&to);
    to.lr = lr, to.warmup = 1, to.schedule = PT_SCHED_CONSTANT, to.batch_tokens = 64, to.seed = 5;
    CHECK(pt_trainer_init(t, &cfg, &to) == 0, "init: %s", pt_error());
    pt_model_init_weights(&t->model, 3);
    static volatile sig_atomic_t stop;
    stop = 0;
    r->stop = &stop;
    pt_run_hooks h = {r, on_progress, on_save, on_snap, &stop};
    pt_stop_reason why = PT_STOP_NONE;
    *rc = pt_train_run(t, c, dev, &o, &h, &why);
    return why;
}

int main(void) {
    nn_set_threads(1);
    pt_corpus c;
    corpus(&c);
    pt_trainer t;
    int rc;

    /* the step cap; saves every 5 and at the end, snapshots every 4, progress every 3 */
    rec r = {0};
    pt_run_opts o = {.max_steps = 12, .valid_every = 100, .save_every = 5, .snapshot_every = 4, .log_every = 3};
    pt_stop_reason why = run(&t, &c, NULL, 1e-3f, o, &r, &rc);
    CHECK(rc == 0 && why == PT_STOP_STEPS && t.step == 12, "rc %d, %s at step %ld", rc, pt_stop_reason_str(why),
          t.step);
    CHECK(same(r.saves, r.n_save, (long[]){5, 10, 12}, 3), "%d saves, last at %ld", r.n_save, r.saves[r.n_save - 1]);
    CHECK(same(r.snaps, r.n_snap, (long[]){4, 8, 12}, 3), "%d snapshots", r.n_snap);
    CHECK(same(r.logs, r.n_log, (long[]){3, 6, 9, 12}, 4), "%d progress calls", r.n_log);
    pt_trainer_free(&t);

    /* patience: lr 0, so the dev loss never improves on the first validation
     * (step 2); validations at 4 and 6 are the two bad ones */
    r = (rec){0};
    o = (pt_run_opts){.max_steps = 50, .valid_every = 2, .patience = 2, .save_every = 1000, .log_every = 1000};
    why = run(&t, &c, &c, 0, o, &r, &rc);
    CHECK(rc == 0 && why == PT_STOP_PATIENCE && t.step == 6, "rc %d, %s at step %ld", rc, pt_stop_reason_str(why),
          t.step);
    CHECK(r.n_valid == 3 && same(r.logs, r.n_log, (long[]){2, 4, 6}, 3), "%d validations reported", r.n_valid);
    CHECK(same(r.saves, r.n_save, (long[]){6}, 1), "%d saves", r.n_save);
    CHECK(t.bad_evals == 2 && isfinite(t.best_dev), "bad evals %d, best %g", t.bad_evals, t.best_dev);
    pt_trainer_free(&t);

    /* the epoch cap: one epoch, then the end-of-run save */
    r = (rec){0};
    o = (pt_run_opts){.max_epochs = 1, .valid_every = 100, .save_every = 1000, .log_every = 1000};
    why = run(&t, &c, NULL, 1e-3f, o, &r, &rc);
    CHECK(rc == 0 && why == PT_STOP_EPOCHS && t.step > 1 && t.epoch == 0, "rc %d, %s at step %ld, epoch %d", rc,
          pt_stop_reason_str(why), t.step, t.epoch);
    CHECK(r.n_save == 1 && r.saves[0] == t.step, "%d saves", r.n_save);
    pt_trainer_free(&t);

    /* the stop flag, set after step 4: the loop stops before step 5 and saves */
    r = (rec){.stop_at = 4};
    o = (pt_run_opts){.max_steps = 50, .valid_every = 100, .save_every = 1000, .log_every = 2};
    why = run(&t, &c, NULL, 1e-3f, o, &r, &rc);
    CHECK(rc == 0 && why == PT_STOP_SIGNAL && t.step == 4, "rc %d, %s at step %ld", rc, pt_stop_reason_str(why),
          t.step);
    CHECK(same(r.saves, r.n_save, (long[]){4}, 1), "%d saves", r.n_save);
    pt_trainer_free(&t);

    /* a failing save: the loop ends there, returns 2, and does not save again */
    r = (rec){.fail_save_at = 6};
    o = (pt_run_opts){.max_steps = 50, .valid_every = 100, .save_every = 3, .log_every = 1000};
    why = run(&t, &c, NULL, 1e-3f, o, &r, &rc);
    CHECK(rc == 2 && why == PT_STOP_NONE && t.step == 6, "rc %d, %s at step %ld", rc, pt_stop_reason_str(why),
          t.step);
    CHECK(same(r.saves, r.n_save, (long[]){3, 6}, 2), "%d saves", r.n_save);
    pt_trainer_free(&t);

    pt_corpus_free(&c);
    return test_done("test_train_run");
}
