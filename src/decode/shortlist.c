/* shortlist.c: IBM model 1 by EM, the top-k lists, and the union per batch. */
#include "decode/shortlist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define LEX_MAX_VOCAB 16384

void pt_lex_opts_default(pt_lex_opts *o) {
    memset(o, 0, sizeof *o);
    o->k = 50;
    o->n_freq = 100;
    o->iters = 5;
    o->copy_source = 1;
}

/* Insert (id, p) into the list best[0..*n) of at most k, highest p first;
 * ties: lower id first (the scan goes up in id, so a later id never passes
 * an equal p). */
static void top_insert(int32_t *ids, float *ps, int *n, int k, int32_t id, float p) {
    if (*n == k && !(p > ps[k - 1])) return;
    int at = *n < k ? (*n)++ : k - 1;
    while (at > 0 && p > ps[at - 1]) {
        ids[at] = ids[at - 1], ps[at] = ps[at - 1];
        at--;
    }
    ids[at] = id, ps[at] = p;
}

int pt_shortlist_build(pt_shortlist *sl, int n, const int *src_off, const int *src_ids, const int *tgt_off,
                       const int *tgt_ids, int n_src, int n_tgt, int skip, const pt_lex_opts *o) {
    memset(sl, 0, sizeof *sl);
    if (n_src < 1 || n_tgt < 1 || n_src > LEX_MAX_VOCAB || n_tgt > LEX_MAX_VOCAB)
        return pt_set_error("shortlist: vocabularies of %d and %d pieces (1 to %d supported)", n_src, n_tgt,
                            LEX_MAX_VOCAB);
    if (o->k < 1 || o->n_freq < 0 || o->iters < 1)
        return pt_set_error("shortlist: k %d, frequent %d, iterations %d (k and iterations at least 1)", o->k,
                            o->n_freq, o->iters);
    for (int i = 0; i < n; i++) {
        for (int j = src_off[i]; j < src_off[i + 1]; j++)
            if (src_ids[j] != skip && (src_ids[j] < 0 || src_ids[j] >= n_src))
                return pt_set_error("shortlist: pair %d: source id %d outside the vocabulary", i, src_ids[j]);
        for (int j = tgt_off[i]; j < tgt_off[i + 1]; j++)
            if (tgt_ids[j] != skip && (tgt_ids[j] < 0 || tgt_ids[j] >= n_tgt))
                return pt_set_error("shortlist: pair %d: target id %d outside the vocabulary", i, tgt_ids[j]);
    }
    /* t(f | e) as prob[f * E + e], e = n_src the NULL word: for one target
     * piece, the source pieces of its sentence are read from one row */
    const size_t E = (size_t)n_src + 1;
    float *prob = pt_alloc_pages((size_t)n_tgt * E * sizeof(float));
    float *count = pt_alloc_pages((size_t)n_tgt * E * sizeof(float));
    double *total = pt_calloc(E, sizeof(double));
    for (size_t i = 0; i < (size_t)n_tgt * E; i++) prob[i] = 1.0f / n_tgt;
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    double *ll = pt_calloc((size_t)nt, sizeof(double));
    long n_tok = 0;
    for (int i = 0; i < n; i++)
        for (int j = tgt_off[i]; j < tgt_off[i + 1]; j++) n_tok += tgt_ids[j] != skip;
    for (int it = 0; it < o->iters; it++) {
        memset(count, 0, (size_t)n_tgt * E * sizeof(float));
        memset(ll, 0, (size_t)nt * sizeof(double));
        /* E step. Thread q owns the target pieces f = q mod nt: each row of
         * count is written by one thread, in pair order, so the result does
         * not depend on the number of threads. */
#pragma omp parallel num_threads(nt)
        {
            int q = 0;
#ifdef _OPENMP
            q = omp_get_thread_num();
#endif
            double l = 0;
            for (int i = 0; i < n; i++) {
                const int *s = src_ids + src_off[i], ns = src_off[i + 1] - src_off[i];
                int ne = 1;
                for (int a = 0; a < ns; a++) ne += s[a] != skip;
                for (int j = tgt_off[i]; j < tgt_off[i + 1]; j++) {
                    int f = tgt_ids[j];
                    if (f == skip || f % nt != q) continue;
                    const float *pr = prob + (size_t)f * E;
                    float *cr = count + (size_t)f * E;
                    double z = pr[n_src];
                    for (int a = 0; a < ns; a++)
                        if (s[a] != skip) z += pr[s[a]];
                    if (!(z > 0)) continue;
                    l += log(z / ne);
                    float inv = (float)(1.0 / z);
                    cr[n_src] += pr[n_src] * inv;
                    for (int a = 0; a < ns; a++)
                        if (s[a] != skip) cr[s[a]] += pr[s[a]] * inv;
                }
            }
            ll[q] = l;
        }
        /* M step: t(f | e) = count(f, e) / sum over f of count(f, e) */
        memset(total, 0, E * sizeof(double));
        for (int f = 0; f < n_tgt; f++) {
            const float *cr = count + (size_t)f * E;
            for (size_t e = 0; e < E; e++) total[e] += cr[e];
        }
#pragma omp parallel for schedule(static)
        for (int f = 0; f < n_tgt; f++) {
            float *pr = prob + (size_t)f * E;
            const float *cr = count + (size_t)f * E;
            for (size_t e = 0; e < E; e++) pr[e] = total[e] > 0 ? (float)(cr[e] / total[e]) : 0.0f;
        }
        double l = 0;
        for (int q = 0; q < nt; q++) l += ll[q];
        if (o->progress) o->progress(o->ctx, it + 1, n_tok ? exp(-l / (double)n_tok) : 0.0);
    }
    /* each source piece's k best: one pass down the rows keeps a list per
     * source piece (rows read in order, the lists stay in cache) */
    const int k = o->k;
    sl->n_src = n_src, sl->k = k, sl->copy_source = o->copy_source;
    int nf = o->n_freq < n_tgt ? o->n_freq : n_tgt;
    sl->n_freq = nf;
    sl->owned = pt_malloc(((size_t)n_src * k + (size_t)nf + 1) * sizeof(int32_t));
    int32_t *s2t = sl->owned, *freq = sl->owned + (size_t)n_src * k;
    float *best = pt_malloc((size_t)n_src * k * sizeof(float));
    int *nb = pt_calloc((size_t)n_src, sizeof(int));
    for (int f = 0; f < n_tgt; f++) {
        const float *pr = prob + (size_t)f * E;
        for (int e = 0; e < n_src; e++)
            if (pr[e] > 0) top_insert(s2t + (size_t)e * k, best + (size_t)e * k, &nb[e], k, f, pr[e]);
    }
    for (int e = 0; e < n_src; e++)
        for (int r = nb[e]; r < k; r++) s2t[(size_t)e * k + r] = -1;
    /* the most frequent target pieces: the same lists over counts */
    float *cnt = pt_calloc((size_t)n_tgt, sizeof(float)), *cbest = pt_malloc(((size_t)nf + 1) * sizeof(float));
    for (int i = 0; i < n; i++)
        for (int j = tgt_off[i]; j < tgt_off[i + 1]; j++)
            if (tgt_ids[j] != skip) cnt[tgt_ids[j]] += 1.0f;
    int got = 0;
    for (int f = 0; f < n_tgt && nf > 0; f++)
        if (cnt[f] > 0) top_insert(freq, cbest, &got, nf, f, cnt[f]);
    sl->n_freq = got;
    sl->s2t = s2t, sl->freq = freq;
    free(cnt), free(cbest), free(best), free(nb), free(total), free(ll);
    pt_free_pages(prob, (size_t)n_tgt * E * sizeof(float));
    pt_free_pages(count, (size_t)n_tgt * E * sizeof(float));
    return 0;
}

