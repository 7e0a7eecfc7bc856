/* spm_encode.c: text -> ids, as sentencepiece 0.1.97 does it.
 *
 * 1. Normalize (spm_norm.c).
 * 2. Segment the normalized text:
 *    - unigram: the best path through the lattice of pieces (sentencepiece's
 *      "optimized" Viterbi: best_path_ends_at[]), one start position per
 *      UTF-8 character, candidates tried in order of start, then length; a
 *      later candidate wins only with a strictly larger score. Scores are
 *      summed in double and stored in float exactly as sentencepiece does,
 *      so ties and near-ties break the same way. User-defined pieces score
 *      length * max_score - 0.1; a character no piece covers becomes the
 *      unknown piece with score min_score - 10.
 *    - BPE: start from characters (user-defined symbols whole and frozen),
 *      repeatedly merge the adjacent pair whose concatenation is a piece
 *      with the highest score (ties: the leftmost), then split merged
 *      pieces of type UNUSED back into the pair they came from.
 * 3. Post-process as SentencePieceProcessor does: an unknown piece becomes
 *    its UTF-8 bytes (<0xNN> pieces) under byte fallback; otherwise
 *    consecutive unknown pieces merge into one.
 *
 * Scratch memory (normalized text, lattice, symbols, heap) is per thread
 * and reused, so a warm encoder allocates nothing per line.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "text/spm_internal.h"

typedef struct {
    int32_t id;
    uint32_t off, len; /* the piece's span of the normalized text */
} seg;

typedef struct {
    int32_t prev, next;
    uint32_t off, len;
    int32_t id; /* normal id of a merged symbol, -1 for a single character */
    uint8_t freeze;
} bpe_sym;

/* A queued merge. key orders the queue: the score's bits made to sort as
 * integers, then the left position reversed, so the largest key is the
 * highest score and, among equal scores, the leftmost pair. */
typedef struct {
    uint64_t key;
    int32_t right;
    int32_t id; /* the merged piece */
    uint32_t size;
} bpe_pair;

static inline uint64_t pair_key(float score, int32_t left) {
    uint32_t u;
    if (score == 0) score = 0; /* -0 and +0 compare equal */
    memcpy(&u, &score, 4);
    u = u & 0x80000000u ? ~u : u | 0x80000000u;
    return (uint64_t)u << 32 | (uint32_t)(0x7fffffff - left);
}
static inline int32_t pair_left(const bpe_pair *p) {
    return 0x7fffffff - (int32_t)(uint32_t)p->key;
}

typedef struct {
    uint32_t off, len, left_len; /* merged span; the left part is [off, off+left_len) */
} rev_merge;

typedef struct {
    char *norm;
    size_t norm_cap;
    float *best;
    int32_t *start, *bid;
    size_t lat_cap;
    seg *segs;
    size_t seg_cap;
    bpe_sym *sym;
    size_t sym_cap;
    bpe_pair *heap;
    size_t heap_cap;
    rev_merge *rev;
    size_t rev_cap, n_rev;
} scratch;

static _Thread_local scratch tls;
static _Thread_local int tls_registered; /* spm_scratch_release runs at the thread's exit */

void spm_scratch_release(void) {
    free(tls.norm);
    free(tls.best);
    free(tls.start);
    free(tls.bid);
    free(tls.segs);
    free(tls.sym);
    free(tls.heap);
    free(tls.rev);
    memset(&tls, 0, sizeof tls);
}

#define GROW(ptr, cap, need)                                        \
    do {                                                            \
        if ((cap) < (need)) {                                       \
            (cap) = (need) + (need) / 2 + 16;                       \
            (ptr) = pt_realloc((ptr), sizeof(*(ptr)) * (cap));      \
        }                                                           \
    } while (0)

/* ---- unigram ------------------------------------------------------------- */

/* Segments norm[0, size); writes the pieces to s->segs[first, size) and
 * returns first. */
