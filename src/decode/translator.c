/* translator.c: the public API of include/petit.h over the model, the
 * tokenizer and the incremental decoder. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "decode/decode.h"
#include "gguf/gguf.h"
#include "nn/nn.h"
#include "petit.h"
#include "text/spm.h"

struct petit_model {
    gguf_file *g;      /* the mapping; weights are used in place */
    pt_model m;
    spm_model *src_sp, *tgt_sp; /* tgt_sp NULL: one vocabulary for both */
    pt_shortlist sl;   /* has_sl: the file's lexical shortlist (in the mapping) */
    int has_sl;
};

struct petit_translator {
    const petit_model *pm;
    petit_options o;
    pt_decoder *dec;
    int **ids;         /* per sentence token buffers */
    size_t *caps;
    int n_cap;
    const int **srcs;
    int *lens, *nonempty;
    long truncated;
};

const char *petit_last_error(void) { return pt_error(); }

petit_model *petit_model_load(const char *path) {
    pt_clear_error();
    gguf_file *g = gguf_open(path);
    if (!g) return NULL;
    petit_model *pm = pt_calloc(1, sizeof *pm);
    pm->g = g;
    char msg[900];
    if (pt_model_from_gguf(&pm->m, g)) goto fail;
    if (spm_from_gguf(g, "petit.tokenizer", &pm->src_sp, &pm->tgt_sp)) goto fail;
    if (spm_vocab_size(pm->src_sp) != pm->m.cfg.vocab) {
        pt_set_error("vocabulary has %d pieces but the model %d", spm_vocab_size(pm->src_sp), pm->m.cfg.vocab);
        goto fail;
    }
    if ((pm->has_sl = pt_shortlist_from_gguf(&pm->sl, g, pm->m.cfg.vocab)) < 0) goto fail;
    pt_model_pack(&pm->m); /* the weights never change from here on */
    return pm;
fail:
    snprintf(msg, sizeof msg, "%s", pt_error());
    pt_set_error("%s: %s", path, msg);
    if (pm->m.tensors) pt_model_free(&pm->m);
    pt_shortlist_free(&pm->sl);
    if (pm->src_sp) spm_free(pm->src_sp);
    if (pm->tgt_sp) spm_free(pm->tgt_sp);
    gguf_close(g);
    free(pm);
    return NULL;
}

void petit_model_free(petit_model *pm) {
    if (!pm) return;
    pt_model_free(&pm->m);
    pt_shortlist_free(&pm->sl);
    spm_free(pm->src_sp);
    if (pm->tgt_sp) spm_free(pm->tgt_sp);
    gguf_close(pm->g);
    free(pm);
}

int petit_model_max_len(const petit_model *pm) { return pm->m.cfg.max_len; }

int petit_model_has_shortlist(const petit_model *pm) { return pm->has_sl; }
int petit_model_count_tokens(const petit_model *pm, const char *text) {
    int *ids = NULL;
    size_t cap = 0;
    int n = spm_encode(pm->src_sp, text, strlen(text), &ids, &cap);
    free(ids);
    return n;
}

void petit_free(void *p) { free(p); }

void petit_options_default(petit_options *o) {
    pt_decode_opts d; /* the decoder's defaults: beam 4, as petit translate and Marian */
    pt_decode_opts_default(&d);
    o->beam = d.beam;
    o->nbest = d.nbest;
    o->length_penalty = d.len_penalty;
    o->max_len_a = d.max_len_a;
    o->max_len_b = d.max_len_b;
    o->threads = 0;
    o->float_cache = 0;
    o->allow_unk = d.allow_unk;
    o->shortlist = d.shortlist;
}

/* threads = 0: all cores, unless OpenMP's waiting threads spin (no
 * OMP_WAIT_POLICY in the environment; the runtime read it when the program
 * started, so it is too late to set it here) and other processes keep cores
 * busy: spinning threads then fight them and run several times slower than
 * one thread. So: the cores the 1-minute load average leaves free, at least
 * one. `petit translate` runs with OMP_WAIT_POLICY=passive instead. */
static int default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    double load;
    if (getenv("OMP_WAIT_POLICY") || n < 2 || getloadavg(&load, 1) != 1) return 0;
    long free_cores = n - (long)(load + 0.5);
    return free_cores >= n ? 0 : free_cores < 1 ? 1 : (int)free_cores;
}

petit_translator *petit_translator_new(const petit_model *pm, const petit_options *o) {
    petit_translator *t = pt_calloc(1, sizeof *t);
    t->pm = pm;
    if (o) t->o = *o;
    else petit_options_default(&t->o);
    if (t->o.beam < 1) t->o.beam = 1;
    if (t->o.nbest < 1) t->o.nbest = 1;
    if (t->o.nbest > 2 * t->o.beam) t->o.nbest = 2 * t->o.beam;
    if (t->o.threads <= 0) t->o.threads = default_threads(); /* chosen once; set by each translate call */
    t->dec = pt_decoder_new(&pm->m);
    pt_decoder_set_f16(t->dec, !t->o.float_cache);
    if (pm->has_sl && t->o.shortlist) pt_decoder_set_shortlist(t->dec, &pm->sl);
    return t;
}

