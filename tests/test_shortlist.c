/* test_shortlist: the lexical shortlist (decode/shortlist.h).
 *  - IBM model 1 finds planted translations: in a synthetic corpus where
 *    source piece a is always translated by a + 50 among random noise and a
 *    piece in every sentence twice (which raw co-occurrence would pick), a's
 *    first candidate is a + 50; unseen source pieces have no candidates; the
 *    frequent list is by count; the same lists with 1 and 2 threads.
 *  - The union of a batch: sorted, complete, `never` removed, scratch zeroed.
 *  - The model file round trip, and damaged shortlists refused.
 *  - Decoding with a shortlist of every piece is exact decoding (the same
 *    ids and the same score bits), for a float model (packed and not) and
 *    for the bundled integer model; with a partial one every emitted piece
 *    is in the union. */
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "decode/decode.h"
#include "decode/shortlist.h"
#include "gguf/gguf.h"
#include "nn/nn.h"
#include "test.h"
#include "text/spm.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static uint64_t rng = 88172645463325252ull;
static int rnd(int n) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (int)(rng % (uint64_t)n);
}

static void build_test(void) {
    enum { NP = 3000, VS = 40, VT = 100, L = 6 };
    int *so = pt_malloc((NP + 1) * sizeof(int)), *to = pt_malloc((NP + 1) * sizeof(int));
    int *si = pt_malloc(NP * (L + 1) * sizeof(int)), *ti = pt_malloc(NP * (2 * L + 2) * sizeof(int));
    int ns = 0, nt = 0;
    for (int i = 0; i < NP; i++) {
        so[i] = ns, to[i] = nt;
        for (int j = 0; j < L; j++) {
            int a = 1 + rnd(VS - 10); /* pieces VS-9 .. VS-1 never occur */
            si[ns++] = a;
            ti[nt++] = a + 50;            /* its translation */
            if (rnd(2)) ti[nt++] = rnd(20); /* noise among the frequent low ids */
        }
        si[ns++] = 0; /* the EOS every source ends with: skipped */
        ti[nt++] = 10, ti[nt++] = 10; /* in every sentence twice: co-occurrence alone would pick it */
    }
    so[NP] = ns, to[NP] = nt;
    pt_lex_opts o;
    pt_lex_opts_default(&o);
    o.k = 3, o.n_freq = 5, o.iters = 5;
    pt_shortlist a, b;
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    CHECK(pt_shortlist_build(&a, NP, so, si, to, ti, VS, VT, 0, &o) == 0, "build: %s", pt_error());
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    CHECK(pt_shortlist_build(&b, NP, so, si, to, ti, VS, VT, 0, &o) == 0, "build: %s", pt_error());
    int planted = 0, unseen_empty = 0;
    for (int e = 1; e < VS - 9; e++) planted += a.s2t[e * 3] == e + 50;
    for (int e = VS - 9; e < VS; e++) unseen_empty += a.s2t[e * 3] == -1 && a.s2t[e * 3 + 2] == -1;
    CHECK(planted == VS - 10, "%d of %d planted translations found first", planted, VS - 10);
    CHECK(unseen_empty == 9, "%d of 9 unseen source pieces without candidates", unseen_empty);
    CHECK(a.s2t[0] == -1, "the skipped EOS has candidates (%d)", a.s2t[0]);
    /* frequent: 10 (6000 times), then translations (each ~ NP*L/30 = 600
     * times) before the other noise ids (~ NP*L/2/20 = 450) */
    int freq_ok = a.n_freq == 5 && a.freq[0] == 10;
    for (int i = 1; i < a.n_freq; i++) freq_ok &= a.freq[i] >= 51 && a.freq[i] < 50 + VS - 9;
    CHECK(freq_ok, "frequent list: %d ids, first %d", a.n_freq, a.freq[0]);
    CHECK(a.n_freq == b.n_freq && !memcmp(a.s2t, b.s2t, (size_t)VS * 3 * sizeof(int32_t)) &&
              !memcmp(a.freq, b.freq, (size_t)a.n_freq * sizeof(int32_t)),
          "1 and 2 threads build different lists");
    pt_shortlist_free(&b);
    o.k = 0;
    CHECK(pt_shortlist_build(&b, NP, so, si, to, ti, VS, VT, 0, &o) == -1, "k = 0 accepted");

    /* the union of two sentences */
    int s1[] = {3, 4, 0}, s2[] = {4, 7}, l[] = {3, 2};
    const int *ss[] = {s1, s2};
    unsigned char mark[VT] = {0};
    int out[VT], never = 53, always = 99;
    a.copy_source = 1;
    int n = pt_shortlist_select(&a, ss, l, 2, &always, 1, &never, 1, VT, out, mark);
    int want[VT] = {0}, nw = 0, sorted = 1, zero = 1, match = 1;
    for (int i = 0; i < a.n_freq; i++) want[a.freq[i]] = 1;
    for (int b2 = 0; b2 < 2; b2++)
        for (int j = 0; j < l[b2]; j++) {
            want[ss[b2][j]] = 1;
            for (int r = 0; r < 3; r++)
                if (a.s2t[ss[b2][j] * 3 + r] >= 0) want[a.s2t[ss[b2][j] * 3 + r]] = 1;
        }
    want[99] = 1, want[53] = 0;
    for (int v = 0; v < VT; v++) nw += want[v], zero &= mark[v] == 0;
    for (int i = 0; i < n; i++) match &= want[out[i]], sorted &= i == 0 || out[i] > out[i - 1];
    CHECK(n == nw && match && sorted && zero, "union: %d ids (want %d), match %d sorted %d scratch zero %d", n, nw,
          match, sorted, zero);

    /* the file round trip */
    gguf_writer *w = gguf_writer_init();
    gguf_set_u32(w, "petit.vocab_size", VS);
    int16_t *narrow = pt_shortlist_to_gguf(&a, w);
    char path[] = "/tmp/petit-test-shortlist-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && gguf_write(w, path) == 0, "write: %s", pt_error());
    gguf_writer_free(w);
    free(narrow);
    gguf_file *g = gguf_open(path);
    CHECK(g != NULL, "open: %s", pt_error());
    if (g) {
        pt_shortlist c;
        CHECK(pt_shortlist_from_gguf(&c, g, VS) == -1, "ids of a 100-piece vocabulary accepted for 40 pieces");
        CHECK(pt_shortlist_from_gguf(&c, g, VT) == -1, "a table of 40 rows accepted for 100 source pieces");
        gguf_close(g);
    }
    /* a vocabulary of VT on both sides: rebuild with n_src = VT and read back */
    pt_shortlist_free(&a);
    CHECK(pt_shortlist_build(&a, NP, so, si, to, ti, VT, VT, 0, &(pt_lex_opts){3, 5, 2, 1, NULL, NULL}) == 0, "%s",
          pt_error());
    /* read back: as written (I16), and as I32 tensors (a vocabulary of 2^15 or more) */
    for (int wide = 0; wide < 2; wide++) {
        w = gguf_writer_init();
        narrow = NULL;
        if (wide) {
            gguf_add_tensor(w, "shortlist.s2t", GGUF_TYPE_I32, 2, (uint64_t[]){3, VT}, a.s2t, (size_t)VT * 3 * 4);
            gguf_add_tensor(w, "shortlist.frequent", GGUF_TYPE_I32, 1, (uint64_t[]){(uint64_t)a.n_freq}, a.freq,
                            (size_t)a.n_freq * 4);
        } else {
            narrow = pt_shortlist_to_gguf(&a, w);
            CHECK(narrow != NULL, "a 100-piece vocabulary not stored as I16");
        }
        CHECK(gguf_write(w, path) == 0, "write: %s", pt_error());
        gguf_writer_free(w);
        free(narrow);
        g = gguf_open(path);
        CHECK(g != NULL, "open: %s", pt_error());
        if (!g) continue;
        CHECK(gguf_find_tensor(g, "shortlist.s2t")->type == (wide ? GGUF_TYPE_I32 : GGUF_TYPE_I16), "stored type");
        pt_shortlist c;
        CHECK(pt_shortlist_from_gguf(&c, g, VT) == 1, "read back: %s", pt_error());
        CHECK(c.k == 3 && c.n_src == VT && c.n_freq == a.n_freq && c.copy_source == 1 &&
                  !memcmp(c.s2t, a.s2t, (size_t)VT * 3 * 4) && !memcmp(c.freq, a.freq, (size_t)a.n_freq * 4),
              "the shortlist read back (%s) differs", wide ? "I32" : "I16");
        pt_shortlist_free(&c);
        gguf_close(g);
    }
    unlink(path);
    if (fd >= 0) close(fd);
    pt_shortlist_free(&a);
    free(so), free(to), free(si), free(ti);
}

