/* distill.c: word-level knowledge distillation — the teacher's distribution
 * over a batch's target positions, run in the same process as the student —
 * and a student's initialization from its teacher's layers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "nn/nn.h"
#include "train/train.h"

int pt_teacher_init(pt_teacher *t, const pt_model *teacher, const pt_config *student, int k, float alpha,
                    float tau) {
    memset(t, 0, sizeof *t);
    const pt_config *c = &teacher->cfg;
    if (c->vocab != student->vocab || c->pad_id != student->pad_id || c->bos_id != student->bos_id ||
        c->eos_id != student->eos_id)
        return pt_set_error("the teacher's vocabulary (%d pieces; pad %d, bos %d, eos %d) is not the student's "
                            "(%d; %d, %d, %d): distillation needs the same vocabulary",
                            c->vocab, c->pad_id, c->bos_id, c->eos_id, student->vocab, student->pad_id,
                            student->bos_id, student->eos_id);
    if (c->max_len < student->max_len)
        return pt_set_error("the teacher reads at most %d tokens, the student %d: give the student --max-len %d",
                            c->max_len, student->max_len, c->max_len);
    if (!(alpha >= 0 && alpha <= 1) || !(tau > 0) || k < 0)
        return pt_set_error("distillation needs 0 <= alpha <= 1, tau > 0 and top-k >= 0");
    t->model = teacher;
    t->k = k <= 0 || k >= c->vocab ? c->vocab : k;
    t->alpha = alpha;
    t->tau = tau;
    return 0;
}

void pt_teacher_free(pt_teacher *t) {
    pt_acts_free(t->acts);
    free(t->ids);
    pt_free_aligned(t->p);
    memset(t, 0, sizeof *t);
}

const pt_soft_targets *pt_teacher_targets(pt_teacher *t, const pt_batch *b) {
    const pt_config *c = &t->model->cfg;
    pt_acts_reserve(&t->acts, c, pt_caps_of(b->B, b->S, b->T));
    size_t rows = (size_t)b->B * b->T;
    if (rows > t->cap) {
        free(t->ids);
        pt_free_aligned(t->p);
        t->cap = rows;
        t->ids = t->k < c->vocab ? pt_malloc(rows * (size_t)t->k * sizeof(int)) : NULL;
        t->p = pt_alloc_aligned(rows * (size_t)t->k * sizeof(float));
    }
    pt_batch tb = *b;
    tb.soft = NULL;
    pt_forward(t->model, t->acts, &tb, 0.0f, 0, NULL);
    nn_soft_targets(t->ids, t->p, pt_acts_logits(t->acts), (int)rows, c->vocab, t->k, t->tau);
    t->soft = (pt_soft_targets){t->k < c->vocab ? t->ids : NULL, t->p, t->k, t->alpha, t->tau};
    return &t->soft;
}

/* "enc.3.ffn.up.weight" -> 'E', layer 3, and the rest after the number */
static int layer_of(const char *name, char *kind, const char **rest) {
    if (strncmp(name, "enc.", 4) && strncmp(name, "dec.", 4)) return -1;
    char *end;
    long l = strtol(name + 4, &end, 10);
    if (end == name + 4 || *end != '.') return -1;
    *kind = name[0] == 'e' ? 'E' : 'D';
    *rest = end;
    return (int)l;
}

int pt_model_init_from_teacher(pt_model *s, const pt_model *t, int *copied) {
    if (s->cfg.d_model != t->cfg.d_model || s->cfg.d_ff != t->cfg.d_ff || s->cfg.vocab != t->cfg.vocab)
        return pt_set_error("a student starts from its teacher's layers only at the same width "
                            "(teacher d_model %d, ff %d, vocab %d; student %d, %d, %d)",
                            t->cfg.d_model, t->cfg.d_ff, t->cfg.vocab, s->cfg.d_model, s->cfg.d_ff, s->cfg.vocab);
    int n = 0;
    for (int i = 0; i < s->n_tensors; i++) {
        const pt_tensor *st = &s->tensors[i];
        char name[64], kind;
        const char *rest;
        int l = layer_of(st->name, &kind, &rest);
        if (l >= 0) { /* student layer l of Ls <- teacher layer round((l+1) Lt / Ls) - 1: the top stays the top */
            int Ls = kind == 'E' ? s->cfg.enc_layers : s->cfg.dec_layers;
            int Lt = kind == 'E' ? t->cfg.enc_layers : t->cfg.dec_layers;
            int lt = (int)(((long)(l + 1) * Lt + Ls / 2) / Ls) - 1;
            if (lt < 0) lt = 0;
            snprintf(name, sizeof name, "%s.%d%s", kind == 'E' ? "enc" : "dec", lt, rest);
        } else {
            snprintf(name, sizeof name, "%s", st->name);
        }
        int j = pt_model_find(t, name);
        if (j < 0) continue; /* e.g. learned positions the teacher lacks: keep the init */
        const pt_tensor *tt = &t->tensors[j];
        if (tt->rows != st->rows || tt->cols != st->cols) {
            /* positions: copy the rows both have */
            if (tt->cols != st->cols) continue;
            int r = tt->rows < st->rows ? tt->rows : st->rows;
            memcpy(s->mem + st->offset, t->mem + tt->offset, (size_t)r * st->cols * sizeof(float));
        } else {
            memcpy(s->mem + st->offset, t->mem + tt->offset, (size_t)st->rows * st->cols * sizeof(float));
        }
        n++;
    }
    if (copied) *copied = n;
    return 0;
}