/* the ids of tensor t (I16 or I32) as int32: a pointer into the mapping
 * (I32), or widened into dst (I16) */
static const int32_t *ids_of(const gguf_tensor *t, int32_t *dst) {
    if (t->type == GGUF_TYPE_I32) return t->data;
    const int16_t *a = t->data;
    for (uint64_t i = 0; i < t->n_elems; i++) dst[i] = a[i];
    return dst;
}

int pt_shortlist_from_gguf(pt_shortlist *sl, const gguf_file *g, int vocab) {
    memset(sl, 0, sizeof *sl);
    const gguf_tensor *s = gguf_find_tensor(g, "shortlist.s2t"), *f = gguf_find_tensor(g, "shortlist.frequent");
    if (!s && !f) return 0;
    if (!s || !f) return pt_set_error("shortlist: shortlist.%s is missing", s ? "frequent" : "s2t");
    for (int i = 0; i < 2; i++) {
        const gguf_tensor *t = i ? f : s;
        if (t->type != GGUF_TYPE_I32 && t->type != GGUF_TYPE_I16)
            return pt_set_error("shortlist: %s must be I16 or I32, not %s", t->name, gguf_type_name(t->type));
        if (((uintptr_t)t->data & 3) && t->type == GGUF_TYPE_I32) return pt_set_error("shortlist: misaligned");
    }
    if (s->n_dims != 2 || s->ne[0] < 1 || s->ne[0] > 4096 || s->ne[1] != (uint64_t)vocab || f->n_dims != 1 ||
        f->ne[0] > (uint64_t)vocab)
        return pt_set_error("shortlist: shapes [%llu x %llu] and [%llu] do not fit a vocabulary of %d",
                            (unsigned long long)s->ne[0], (unsigned long long)s->ne[1],
                            (unsigned long long)f->ne[0], vocab);
    size_t wide = (s->type == GGUF_TYPE_I16 ? s->n_elems : 0) + (f->type == GGUF_TYPE_I16 ? f->n_elems : 0);
    if (wide) sl->owned = pt_malloc(wide * sizeof(int32_t));
    const int32_t *a = ids_of(s, sl->owned);
    const int32_t *b = f->type == GGUF_TYPE_I16 ? ids_of(f, sl->owned + (s->type == GGUF_TYPE_I16 ? s->n_elems : 0))
                                                : f->data;
    int bad = 0;
    for (uint64_t i = 0; i < s->n_elems && !bad; i++)
        if (a[i] < -1 || a[i] >= vocab) bad = pt_set_error("shortlist: candidate id %d outside the vocabulary", (int)a[i]);
    for (uint64_t i = 0; i < f->n_elems && !bad; i++)
        if (b[i] < 0 || b[i] >= vocab) bad = pt_set_error("shortlist: frequent id %d outside the vocabulary", (int)b[i]);
    int cs = 1;
    if (!bad && gguf_find_key(g, "petit.shortlist.copy_source") >= 0)
        bad = gguf_get_bool(g, "petit.shortlist.copy_source", &cs);
    if (bad) {
        pt_shortlist_free(sl);
        return -1;
    }
    sl->n_src = vocab, sl->k = (int)s->ne[0], sl->s2t = a;
    sl->n_freq = (int)f->ne[0], sl->freq = b;
    sl->copy_source = cs;
    return 1;
}