static size_t unigram_segment(const spm_model *m, scratch *s, const char *norm, size_t size) {
    if (s->lat_cap < size + 1) {
        size_t cap = size + 1 + (size + 1) / 2 + 64;
        s->best = pt_realloc(s->best, sizeof(float) * cap);
        s->start = pt_realloc(s->start, sizeof(int32_t) * cap);
        s->bid = pt_realloc(s->bid, sizeof(int32_t) * cap);
        s->lat_cap = cap;
    }
    GROW(s->segs, s->seg_cap, size + 1);
    float *best = s->best;
    int32_t *start = s->start, *bid = s->bid;
    for (size_t i = 0; i <= size; i++) start[i] = -1;
    best[0] = 0;
    const da_node *t = m->trie.nodes;
    const float *score = m->score;
    const uint8_t *type = m->type;
    const float unk_score = m->min_score - 10.0f;
    const float max_score = m->max_score;
    const int check_kind = m->has_user || m->has_unused;
    size_t pos = 0;
    while (pos < size) {
        const float till = best[pos];
        size_t mblen = (size_t)spm_one_char_len((uint8_t)norm[pos]);
        if (mblen > size - pos) mblen = size - pos;
        int has_single = 0;
        int32_t node = 0;
        for (size_t k = pos; k < size; k++) {
            int32_t next = t[node].base + (uint8_t)norm[k];
            if (t[next].check != node) break;
            node = next;
            int32_t id = t[node].value;
            if (id < 0) continue;
            size_t len = k + 1 - pos;
            double sc;
            if (check_kind && type[id] != SPM_NORMAL) {
                if (type[id] == SPM_UNUSED) continue;
                sc = (double)((float)len * max_score) - 0.1; /* user-defined */
            } else {
                sc = (double)score[id];
            }
            double cand = sc + (double)till;
            size_t end = k + 1;
            if (start[end] == -1 || cand > (double)best[end]) {
                best[end] = (float)cand;
                start[end] = (int32_t)pos;
                bid[end] = id;
            }
            if (len == mblen) has_single = 1;
        }
        if (!has_single) {
            size_t end = pos + mblen;
            float cand = unk_score + till;
            if (start[end] == -1 || cand > best[end]) {
                best[end] = cand;
                start[end] = (int32_t)pos;
                bid[end] = m->unk;
            }
        }
        pos += mblen;
    }
    size_t k = size;
    for (size_t end = size; end > 0;) {
        size_t st = (size_t)start[end];
        s->segs[--k] = (seg){bid[end], (uint32_t)st, (uint32_t)(end - st)};
        end = st;
    }
    return k;
}

/* ---- BPE ------------------------------------------------------------------ */

static inline int pair_before(const bpe_pair *a, const bpe_pair *b) { return a->key > b->key; }

static void heap_push(scratch *s, size_t *n, bpe_pair p) {
    GROW(s->heap, s->heap_cap, *n + 1);
    bpe_pair *h = s->heap;
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&p, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = p;
}

static bpe_pair heap_pop(scratch *s, size_t *n) {
    bpe_pair *h = s->heap;
    bpe_pair top = h[0], last = h[--(*n)];
    size_t i = 0, size = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= size) break;
        if (c + 1 < size && pair_before(&h[c + 1], &h[c])) c++;
        if (!pair_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (size) h[i] = last;
    return top;
}

/* sentencepiece's MaybeAddNewSymbolPair: if the two symbols concatenated
 * are a piece, queue the merge. Symbols that are pieces go through the
 * merge table; others (unknown characters) through the string lookup. */
static void maybe_add_pair(const spm_model *m, scratch *s, size_t *nheap, const char *norm,
                           int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const bpe_sym *l = &s->sym[left], *r = &s->sym[right];
    if (l->freeze || r->freeze) return;
    uint32_t size = l->len + r->len;
    int nid;
    if (l->id >= 0 && r->id >= 0 && m->merges) {
        nid = spm_merge(m, l->id, r->id);
    } else {
        int rid;
        spm_lookup(m, norm + l->off, size, &nid, &rid);
    }
    if (nid < 0) return;
    heap_push(s, nheap, (bpe_pair){pair_key(m->score[nid], left), right, nid, size});
    if (m->type[nid] == SPM_UNUSED) {
        GROW(s->rev, s->rev_cap, s->n_rev + 1);
        s->rev[s->n_rev++] = (rev_merge){l->off, size, l->len};
    }
}

