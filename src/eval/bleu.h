/* bleu.h: corpus BLEU and chrF, computed exactly as sacreBLEU 2.x computes them.
 *
 * Usage (score a translated test set with two references per line):
 *
 *     pt_score_opts o = pt_score_opts_default();   // BLEU 13a + chrF2, cased
 *     pt_scorer *s = pt_scorer_init(&o);
 *     for (size_t i = 0; i < n; i++) {
 *         const char *refs[2] = {ref_a[i], ref_b[i]};
 *         size_t lens[2] = {strlen(ref_a[i]), strlen(ref_b[i])};
 *         if (pt_scorer_add(s, hyp[i], strlen(hyp[i]), refs, lens, 2)) ... pt_error()
 *     }
 *     pt_bleu_score b;
 *     pt_scorer_bleu(s, &b);                 // b.score = 34.12..., b.bp, b.precisions
 *     double chrf = pt_scorer_chrf(s);       // 58.31...
 *     pt_scorer_free(s);
 *
 * A scorer accumulates sufficient statistics sentence by sentence (it keeps
 * no text), so a decoder can feed it translations as they come out; the
 * statistics of one sentence are available too (pt_scorer_sentence), and the
 * scores are pure functions of the statistics (pt_bleu_compute,
 * pt_chrf_compute), so statistics gathered by several scorers (one per
 * thread: a scorer has scratch buffers and is not shared) can be summed.
 *
 * What "exactly" means. The statistics are sacreBLEU's integer counts, and
 * the scores are computed with the same double operations in the same order,
 * so they are the same doubles, not merely the same to two decimals:
 *   - Lines are scored as sacreBLEU scores them after reading them: trailing
 *     whitespace (Python's str.isspace, which includes '\r', so CRLF files
 *     score like LF files) is stripped; lowercasing is Python's str.lower
 *     (full Unicode, U+0130 and the final sigma included), separately for
 *     each metric as in sacreBLEU (-lc is BLEU's, --chrf-lowercase chrF's).
 *   - BLEU: tokenizer 13a (mteval-v13a: &quot; &amp; &lt; &gt; unescaped,
 *     <skipped> removed, punctuation split off, '.' and ',' kept inside
 *     numbers), intl (mteval-v14: Unicode punctuation and symbols split off)
 *     or none; word n-grams 1..4 split at Unicode whitespace; counts clipped
 *     by the maximum count over the references; the reference length is the
 *     closest to the hypothesis length, the shorter one on a tie;
 *     exponential smoothing ("exp": the k-th order with no match gets
 *     precision 1/(2^k * total)); sacreBLEU's effective order is off for
 *     corpus BLEU (eff:no) and on for sentence BLEU.
 *   - chrF2 (sacreBLEU's CHRF defaults): whitespace removed, character
 *     n-grams 1..6 over code points, beta 2, no word n-grams, effective-order
 *     averaging of precision and recall (eff:yes); with several references,
 *     each sentence takes its statistics from the reference with the best
 *     sentence chrF (the first one on a tie).
 *   - An empty corpus (no sentences) scores BLEU 0 and chrF 0, with hyp_len =
 *     ref_len = 0, BP 1 and ratio 0: the numbers sacreBLEU gives for a single
 *     empty line (its command line refuses a file of zero lines; its Python API
 *     raises IndexError).
 * Bytes that are not valid UTF-8 (sacreBLEU cannot read them at all) are
 * scored as opaque characters of their own: each invalid byte is one
 * character that is not whitespace, digit, punctuation or symbol and has no
 * case. NUL bytes are ordinary characters, as in Python. Nothing here needs
 * NUL-terminated strings.
 *
 * Not here: sacreBLEU's other tokenizers (zh, ja-mecab, ko-mecab, spm,
 * char), smoothing methods other than exp, chrF++ (word order > 0), TER,
 * bootstrap resampling and significance tests.
 */
#ifndef PETIT_TEXT_BLEU_H
#define PETIT_TEXT_BLEU_H

#include <stddef.h>
#include <stdint.h>

#define PT_BLEU_ORDER 4 /* word n-gram orders 1..4 */
#define PT_CHRF_ORDER 6 /* character n-gram orders 1..6 */
#define PT_CHRF_BETA 2
/* the version field of the signatures: these scores are petit's, which match
 * sacreBLEU's (checked against sacreBLEU 2.6.0; see tests/data/bleu/) */
#define PT_SCORE_VERSION "petit-0.1"

typedef enum {
    PT_TOK_13A = 0, /* sacreBLEU's default: mteval-v13a */
    PT_TOK_INTL,    /* mteval-v14 international (Unicode punctuation/symbols) */
    PT_TOK_NONE,    /* whitespace only */
} pt_bleu_tokenizer;

enum { PT_METRIC_BLEU = 1, PT_METRIC_CHRF = 2 };

typedef struct {
    pt_bleu_tokenizer tokenize; /* BLEU only; chrF never tokenizes */
    int bleu_lowercase;         /* Python's str.lower first (sacreBLEU's -lc) */
    int chrf_lowercase;         /* the same for chrF (sacreBLEU's --chrf-lowercase) */
    int metrics;                /* PT_METRIC_* bits: what pt_scorer_add computes */
} pt_score_opts;

/* 13a, case-sensitive, BLEU and chrF: sacreBLEU's defaults */
pt_score_opts pt_score_opts_default(void);
/* "13a", "intl" or "none" -> 0 and *out; anything else -> -1 and an error */
int pt_bleu_tokenizer_parse(const char *name, pt_bleu_tokenizer *out);
const char *pt_bleu_tokenizer_name(pt_bleu_tokenizer t);

