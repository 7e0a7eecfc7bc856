/* spm_trie.c: a small double-array trie over byte strings, built once when
 * a model loads and then only walked (the unigram lattice and the
 * user-defined symbol matcher walk it one byte at a time).
 *
 * Layout: node s, byte c -> t = nodes[s].base + c, valid if nodes[t].check
 * == s; nodes[s].value >= 0 at the end of a key. The array is padded with
 * 256 free slots (check = -1) past the largest base, so t is always inside.
 * Building is the textbook one: keys sorted, each node's children placed at
 * the first base where all their slots are free.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "text/spm_internal.h"

typedef struct {
    const char *const *keys;
    const uint32_t *lens;
    const int32_t *vals;
    da_node *nodes;
    int32_t cap;
    /* the free slots (check == -1), in increasing order, as a linked list */
    int32_t *fnext, *fprev;
    int32_t fhead, ftail;
    int32_t max_base;
} da_builder;

typedef struct {
    const char *s;
    uint32_t len;
    int index;
} sort_key;

static int cmp_keys(const void *a, const void *b) {
    const sort_key *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static void ensure(da_builder *b, int32_t n) {
    if (n <= b->cap) return;
    int32_t cap = b->cap ? b->cap : 1024;
    while (cap < n) cap = cap < (1 << 29) ? cap * 2 : cap + (1 << 28);
    b->nodes = pt_realloc(b->nodes, sizeof(da_node) * (size_t)cap);
    b->fnext = pt_realloc(b->fnext, sizeof(int32_t) * (size_t)cap);
    b->fprev = pt_realloc(b->fprev, sizeof(int32_t) * (size_t)cap);
    for (int32_t i = b->cap; i < cap; i++) {
        b->nodes[i] = (da_node){0, -1, -1};
        b->fprev[i] = b->ftail;
        b->fnext[i] = -1;
        if (b->ftail >= 0) b->fnext[b->ftail] = i;
        else b->fhead = i;
        b->ftail = i;
    }
    b->cap = cap;
}

static void take(da_builder *b, int32_t i, int32_t parent) {
    b->nodes[i].check = parent;
    int32_t p = b->fprev[i], n = b->fnext[i];
    if (p >= 0) b->fnext[p] = n;
    else b->fhead = n;
    if (n >= 0) b->fprev[n] = p;
    else b->ftail = p;
}

static uint8_t key_byte(const da_builder *b, int k, uint32_t depth) {
    return (uint8_t)b->keys[k][depth];
}

/* a node still to place: order[lo, hi) are the sorted keys sharing their
 * first `depth` bytes, node is theirs */
typedef struct {
    int lo, hi;
    uint32_t depth;
    int32_t node;
} da_work;

/* depth-first with an explicit stack: keys may be long (a hostile model's
 * piece can have thousands of bytes) and recursion would overflow */
static void build_all(da_builder *b, const int *order, int n) {
    size_t cap = 64, top = 0;
    da_work *stack = pt_malloc(sizeof(da_work) * cap);
    stack[top++] = (da_work){0, n, 0, 0};
    uint8_t labels[256];
    int starts[257];
    while (top > 0) {
        da_work w = stack[--top];
        int lo = w.lo, hi = w.hi;
        int32_t node = w.node;
        /* a key that ends here (duplicates: the first one wins) */
        while (lo < hi && b->lens[order[lo]] == w.depth) {
            if (b->nodes[node].value < 0) b->nodes[node].value = b->vals[order[lo]];
            lo++;
        }
        if (lo >= hi) continue;
        int nl = 0;
        for (int i = lo; i < hi; i++) {
            uint8_t c = key_byte(b, order[i], w.depth);
            if (nl == 0 || labels[nl - 1] != c) {
                labels[nl] = c;
                starts[nl++] = i;
            }
        }
        starts[nl] = hi;
        /* the first free slot e where base = e - labels[0] fits all the labels */
        int32_t base = 0;
        for (int32_t e = b->fhead;; e = b->fnext[e]) {
            if (e < 0) { /* no room: grow, the new slots join the free list */
                int32_t last = b->cap;
                ensure(b, b->cap + 1);
                e = last;
            }
            base = e - labels[0];
            if (base < 1) continue;
            ensure(b, base + 256);
            int ok = 1;
            for (int k = 1; k < nl && ok; k++) ok = b->nodes[base + labels[k]].check == -1;
            if (ok) break;
        }
        b->nodes[node].base = base;
        if (base > b->max_base) b->max_base = base;
        for (int k = 0; k < nl; k++) take(b, base + labels[k], node);
        if (top + (size_t)nl > cap) {
            while (top + (size_t)nl > cap) cap *= 2;
            stack = pt_realloc(stack, sizeof(da_work) * cap);
        }
        for (int k = nl; k-- > 0;)
            stack[top++] = (da_work){starts[k], starts[k + 1], w.depth + 1, base + labels[k]};
    }
    free(stack);
}

int da_build(da_trie *t, const char *const *keys, const uint32_t *lens, const int32_t *vals, int n) {
    memset(t, 0, sizeof *t);
    int *order = pt_malloc(sizeof(int) * (size_t)(n ? n : 1));
    sort_key *sk = pt_malloc(sizeof(sort_key) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) sk[i] = (sort_key){keys[i], lens[i], i};
    qsort(sk, (size_t)n, sizeof(sort_key), cmp_keys);
    for (int i = 0; i < n; i++) order[i] = sk[i].index;
    free(sk);
    da_builder b = {keys, lens, vals, NULL, 0, NULL, NULL, -1, -1, 0};
    ensure(&b, 1024);
    take(&b, 0, -2); /* the root is nobody's child */
    build_all(&b, order, n);
    free(order);
    int32_t used = 1;
    for (int32_t i = b.cap; i-- > 0;)
        if (b.nodes[i].check != -1) {
            used = i + 1;
            break;
        }
    int32_t size = (used > b.max_base ? used : b.max_base) + 257;
    ensure(&b, size);
    free(b.fnext);
    free(b.fprev);
    t->nodes = pt_realloc(b.nodes, sizeof(da_node) * (size_t)size);
    t->n = size;
    return 0;
}

void da_free(da_trie *t) {
    free(t->nodes);
    t->nodes = NULL;
    t->n = 0;
}