static void bpe_emit(const spm_model *m, scratch *s, size_t *k, const char *norm, uint32_t off,
                     uint32_t len, int depth) {
    int id = spm_lookup_id(m, norm + off, len);
    if (m->type[id] == SPM_UNUSED && depth < 256) {
        /* the latest pair that merged into this string */
        for (size_t i = s->n_rev; i-- > 0;) {
            const rev_merge *r = &s->rev[i];
            if (r->len == len && !memcmp(norm + r->off, norm + off, len)) {
                uint32_t ll = r->left_len;
                bpe_emit(m, s, k, norm, off, ll, depth + 1);
                bpe_emit(m, s, k, norm, off + ll, len - ll, depth + 1);
                return;
            }
        }
    }
    GROW(s->segs, s->seg_cap, *k + 1);
    s->segs[(*k)++] = (seg){id, off, len};
}

static size_t bpe_segment(const spm_model *m, scratch *s, const char *norm, size_t size) {
    GROW(s->sym, s->sym_cap, size + 1);
    GROW(s->segs, s->seg_cap, size + 1);
    s->n_rev = 0;
    bpe_sym *sym = s->sym;
    int32_t n = 0;
    for (size_t pos = 0; pos < size;) {
        size_t l = m->has_user ? (size_t)spm_user_match(m, norm + pos, size - pos) : 0;
        int freeze = l > 0;
        if (!l) {
            l = (size_t)spm_one_char_len((uint8_t)norm[pos]);
            if (l > size - pos) l = size - pos;
        }
        int32_t id;
        if (l == 1) {
            id = m->byte_normal[(uint8_t)norm[pos]];
        } else {
            int rid;
            spm_lookup(m, norm + pos, l, &id, &rid);
        }
        sym[n] = (bpe_sym){n - 1, pos + l < size ? n + 1 : -1, (uint32_t)pos, (uint32_t)l, id,
                           (uint8_t)freeze};
        n++;
        pos += l;
    }
    size_t nheap = 0;
    for (int32_t i = 1; i < n; i++) maybe_add_pair(m, s, &nheap, norm, i - 1, i);
    while (nheap > 0) {
        bpe_pair top = heap_pop(s, &nheap);
        int32_t left = pair_left(&top);
        bpe_sym *l = &s->sym[left], *r = &s->sym[top.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != top.size) continue;
        l->len += r->len;
        l->id = top.id;
        l->next = r->next;
        if (r->next >= 0) s->sym[r->next].prev = left;
        r->len = 0;
        maybe_add_pair(m, s, &nheap, norm, l->prev, left);
        maybe_add_pair(m, s, &nheap, norm, left, l->next);
    }
    size_t k = 0;
    const int slow = m->has_unused || m->has_shadow;
    for (int32_t i = n ? 0 : -1; i != -1; i = s->sym[i].next) {
        const bpe_sym *y = &s->sym[i];
        if (y->id >= 0 && !slow) /* a piece: its id is sentencepiece's PieceToId */
            s->segs[k++] = (seg){y->id, y->off, y->len};
        else
            bpe_emit(m, s, &k, norm, y->off, y->len, 0);
    }
    return k;
}

/* ---- the whole pipeline ------------------------------------------------------ */

/* normalize and segment; returns the number of segments in tls.segs[*first...] */
static size_t segment(const spm_model *m, const char *text, size_t len, size_t *first,
                      size_t *norm_len) {
    scratch *s = &tls;
    if (!tls_registered) tls_registered = 1, pt_thread_atexit(spm_scratch_release);
    size_t size = spm_normalize(m, text, len, &s->norm, &s->norm_cap);
    *norm_len = size;
    if (size == 0) {
        *first = 0;
        return 0;
    }
    if (m->model_type == SPM_BPE) {
        *first = 0;
        return bpe_segment(m, s, s->norm, size);
    }
    *first = unigram_segment(m, s, s->norm, size);
    return size - *first;
}

