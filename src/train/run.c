/* run.c: the training loop (run.h). */
#include <math.h>
#include <string.h>

#include "base/base.h"
#include "train/run.h"

const char *pt_stop_reason_str(pt_stop_reason r) {
    switch (r) {
    case PT_STOP_STEPS: return "reached --max-steps";
    case PT_STOP_EPOCHS: return "reached --max-epochs";
    case PT_STOP_PATIENCE: return "dev loss stopped improving";
    case PT_STOP_SIGNAL: return "interrupted";
    default: return "running";
    }
}

int pt_train_run(pt_trainer *t, const pt_corpus *train, const pt_corpus *dev, const pt_run_opts *o,
                 const pt_run_hooks *h, pt_stop_reason *why) {
    pt_epoch ep = {0};
    pt_batcher bb = {0};
    double start = pt_time(), last = start, dev_loss = NAN;
    long step0 = t->step, tok_since = 0;
    double flops_since = 0, loss_since = 0;
    int steps_since = 0, rc = 0, ndev = dev ? dev->n : 0;
    pt_stop_reason stop = PT_STOP_NONE;
    pt_dist_stats_reset();
    for (;;) {
        int sig = h->stop && *h->stop;
        if (t->nranks > 1 ? pt_dist_any(sig) : sig) { /* a signal reached one rank: all stop */
            if (h->stop) *h->stop = 1;
            stop = PT_STOP_SIGNAL;
            break;
        }
        if (o->max_steps && t->step >= o->max_steps) { stop = PT_STOP_STEPS; break; }
        if (o->max_epochs && ep.order && t->batch_pos >= ep.n_batches && t->epoch + 1 >= o->max_epochs) {
            stop = PT_STOP_EPOCHS;
            break;
        }
        pt_step_stats st;
        if (pt_trainer_step(t, train, &ep, &bb, &st)) { rc = 1; break; }
        tok_since += st.tokens + st.src_tokens;
        flops_since += st.flops;
        loss_since += st.loss;
        steps_since++;
        int validated = ndev && t->step % o->valid_every == 0;
        if (validated) {
            dev_loss = pt_trainer_eval(t, dev, &bb);
            if (dev_loss < t->best_dev) t->best_dev = dev_loss, t->bad_evals = 0;
            else t->bad_evals++;
            if (o->patience && t->bad_evals >= o->patience) stop = PT_STOP_PATIENCE;
        }
        if (t->step % o->log_every == 0 || validated || stop) {
            double now = pt_time();
            pt_progress p = {.step = t->step, .epoch = t->epoch + 1, .lr = st.lr, .grad_norm = st.grad_norm,
                             .elapsed = now - start, .interval = now - last, .dev_loss = dev_loss,
                             .validated = validated, .eta = NAN};
            p.loss = loss_since / steps_since;
            p.tok_s = tok_since / p.interval;
            p.gflops = flops_since / p.interval * 1e-9;
            if (o->max_steps) p.eta = p.elapsed / (double)(t->step - step0) * (double)(o->max_steps - t->step);
            pt_dist_stats_get(&p.comm);
            pt_dist_stats_reset();
            if (h->progress) h->progress(h->ctx, t, &p);
            last = now, tok_since = 0, flops_since = 0, loss_since = 0, steps_since = 0;
        }
        if (h->save && t->step % o->save_every == 0 && h->save(h->ctx, t)) { rc = 2; break; }
        if (h->snapshot && o->snapshot_every && t->step % o->snapshot_every == 0 && h->snapshot(h->ctx, t)) {
            rc = 2;
            break;
        }
        if (stop) break;
    }
    if (rc == 0 && h->save && h->save(h->ctx, t)) rc = 2;
    pt_epoch_free(&ep);
    pt_batcher_free(&bb);
    *why = rc ? PT_STOP_NONE : stop;
    return rc;
}
