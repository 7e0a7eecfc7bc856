/* test_spm.c: the SentencePiece reader, encoder and decoder against what
 * sentencepiece's own spm_encode/spm_decode (0.1.97) produced for the
 * committed fixtures in tests/data/spm/ (regenerate them with
 * tests/data/spm/make_fixtures.sh), plus hand-made models for the cases
 * spm_train cannot produce, bad and corrupted model files, GGUF round trips
 * (one model, and separate source/target models over a joint vocabulary)
 * and concurrent encoding. Needs no sentencepiece installed. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "gguf/gguf.h"
#include "test.h"
#include "text/spm.h"

#define FIX "tests/data/spm/"

static const char *fixtures[] = {"uni_nfkc",  "bpe_nfkc",      "uni_nfkc_user",
                                 "uni_id_bf", "bpe_id_bf",     "uni_id_ws",
                                 "bpe_id_suffix", "bpe_id_unused", "uni_id_unused",
                                 "hm_uni", "hm_bpe"};
#define N_FIXTURES (int)(sizeof fixtures / sizeof *fixtures)

/* ---- lines of a file ---------------------------------------------------- */

typedef struct {
    char *buf;
    int n;
    const char **s;
    size_t *len;
} lines_t;

static int lines_load(lines_t *L, const char *path) {
    size_t n;
    memset(L, 0, sizeof *L);
    L->buf = pt_read_file(path, &n);
    if (!L->buf) return -1;
    size_t count = pt_count_lines(L->buf, n);
    L->s = pt_malloc(sizeof(char *) * (count + 1));
    L->len = pt_malloc(sizeof(size_t) * (count + 1));
    pt_lines it;
    pt_lines_init(&it, L->buf, n);
    while (pt_lines_next(&it, &L->s[L->n], &L->len[L->n])) L->n++;
    return 0;
}

static void lines_free(lines_t *L) {
    free(L->buf);
    free(L->s);
    free(L->len);
}

static char *path_of(char *buf, size_t n, const char *name, const char *ext) {
    snprintf(buf, n, FIX "%s.%s", name, ext);
    return buf;
}

/* "1 2 3" */
static size_t format_ids(char *out, size_t cap, const int *ids, int n) {
    size_t o = 0;
    out[0] = 0;
    for (int i = 0; i < n && o + 16 < cap; i++) o += (size_t)snprintf(out + o, cap - o, i ? " %d" : "%d", ids[i]);
    return o;
}

static int same(const char *a, size_t an, const char *b, size_t bn) {
    return an == bn && !memcmp(a, b, an);
}

/* ---- fixtures: ids, pieces, decoding ------------------------------------- */