/* ---- sufficient statistics and the scores computed from them ----------- */

typedef struct {
    int64_t hyp_len, ref_len;           /* tokens; ref_len: closest reference */
    int64_t correct[PT_BLEU_ORDER];     /* clipped n-gram matches, n = 1..4 */
    int64_t total[PT_BLEU_ORDER];       /* hypothesis n-grams */
} pt_bleu_stats;

typedef struct {
    int64_t hyp[PT_CHRF_ORDER];   /* hypothesis n-grams (0 if the reference has none) */
    int64_t ref[PT_CHRF_ORDER];   /* reference n-grams */
    int64_t match[PT_CHRF_ORDER]; /* clipped matches */
} pt_chrf_stats;

typedef struct {
    double score;                       /* 0..100 */
    double precisions[PT_BLEU_ORDER];   /* percent, smoothed */
    double bp;                          /* brevity penalty */
    double ratio;                       /* hyp_len / ref_len (0 if ref_len is 0) */
    int64_t hyp_len, ref_len;
    int64_t correct[PT_BLEU_ORDER], total[PT_BLEU_ORDER];
} pt_bleu_score;

void pt_bleu_stats_add(pt_bleu_stats *acc, const pt_bleu_stats *x);
void pt_chrf_stats_add(pt_chrf_stats *acc, const pt_chrf_stats *x);
/* sacreBLEU's BLEU.compute_bleu with smooth_method='exp'; effective_order as
 * sacreBLEU's flag (0 for corpus BLEU, 1 for sentence BLEU) */
void pt_bleu_compute(const pt_bleu_stats *st, int effective_order, pt_bleu_score *out);
/* sacreBLEU's CHRF._compute_f_score (eps_smoothing off), 0..100 */
double pt_chrf_compute(const pt_chrf_stats *st);

/* ---- the scorer ------------------------------------------------------- */

typedef struct pt_scorer pt_scorer;

/* opts NULL means pt_score_opts_default(). Never fails (allocation aborts). */
pt_scorer *pt_scorer_init(const pt_score_opts *opts);
void pt_scorer_free(pt_scorer *s);
/* forget the accumulated statistics, keep the options and the buffers */
void pt_scorer_reset(pt_scorer *s);

/* The statistics of one hypothesis against nrefs >= 1 references (byte
 * strings with lengths; a trailing '\n' or "\r\n" is harmless). Either output
 * may be NULL; both metrics are computed only if asked for in opts.metrics
 * (the other output is zeroed). Nothing is accumulated. -1 with an error if
 * nrefs < 1. */
int pt_scorer_sentence(pt_scorer *s, const char *hyp, size_t hyp_len, const char *const *refs,
                       const size_t *ref_lens, int nrefs, pt_bleu_stats *bleu,
                       pt_chrf_stats *chrf);
/* pt_scorer_sentence, then add its statistics to the corpus totals */
int pt_scorer_add(pt_scorer *s, const char *hyp, size_t hyp_len, const char *const *refs,
                  const size_t *ref_lens, int nrefs);

/* corpus scores over everything added since init/reset */
void pt_scorer_bleu(const pt_scorer *s, pt_bleu_score *out);
double pt_scorer_chrf(const pt_scorer *s);
const pt_bleu_stats *pt_scorer_bleu_stats(const pt_scorer *s);
const pt_chrf_stats *pt_scorer_chrf_stats(const pt_scorer *s);
int64_t pt_scorer_sentences(const pt_scorer *s);
/* references per sentence: the common count, or -1 if it varied (the
 * signature then says nrefs:var), 0 before the first sentence */
int pt_scorer_nrefs(const pt_scorer *s);

/* sacreBLEU 2.x signatures, e.g.
 *   BLEU: "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:petit-0.1"
 *   chrF: "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:petit-0.1"
 * written into buf (NUL-terminated, truncated to n); returns the full length.
 * effective_order as for pt_bleu_compute. */
int pt_bleu_signature(const pt_score_opts *o, int nrefs, int effective_order, char *buf,
                      size_t n);
int pt_chrf_signature(const pt_score_opts *o, int nrefs, char *buf, size_t n);

/* ---- text processing, exposed for tests and tools ---------------------- */

/* What BLEU counts for one line: trailing whitespace stripped, optional
 * lowercasing (o->bleu_lowercase), then the tokenizer; tokens separated by
 * single spaces. Returns
 * a malloc'd NUL-terminated string (length in *out_len if not NULL). */
char *pt_bleu_tokenize(const pt_score_opts *o, const char *s, size_t n, size_t *out_len);
/* Python's str.lower of the UTF-8 text s (invalid bytes copied as they are);
 * malloc'd, NUL-terminated. */
char *pt_text_lower(const char *s, size_t n, size_t *out_len);

/* Code point properties (bleu_unicode.c, generated by tools/bleu_fixtures.py) */
enum {
    PT_UC_OTHER = 0,
    PT_UC_NUMBER,         /* \p{N} */
    PT_UC_PUNCT,          /* \p{P} */
    PT_UC_SYMBOL,         /* \p{S} */
    PT_UC_CASED,          /* cased and not case-ignorable */
    PT_UC_CASE_IGNORABLE, /* case-ignorable */
};
int pt_uc_is_space(uint32_t c);    /* Python's str.isspace */
uint32_t pt_uc_lower(uint32_t c);  /* Python's str.lower, one-to-one part */
int pt_uc_intl_class(uint32_t c);  /* NUMBER, PUNCT, SYMBOL or OTHER (regex module) */
int pt_uc_case_class(uint32_t c);  /* CASED, CASE_IGNORABLE or OTHER (final sigma) */

#endif
