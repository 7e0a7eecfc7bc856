/* bleu.c: sacreBLEU-exact corpus BLEU and chrF (see bleu.h for what is matched).
 *
 * Text is decoded to code points once per line (invalid UTF-8 bytes become
 * pseudo code points above U+10FFFF, so they stay distinct, opaque
 * characters), and every step sacreBLEU takes with Python strings is done on
 * those arrays in the same order: rstrip, lower, rstrip, the tokenizer's
 * string replacements and regex substitutions one pass each (a two-character
 * pattern is replaced left to right without overlaps, as re.sub does), then
 * split at whitespace.
 *
 * Counting. Per sentence, the hypothesis n-grams go into a hash table whose
 * keys point into the hypothesis itself; each reference is then streamed
 * through it, counting only n-grams the hypothesis has (a prefix missing
 * from the table ends the scan of longer n-grams from that position). A
 * clipped count min(h, r) grows by one exactly while the running reference
 * count is still <= h, so no second pass is needed; for BLEU, r is the
 * maximum over the references. Word n-grams are keyed by token ids interned
 * per sentence; character n-grams by the code points themselves. Tables are
 * emptied by bumping a generation number, not by clearing.
 *
 * Float arithmetic follows sacreBLEU's expressions operation by operation,
 * in the same order, so the scores are the same doubles (the tests compare
 * with ==; reassociating a single product shows up there). The one
 * multiply-add, 4 * avg_prec + avg_rec, is safe from FMA contraction because
 * multiplying by 4 is exact.
 */
#include "eval/bleu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#define PSEUDO_BASE 0x110000u /* invalid byte b decodes to PSEUDO_BASE + b */
#define NO_ID 0xffffffffu     /* a reference token the hypothesis lacks */

/* ---- small vectors ------------------------------------------------------ */

typedef struct {
    uint32_t *p;
    size_t n, cap;
} u32vec;

static void vec_reserve(u32vec *v, size_t n) {
    if (n <= v->cap) return;
    size_t cap = v->cap ? v->cap : 64;
    while (cap < n) cap *= 2;
    v->p = pt_realloc(v->p, cap * sizeof *v->p);
    v->cap = cap;
}

static inline void vec_push(u32vec *v, uint32_t c) {
    if (v->n == v->cap) vec_reserve(v, v->n + 1);
    v->p[v->n++] = c;
}

static void vec_free(u32vec *v) {
    free(v->p);
    v->p = NULL;
    v->n = v->cap = 0;
}

static void vec_swap(u32vec *a, u32vec *b) {
    u32vec t = *a;
    *a = *b;
    *b = t;
}

/* ---- UTF-8 ---------------------------------------------------------------- */

static void utf8_decode(const char *s, size_t n, u32vec *out) {
    const unsigned char *p = (const unsigned char *)s;
    out->n = 0;
    vec_reserve(out, n);
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            out->p[out->n++] = c;
            i++;
            continue;
        }
        int len = pt_utf8_len(p + i, n - i);
        if (!len) {
            out->p[out->n++] = PSEUDO_BASE + c;
            i++;
            continue;
        }
        uint32_t cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
        for (int k = 1; k < len; k++) cp = (cp << 6) | (p[i + k] & 0x3f);
        out->p[out->n++] = cp;
        i += (size_t)len;
    }
}