void petit_translator_free(petit_translator *t) {
    if (!t) return;
    for (int i = 0; i < t->n_cap; i++) free(t->ids[i]);
    free(t->ids), free(t->caps), free(t->srcs), free(t->lens), free(t->nonempty);
    pt_decoder_free(t->dec);
    free(t);
}

long petit_truncated_tokens(const petit_translator *t) { return t->truncated; }

static void grow(petit_translator *t, int n) {
    if (n <= t->n_cap) return;
    t->ids = pt_realloc(t->ids, (size_t)n * sizeof(int *));
    t->caps = pt_realloc(t->caps, (size_t)n * sizeof(size_t));
    for (int i = t->n_cap; i < n; i++) t->ids[i] = NULL, t->caps[i] = 0;
    t->srcs = pt_realloc(t->srcs, (size_t)n * sizeof(int *));
    t->lens = pt_realloc(t->lens, (size_t)n * sizeof(int));
    t->nonempty = pt_realloc(t->nonempty, (size_t)n * sizeof(int));
    t->n_cap = n;
}

int petit_translate_nbest(petit_translator *t, const char *const *src, int n, char **out,
                          float *score, int *counts) {
    const pt_config *c = &t->pm->m.cfg;
    nn_set_threads(t->o.threads); /* this translator's, on this thread */
    grow(t, n > 0 ? n : 1);
    t->truncated = 0;
    int k = 0; /* sentences that go to the decoder */
    for (int i = 0; i < n; i++) {
        int len = spm_encode(t->pm->src_sp, src[i], strlen(src[i]), &t->ids[i], &t->caps[i]);
        if (len < 0) return -1;
        t->nonempty[i] = len > 0;
        if (!len) continue;
        if (len > c->max_len - 1) {
            t->truncated += len - (c->max_len - 1);
            len = c->max_len - 1;
        }
        if ((size_t)len + 1 > t->caps[i]) {
            t->caps[i] = (size_t)len + 1;
            t->ids[i] = pt_realloc(t->ids[i], t->caps[i] * sizeof(int));
        }
        t->ids[i][len] = c->eos_id;
        t->srcs[k] = t->ids[i];
        t->lens[k] = len + 1;
        k++;
    }
    pt_decode_opts d = {t->o.beam, t->o.length_penalty, t->o.max_len_a, t->o.max_len_b, t->o.nbest,
                         t->o.allow_unk, t->o.shortlist};
    if (k && pt_decode(t->dec, t->srcs, t->lens, k, &d)) return -1;
    const spm_model *tsp = t->pm->tgt_sp ? t->pm->tgt_sp : t->pm->src_sp;
    int nb = t->o.nbest;
    for (int i = 0, j = 0; i < n; i++) {
        int h = t->nonempty[i] ? pt_decode_n_hyps(t->dec, j) : 1;
        char **slots = out + (size_t)i * nb;
        int kept = 0; /* distinct texts: a hypothesis whose detokenized text equals a
                       * better one's (other pieces, same words) is dropped, as Marian does */
        for (int r = 0; r < h && kept < nb; r++) {
            if (!t->nonempty[i]) {
                slots[kept] = pt_strdup("");
                if (score) score[(size_t)i * nb + kept] = 0.0f;
                kept++;
                break;
            }
            int m;
            float s;
            const int *ids = pt_decode_hyp(t->dec, j, r, &m, &s);
            size_t len;
            char *text = spm_decode(tsp, ids, m, &len);
            int dup = 0;
            for (int q = 0; q < kept && !dup; q++) dup = !strcmp(slots[q], text);
            if (dup) {
                free(text);
                continue;
            }
            slots[kept] = text;
            if (score) score[(size_t)i * nb + kept] = s;
            kept++;
        }
        if (counts) counts[i] = kept;
        for (int r = kept; r < nb; r++) {
            slots[r] = NULL;
            if (score) score[(size_t)i * nb + r] = 0.0f;
        }
        if (t->nonempty[i]) j++;
    }
    return 0;
}

int petit_translate(petit_translator *t, const char *const *src, int n, char **out) {
    if (t->o.nbest == 1) return petit_translate_nbest(t, src, n, out, NULL, NULL);
    int nb = t->o.nbest;
    char **all = pt_malloc((size_t)(n > 0 ? n : 1) * nb * sizeof(char *));
    if (petit_translate_nbest(t, src, n, all, NULL, NULL)) {
        free(all);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        out[i] = all[(size_t)i * nb];
        for (int r = 1; r < nb; r++) free(all[(size_t)i * nb + r]);
    }
    free(all);
    return 0;
}
