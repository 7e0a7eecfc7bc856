/* segment.c: sentences, then pieces that fit the model (segment.h). */
#include "cli/segment.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "text/split.h"

static void add(cli_pieces *p, const char *s, size_t len) {
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 16;
        p->text = pt_realloc(p->text, (size_t)p->cap * sizeof(char *));
    }
    char *t = pt_malloc(len + 1);
    memcpy(t, s, len);
    t[len] = 0;
    p->text[p->n++] = t;
}

/* tokens of s[0..len) (-1 on error) */
static int tokens(const petit_model *m, const char *s, size_t len) {
    char *t = pt_malloc(len + 1);
    memcpy(t, s, len);
    t[len] = 0;
    int k = petit_model_count_tokens(m, t);
    free(t);
    return k;
}

/* the largest of cuts[0..n) (increasing byte offsets) whose prefix fits, or 0 */
static size_t largest_fit(const petit_model *m, const char *s, const size_t *cuts, int n, int limit) {
    int lo = 0, hi = n - 1, best = -1;
    while (lo <= hi) { /* token counts grow with the prefix */
        int mid = (lo + hi) / 2;
        int k = tokens(m, s, cuts[mid]);
        if (k >= 0 && k <= limit) best = mid, lo = mid + 1;
        else hi = mid - 1;
    }
    return best < 0 ? 0 : cuts[best];
}

/* s[0..len) in pieces of at most limit tokens each. Only the first
 * limit * 32 bytes are searched for each cut (no piece of a vocabulary is
 * that long), so a long text costs time linear in its length. */
static int cut_to_fit(const petit_model *m, const char *s, size_t len, int limit, cli_pieces *p) {
    int added = 0;
    size_t cap = (size_t)limit * 32;
    size_t *words = pt_malloc((cap + 1) * sizeof(size_t)), *clauses = pt_malloc((cap + 1) * sizeof(size_t));
    while (len > 0) {
        size_t win = len < cap ? len : cap;
        while (win < len && win > 1 && ((unsigned char)s[win] & 0xc0) == 0x80) win--; /* a character boundary */
        if (win == len) {
            int k = tokens(m, s, len);
            if (k < 0) {
                added = -1;
                break;
            }
            if (k <= limit) {
                add(p, s, len), added++;
                break;
            }
        }
        int nw = 0, nc = 0, nb = 0;
        for (size_t i = 1; i <= win; i++)
            if ((i == len || s[i] == ' ') && s[i - 1] != ' ') {
                words[nw++] = i;
                if (s[i - 1] == ',' || s[i - 1] == ';' || s[i - 1] == ':') clauses[nc++] = i;
            }
        size_t w = largest_fit(m, s, words, nw, limit), c = largest_fit(m, s, clauses, nc, limit);
        size_t cut = c && c * 2 >= w ? c : w;
        if (!cut) { /* no space fits: at a character boundary */
            for (size_t i = 1; i <= win; i++)
                if (i == len || ((unsigned char)s[i] & 0xc0) != 0x80) words[nb++] = i;
            cut = largest_fit(m, s, words, nb, limit);
            if (!cut) cut = words[0]; /* one character over the limit: alone */
        }
        add(p, s, cut), added++;
        while (cut < len && s[cut] == ' ') cut++;
        s += cut, len -= cut;
    }
    free(words), free(clauses);
    return added;
}

int cli_segment(const petit_model *m, const char *s, size_t len, cli_pieces *p) {
    pt_span *sp = NULL;
    int cap = 0, n = pt_split_sentences(s, len, &sp, &cap), added = 0;
    int limit = petit_model_max_len(m) - 1; /* room for EOS */
    for (int i = 0; i < n; i++) {
        int k = cut_to_fit(m, s + sp[i].start, sp[i].len, limit, p);
        if (k < 0) {
            free(sp);
            return -1;
        }
        added += k;
    }
    free(sp);
    return added;
}

void cli_pieces_free(cli_pieces *p) {
    for (int i = 0; i < p->n; i++) free(p->text[i]);
    free(p->text);
    p->text = NULL, p->n = p->cap = 0;
}

char *cli_join(char *const *texts, int n) {
    size_t len = 0;
    for (int i = 0; i < n; i++) len += strlen(texts[i]) + 1;
    char *o = pt_malloc(len + 1), *q = o;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(texts[i]);
        if (!l) continue;
        if (q > o) *q++ = ' ';
        memcpy(q, texts[i], l), q += l;
    }
    *q = 0;
    return o;
}