/* appends the encoding of c (a pseudo code point as its original byte) */
static size_t utf8_put(char *o, uint32_t c) {
    unsigned char *q = (unsigned char *)o;
    if (c < 0x80) {
        q[0] = (unsigned char)c;
        return 1;
    }
    if (c >= PSEUDO_BASE) {
        q[0] = (unsigned char)(c - PSEUDO_BASE);
        return 1;
    }
    if (c < 0x800) {
        q[0] = (unsigned char)(0xc0 | (c >> 6));
        q[1] = (unsigned char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        q[0] = (unsigned char)(0xe0 | (c >> 12));
        q[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
        q[2] = (unsigned char)(0x80 | (c & 0x3f));
        return 3;
    }
    q[0] = (unsigned char)(0xf0 | (c >> 18));
    q[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
    q[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
    q[3] = (unsigned char)(0x80 | (c & 0x3f));
    return 4;
}

static char *utf8_encode(const uint32_t *c, size_t n, size_t *out_len) {
    char *o = pt_malloc(4 * n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += utf8_put(o + k, c[i]);
    o[k] = 0;
    if (out_len) *out_len = k;
    return o;
}

/* ---- Python string operations on code point arrays --------------------- */

static inline int is_space(uint32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
    return pt_uc_is_space(c);
}

/* str.rstrip() */
static void rstrip(u32vec *v) {
    while (v->n && is_space(v->p[v->n - 1])) v->n--;
}

/* CPython's handle_capital_sigma: U+03A3 at i lowercases to final sigma when a
 * cased letter precedes it and none follows (case-ignorables skipped). */
static int final_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    int cls = PT_UC_OTHER;
    while (j > 0) {
        cls = pt_uc_case_class(s[--j]);
        if (cls != PT_UC_CASE_IGNORABLE) break;
    }
    if (cls != PT_UC_CASED) return 0;
    for (j = i + 1; j < n; j++) {
        cls = pt_uc_case_class(s[j]);
        if (cls != PT_UC_CASE_IGNORABLE) return cls != PT_UC_CASED;
    }
    return 1;
}

/* str.lower(): in -> out */
static void lower(const u32vec *in, u32vec *out) {
    out->n = 0;
    vec_reserve(out, in->n);
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->p[i];
        if (c < 0x80) {
            vec_push(out, c >= 'A' && c <= 'Z' ? c + 32 : c);
        } else if (c == 0x130) { /* the one one-to-many mapping */
            vec_push(out, 'i');
            vec_push(out, 0x307);
        } else if (c == 0x3a3) {
            vec_push(out, final_sigma(in->p, in->n, i) ? 0x3c2 : 0x3c3);
        } else {
            vec_push(out, pt_uc_lower(c));
        }
    }
}

/* str.replace(pat, rep) with ASCII pat and rep; returns 0 (and leaves out
 * alone) if pat does not occur, else 1 with the result in out */
static int replace(const u32vec *in, const char *pat, const char *rep, u32vec *out) {
    size_t m = strlen(pat), r = strlen(rep);
    size_t i = 0, done = 0;
    int found = 0;
    if (in->n < m) return 0;
    while (i + m <= in->n) {
        size_t k = 0;
        while (k < m && in->p[i + k] == (unsigned char)pat[k]) k++;
        if (k < m) {
            i++;
            continue;
        }
        if (!found) {
            out->n = 0;
            found = 1;
        }
        for (; done < i; done++) vec_push(out, in->p[done]);
        for (k = 0; k < r; k++) vec_push(out, (unsigned char)rep[k]);
        i += m;
        done = i;
    }
    if (!found) return 0;
    for (; done < in->n; done++) vec_push(out, in->p[done]);
    return 1;
}

static void replace_step(u32vec *s, const char *pat, const char *rep, u32vec *tmp) {
    if (replace(s, pat, rep, tmp)) vec_swap(s, tmp);
}

static int contains(const u32vec *s, uint32_t c) {
    for (size_t i = 0; i < s->n; i++)
        if (s->p[i] == c) return 1;
    return 0;
}

/* ---- tokenizers ---------------------------------------------------------- */

static inline int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }

/* 13a's first regex: [\{-\~\[-\` -\&\(-\+\:-\@\/] */
static inline int is_13a_punct(uint32_t c) {
    return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
           (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

static inline void push3(u32vec *o, uint32_t a, uint32_t b, uint32_t c) {
    vec_push(o, a);
    vec_push(o, b);
    vec_push(o, c);
}

/* sacreBLEU's Tokenizer13a + TokenizerRegexp up to the final split: s in
 * place (tmp is scratch) */
static void tokenize_13a(u32vec *s, u32vec *tmp) {
    replace_step(s, "<skipped>", "", tmp);
    replace_step(s, "-\n", "", tmp);
    replace_step(s, "\n", " ", tmp);
    if (contains(s, '&')) {
        replace_step(s, "&quot;", "\"", tmp);
        replace_step(s, "&amp;", "&", tmp);
        replace_step(s, "&lt;", "<", tmp);
        replace_step(s, "&gt;", ">", tmp);
    }
    /* f' {line} ' and r'([\{-\~\[-\` -\&\(-\+\:-\@\/])' -> r' \1 ' */
    tmp->n = 0;
    vec_reserve(tmp, s->n + 2);
    vec_push(tmp, ' ');
    for (size_t i = 0; i < s->n; i++) {
        uint32_t c = s->p[i];
        if (c < 0x80 && is_13a_punct(c)) push3(tmp, ' ', c, ' ');
        else vec_push(tmp, c);
    }
    vec_push(tmp, ' ');
    vec_swap(s, tmp);
    /* r'([^0-9])([\.,])' -> r'\1 \2 ' */
    tmp->n = 0;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t c = s->p[i];
        if (i + 1 < s->n && !is_digit(c) && (s->p[i + 1] == '.' || s->p[i + 1] == ',')) {
            vec_push(tmp, c);
            push3(tmp, ' ', s->p[i + 1], ' ');
            i++;
        } else {
            vec_push(tmp, c);
        }
    }
    vec_swap(s, tmp);
    /* r'([\.,])([^0-9])' -> r' \1 \2' */
    tmp->n = 0;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t c = s->p[i];
        if (i + 1 < s->n && (c == '.' || c == ',') && !is_digit(s->p[i + 1])) {
            push3(tmp, ' ', c, ' ');
            vec_push(tmp, s->p[i + 1]);
            i++;
        } else {
            vec_push(tmp, c);
        }
    }
    vec_swap(s, tmp);
    /* r'([0-9])(-)' -> r'\1 \2 ' */
    tmp->n = 0;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t c = s->p[i];
        if (i + 1 < s->n && is_digit(c) && s->p[i + 1] == '-') {
            vec_push(tmp, c);
            push3(tmp, ' ', '-', ' ');
            i++;
        } else {
            vec_push(tmp, c);
        }
    }
    vec_swap(s, tmp);
}

/* sacreBLEU's TokenizerV14International up to the final split */
static void tokenize_intl(u32vec *s, u32vec *tmp) {
    /* r'(\P{N})(\p{P})' -> r'\1 \2 ' */
    tmp->n = 0;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t c = s->p[i];
        if (i + 1 < s->n && pt_uc_intl_class(c) != PT_UC_NUMBER &&
            pt_uc_intl_class(s->p[i + 1]) == PT_UC_PUNCT) {
            vec_push(tmp, c);
            push3(tmp, ' ', s->p[i + 1], ' ');
            i++;
        } else {
            vec_push(tmp, c);
        }
    }
    vec_swap(s, tmp);
    /* r'(\p{P})(\P{N})' -> r' \1 \2' */
    tmp->n = 0;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t c = s->p[i];
        if (i + 1 < s->n && pt_uc_intl_class(c) == PT_UC_PUNCT &&
            pt_uc_intl_class(s->p[i + 1]) != PT_UC_NUMBER) {
            push3(tmp, ' ', c, ' ');
            vec_push(tmp, s->p[i + 1]);
            i++;
        } else {
            vec_push(tmp, c);
        }
    }
    vec_swap(s, tmp);
    /* r'(\p{S})' -> r' \1 ' */
    tmp->n = 0;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t c = s->p[i];
        if (pt_uc_intl_class(c) == PT_UC_SYMBOL) push3(tmp, ' ', c, ' ');
        else vec_push(tmp, c);
    }
    vec_swap(s, tmp);
}