/* every piece in: frequent = 0..V-1 */
static pt_shortlist full_list(int V, int32_t *buf, int32_t *none) {
    for (int v = 0; v < V; v++) buf[v] = v, none[v] = -1;
    return (pt_shortlist){V, 1, none, V, buf, 0, NULL};
}

/* decode B sources with and without the shortlist: exact, or (partial) every
 * emitted piece in the union; returns the sentences whose best ids differ */
static int compare(const pt_model *m, const int *const *src, const int *len, int B, const pt_shortlist *sl,
                   int exact, const char *what) {
    pt_decoder *d = pt_decoder_new(m), *e = pt_decoder_new(m);
    pt_decode_opts o;
    pt_decode_opts_default(&o);
    o.beam = 4, o.nbest = 4;
    pt_decoder_set_shortlist(e, sl);
    CHECK(pt_decode(d, src, len, B, &o) == 0 && pt_decode(e, src, len, B, &o) == 0, "%s: %s", what, pt_error());
    int V = m->cfg.vocab, rows = pt_decode_rows(e), same = 0, outside = 0, differ = 0;
    unsigned char *in = pt_calloc((size_t)V, 1), *mark = pt_calloc((size_t)V, 1);
    int *sel = pt_malloc((size_t)V * sizeof(int));
    int always[3] = {m->cfg.eos_id, m->cfg.pad_id, m->cfg.unk_id};
    int n = pt_shortlist_select(sl, src, len, B, always, 3, NULL, 0, V, sel, mark);
    for (int i = 0; i < n; i++) in[sel[i]] = 1;
    CHECK(rows == n && pt_decode_rows(d) == V, "%s: %d output rows with the shortlist (union %d), %d without", what,
          rows, n, pt_decode_rows(d));
    for (int b = 0; b < B; b++) {
        int eq = pt_decode_n_hyps(d, b) == pt_decode_n_hyps(e, b);
        for (int r = 0; r < pt_decode_n_hyps(e, b); r++) {
            int k1 = 0, k2;
            float s1 = 0, s2;
            const int *a = r < pt_decode_n_hyps(d, b) ? pt_decode_hyp(d, b, r, &k1, &s1) : NULL;
            const int *c = pt_decode_hyp(e, b, r, &k2, &s2);
            eq &= a && k1 == k2 && !memcmp(a, c, (size_t)k2 * sizeof(int)) && !memcmp(&s1, &s2, sizeof s1);
            for (int j = 0; j < k2; j++) outside += !in[c[j]];
            if (r == 0) differ += !(a && k1 == k2 && !memcmp(a, c, (size_t)k2 * sizeof(int)));
        }
        same += eq;
    }
    if (exact) CHECK(same == B, "%s: %d of %d sentences decode exactly as without a shortlist", what, same, B);
    CHECK(outside == 0, "%s: %d emitted pieces outside the union", what, outside);
    printf("%s: %d output rows of %d; %d of %d sentences identical\n", what, rows, V, same, B);
    free(in), free(mark), free(sel);
    pt_decoder_free(d), pt_decoder_free(e);
    return differ;
}