static void check_fixture(const char *name, const lines_t *all) {
    char p[256];
    lines_t ids, pieces, dec, pdec, own;
    const lines_t *in = all;
    /* a hand-made model comes with its own lines */
    memset(&own, 0, sizeof own);
    if (access(path_of(p, sizeof p, name, "txt"), R_OK) == 0) {
        CHECK(!lines_load(&own, p), "%s", pt_error());
        in = &own;
    }
    spm_model *m = spm_load_file(path_of(p, sizeof p, name, "model"));
    CHECK(m != NULL, "%s: %s", name, pt_error());
    if (!m) return;
    CHECK(!lines_load(&ids, path_of(p, sizeof p, name, "ids")), "%s", pt_error());
    CHECK(!lines_load(&pieces, path_of(p, sizeof p, name, "pieces")), "%s", pt_error());
    CHECK(!lines_load(&dec, path_of(p, sizeof p, name, "decoded")), "%s", pt_error());
    CHECK(!lines_load(&pdec, path_of(p, sizeof p, name, "pdecoded")), "%s", pt_error());
    CHECK(ids.n == in->n && pieces.n == in->n && dec.n == in->n && pdec.n == in->n,
          "%s: line counts %d %d %d %d vs %d", name, ids.n, pieces.n, dec.n, pdec.n, in->n);
    int *v = NULL;
    size_t cap = 0, pcap = 0;
    char *pc = NULL, *fmt = pt_malloc(1 << 20);
    int bad_ids = 0, bad_pieces = 0, bad_dec = 0, bad_pdec = 0;
    const char **toks = pt_malloc(sizeof(char *) * 65536);
    size_t *tlen = pt_malloc(sizeof(size_t) * 65536);
    for (int i = 0; i < in->n && i < ids.n && i < pieces.n && i < dec.n && i < pdec.n; i++) {
        int n = spm_encode(m, in->s[i], in->len[i], &v, &cap);
        CHECK(n >= 0, "%s line %d: %s", name, i + 1, pt_error());
        size_t fl = format_ids(fmt, 1 << 20, v, n);
        if (!same(fmt, fl, ids.s[i], ids.len[i]) && bad_ids++ < 3)
            CHECK(0, "%s line %d ids: got '%.200s' want '%.*s'", name, i + 1, fmt,
                  (int)(ids.len[i] < 200 ? ids.len[i] : 200), ids.s[i]);
        long pl = spm_encode_pieces(m, in->s[i], in->len[i], &pc, &pcap);
        if (!same(pc, (size_t)pl, pieces.s[i], pieces.len[i]) && bad_pieces++ < 3)
            CHECK(0, "%s line %d pieces: got '%.200s' want '%.*s'", name, i + 1, pc,
                  (int)(pieces.len[i] < 200 ? pieces.len[i] : 200), pieces.s[i]);
        size_t tl;
        char *t = spm_decode(m, v, n, &tl);
        if (!same(t, tl, dec.s[i], dec.len[i]) && bad_dec++ < 3)
            CHECK(0, "%s line %d decoded: got '%.200s' want '%.*s'", name, i + 1, t,
                  (int)(dec.len[i] < 200 ? dec.len[i] : 200), dec.s[i]);
        free(t);
        /* spm_decode's piece input: split the expected pieces on spaces */
        int nt = 0;
        const char *s = pieces.s[i], *e = s + pieces.len[i];
        while (s < e && nt < 65536) {
            while (s < e && *s == ' ') s++;
            if (s >= e) break;
            const char *q = s;
            while (q < e && *q != ' ') q++;
            toks[nt] = s;
            tlen[nt++] = (size_t)(q - s);
            s = q;
        }
        t = spm_decode_pieces(m, toks, tlen, nt, &tl);
        if (!same(t, tl, pdec.s[i], pdec.len[i]) && bad_pdec++ < 3)
            CHECK(0, "%s line %d piece-decoded: got '%.200s' want '%.*s'", name, i + 1, t,
                  (int)(pdec.len[i] < 200 ? pdec.len[i] : 200), pdec.s[i]);
        free(t);
    }
    printf("  %-14s %d lines: %d ids, %d pieces, %d decoded, %d piece-decoded mismatches\n", name,
           in->n, bad_ids, bad_pieces, bad_dec, bad_pdec);
    CHECK(bad_ids + bad_pieces + bad_dec + bad_pdec == 0, "%s: mismatches", name);
    free(v);
    free(pc);
    free(fmt);
    free(toks);
    free(tlen);
    lines_free(&ids);
    lines_free(&pieces);
    lines_free(&dec);
    lines_free(&pdec);
    lines_free(&own);
    spm_free(m);
}

/* random id sequences (byte pieces, control, unknown ids) decoded by spm_decode */
static void check_random_decode(const char *name) {
    char p[256];
    lines_t ids, want;
    spm_model *m = spm_load_file(path_of(p, sizeof p, name, "model"));
    CHECK(m && !lines_load(&ids, path_of(p, sizeof p, name, "rids")) &&
              !lines_load(&want, path_of(p, sizeof p, name, "rdecoded")),
          "%s: %s", name, pt_error());
    if (!m) return;
    CHECK(ids.n == want.n && ids.n > 100, "%s: %d vs %d lines", name, ids.n, want.n);
    int bad = 0, v[256];
    for (int i = 0; i < ids.n && i < want.n; i++) {
        int n = 0;
        const char *s = ids.s[i], *e = s + ids.len[i];
        while (s < e && n < 256) {
            char *end;
            v[n++] = (int)strtol(s, &end, 10);
            s = end;
            while (s < e && *s == ' ') s++;
        }
        size_t tl;
        char *t = spm_decode(m, v, n, &tl);
        if (!same(t, tl, want.s[i], want.len[i]) && bad++ < 3)
            CHECK(0, "%s random ids line %d: got '%s' want '%.*s'", name, i + 1, t, (int)want.len[i],
                  want.s[i]);
        free(t);
    }
    printf("  %-14s %d random id lines: %d decoding mismatches\n", name, ids.n, bad);
    CHECK(bad == 0, "%s: random decode mismatches", name);
    lines_free(&ids);
    lines_free(&want);
    spm_free(m);
}

/* ---- vocabulary accessors ------------------------------------------------ */

