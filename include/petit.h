/* petit.h — the public C API of libpetit: load a model file, translate text.
 *
 * Usage:
 *
 *     #include "petit.h"
 *
 *     petit_model *m = petit_model_load("model.gguf");
 *     if (!m) { fprintf(stderr, "%s\n", petit_last_error()); return 1; }
 *     petit_options o;
 *     petit_options_default(&o);           // beam 4, as petit translate; o.beam = 1: greedy
 *     petit_translator *t = petit_translator_new(m, &o);
 *     const char *src[2] = {"A man is riding a bike.", "Two dogs play."};
 *     char *out[2];
 *     if (petit_translate(t, src, 2, out) == 0)
 *         for (int i = 0; i < 2; i++) { puts(out[i]); free(out[i]); }
 *     petit_translator_free(t);
 *     petit_model_free(m);
 *
 * A model file (GGUF) carries its vocabulary, so it is all a translator needs.
 * The model is memory-mapped and shared read-only: several translators (one
 * per thread) may use one model. A translator is not thread-safe; it owns its
 * buffers and reuses them from call to call.
 *
 * Errors: functions return NULL or -1 and petit_last_error() says why (the
 * message is per thread).
 */
#ifndef PETIT_H
#define PETIT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct petit_model petit_model;
typedef struct petit_translator petit_translator;

typedef struct {
    int beam;             /* beam size; 1 = greedy (default) */
    int nbest;            /* hypotheses returned by petit_translate_nbest (<= 2*beam) */
    float length_penalty; /* scores divided by length^length_penalty (default 1.0) */
    float max_len_a;      /* at most a*source_tokens + b target tokens (defaults 2, 10) */
    float max_len_b;
    int threads;          /* 0 = all cores */
    int float_cache;      /* 1: attention caches in float; 0 (default): half floats, half the memory */
} petit_options;

const char *petit_last_error(void);

petit_model *petit_model_load(const char *path);
void petit_model_free(petit_model *m);
/* the longest source, in tokens including EOS; longer input is truncated */
int petit_model_max_len(const petit_model *m);

void petit_options_default(petit_options *o);
petit_translator *petit_translator_new(const petit_model *m, const petit_options *o);
void petit_translator_free(petit_translator *t);

/* Translate n sentences (UTF-8, any bytes survive). out[i] receives a
 * malloc'd NUL-terminated translation; the caller frees it. An empty source
 * gives an empty translation. Returns 0, or -1 (and out is untouched). */
int petit_translate(petit_translator *t, const char *const *src, int n, char **out);

/* n-best: out[i*nbest + r] and score[i*nbest + r] for rank r (NULL past the
 * hypotheses found); counts[i] hypotheses for sentence i. */
int petit_translate_nbest(petit_translator *t, const char *const *src, int n, char **out,
                          float *score, int *counts);

/* Source tokens that were cut off by the last call (0 if none). */
long petit_truncated_tokens(const petit_translator *t);

#ifdef __cplusplus
}
#endif
#endif