static void decode_float(int packed) {
    gguf_file *g = gguf_open("tests/data/decode/tiny.gguf");
    CHECK(g != NULL, "%s", pt_error());
    if (!g) return;
    pt_model m;
    if (pt_model_from_gguf(&m, g)) {
        CHECK(0, "%s", pt_error());
        gguf_close(g);
        return;
    }
    if (packed) pt_model_pack(&m);
    int V = m.cfg.vocab, src[12][8], len[12];
    const int *sp[12];
    for (int b = 0; b < 12; b++) {
        len[b] = 2 + rnd(6);
        for (int j = 0; j < len[b] - 1; j++) src[b][j] = 4 + rnd(V - 4);
        src[b][len[b] - 1] = m.cfg.eos_id;
        sp[b] = src[b];
    }
    int32_t *all = pt_malloc((size_t)V * 4), *none = pt_malloc((size_t)V * 4), *s2t = pt_malloc((size_t)V * 8);
    pt_shortlist full = full_list(V, all, none);
    compare(&m, sp, len, 12, &full, 1, packed ? "float packed, every piece" : "float, every piece");
    /* partial: each source piece s brings s+1 and s+2, plus 4 frequent */
    int32_t freq[4] = {4, 5, 6, 7};
    for (int v = 0; v < V; v++) s2t[2 * v] = (v + 1) % V, s2t[2 * v + 1] = (v + 2) % V;
    pt_shortlist part = {V, 2, s2t, 4, freq, 0, NULL};
    compare(&m, sp, len, 12, &part, 0, packed ? "float packed, partial" : "float, partial");
    free(all), free(none), free(s2t);
    pt_model_free(&m);
    gguf_close(g);
}