static void test_accessors(void) {
    spm_model *m = spm_load_file(FIX "uni_nfkc.model");
    CHECK(m != NULL, "%s", pt_error());
    if (!m) return;
    CHECK(spm_vocab_size(m) == 1000, "vocab %d", spm_vocab_size(m));
    CHECK(spm_unk_id(m) == 0 && spm_bos_id(m) == 1 && spm_eos_id(m) == 2 && spm_pad_id(m) == 3,
          "special ids %d %d %d %d", spm_unk_id(m), spm_bos_id(m), spm_eos_id(m), spm_pad_id(m));
    CHECK(!strcmp(spm_id_to_piece(m, 0), "<unk>") && !strcmp(spm_id_to_piece(m, 3), "<pad>"), "pieces");
    CHECK(spm_id_to_piece(m, -1) == NULL && spm_id_to_piece(m, 1000) == NULL, "out of range");
    CHECK(spm_piece_to_id(m, "</s>", 4) == 2, "</s>");
    CHECK(spm_piece_to_id(m, "no such piece", 13) == 0, "absent -> unk");
    for (int i = 0; i < spm_vocab_size(m); i++) {
        const char *s = spm_id_to_piece(m, i);
        if (spm_piece_to_id(m, s, strlen(s)) != i) {
            CHECK(0, "piece %d '%s' does not map back", i, s);
            break;
        }
    }
    CHECK(spm_model_type(m) == SPM_UNIGRAM && !spm_byte_fallback(m), "type");
    CHECK(!strcmp(spm_normalizer_name(m), "nmt_nfkc"), "normalizer %s", spm_normalizer_name(m));
    CHECK(spm_piece_type(m, 0) == SPM_UNKNOWN && spm_piece_type(m, 1) == SPM_CONTROL &&
              spm_piece_type(m, 10) == SPM_NORMAL, "piece types");
    size_t n, fn;
    const void *b = spm_model_bytes(m, &n);
    char *file = pt_read_file(FIX "uni_nfkc.model", &fn);
    CHECK(file && n == fn && !memcmp(b, file, n), "model bytes are the file");
    free(file);
    /* out-of-range ids are skipped when decoding */
    int ids[] = {-7, spm_piece_to_id(m, "\xe2\x96\x81" "a", 4), 99999, 1, 2, 3};
    size_t tl;
    char *t = spm_decode(m, ids, 6, &tl);
    CHECK(tl == 1 && !strcmp(t, "a"), "decode skips bad ids: '%s'", t);
    free(t);
    t = spm_decode(m, NULL, 0, &tl);
    CHECK(tl == 0 && t && t[0] == 0, "decode nothing");
    free(t);
    /* encoding nothing, and a NULL/0 ids buffer */
    int *v = NULL;
    size_t cap = 0;
    CHECK(spm_encode(m, "", 0, &v, &cap) == 0, "empty line");
    CHECK(spm_encode(m, "   ", 3, &v, &cap) == 0, "spaces only");
    free(v);
    spm_free(m);

    m = spm_load_file(FIX "uni_nfkc_user.model");
    CHECK(m != NULL, "%s", pt_error());
    if (m) {
        int mask = spm_piece_to_id(m, "<mask>", 6), sep = spm_piece_to_id(m, "<sep>", 5);
        CHECK(spm_piece_type(m, mask) == SPM_CONTROL && spm_piece_type(m, sep) == SPM_USER_DEFINED,
              "control %d user %d", mask, sep);
        CHECK(spm_byte_fallback(m) && spm_piece_to_id(m, "<0x41>", 6) > 3, "byte pieces");
        spm_free(m);
    }
    m = spm_load_file(FIX "bpe_id_bf.model");
    CHECK(m && spm_model_type(m) == SPM_BPE && !strcmp(spm_normalizer_name(m), "identity"), "bpe");
    spm_free(m);
}