int spm_encode(const spm_model *m, const char *text, size_t len, int **ids, size_t *cap) {
    if (len > (size_t)INT_MAX / 4) return pt_set_error("line too long (%zu bytes)", len);
    size_t first, norm_len;
    size_t nseg = segment(m, text, len, &first, &norm_len);
    /* at most one id per normalized byte */
    if (*cap < norm_len + 1 || !*ids) {
        *cap = norm_len + 1 + (norm_len + 1) / 2;
        *ids = pt_realloc(*ids, sizeof(int) * *cap);
    }
    int *out = *ids;
    const seg *sg = tls.segs ? tls.segs + first : NULL; /* NULL + 0 is undefined */
    const uint8_t *type = m->type;
    const uint8_t *norm = (const uint8_t *)tls.norm;
    size_t n = 0, run = 0; /* run: where the current unknown run starts in norm */
    int prev_unk = 0;
    for (size_t i = 0; i < nseg; i++) {
        int id = sg[i].id;
        int is_unk = type[id] == SPM_UNKNOWN;
        if (is_unk && m->byte_fallback) {
            for (uint32_t b = 0; b < sg[i].len; b++) out[n++] = m->byte_piece[norm[sg[i].off + b]];
        } else if (!(is_unk && prev_unk)) {
            if (is_unk) run = sg[i].off;
            out[n++] = id;
        }
        if (is_unk && !m->byte_fallback && m->n_joint) {
            /* sentencepiece hands an unknown run out as its text, which a
             * joint vocabulary may know (MarianTokenizer looks it up): so
             * -(1 + joint id), mapped below */
            int j = spm_joint_find(m, (const char *)norm + run, sg[i].off + sg[i].len - run);
            out[n - 1] = -1 - (j >= 0 ? j : m->joint_unk);
        }
        prev_unk = is_unk;
    }
    if (m->n_joint)
        for (size_t i = 0; i < n; i++) out[i] = out[i] < 0 ? -1 - out[i] : m->to_joint[out[i]];
    return (int)n;
}

static void put(char **out, size_t *cap, size_t *o, const char *s, size_t n) {
    if (*o + n + 1 > *cap) {
        *cap = (*o + n + 1) * 2;
        *out = pt_realloc(*out, *cap);
    }
    memcpy(*out + *o, s, n);
    *o += n;
}

long spm_encode_pieces(const spm_model *m, const char *text, size_t len, char **out, size_t *cap) {
    if (len > (size_t)INT_MAX / 4) return pt_set_error("line too long (%zu bytes)", len);
    size_t first, norm_len;
    size_t nseg = segment(m, text, len, &first, &norm_len);
    const seg *sg = tls.segs ? tls.segs + first : NULL; /* NULL + 0 is undefined */
    const char *norm = tls.norm;
    size_t start = 0, o = 0;
    if (!*out || *cap < 64) {
        *cap = 64;
        *out = pt_realloc(*out, *cap);
    }
    int prev_unk = 0;
    for (size_t i = 0; i < nseg; i++) {
        int id = sg[i].id;
        int is_unk = m->type[id] == SPM_UNKNOWN;
        if (is_unk && m->byte_fallback) {
            for (uint32_t b = 0; b < sg[i].len; b++) {
                int bid = m->byte_piece[(uint8_t)norm[sg[i].off + b]];
                if (o > start) put(out, cap, &o, " ", 1);
                put(out, cap, &o, spm_piece(m, bid), m->piece_len[bid]);
            }
        } else if (is_unk && prev_unk) {
            put(out, cap, &o, norm + sg[i].off, sg[i].len); /* extends the previous piece */
        } else {
            if (o > start) put(out, cap, &o, " ", 1);
            put(out, cap, &o, norm + sg[i].off, sg[i].len);
        }
        prev_unk = is_unk;
    }
    if (o + 1 > *cap) {
        *cap = o + 1;
        *out = pt_realloc(*out, *cap);
    }
    (*out)[o] = 0;
    return (long)o;
}