static void decode_bundled(void) {
    gguf_file *g = gguf_open("models/en-fr.gguf");
    CHECK(g != NULL, "%s", pt_error());
    if (!g) return;
    pt_model m;
    spm_model *sp = NULL, *tsp = NULL;
    CHECK(pt_model_from_gguf(&m, g) == 0 && spm_from_gguf(g, "petit.tokenizer", &sp, &tsp) == 0, "%s", pt_error());
    pt_model_pack(&m);
    const char *text[] = {"A man is riding a bicycle down the street.", "Two young girls are playing in the park.",
                          "I would like a cup of coffee, please.", "The dog runs on the beach.",
                          "A woman in a red dress sings on a stage.", "Children are swimming in a lake."};
    enum { B = 6 };
    int *ids[B], len[B];
    size_t cap[B];
    for (int b = 0; b < B; b++) {
        ids[b] = NULL, cap[b] = 0;
        len[b] = spm_encode(sp, text[b], strlen(text[b]), &ids[b], &cap[b]);
        ids[b] = pt_realloc(ids[b], (size_t)(len[b] + 1) * sizeof(int));
        ids[b][len[b]++] = m.cfg.eos_id;
    }
    int V = m.cfg.vocab;
    int32_t *all = pt_malloc((size_t)V * 4), *none = pt_malloc((size_t)V * 4);
    pt_shortlist full = full_list(V, all, none);
    printf("bundled model: output layer %s\n", nn_traits(PT_W(&m, tok_emb, 0)->type)->name);
    compare(&m, (const int *const *)ids, len, B, &full, 1, "bundled, every piece");
    /* partial: the 300 lowest ids (frequent pieces come first in a SentencePiece
     * vocabulary) and the source pieces themselves */
    for (int v = 0; v < 300; v++) all[v] = v;
    pt_shortlist part = {V, 1, none, 300, all, 1, NULL};
    compare(&m, (const int *const *)ids, len, B, &part, 0, "bundled, 300 + source");
    for (int b = 0; b < B; b++) free(ids[b]);
    free(all), free(none);
    spm_free(sp);
    if (tsp) spm_free(tsp);
    pt_model_free(&m);
    gguf_close(g);
}

int main(void) {
    build_test();
    decode_float(0);
    decode_float(1);
    decode_bundled();
    return test_done("test_shortlist");
}