/* One line as the metrics see it: decoded, rstripped, optionally lowercased
 * and rstripped again (sacreBLEU reads with rstrip, then lower(), then
 * BLEU rstrips once more). */
static void prepare_line(const char *text, size_t n, int lowercase, u32vec *s, u32vec *tmp) {
    utf8_decode(text, n, s);
    rstrip(s);
    if (lowercase) {
        lower(s, tmp);
        vec_swap(s, tmp);
        rstrip(s);
    }
}

static void tokenize(pt_bleu_tokenizer t, u32vec *s, u32vec *tmp) {
    if (t == PT_TOK_13A) tokenize_13a(s, tmp);
    else if (t == PT_TOK_INTL) tokenize_intl(s, tmp);
}

/* ' '.join(s.split()) of a code point array, into tmp then back into s */
static void split_join(u32vec *s, u32vec *tmp) {
    tmp->n = 0;
    vec_reserve(tmp, s->n);
    for (size_t i = 0; i < s->n;) {
        while (i < s->n && is_space(s->p[i])) i++;
        if (i == s->n) break;
        if (tmp->n) tmp->p[tmp->n++] = ' ';
        while (i < s->n && !is_space(s->p[i])) tmp->p[tmp->n++] = s->p[i++];
    }
    vec_swap(s, tmp);
}

