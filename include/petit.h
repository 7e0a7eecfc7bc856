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
 * Link with libpetit.a (and -lm -lopenblas -fopenmp as the build found them)
 * or with the shared libpetit.so (cc app.c -Iinclude -Lbuild -lpetit); the
 * shared library exports only these petit_* functions.
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

/* the library's exported symbols (libpetit.so exports nothing else) */
#if defined(__GNUC__)
#define PETIT_API __attribute__((visibility("default")))
#else
#define PETIT_API
#endif

typedef struct petit_model petit_model;
typedef struct petit_translator petit_translator;

typedef struct {
    int beam;             /* beam size (default 4, as petit translate and Marian); 1 = greedy */
    int nbest;            /* hypotheses returned by petit_translate_nbest (<= 2*beam) */
    float length_penalty; /* scores divided by length^length_penalty (default 1.0) */
    float max_len_a;      /* at most a*source_tokens + b target tokens (defaults 2, 10) */
    float max_len_b;
    int threads;          /* this translator's own (translators on other threads keep
                           * theirs). 0 (default): all cores; but when OMP_WAIT_POLICY is
                           * not set (OpenMP's threads spin while they wait, which costs
                           * several times the time when other processes use the cores),
                           * the cores the 1-minute load average leaves free, at least 1.
                           * Best: OMP_WAIT_POLICY=passive in the environment before the
                           * program starts (petit translate sets it for itself). */
    int float_cache;      /* 1: attention caches in float; 0 (default): half floats, half the memory */
    int allow_unk;        /* 0 (default): never emit the unknown token (printed as ⁇) */
    int shortlist;        /* 1 (default): a model with a lexical shortlist (petit shortlist)
                           * computes the output layer over the batch's shortlisted pieces
                           * only; 0: over the whole vocabulary (exact) */
} petit_options;

PETIT_API const char *petit_last_error(void);

PETIT_API petit_model *petit_model_load(const char *path);
PETIT_API void petit_model_free(petit_model *m);
/* the longest source, in tokens including EOS; longer input is truncated */
PETIT_API int petit_model_max_len(const petit_model *m);
/* 1 if the model file carries a lexical shortlist (petit_options.shortlist) */
PETIT_API int petit_model_has_shortlist(const petit_model *m);
/* the source tokens of text (UTF-8, without EOS) as the model's tokenizer
 * cuts it: a sentence fits when this is below petit_model_max_len. -1 on error */
PETIT_API int petit_model_count_tokens(const petit_model *m, const char *text);

PETIT_API void petit_options_default(petit_options *o);
PETIT_API petit_translator *petit_translator_new(const petit_model *m, const petit_options *o);
PETIT_API void petit_translator_free(petit_translator *t);

/* Translate n sentences (UTF-8, any bytes survive). out[i] receives a
 * malloc'd NUL-terminated translation; the caller frees it. An empty source
 * gives an empty translation. Returns 0, or -1 (and out is untouched). */
PETIT_API int petit_translate(petit_translator *t, const char *const *src, int n, char **out);

/* n-best: out[i*nbest + r] and score[i*nbest + r] for rank r (NULL past the
 * hypotheses found); counts[i] hypotheses for sentence i. The texts are
 * distinct: a hypothesis that detokenizes to the text of a better-scored one
 * (other pieces, the same words) is dropped, so counts[i] may be below nbest. */
PETIT_API int petit_translate_nbest(petit_translator *t, const char *const *src, int n, char **out,
                          float *score, int *counts);

/* Source tokens that were cut off by the last call (0 if none). */
PETIT_API long petit_truncated_tokens(const petit_translator *t);

/* Frees what the library allocated (the translations): for callers that
 * do not share its malloc, such as a binding from another language. */
PETIT_API void petit_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