/* ---- hand-made models ---------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} pbuf;

static void pb_byte(pbuf *b, uint8_t c) {
    if (b->n == b->cap) b->p = pt_realloc(b->p, b->cap = b->cap ? 2 * b->cap : 256);
    b->p[b->n++] = c;
}
static void pb_var(pbuf *b, uint64_t v) {
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        pb_byte(b, (uint8_t)(c | (v ? 0x80 : 0)));
    } while (v);
}
static void pb_bytes(pbuf *b, int field, const void *s, size_t n) {
    pb_var(b, (uint64_t)field << 3 | 2);
    pb_var(b, n);
    for (size_t i = 0; i < n; i++) pb_byte(b, ((const uint8_t *)s)[i]);
}
static void pb_int(pbuf *b, int field, int64_t v) {
    pb_var(b, (uint64_t)field << 3);
    pb_var(b, (uint64_t)v);
}
static void pb_float(pbuf *b, int field, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    pb_var(b, (uint64_t)field << 3 | 5);
    for (int i = 0; i < 4; i++) pb_byte(b, (uint8_t)(u >> (8 * i)));
}
static void add_piece(pbuf *b, const char *piece, float score, int type) {
    pbuf sp = {0};
    pb_bytes(&sp, 1, piece, strlen(piece));
    pb_float(&sp, 2, score);
    if (type) pb_int(&sp, 3, type);
    pb_bytes(b, 1, sp.p, sp.n);
    free(sp.p);
}
static void add_trainer(pbuf *b, int model_type, int byte_fallback) {
    pbuf t = {0};
    pb_int(&t, 3, model_type);
    if (byte_fallback) pb_int(&t, 35, 1);
    pb_bytes(b, 2, t.p, t.n);
    free(t.p);
}
static void add_identity(pbuf *b) {
    pbuf ns = {0};
    pb_bytes(&ns, 1, "identity", 8);
    pb_bytes(b, 3, ns.p, ns.n);
    free(ns.p);
}

static spm_model *load_pb(pbuf *b) {
    spm_model *m = spm_load_mem(b->p, b->n);
    free(b->p);
    memset(b, 0, sizeof *b);
    return m;
}

static void expect_ids(spm_model *m, const char *text, const int *want, int nwant, const char *what) {
    int *v = NULL;
    size_t cap = 0;
    int n = spm_encode(m, text, strlen(text), &v, &cap);
    int ok = n == nwant;
    for (int i = 0; ok && i < n; i++) ok = v[i] == want[i];
    char got[256], exp[256];
    format_ids(got, sizeof got, v, n > 0 ? n : 0);
    format_ids(exp, sizeof exp, want, nwant);
    CHECK(ok, "%s: '%s' -> [%s], want [%s]", what, text, got, exp);
    free(v);
}

static void expect_error(pbuf *b, const char *needle, const char *what) {
    spm_model *m = load_pb(b);
    CHECK(m == NULL, "%s: loaded", what);
    if (!m) CHECK(strstr(pt_error(), needle) != NULL, "%s: error '%s' lacks '%s'", what, pt_error(), needle);
    spm_free(m);
}

#define SP "\xe2\x96\x81"

static void test_handmade(void) {
    pbuf b = {0};
    /* a tiny unigram model, checked by hand: "a b" -> ▁a(-1) ▁(-4) b(-3) */
    add_piece(&b, "<unk>", 0, SPM_UNKNOWN);
    add_piece(&b, "<s>", 0, SPM_CONTROL);
    add_piece(&b, "</s>", 0, SPM_CONTROL);
    add_piece(&b, SP "a", -1, 0); /* 3; type left out: NORMAL by default */
    add_piece(&b, "a", -2, SPM_NORMAL);  /* 4 */
    add_piece(&b, "b", -3, SPM_NORMAL);  /* 5 */
    add_piece(&b, SP, -4, SPM_NORMAL);   /* 6 */
    add_piece(&b, "ab", -2.5f, SPM_USER_DEFINED); /* 7: scores length*max - 0.1 */
    add_trainer(&b, SPM_UNIGRAM, 0);
    add_identity(&b);
    pb_int(&b, 99, 12345);     /* unknown fields are skipped */
    pb_bytes(&b, 100, "xyz", 3);
    spm_model *m = load_pb(&b);
    CHECK(m != NULL, "hand-made unigram: %s", pt_error());
    if (m) {
        expect_ids(m, "a b", (int[]){3, 6, 5}, 3, "viterbi");
        expect_ids(m, "c", (int[]){6, 0}, 2, "unknown");
        expect_ids(m, "ccc  c", (int[]){6, 0, 6, 0}, 4, "unknowns merge");
        expect_ids(m, "bab", (int[]){6, 5, 7}, 3, "user-defined wins");
        expect_ids(m, "a\xff\xfe", (int[]){3, 0}, 2, "invalid bytes: one merged unk");
        CHECK(spm_bos_id(m) == 1 && spm_eos_id(m) == 2 && spm_pad_id(m) == -1, "no pad");
        spm_free(m);
    }
    /* BPE with an UNUSED merge: "ab" is split back into a b */
    add_piece(&b, "<unk>", 0, SPM_UNKNOWN);
    add_piece(&b, "a", -1, SPM_NORMAL);   /* 1 */
    add_piece(&b, "b", -2, SPM_NORMAL);   /* 2 */
    add_piece(&b, "ab", 0, SPM_UNUSED);   /* 3 */
    add_piece(&b, "abc", -0.5f, SPM_NORMAL); /* 4 */
    add_piece(&b, "c", -3, SPM_NORMAL);   /* 5 */
    add_piece(&b, SP, -4, SPM_NORMAL);    /* 6 */
    add_trainer(&b, SPM_BPE, 0);
    add_identity(&b);
    m = load_pb(&b);
    CHECK(m != NULL, "hand-made bpe: %s", pt_error());
    if (m) {
        expect_ids(m, "ab", (int[]){6, 1, 2}, 3, "unused merge resegmented");
        expect_ids(m, "abc", (int[]){6, 4}, 2, "merge through an unused piece");
        expect_ids(m, "abd", (int[]){6, 1, 2, 0}, 4, "bpe unknown");
        spm_free(m);
    }

    /* a very long piece: a deep trie (built without recursion). Matching
     * it is quadratic in its length, as in sentencepiece; keep it modest. */
    {
        size_t L = 20000;
        char *longp = pt_malloc(L + 1);
        memset(longp, 'x', L);
        longp[L] = 0;
        add_piece(&b, "<unk>", 0, SPM_UNKNOWN);
        add_piece(&b, SP, -1, SPM_NORMAL);
        add_piece(&b, "x", -2, SPM_NORMAL);
        add_piece(&b, longp, 0, SPM_USER_DEFINED);
        add_identity(&b);
        m = load_pb(&b);
        CHECK(m != NULL, "long piece: %s", pt_error());
        if (m) {
            int *v = NULL;
            size_t cap = 0;
            int n = spm_encode(m, longp, L, &v, &cap);
            CHECK(n == 2 && v[0] == 1 && v[1] == 3, "long piece encodes whole: n=%d", n);
            n = spm_encode(m, longp, 100, &v, &cap);
            CHECK(n == 101, "shorter: %d pieces", n);
            free(v);
            spm_free(m);
        }
        free(longp);
    }

    /* models sentencepiece refuses */
    add_piece(&b, "<unk>", 0, SPM_UNKNOWN);
    add_piece(&b, "a", 0, SPM_NORMAL);
    add_trainer(&b, SPM_WORD, 0);
    expect_error(&b, "WORD", "word model");
    add_piece(&b, "<unk>", 0, SPM_UNKNOWN);
    add_trainer(&b, SPM_CHAR, 0);
    expect_error(&b, "CHAR", "char model");
    add_piece(&b, "<unk>", 0, SPM_UNKNOWN);
    add_trainer(&b, 9, 0);
    expect_error(&b, "model type", "model type 9");
    add_piece(&b, "a", 0, SPM_NORMAL);
    expect_error(&b, "unknown piece", "no unk");
    add_piece(&b, "<unk>", 0, SPM_UNKNOWN);
    add_piece(&b, "<unk2>", 0, SPM_UNKNOWN);
    expect_error(&b, "two unknown", "two unks");
    add_piece(&b, "<unk>", 0, SPM_UNKNOWN);
    add_piece(&b, "a", 0, SPM_NORMAL);
    add_piece(&b, "a", -1, SPM_NORMAL);
    expect_error(&b, "already defined", "duplicate piece");
    add_piece(&b, "<unk>", 0, SPM_UNKNOWN);
    add_piece(&b, "", 0, SPM_NORMAL);
    expect_error(&b, "empty", "empty piece");
    add_piece(&b, "<unk>", 0, SPM_UNKNOWN);
    add_piece(&b, "<0x41>", 0, SPM_BYTE);
    expect_error(&b, "byte_fallback", "byte piece without byte_fallback");
    add_piece(&b, "<unk>", 0, SPM_UNKNOWN);
    add_piece(&b, "<0x41>", 0, SPM_BYTE);
    add_trainer(&b, SPM_UNIGRAM, 1);
    expect_error(&b, "missing", "byte_fallback without 256 bytes");
    add_piece(&b, "<unk>", 0, SPM_UNKNOWN);
    add_piece(&b, "<0x4g>", 0, SPM_BYTE);
    add_trainer(&b, SPM_UNIGRAM, 1);
    expect_error(&b, "invalid", "bad byte piece");
    add_piece(&b, "<unk>", 0, SPM_UNKNOWN);
    add_piece(&b, "a", 0, 7);
    expect_error(&b, "type", "piece type 7");
    for (int i = 0; i < 11; i++) pb_byte(&b, 0xff);
    expect_error(&b, "varint", "11-byte varint");
    pb_int(&b, 1, 5); /* pieces as a varint */
    expect_error(&b, "wire type", "wrong wire type");
    pb_var(&b, 1 << 3 | 2);
    pb_var(&b, 1000); /* a length past the end */
    expect_error(&b, "past the end", "long length");
    pb_var(&b, 1 << 3 | 3); /* groups are not supported */
    expect_error(&b, "wire type", "group");
    /* a charsmap that is too short, or whose trie is longer than the blob */
    add_piece(&b, "<unk>", 0, SPM_UNKNOWN);
    {
        pbuf ns = {0};
        pb_bytes(&ns, 2, "\x10\x00\x00\x00\x01\x02", 6);
        pb_bytes(&b, 3, ns.p, ns.n);
        free(ns.p);
    }
    expect_error(&b, "charsmap", "broken charsmap");

    CHECK(spm_load_mem("", 0) == NULL && strstr(pt_error(), "empty"), "empty buffer: %s", pt_error());
    CHECK(spm_load_file("tests/data/spm/no-such.model") == NULL && strstr(pt_error(), "no-such.model"),
          "missing file: %s", pt_error());
    char tmp[] = "/tmp/petit_spm_empty_XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) {
        close(fd);
        CHECK(spm_load_file(tmp) == NULL && strstr(pt_error(), tmp), "empty file: %s", pt_error());
        CHECK(spm_load_auto(tmp, 0) == NULL, "empty file (auto)");
        unlink(tmp);
    }
}

