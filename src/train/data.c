/* data.c: tokenized parallel corpus, length-bucketed batches, padding. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "train/train.h"

static uint64_t fnv(uint64_t h, const int *x, int n) {
    for (int i = 0; i < n; i++) {
        h ^= (uint32_t)x[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

typedef struct {
    int *v;
    size_t n, cap;
} ivec;

static void ivec_push(ivec *a, const int *x, int n) {
    if (a->n + (size_t)n > a->cap) {
        a->cap = (a->n + (size_t)n) * 2 + 1024;
        a->v = pt_realloc(a->v, a->cap * sizeof(int));
    }
    memcpy(a->v + a->n, x, (size_t)n * sizeof(int));
    a->n += (size_t)n;
}

int pt_corpus_load(pt_corpus *c, const char *src_path, const char *tgt_path, const spm_model *sp,
                   int eos_id, int max_len, long max_lines) {
    return pt_corpus_load_sides(c, src_path, tgt_path, sp, NULL, eos_id, max_len, max_lines);
}

int pt_corpus_load_sides(pt_corpus *c, const char *src_path, const char *tgt_path, const spm_model *sp,
                         const spm_model *tgt_sp, int eos_id, int max_len, long max_lines) {
    memset(c, 0, sizeof *c);
    if (!tgt_sp) tgt_sp = sp;
    size_t ns, nt;
    char *sb = pt_read_file(src_path, &ns);
    if (!sb) return -1;
    char *tb = pt_read_file(tgt_path, &nt);
    if (!tb) {
        free(sb);
        return -1;
    }
    size_t ls = pt_count_lines(sb, ns), lt = pt_count_lines(tb, nt);
    if (ls != lt) {
        free(sb), free(tb);
        return pt_set_error("%s has %zu lines but %s has %zu: parallel files must be line-aligned",
                            src_path, ls, tgt_path, lt);
    }
    pt_lines is, it;
    pt_lines_init(&is, sb, ns);
    pt_lines_init(&it, tb, nt);
    ivec S = {0}, T = {0}, so = {0}, to = {0};
    int zero = 0, *ids = NULL;
    size_t cap = 0;
    ivec_push(&so, &zero, 1);
    ivec_push(&to, &zero, 1);
    const char *l1, *l2;
    size_t n1, n2;
    uint64_t fp = 0xcbf29ce484222325ULL;
    while (pt_lines_next(&is, &l1, &n1) && pt_lines_next(&it, &l2, &n2)) {
        if (max_lines > 0 && c->lines >= max_lines) break;
        c->lines++;
        if (n1 && l1[n1 - 1] == '\r') n1--; /* CRLF files read like LF files */
        if (n2 && l2[n2 - 1] == '\r') n2--;
        int k1 = spm_encode(sp, l1, n1, &ids, &cap);
        if (k1 < 0) goto fail;
        if (k1 == 0) {
            c->skipped_empty++;
            continue;
        }
        if (k1 + 1 > max_len) {
            c->skipped_long++;
            continue;
        }
        ids[k1] = eos_id; /* spm_encode leaves room? not promised: push separately */
        ivec_push(&S, ids, k1);
        ivec_push(&S, &eos_id, 1);
        int k2 = spm_encode(tgt_sp, l2, n2, &ids, &cap);
        if (k2 < 0) goto fail;
        if (k2 == 0 || k2 + 1 > max_len) {
            S.n -= (size_t)k1 + 1; /* undo the source */
            if (k2 == 0) c->skipped_empty++;
            else c->skipped_long++;
            continue;
        }
        ivec_push(&T, ids, k2);
        int e1 = (int)S.n, e2 = (int)T.n;
        ivec_push(&so, &e1, 1);
        ivec_push(&to, &e2, 1);
        fp = fnv(fp, S.v + S.n - k1 - 1, k1 + 1);
        fp = fnv(fp, T.v + T.n - k2, k2);
        c->n++;
    }
    free(ids);
    free(sb), free(tb);
    c->src_ids = S.v, c->tgt_ids = T.v, c->src_off = so.v, c->tgt_off = to.v;
    c->fingerprint = fp;
    if (c->n == 0) {
        pt_corpus_free(c);
        return pt_set_error("%s / %s: no usable sentence pairs (empty files, or every line too long)",
                            src_path, tgt_path);
    }
    return 0;