char *pt_bleu_tokenize(const pt_score_opts *o, const char *text, size_t n, size_t *out_len) {
    pt_score_opts d = pt_score_opts_default();
    if (!o) o = &d;
    u32vec s = {0}, tmp = {0};
    prepare_line(text, n, o->bleu_lowercase, &s, &tmp);
    tokenize(o->tokenize, &s, &tmp);
    split_join(&s, &tmp);
    char *r = utf8_encode(s.p, s.n, out_len);
    vec_free(&s);
    vec_free(&tmp);
    return r;
}

char *pt_text_lower(const char *text, size_t n, size_t *out_len) {
    u32vec s = {0}, tmp = {0};
    utf8_decode(text, n, &s);
    lower(&s, &tmp);
    char *r = utf8_encode(tmp.p, tmp.n, out_len);
    vec_free(&s);
    vec_free(&tmp);
    return r;
}

/* ---- n-gram tables --------------------------------------------------------- */

/* A key is n consecutive values home[start .. start+n) of the sequence the
 * table was begun with; lookups compare against any other sequence. */
typedef struct {
    uint32_t gen;   /* slot is live iff gen == table gen */
    uint32_t hash;
    uint32_t start, n;
    uint32_t count; /* hypothesis count (for interning: the token id) */
    uint32_t run;   /* count in the reference being streamed */
    uint32_t best;  /* BLEU: max count over the references so far */
    uint32_t ref;   /* which reference `run` belongs to (1-based) */
} slot;

typedef struct {
    slot *slots;
    size_t mask; /* capacity - 1, a power of two minus one */
    uint32_t gen;
    size_t used;
    const uint32_t *home;
} table;

static void table_begin(table *t, const uint32_t *home, size_t max_keys) {
    size_t cap = 16;
    while (cap < 2 * max_keys) cap *= 2;
    if (!t->slots || cap > t->mask + 1) {
        free(t->slots);
        t->slots = pt_calloc(cap, sizeof *t->slots);
        t->mask = cap - 1;
        t->gen = 0;
    }
    if (++t->gen == 0) { /* wrapped: forget every old generation */
        memset(t->slots, 0, (t->mask + 1) * sizeof *t->slots);
        t->gen = 1;
    }
    t->used = 0;
    t->home = home;
}

static inline uint64_t mix(uint64_t h, uint32_t x) {
    h = (h ^ (x + 0x9e3779b9u)) * 0xff51afd7ed558ccdULL;
    return h ^ (h >> 32);
}

static inline int same(const uint32_t *a, const uint32_t *b, uint32_t n) {
    for (uint32_t k = 0; k < n; k++)
        if (a[k] != b[k]) return 0;
    return 1;
}

/* the live slot with key (key, n), or the empty slot where it would go */
static inline slot *probe(table *t, const uint32_t *key, uint32_t n, uint32_t h) {
    size_t i = h & t->mask;
    for (;;) {
        slot *e = &t->slots[i];
        if (e->gen != t->gen) return e;
        if (e->hash == h && e->n == n && same(t->home + e->start, key, n)) return e;
        i = (i + 1) & t->mask;
    }
}

static inline slot *table_find(table *t, const uint32_t *key, uint32_t n, uint32_t h) {
    slot *e = probe(t, key, n, h);
    return e->gen == t->gen ? e : NULL;
}

/* the slot for home[start .. start+n), created with zero counts if new */
static inline slot *table_insert(table *t, uint32_t start, uint32_t n, uint32_t h) {
    slot *e = probe(t, t->home + start, n, h);
    if (e->gen != t->gen) {
        PT_ASSERT(t->used < t->mask); /* sized by table_begin */
        *e = (slot){.gen = t->gen, .hash = h, .start = start, .n = n};
        t->used++;
    }
    return e;
}

static void table_free(table *t) {
    free(t->slots);
    t->slots = NULL;
}

/* ---- the scorer --------------------------------------------------------------- */