/* ---- truncated and corrupted files ---------------------------------------- */

/* whatever a damaged model loads as, using it must not crash */
static void exercise(spm_model *m, const lines_t *in) {
    int *v = NULL;
    size_t cap = 0, pcap = 0, tl;
    char *pc = NULL;
    for (int i = 0; i < in->n; i += 3) {
        int n = spm_encode(m, in->s[i], in->len[i], &v, &cap);
        if (n > 0) {
            for (int k = 0; k < n; k++)
                if (v[k] < 0 || v[k] >= spm_vocab_size(m)) {
                    CHECK(0, "id %d out of range", v[k]);
                    break;
                }
            free(spm_decode(m, v, n, &tl));
        }
        spm_encode_pieces(m, in->s[i], in->len[i], &pc, &pcap);
    }
    free(v);
    free(pc);
}

static void test_damaged(const lines_t *in) {
    const char *names[] = {"uni_id_bf", "bpe_id_bf", "uni_nfkc", "bpe_nfkc"};
    pt_rng rng = {12345};
    for (int f = 0; f < 4; f++) {
        char p[256];
        size_t n;
        uint8_t *buf = (uint8_t *)pt_read_file(path_of(p, sizeof p, names[f], "model"), &n);
        CHECK(buf != NULL, "%s", pt_error());
        if (!buf) continue;
        int loaded = 0, refused = 0;
        /* truncated: every length for the small models, a stride for the big ones */
        size_t step = n > 50000 ? 997 : 1;
        for (size_t len = 0; len < n; len += (len < 300 ? 1 : step)) {
            spm_model *m = spm_load_mem(buf, len);
            if (m) {
                loaded++;
                exercise(m, in);
                spm_free(m);
            } else {
                refused++;
                CHECK(pt_error()[0] != 0, "no message");
            }
        }
        /* corrupted: a few random bytes changed */
        uint8_t *copy = pt_malloc(n);
        int c_loaded = 0;
        for (int trial = 0; trial < 150; trial++) {
            memcpy(copy, buf, n);
            int flips = 1 + (int)(pt_rng_next(&rng) % 8);
            for (int k = 0; k < flips; k++) copy[pt_rng_next(&rng) % n] = (uint8_t)pt_rng_next(&rng);
            spm_model *m = spm_load_mem(copy, n);
            if (m) {
                c_loaded++;
                exercise(m, in);
                spm_free(m);
            }
        }
        printf("  damaged %-10s truncated: %d refused, %d still valid; corrupted: %d of 150 load\n",
               names[f], refused, loaded, c_loaded);
        CHECK(refused > 0, "%s: no truncation refused", names[f]);
        free(copy);
        free(buf);
    }
}

