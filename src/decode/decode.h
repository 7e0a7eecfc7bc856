/* decode: incremental greedy and beam search over a batch of sentences
 * (MODEL.md, "Decoding").
 *
 * The encoder runs once per batch; each decoder layer's cross-attention keys
 * and values are computed once per sentence (kv_cross); each decoder layer
 * keeps a self-attention cache of the keys and values of the positions
 * decoded so far (kv_self), one row per live hypothesis, reordered by
 * gathering when beams are selected. Buffers grow when a batch needs more
 * and are reused: no allocation inside the step loop.
 *
 * Letters: B sentences, K beam size, R live rows (<= B*K), S source length,
 * T positions decoded, D model width, V vocabulary.
 */
#ifndef PETIT_DECODE_H
#define PETIT_DECODE_H

#include "decode/shortlist.h"
#include "model/model.h"

typedef struct {
    int beam;          /* K; 1 = greedy */
    float len_penalty; /* alpha: finished scores are divided by length^alpha */
    float max_len_a;   /* max_out = min(P-1, floor(a*S + b)) */
    float max_len_b;
    int nbest;         /* hypotheses kept per sentence (<= 2K) */
    int allow_unk;     /* 0 (default): UNK is never emitted, its log-probability
                          is -inf after the normalization (as CTranslate2's
                          disable_unk); 1: it competes like any token */
    int shortlist;     /* 1 (default): the decoder's shortlist, if it has one, decides
                          the output layer's rows; 0: all V (exact decoding) */
} pt_decode_opts;

void pt_decode_opts_default(pt_decode_opts *o);

typedef struct pt_decoder pt_decoder;

pt_decoder *pt_decoder_new(const pt_model *m);
void pt_decoder_free(pt_decoder *d);

/* Keep the attention caches (the keys and values of self-attention and
 * cross-attention) as IEEE half floats: half the decoder's working memory;
 * arithmetic stays in float. Off by default: the reference tests hold the
 * float caches to float64 to 2e-4. */
void pt_decoder_set_f16(pt_decoder *d, int on);

/* Decode with a lexical shortlist (decode/shortlist.h; borrowed, NULL:
 * none): each pt_decode call computes the output layer and the softmax over
 * the union of the shortlist's pieces for its source sentences only, so
 * hypotheses are made of those pieces. With every piece in the union the
 * logits are the same bits as without a shortlist. */
void pt_decoder_set_shortlist(pt_decoder *d, const pt_shortlist *sl);
/* rows of the output layer the last pt_decode used (V without a shortlist) */
int pt_decode_rows(const pt_decoder *d);

/* Translate B sentences: src[b] holds src_len[b] ids ending with EOS (at
 * most the model's max_len). Returns 0, or -1 with an error. */
int pt_decode(pt_decoder *d, const int *const *src, const int *src_len, int B,
              const pt_decode_opts *o);

/* Results of the last pt_decode: the number of hypotheses of sentence b, and
 * hypothesis `rank` (0 = best): its ids (no BOS/EOS), their count, and its
 * normalized score. Valid until the next pt_decode. */
int pt_decode_n_hyps(const pt_decoder *d, int b);
const int *pt_decode_hyp(const pt_decoder *d, int b, int rank, int *n, float *score);

/* Decoder steps run by the last pt_decode (for speed figures). */
long pt_decode_steps(const pt_decoder *d);

/* Profiling (benchmarks): while set, each decoding step at position t < cap
 * stores its wall time in step_s[t] and that of its self-attention core (the
 * cache writes and the attention over the cache, all layers; not the
 * projections) in self_attn_s[t]. NULL turns it off. */
void pt_decoder_profile(pt_decoder *d, double *step_s, double *self_attn_s, int cap);

#endif
