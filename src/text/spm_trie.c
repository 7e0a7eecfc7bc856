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
    int32_t first_free; /* every slot below it is used */
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
    for (int32_t i = b->cap; i < cap; i++) b->nodes[i] = (da_node){0, -1, -1};
    b->cap = cap;
}

static uint8_t key_byte(const da_builder *b, int k, uint32_t depth) {
    return (uint8_t)b->keys[k][depth];
}

/* order[lo, hi) are sorted keys sharing their first `depth` bytes; node is theirs */
static void build_node(da_builder *b, const int *order, int lo, int hi, uint32_t depth, int32_t node) {
    /* a key that ends here (duplicates: the first one wins) */
    while (lo < hi && b->lens[order[lo]] == depth) {
        if (b->nodes[node].value < 0) b->nodes[node].value = b->vals[order[lo]];
        lo++;
    }
    if (lo >= hi) return;
    uint8_t labels[256];
    int starts[257], nl = 0;
    for (int i = lo; i < hi; i++) {
        uint8_t c = key_byte(b, order[i], depth);
        if (nl == 0 || labels[nl - 1] != c) {
            labels[nl] = c;
            starts[nl++] = i;
        }
    }
    starts[nl] = hi;
    /* first base whose slots are all free */
    int32_t base = b->first_free - labels[0];
    if (base < 1) base = 1;
    for (;; base++) {
        ensure(b, base + 256);
        if (b->nodes[base + labels[0]].check != -1) continue;
        int ok = 1;
        for (int k = 1; k < nl && ok; k++) ok = b->nodes[base + labels[k]].check == -1;
        if (ok) break;
    }
    b->nodes[node].base = base;
    if (base > b->max_base) b->max_base = base;
    for (int k = 0; k < nl; k++) b->nodes[base + labels[k]].check = node;
    while (b->nodes[b->first_free].check != -1) {
        b->first_free++;
        ensure(b, b->first_free + 256);
    }
    for (int k = 0; k < nl; k++)
        build_node(b, order, starts[k], starts[k + 1], depth + 1, base + labels[k]);
}

int da_build(da_trie *t, const char *const *keys, const uint32_t *lens, const int32_t *vals, int n) {
    memset(t, 0, sizeof *t);
    int *order = pt_malloc(sizeof(int) * (size_t)(n ? n : 1));
    sort_key *sk = pt_malloc(sizeof(sort_key) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) sk[i] = (sort_key){keys[i], lens[i], i};
    qsort(sk, (size_t)n, sizeof(sort_key), cmp_keys);
    for (int i = 0; i < n; i++) order[i] = sk[i].index;
    free(sk);
    da_builder b = {keys, lens, vals, NULL, 0, 1, 0};
    ensure(&b, 1024);
    b.nodes[0].check = -2; /* the root is nobody's child */
    build_node(&b, order, 0, n, 0, 0);
    free(order);
    int32_t used = b.first_free;
    for (int32_t i = b.first_free; i < b.cap; i++)
        if (b.nodes[i].check != -1) used = i + 1;
    int32_t size = (used > b.max_base ? used : b.max_base) + 257;
    ensure(&b, size);
    t->nodes = pt_realloc(b.nodes, sizeof(da_node) * (size_t)size);
    t->n = size;
    return 0;
}

void da_free(da_trie *t) {
    free(t->nodes);
    t->nodes = NULL;
    t->n = 0;
}