/* ids below 2^15 are stored as I16: half the bytes */
static void add_ids(gguf_writer *w, const char *name, int n_dims, const uint64_t *ne, const int32_t *ids, size_t n,
                    int16_t *narrow) {
    if (narrow) {
        for (size_t i = 0; i < n; i++) narrow[i] = (int16_t)ids[i];
        gguf_add_tensor(w, name, GGUF_TYPE_I16, (uint32_t)n_dims, ne, narrow, n * sizeof(int16_t));
    } else gguf_add_tensor(w, name, GGUF_TYPE_I32, (uint32_t)n_dims, ne, ids, n * sizeof(int32_t));
}

int16_t *pt_shortlist_to_gguf(const pt_shortlist *sl, gguf_writer *w) {
    size_t ns = (size_t)sl->k * sl->n_src, nf = (size_t)sl->n_freq;
    int16_t *narrow = sl->n_src <= INT16_MAX ? pt_malloc((ns + nf + 1) * sizeof(int16_t)) : NULL;
    gguf_set_bool(w, "petit.shortlist.copy_source", sl->copy_source);
    add_ids(w, "shortlist.s2t", 2, (uint64_t[]){(uint64_t)sl->k, (uint64_t)sl->n_src}, sl->s2t, ns, narrow);
    add_ids(w, "shortlist.frequent", 1, (uint64_t[]){nf}, sl->freq, nf, narrow ? narrow + ns : NULL);
    return narrow;
}

void pt_shortlist_free(pt_shortlist *sl) {
    free(sl->owned);
    memset(sl, 0, sizeof *sl);
}

int pt_shortlist_select(const pt_shortlist *sl, const int *const *src, const int *src_len, int B,
                        const int *always, int n_always, const int *never, int n_never, int V, int *out,
                        unsigned char *mark) {
    for (int i = 0; i < sl->n_freq; i++) mark[sl->freq[i]] = 1;
    for (int i = 0; i < n_always; i++) mark[always[i]] = 1;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < src_len[b]; j++) {
            int e = src[b][j];
            if (e < 0 || e >= sl->n_src) continue;
            const int32_t *c = sl->s2t + (size_t)e * sl->k;
            for (int r = 0; r < sl->k && c[r] >= 0; r++) mark[c[r]] = 1;
            if (sl->copy_source && e < V) mark[e] = 1;
        }
    for (int i = 0; i < n_never; i++) mark[never[i]] = 0;
    int n = 0;
    for (int v = 0; v < V; v++)
        if (mark[v]) out[n++] = v, mark[v] = 0;
    return n;
}