/* ---- GGUF ----------------------------------------------------------------- */

static int encode_eq(const spm_model *a, const spm_model *b, const lines_t *in) {
    int *va = NULL, *vb = NULL, ok = 1;
    size_t ca = 0, cb = 0;
    for (int i = 0; i < in->n && ok; i++) {
        int na = spm_encode(a, in->s[i], in->len[i], &va, &ca);
        int nb = spm_encode(b, in->s[i], in->len[i], &vb, &cb);
        ok = na == nb && !memcmp(va, vb, sizeof(int) * (size_t)(na > 0 ? na : 0));
    }
    free(va);
    free(vb);
    return ok;
}

static void test_gguf(const lines_t *in) {
    spm_model *src = spm_load_file(FIX "uni_nfkc.model");
    spm_model *tgt = spm_load_file(FIX "bpe_nfkc.model");
    CHECK(src && tgt, "%s", pt_error());
    if (!src || !tgt) return;
    char path[] = "/tmp/petit_spm_gguf_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);

    /* one model */
    gguf_writer *w = gguf_writer_init();
    gguf_set_str(w, "general.architecture", "petit");
    spm_to_gguf(src, NULL, w, "petit.tokenizer");
    CHECK(gguf_write(w, path) == 0, "gguf_write: %s", pt_error());
    gguf_writer_free(w);
    gguf_file *g = gguf_open(path);
    CHECK(g != NULL, "gguf_open: %s", pt_error());
    if (g) {
        spm_model *s2 = NULL, *t2 = (spm_model *)1;
        CHECK(spm_from_gguf(g, "petit.tokenizer", &s2, &t2) == 0, "%s", pt_error());
        CHECK(s2 && t2 == NULL, "one model back");
        if (s2) CHECK(encode_eq(src, s2, in), "same ids after the GGUF round trip");
        spm_free(s2);
        uint32_t et;
        const void *d;
        uint64_t n;
        CHECK(!gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &d, &n) && et == GGUF_V_STR && n == 1000,
              "tokenizer.ggml.tokens");
        spm_model *x;
        CHECK(spm_from_gguf(g, "other.prefix", &x, NULL) == -1, "missing prefix is an error");
        gguf_close(g);
    }
    spm_model *a = spm_load_auto(path, 0), *b = spm_load_auto(path, 1);
    CHECK(a && b && encode_eq(src, a, in) && encode_eq(src, b, in), "spm_load_auto on GGUF");
    spm_free(a);
    spm_free(b);

    /* separate source and target models over a joint vocabulary, Marian-style:
     * "</s>" 0, "<unk>" 1, then the pieces of both, every 7th one left out */
    int ns = spm_piece_count(src), nt = spm_piece_count(tgt);
    const char **joint = pt_malloc(sizeof(char *) * (size_t)(ns + nt + 2));
    int nj = 0, skip = 0;
    joint[nj++] = "</s>";
    joint[nj++] = "<unk>";
    for (int side = 0; side < 2; side++) {
        spm_model *m = side ? tgt : src;
        for (int i = 0; i < spm_piece_count(m); i++) {
            const char *s = spm_id_to_piece(m, i);
            int dup = 0;
            for (int j = 0; j < nj && !dup; j++) dup = !strcmp(joint[j], s);
            if (dup || spm_piece_type(m, i) == SPM_CONTROL || spm_piece_type(m, i) == SPM_UNKNOWN) continue;
            if (++skip % 7 == 0) continue;
            joint[nj++] = s;
        }
    }
    spm_model *js = spm_load_file(FIX "uni_nfkc.model"), *jt = spm_load_file(FIX "bpe_nfkc.model");
    CHECK(spm_set_joint_vocab(js, joint, nj, 1) == 0 && spm_set_joint_vocab(jt, joint, nj, 1) == 0,
          "set joint: %s", pt_error());
    CHECK(spm_vocab_size(js) == nj && spm_has_joint_vocab(js), "joint size");
    CHECK(spm_unk_id(js) == 1 && spm_eos_id(js) == 0 && spm_bos_id(js) == -1 && spm_pad_id(js) == -1,
          "joint special ids %d %d %d %d", spm_unk_id(js), spm_eos_id(js), spm_bos_id(js), spm_pad_id(js));
    CHECK(!strcmp(spm_id_to_piece(js, 1), "<unk>") && spm_piece_to_id(js, joint[5], strlen(joint[5])) == 5,
          "joint piece lookups");
    {
        const char *dupv[] = {"a", "b", "a"};
        spm_model *t = spm_load_file(FIX "uni_id_bf.model");
        CHECK(spm_set_joint_vocab(t, dupv, 3, 0) == -1 && strstr(pt_error(), "same piece"), "dup joint");
        CHECK(spm_set_joint_vocab(t, dupv, 2, 5) == -1, "unk out of range");
        spm_free(t);
    }
    /* encoding: each own piece's string looked up in the joint vocabulary */
    int *v = NULL, *vj = NULL, bad = 0, mapped_unk = 0;
    size_t cv = 0, cj = 0;
    for (int i = 0; i < in->n; i++) {
        int n = spm_encode(src, in->s[i], in->len[i], &v, &cv);
        int n2 = spm_encode(js, in->s[i], in->len[i], &vj, &cj);
        if (n != n2) { bad++; continue; }
        for (int k = 0; k < n; k++) {
            const char *s = spm_id_to_piece(src, v[k]);
            int want = 1;
            for (int j = 2; j < nj; j++)
                if (!strcmp(joint[j], s)) { want = j; break; }
            if (v[k] == 0) want = 1;
            if (!strcmp(s, "</s>")) want = 0;
            mapped_unk += want == 1;
            bad += vj[k] != want;
        }
    }
    CHECK(bad == 0 && mapped_unk > 0, "joint encoding: %d bad, %d unk", bad, mapped_unk);
    /* decoding joint ids with the target model: as decoding their strings */
    bad = 0;
    for (int i = 0; i < in->n; i += 2) {
        int n = spm_encode(jt, in->s[i], in->len[i], &vj, &cj);
        const char **ps = pt_malloc(sizeof(char *) * (size_t)(n + 1));
        size_t *pl = pt_malloc(sizeof(size_t) * (size_t)(n + 1));
        for (int k = 0; k < n; k++) ps[k] = joint[vj[k]], pl[k] = strlen(joint[vj[k]]);
        size_t l1, l2;
        char *t1 = spm_decode(jt, vj, n, &l1), *t2 = spm_decode_pieces(tgt, ps, pl, n, &l2);
        bad += !same(t1, l1, t2, l2);
        free(t1);
        free(t2);
        free(ps);
        free(pl);
    }
    CHECK(bad == 0, "joint decoding: %d lines differ", bad);

    /* both models and the mapping through GGUF */
    w = gguf_writer_init();
    spm_to_gguf(js, jt, w, "petit.tokenizer");
    CHECK(gguf_write(w, path) == 0, "gguf_write: %s", pt_error());
    gguf_writer_free(w);
    g = gguf_open(path);
    CHECK(g != NULL, "gguf_open: %s", pt_error());
    if (g) {
        spm_model *s2 = NULL, *t2 = NULL;
        CHECK(spm_from_gguf(g, "petit.tokenizer", &s2, &t2) == 0, "%s", pt_error());
        CHECK(s2 && t2 && spm_vocab_size(s2) == nj && spm_vocab_size(t2) == nj, "joint back");
        if (s2 && t2) {
            CHECK(encode_eq(js, s2, in) && encode_eq(jt, t2, in), "joint ids after the round trip");
            CHECK(spm_model_type(s2) == SPM_UNIGRAM && spm_model_type(t2) == SPM_BPE, "sides");
            int ids[] = {0, 1, 5, 17, nj - 1};
            size_t l1, l2;
            char *d1 = spm_decode(jt, ids, 5, &l1), *d2 = spm_decode(t2, ids, 5, &l2);
            CHECK(same(d1, l1, d2, l2), "joint decode after the round trip");
            free(d1);
            free(d2);
        }
        spm_free(s2);
        spm_free(t2);
        gguf_close(g);
    }
    a = spm_load_auto(path, 0);
    b = spm_load_auto(path, 1);
    CHECK(a && b && spm_model_type(a) == SPM_UNIGRAM && spm_model_type(b) == SPM_BPE, "auto sides");
    spm_free(a);
    spm_free(b);
    unlink(path);
    free(v);
    free(vj);
    free(joint);
    spm_free(js);
    spm_free(jt);
    spm_free(src);
    spm_free(tgt);
}