struct pt_scorer {
    pt_score_opts opts;
    pt_bleu_stats bleu;
    pt_chrf_stats chrf;
    int64_t sentences;
    int nrefs; /* 0 none yet, -1 varied */
    /* scratch, reused from sentence to sentence */
    u32vec text, tmp;           /* the line being prepared */
    u32vec hyp_tok, hyp_ids;    /* hypothesis: tokenized text, token ids */
    u32vec ref_ids;             /* reference token ids (NO_ID: not in hyp) */
    u32vec hyp_chars;           /* hypothesis code points, whitespace removed */
    table vocab, words, chars;  /* token interning; word and char n-grams */
};

pt_score_opts pt_score_opts_default(void) {
    return (pt_score_opts){.tokenize = PT_TOK_13A, .metrics = PT_METRIC_BLEU | PT_METRIC_CHRF};
}

int pt_bleu_tokenizer_parse(const char *name, pt_bleu_tokenizer *out) {
    if (!strcmp(name, "13a")) *out = PT_TOK_13A;
    else if (!strcmp(name, "intl")) *out = PT_TOK_INTL;
    else if (!strcmp(name, "none")) *out = PT_TOK_NONE;
    else return pt_set_error("unknown tokenizer '%s' (13a, intl or none)", name);
    return 0;
}

const char *pt_bleu_tokenizer_name(pt_bleu_tokenizer t) {
    return t == PT_TOK_INTL ? "intl" : t == PT_TOK_NONE ? "none" : "13a";
}

pt_scorer *pt_scorer_init(const pt_score_opts *opts) {
    pt_scorer *s = pt_calloc(1, sizeof *s);
    s->opts = opts ? *opts : pt_score_opts_default();
    return s;
}

void pt_scorer_free(pt_scorer *s) {
    if (!s) return;
    vec_free(&s->text);
    vec_free(&s->tmp);
    vec_free(&s->hyp_tok);
    vec_free(&s->hyp_ids);
    vec_free(&s->ref_ids);
    vec_free(&s->hyp_chars);
    table_free(&s->vocab);
    table_free(&s->words);
    table_free(&s->chars);
    free(s);
}

void pt_scorer_reset(pt_scorer *s) {
    memset(&s->bleu, 0, sizeof s->bleu);
    memset(&s->chrf, 0, sizeof s->chrf);
    s->sentences = 0;
    s->nrefs = 0;
}

static inline uint32_t hash_span(const uint32_t *p, size_t n) {
    uint64_t h = 0x243f6a8885a308d3ULL;
    for (size_t i = 0; i < n; i++) h = mix(h, p[i]);
    return (uint32_t)h;
}

/* Token ids of the tokenized text s (single spaces between tokens). With
 * insert, new tokens get new ids (the hypothesis); otherwise tokens the
 * vocabulary lacks get NO_ID (a reference). */
static void token_ids(pt_scorer *sc, const u32vec *s, int insert, u32vec *ids) {
    ids->n = 0;
    for (size_t i = 0; i < s->n;) {
        size_t j = i;
        while (j < s->n && s->p[j] != ' ') j++;
        uint32_t h = hash_span(s->p + i, j - i);
        uint32_t id;
        if (insert) {
            slot *e = table_insert(&sc->vocab, (uint32_t)i, (uint32_t)(j - i), h);
            if (e->count == 0) e->count = (uint32_t)sc->vocab.used; /* ids from 1 */
            id = e->count;
        } else {
            slot *e = table_find(&sc->vocab, s->p + i, (uint32_t)(j - i), h);
            id = e ? e->count : NO_ID;
        }
        vec_push(ids, id);
        i = j + 1;
    }
}

/* BLEU._get_closest_ref_len */
static int64_t closest_ref_len(int64_t hyp_len, int64_t best, int64_t cand, int first) {
    if (first) return cand;
    int64_t db = best > hyp_len ? best - hyp_len : hyp_len - best;
    int64_t dc = cand > hyp_len ? cand - hyp_len : hyp_len - cand;
    if (dc < db || (dc == db && cand < best)) return cand;
    return best;
}