fail:
    free(ids), free(sb), free(tb), free(S.v), free(T.v), free(so.v), free(to.v);
    return -1;
}

void pt_corpus_from_ids(pt_corpus *c, int n, const int *const *src, const int *src_len,
                        const int *const *tgt, const int *tgt_len) {
    memset(c, 0, sizeof *c);
    ivec S = {0}, T = {0}, so = {0}, to = {0};
    int zero = 0;
    ivec_push(&so, &zero, 1);
    ivec_push(&to, &zero, 1);
    uint64_t fp = 0xcbf29ce484222325ULL;
    for (int i = 0; i < n; i++) {
        ivec_push(&S, src[i], src_len[i]);
        ivec_push(&T, tgt[i], tgt_len[i]);
        int e1 = (int)S.n, e2 = (int)T.n;
        ivec_push(&so, &e1, 1);
        ivec_push(&to, &e2, 1);
        fp = fnv(fnv(fp, src[i], src_len[i]), tgt[i], tgt_len[i]);
    }
    c->n = n, c->lines = n;
    c->src_ids = S.v, c->tgt_ids = T.v, c->src_off = so.v, c->tgt_off = to.v;
    c->fingerprint = fp;
}

void pt_corpus_free(pt_corpus *c) {
    free(c->src_ids), free(c->tgt_ids), free(c->src_off), free(c->tgt_off);
    memset(c, 0, sizeof *c);
}

/* ---- batches --------------------------------------------------------- */

static inline int ex_S(const pt_corpus *c, int i) { return c->src_off[i + 1] - c->src_off[i]; }
static inline int ex_T(const pt_corpus *c, int i) { return c->tgt_off[i + 1] - c->tgt_off[i] + 1; }

static const pt_corpus *sort_corpus; /* qsort has no context argument in C11 */
static int by_length(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    int li = ex_S(sort_corpus, i) > ex_T(sort_corpus, i) ? ex_S(sort_corpus, i) : ex_T(sort_corpus, i);
    int lj = ex_S(sort_corpus, j) > ex_T(sort_corpus, j) ? ex_S(sort_corpus, j) : ex_T(sort_corpus, j);
    if (li != lj) return li - lj;
    return i - j;
}

static void shuffle_ints(int *x, int n, pt_rng *r) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(pt_rng_next(r) % (uint64_t)(i + 1));
        int t = x[i];
        x[i] = x[j], x[j] = t;
    }
}

void pt_epoch_build(pt_epoch *e, const pt_corpus *c, int max_tokens, uint64_t seed, int epoch,
                    int shuffle) {
    memset(e, 0, sizeof *e);
    e->order = pt_malloc((size_t)c->n * sizeof(int));
    for (int i = 0; i < c->n; i++) e->order[i] = i;
    pt_rng r = {pt_hash_u64(seed * 0x9e3779b97f4a7c15ULL + (uint64_t)epoch)};
    if (shuffle) shuffle_ints(e->order, c->n, &r);
    /* sort pools of examples by length, so a batch pads little */
    const int pool = 1 << 14;
    sort_corpus = c;
    for (int p = 0; p < c->n; p += pool) {
        int n = c->n - p < pool ? c->n - p : pool;
        qsort(e->order + p, (size_t)n, sizeof(int), by_length);
    }
    e->start = pt_malloc(((size_t)c->n + 1) * sizeof(int));
    e->count = pt_malloc(((size_t)c->n + 1) * sizeof(int));
    for (int p = 0; p < c->n; p += pool) {
        int end = c->n - p < pool ? c->n : p + pool;
        int i = p;
        while (i < end) {
            int S = 0, T = 0, k = 0;
            while (i + k < end) {
                int ex = e->order[i + k];
                int s2 = S > ex_S(c, ex) ? S : ex_S(c, ex), t2 = T > ex_T(c, ex) ? T : ex_T(c, ex);
                int len = s2 > t2 ? s2 : t2;
                if (k > 0 && (long)(k + 1) * len > max_tokens) break;
                S = s2, T = t2, k++;
            }
            e->start[e->n_batches] = i;
            e->count[e->n_batches] = k;
            e->n_batches++;
            e->caps = pt_caps_max(e->caps, pt_caps_of(k, S, T));
            i += k;
        }
    }
    if (shuffle) { /* shuffle the batch order (start/count pairs together) */
        for (int i = e->n_batches - 1; i > 0; i--) {
            int j = (int)(pt_rng_next(&r) % (uint64_t)(i + 1));
            int ts = e->start[i], tc = e->count[i];
            e->start[i] = e->start[j], e->count[i] = e->count[j];
            e->start[j] = ts, e->count[j] = tc;
        }
    }
}