/* ---- threads ---------------------------------------------------------------- */

typedef struct {
    const spm_model *m;
    const lines_t *in;
    const lines_t *want;
    int bad;
} job;

static void *encode_all(void *arg) {
    job *j = arg;
    int *v = NULL;
    size_t cap = 0;
    char *fmt = pt_malloc(1 << 20);
    for (int rep = 0; rep < 3; rep++)
        for (int i = 0; i < j->in->n; i++) {
            int n = spm_encode(j->m, j->in->s[i], j->in->len[i], &v, &cap);
            size_t fl = format_ids(fmt, 1 << 20, v, n);
            j->bad += !same(fmt, fl, j->want->s[i], j->want->len[i]);
        }
    spm_scratch_release();
    free(v);
    free(fmt);
    return NULL;
}

static void test_threads(const lines_t *in) {
    spm_model *m = spm_load_file(FIX "bpe_nfkc.model");
    lines_t want;
    CHECK(m && !lines_load(&want, FIX "bpe_nfkc.ids"), "load");
    if (!m) return;
    job jobs[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        jobs[t] = (job){m, in, &want, 0};
        pthread_create(&th[t], NULL, encode_all, &jobs[t]);
    }
    int bad = 0;
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        bad += jobs[t].bad;
    }
    CHECK(bad == 0, "concurrent encoding: %d bad lines", bad);
    lines_free(&want);
    spm_free(m);
}

int main(void) {
    lines_t in;
    CHECK(!lines_load(&in, FIX "lines.txt"), "%s", pt_error());
    if (in.n == 0) return test_done("test_spm");
    for (int f = 0; f < N_FIXTURES; f++) check_fixture(fixtures[f], &in);
    check_random_decode("uni_id_bf");
    check_random_decode("uni_nfkc_user");
    test_accessors();
    test_handmade();
    test_damaged(&in);
    test_gguf(&in);
    test_threads(&in);
    lines_free(&in);
    spm_scratch_release();
    return test_done("test_spm");
}