static void sentence_bleu_stats(pt_scorer *sc, const char *hyp, size_t hyp_len,
                                const char *const *refs, const size_t *ref_lens, int nrefs,
                                pt_bleu_stats *st) {
    const pt_score_opts *o = &sc->opts;
    memset(st, 0, sizeof *st);

    /* hypothesis: tokens, ids, n-gram counts */
    prepare_line(hyp, hyp_len, o->bleu_lowercase, &sc->hyp_tok, &sc->tmp);
    tokenize(o->tokenize, &sc->hyp_tok, &sc->tmp);
    split_join(&sc->hyp_tok, &sc->tmp);
    table_begin(&sc->vocab, sc->hyp_tok.p, sc->hyp_tok.n / 2 + 1);
    token_ids(sc, &sc->hyp_tok, 1, &sc->hyp_ids);
    const uint32_t *hid = sc->hyp_ids.p;
    size_t L = sc->hyp_ids.n;
    st->hyp_len = (int64_t)L;
    table_begin(&sc->words, hid, PT_BLEU_ORDER * L);
    for (size_t i = 0; i < L; i++) {
        uint64_t h = 0x243f6a8885a308d3ULL;
        for (size_t n = 1; n <= PT_BLEU_ORDER && i + n <= L; n++) {
            h = mix(h, hid[i + n - 1]);
            table_insert(&sc->words, (uint32_t)i, (uint32_t)n, (uint32_t)h)->count++;
            st->total[n - 1]++;
        }
    }

    /* references: stream each through the hypothesis table */
    for (int r = 0; r < nrefs; r++) {
        prepare_line(refs[r], ref_lens[r], o->bleu_lowercase, &sc->text, &sc->tmp);
        tokenize(o->tokenize, &sc->text, &sc->tmp);
        split_join(&sc->text, &sc->tmp);
        token_ids(sc, &sc->text, 0, &sc->ref_ids);
        const uint32_t *rid = sc->ref_ids.p;
        size_t R = sc->ref_ids.n;
        st->ref_len = closest_ref_len(st->hyp_len, st->ref_len, (int64_t)R, r == 0);
        for (size_t i = 0; i < R; i++) {
            uint64_t h = 0x243f6a8885a308d3ULL;
            for (size_t n = 1; n <= PT_BLEU_ORDER && i + n <= R; n++) {
                uint32_t x = rid[i + n - 1];
                if (x == NO_ID) break;
                h = mix(h, x);
                slot *e = table_find(&sc->words, rid + i, (uint32_t)n, (uint32_t)h);
                if (!e) break; /* then no longer n-gram from i is in the hypothesis */
                if (e->ref != (uint32_t)r + 1) {
                    e->ref = (uint32_t)r + 1;
                    e->run = 0;
                }
                if (++e->run > e->best) {
                    e->best = e->run;
                    if (e->best <= e->count) st->correct[n - 1]++;
                }
            }
        }
    }
}

/* the code points of a prepared line, whitespace removed */
static void strip_spaces(const u32vec *s, u32vec *out) {
    out->n = 0;
    vec_reserve(out, s->n);
    for (size_t i = 0; i < s->n; i++)
        if (!is_space(s->p[i])) out->p[out->n++] = s->p[i];
}