void pt_epoch_free(pt_epoch *e) {
    free(e->order), free(e->start), free(e->count);
    memset(e, 0, sizeof *e);
}

const pt_batch *pt_batcher_make(pt_batcher *b, const pt_corpus *c, const pt_epoch *e, int k,
                                int pad_id, int bos_id, int eos_id) {
    return pt_batcher_make_shard(b, c, e, k, pad_id, bos_id, eos_id, 0, 1);
}

const pt_batch *pt_batcher_make_shard(pt_batcher *b, const pt_corpus *c, const pt_epoch *e, int k,
                                      int pad_id, int bos_id, int eos_id, int rank, int nranks) {
    int all = e->count[k], S = 0, T = 0;
    int n = all > rank ? (all - rank + nranks - 1) / nranks : 0;
    if ((size_t)n > b->cap_b) { /* the shard's example indices go into ord */
        b->cap_b = (size_t)n;
        b->src_len = pt_realloc(b->src_len, b->cap_b * sizeof(int));
        b->tgt_len = pt_realloc(b->tgt_len, b->cap_b * sizeof(int));
        b->ord = pt_realloc(b->ord, b->cap_b * sizeof(int));
    }
    int *ord = b->ord;
    for (int i = 0; i < n; i++) ord[i] = e->order[e->start[k] + rank + i * nranks];
    for (int i = 0; i < n; i++) {
        if (ex_S(c, ord[i]) > S) S = ex_S(c, ord[i]);
        if (ex_T(c, ord[i]) > T) T = ex_T(c, ord[i]);
    }
    if ((size_t)n * S > b->cap_s) {
        b->cap_s = (size_t)n * S;
        b->src = pt_realloc(b->src, b->cap_s * sizeof(int));
    }
    if ((size_t)n * T > b->cap_t) {
        b->cap_t = (size_t)n * T;
        b->tgt_in = pt_realloc(b->tgt_in, b->cap_t * sizeof(int));
        b->tgt_out = pt_realloc(b->tgt_out, b->cap_t * sizeof(int));
    }
    for (int i = 0; i < n; i++) {
        int ex = ord[i], ls = ex_S(c, ex), lt = ex_T(c, ex);
        const int *s = c->src_ids + c->src_off[ex], *t = c->tgt_ids + c->tgt_off[ex];
        for (int j = 0; j < S; j++) b->src[i * S + j] = j < ls ? s[j] : pad_id;
        for (int j = 0; j < T; j++) {
            b->tgt_in[i * T + j] = j == 0 ? bos_id : j < lt ? t[j - 1] : pad_id;
            b->tgt_out[i * T + j] = j < lt - 1 ? t[j] : j == lt - 1 ? eos_id : pad_id;
        }
        b->src_len[i] = ls;
        b->tgt_len[i] = lt;
    }
    b->batch = (pt_batch){n, S, T, b->src, b->src_len, b->tgt_in, b->tgt_out, b->tgt_len, NULL};
    return &b->batch;
}

void pt_batcher_free(pt_batcher *b) {
    free(b->src), free(b->src_len), free(b->tgt_in), free(b->tgt_out), free(b->tgt_len), free(b->ord);
    memset(b, 0, sizeof *b);
}