static void sentence_chrf_stats(pt_scorer *sc, const char *hyp, size_t hyp_len,
                                const char *const *refs, const size_t *ref_lens, int nrefs,
                                pt_chrf_stats *best) {
    const pt_score_opts *o = &sc->opts;
    prepare_line(hyp, hyp_len, o->chrf_lowercase, &sc->text, &sc->tmp);
    strip_spaces(&sc->text, &sc->hyp_chars);
    const uint32_t *hc = sc->hyp_chars.p;
    size_t L = sc->hyp_chars.n;
    table_begin(&sc->chars, hc, PT_CHRF_ORDER * L);
    for (size_t i = 0; i < L; i++) {
        uint64_t h = 0x243f6a8885a308d3ULL;
        for (size_t n = 1; n <= PT_CHRF_ORDER && i + n <= L; n++) {
            h = mix(h, hc[i + n - 1]);
            table_insert(&sc->chars, (uint32_t)i, (uint32_t)n, (uint32_t)h)->count++;
        }
    }

    double best_f = -1.0;
    memset(best, 0, sizeof *best);
    for (int r = 0; r < nrefs; r++) {
        prepare_line(refs[r], ref_lens[r], o->chrf_lowercase, &sc->text, &sc->tmp);
        strip_spaces(&sc->text, &sc->tmp);
        const uint32_t *rc = sc->tmp.p;
        size_t R = sc->tmp.n;
        pt_chrf_stats st;
        memset(&st, 0, sizeof st);
        for (size_t n = 1; n <= PT_CHRF_ORDER; n++) {
            st.ref[n - 1] = R >= n ? (int64_t)(R - n + 1) : 0;
            /* hypothesis n-grams count only if the reference has any */
            st.hyp[n - 1] = R >= n && L >= n ? (int64_t)(L - n + 1) : 0;
        }
        for (size_t i = 0; i < R; i++) {
            uint64_t h = 0x243f6a8885a308d3ULL;
            for (size_t n = 1; n <= PT_CHRF_ORDER && i + n <= R; n++) {
                h = mix(h, rc[i + n - 1]);
                slot *e = table_find(&sc->chars, rc + i, (uint32_t)n, (uint32_t)h);
                if (!e) break;
                if (e->ref != (uint32_t)r + 1) {
                    e->ref = (uint32_t)r + 1;
                    e->run = 0;
                }
                if (++e->run <= e->count) st.match[n - 1]++;
            }
        }
        double f = pt_chrf_compute(&st);
        if (f > best_f) {
            best_f = f;
            *best = st;
        }
    }
}

int pt_scorer_sentence(pt_scorer *s, const char *hyp, size_t hyp_len, const char *const *refs,
                       const size_t *ref_lens, int nrefs, pt_bleu_stats *bleu,
                       pt_chrf_stats *chrf) {
    if (nrefs < 1) return pt_set_error("scoring needs at least one reference (got %d)", nrefs);
    if (bleu) {
        if (s->opts.metrics & PT_METRIC_BLEU)
            sentence_bleu_stats(s, hyp, hyp_len, refs, ref_lens, nrefs, bleu);
        else memset(bleu, 0, sizeof *bleu);
    }
    if (chrf) {
        if (s->opts.metrics & PT_METRIC_CHRF)
            sentence_chrf_stats(s, hyp, hyp_len, refs, ref_lens, nrefs, chrf);
        else memset(chrf, 0, sizeof *chrf);
    }
    return 0;
}

int pt_scorer_add(pt_scorer *s, const char *hyp, size_t hyp_len, const char *const *refs,
                  const size_t *ref_lens, int nrefs) {
    pt_bleu_stats b;
    pt_chrf_stats c;
    if (pt_scorer_sentence(s, hyp, hyp_len, refs, ref_lens, nrefs, &b, &c)) return -1;
    pt_bleu_stats_add(&s->bleu, &b);
    pt_chrf_stats_add(&s->chrf, &c);
    s->sentences++;
    if (s->nrefs == 0) s->nrefs = nrefs;
    else if (s->nrefs != nrefs) s->nrefs = -1;
    return 0;
}

void pt_scorer_bleu(const pt_scorer *s, pt_bleu_score *out) { pt_bleu_compute(&s->bleu, 0, out); }
double pt_scorer_chrf(const pt_scorer *s) { return pt_chrf_compute(&s->chrf); }
const pt_bleu_stats *pt_scorer_bleu_stats(const pt_scorer *s) { return &s->bleu; }
const pt_chrf_stats *pt_scorer_chrf_stats(const pt_scorer *s) { return &s->chrf; }
int64_t pt_scorer_sentences(const pt_scorer *s) { return s->sentences; }
int pt_scorer_nrefs(const pt_scorer *s) { return s->nrefs; }

/* ---- scores from statistics ------------------------------------------------ */

void pt_bleu_stats_add(pt_bleu_stats *acc, const pt_bleu_stats *x) {
    acc->hyp_len += x->hyp_len;
    acc->ref_len += x->ref_len;
    for (int n = 0; n < PT_BLEU_ORDER; n++) {
        acc->correct[n] += x->correct[n];
        acc->total[n] += x->total[n];
    }
}

void pt_chrf_stats_add(pt_chrf_stats *acc, const pt_chrf_stats *x) {
    for (int n = 0; n < PT_CHRF_ORDER; n++) {
        acc->hyp[n] += x->hyp[n];
        acc->ref[n] += x->ref[n];
        acc->match[n] += x->match[n];
    }
}

/* sacreBLEU's my_log: log, with log(0) floored at -9999999999 */
static double my_log(double x) { return x == 0.0 ? -9999999999.0 : log(x); }

void pt_bleu_compute(const pt_bleu_stats *st, int effective_order, pt_bleu_score *out) {
    memset(out, 0, sizeof *out);
    out->hyp_len = st->hyp_len;
    out->ref_len = st->ref_len;
    memcpy(out->correct, st->correct, sizeof out->correct);
    memcpy(out->total, st->total, sizeof out->total);
    double sys_len = (double)st->hyp_len, ref_len = (double)st->ref_len;
    out->ratio = st->ref_len ? sys_len / ref_len : 0.0;
    out->bp = 1.0;
    if (st->hyp_len < st->ref_len) out->bp = st->hyp_len > 0 ? exp(1.0 - ref_len / sys_len) : 0.0;

    int any = 0;
    for (int n = 0; n < PT_BLEU_ORDER; n++) any |= st->correct[n] != 0;
    if (!any) return; /* score 0, precisions 0 (sacreBLEU #141) */

    double smooth = 1.0;
    int eff_order = PT_BLEU_ORDER;
    for (int n = 1; n <= PT_BLEU_ORDER; n++) {
        if (st->total[n - 1] == 0) break;
        if (effective_order) eff_order = n;
        if (st->correct[n - 1] == 0) {
            smooth *= 2;
            out->precisions[n - 1] = 100.0 / (smooth * (double)st->total[n - 1]);
        } else {
            out->precisions[n - 1] = 100.0 * (double)st->correct[n - 1] / (double)st->total[n - 1];
        }
    }
    double sum = 0.0;
    for (int n = 0; n < eff_order; n++) sum += my_log(out->precisions[n]);
    out->score = out->bp * exp(sum / eff_order);
}

double pt_chrf_compute(const pt_chrf_stats *st) {
    const double eps = 1e-16;
    const double factor = PT_CHRF_BETA * PT_CHRF_BETA;
    double avg_prec = 0.0, avg_rec = 0.0;
    int effective_order = 0;
    for (int n = 0; n < PT_CHRF_ORDER; n++) {
        double prec = st->hyp[n] > 0 ? (double)st->match[n] / (double)st->hyp[n] : eps;
        double rec = st->ref[n] > 0 ? (double)st->match[n] / (double)st->ref[n] : eps;
        if (st->hyp[n] > 0 && st->ref[n] > 0) {
            avg_prec += prec;
            avg_rec += rec;
            effective_order++;
        }
    }
    if (effective_order == 0) {
        avg_prec = avg_rec = 0.0;
    } else {
        avg_prec /= effective_order;
        avg_rec /= effective_order;
    }
    if (avg_prec + avg_rec == 0.0) return 0.0;
    double score = (1 + factor) * avg_prec * avg_rec;
    score /= factor * avg_prec + avg_rec;
    return 100 * score;
}

/* ---- signatures ------------------------------------------------------------ */

static void nrefs_str(int nrefs, char *buf, size_t n) {
    if (nrefs < 0) snprintf(buf, n, "var");
    else snprintf(buf, n, "%d", nrefs);
}

int pt_bleu_signature(const pt_score_opts *o, int nrefs, int effective_order, char *buf,
                      size_t n) {
    char nr[16];
    nrefs_str(nrefs, nr, sizeof nr);
    return snprintf(buf, n, "nrefs:%s|case:%s|eff:%s|tok:%s|smooth:exp|version:%s", nr,
                    o->bleu_lowercase ? "lc" : "mixed", effective_order ? "yes" : "no",
                    pt_bleu_tokenizer_name(o->tokenize), PT_SCORE_VERSION);
}

int pt_chrf_signature(const pt_score_opts *o, int nrefs, char *buf, size_t n) {
    char nr[16];
    nrefs_str(nrefs, nr, sizeof nr);
    return snprintf(buf, n, "nrefs:%s|case:%s|eff:yes|nc:%d|nw:0|space:no|version:%s", nr,
                    o->chrf_lowercase ? "lc" : "mixed", PT_CHRF_ORDER, PT_SCORE_VERSION);
}
