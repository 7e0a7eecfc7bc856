/* test_bleu.c: BLEU and chrF against numbers from sacreBLEU 2.6.0.
 *
 * The expected values come from tools/bleu_fixtures.py (committed under
 * tests/data/bleu/, so no Python is needed here):
 *   tricky.*      tokenizer and lowercase output for a few hundred hard lines
 *   cases.txt     corpus statistics and scores of real hypothesis/reference
 *                 pairs (references from $PETIT_DATA), compared exactly; the
 *                 sys-* cases score real (weak) output of `petit translate`
 *                 with a small demo model, committed as sys-*.fr
 *   sentences.txt sentence BLEU and chrF line by line
 * plus edge cases whose answers follow from sacreBLEU's code: empty corpus,
 * empty lines, CRLF, invalid UTF-8, NUL bytes, variable reference counts.
 */
#include <string.h>

#include "base/base.h"
#include "test.h"
#include "eval/bleu.h"

#define DIR "tests/data/bleu/"

typedef struct {
    char *buf;
    size_t len, n;
    const char **line;
    size_t *llen;
} lines_t;

/* "$DATA/x" -> test_data_dir()/x, anything else as is (from the repo root) */
static char *resolve(const char *spec) {
    char *p;
    if (!strncmp(spec, "$DATA/", 6)) {
        const char *d = test_data_dir();
        p = pt_malloc(strlen(d) + strlen(spec));
        sprintf(p, "%s/%s", d, spec + 6);
    } else {
        p = pt_strdup(spec);
    }
    return p;
}

static int load_lines(const char *spec, lines_t *l) {
    char *path = resolve(spec);
    memset(l, 0, sizeof *l);
    l->buf = pt_read_file(path, &l->len);
    free(path);
    if (!l->buf) {
        fprintf(stderr, "cannot read %s: %s\n", spec, pt_error());
        return -1;
    }
    l->n = pt_count_lines(l->buf, l->len);
    l->line = pt_calloc(l->n + 1, sizeof *l->line);
    l->llen = pt_calloc(l->n + 1, sizeof *l->llen);
    pt_lines it;
    pt_lines_init(&it, l->buf, l->len);
    for (size_t i = 0; i < l->n; i++) pt_lines_next(&it, &l->line[i], &l->llen[i]);
    return 0;
}

static void free_lines(lines_t *l) {
    free(l->buf);
    free(l->line);
    free(l->llen);
}

/* ---- tokenizer and lowercase, line by line --------------------------------- */

static void test_tokenizer_file(const char *suffix, pt_bleu_tokenizer tok, int lc,
                                const lines_t *in) {
    char path[256];
    snprintf(path, sizeof path, DIR "tricky.%s", suffix);
    lines_t want;
    if (load_lines(path, &want)) {
        CHECK(0, "missing fixture %s", path);
        return;
    }
    CHECK(want.n == in->n, "%s: %zu lines, input has %zu", path, want.n, in->n);
    pt_score_opts o = pt_score_opts_default();
    o.tokenize = tok;
    o.bleu_lowercase = lc;
    int bad = 0;
    for (size_t i = 0; i < in->n && i < want.n; i++) {
        size_t n;
        char *got = lc < 0 ? pt_text_lower(in->line[i], in->llen[i], &n)
                           : pt_bleu_tokenize(&o, in->line[i], in->llen[i], &n);
        if (n != want.llen[i] || memcmp(got, want.line[i], n)) {
            if (bad++ < 5)
                fprintf(stderr, "  %s line %zu:\n    input [%.*s]\n    got   [%.*s]\n    want  [%.*s]\n",
                        suffix, i + 1, (int)in->llen[i], in->line[i], (int)n, got,
                        (int)want.llen[i], want.line[i]);
        }
        free(got);
    }
    CHECK(bad == 0, "tokenizer %s: %d of %zu lines differ from sacreBLEU", suffix, bad, in->n);
    free_lines(&want);
}

static void test_tokenizers(void) {
    lines_t in;
    if (load_lines(DIR "tricky.txt", &in)) {
        CHECK(0, "missing fixture tricky.txt");
        return;
    }
    CHECK(in.n >= 300, "only %zu tricky lines", in.n);
    test_tokenizer_file("tok-13a", PT_TOK_13A, 0, &in);
    test_tokenizer_file("tok-13a-lc", PT_TOK_13A, 1, &in);
    test_tokenizer_file("tok-intl", PT_TOK_INTL, 0, &in);
    test_tokenizer_file("tok-intl-lc", PT_TOK_INTL, 1, &in);
    test_tokenizer_file("tok-none-lc", PT_TOK_NONE, 1, &in);
    test_tokenizer_file("lower", PT_TOK_NONE, -1, &in);
    free_lines(&in);

    /* a few by hand, so that a reader sees what 13a does */
    static const struct {
        pt_bleu_tokenizer tok;
        const char *in, *want;
    } cases[] = {
        {PT_TOK_13A, "Hello, world.", "Hello , world ."},
        {PT_TOK_13A, "It costs $1,000.50.", "It costs $ 1,000.50 ."},
        {PT_TOK_13A, "&quot;a&quot; &amp;lt; 5-6", "\" a \" < 5 - 6"},
        {PT_TOK_13A, "l'homme <skipped>x", "l'homme x"},
        {PT_TOK_INTL, "The year 2014.", "The year 2014."},
        {PT_TOK_INTL, "\xc2\xab Oui \xc2\xbb, 5\xe2\x82\xac!", "\xc2\xab Oui \xc2\xbb , 5 \xe2\x82\xac !"},
        {PT_TOK_NONE, " a\tb\xc2\xa0" "c \r\n", "a b c"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pt_score_opts o = pt_score_opts_default();
        o.tokenize = cases[i].tok;
        char *got = pt_bleu_tokenize(&o, cases[i].in, strlen(cases[i].in), NULL);
        CHECK(!strcmp(got, cases[i].want), "tokenize [%s]: got [%s] want [%s]", cases[i].in, got,
              cases[i].want);
        free(got);
    }
    size_t n;
    char *l = pt_text_lower("\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xc4\xb0", 11, &n); /* ΟΔΟΣ İ */
    CHECK(n == 12 && !memcmp(l, "\xce\xbf\xce\xb4\xce\xbf\xcf\x82 i\xcc\x87", 12),
          "lower of ΟΔΟΣ İ: [%.*s]", (int)n, l);
    free(l);
}

static void test_unicode_tables(void) {
    CHECK(pt_uc_is_space(0xa0) && pt_uc_is_space(0x3000) && pt_uc_is_space(0x85), "spaces");
    CHECK(!pt_uc_is_space(0x200b) && !pt_uc_is_space(0xfeff) && !pt_uc_is_space('a'), "non-spaces");
    CHECK(pt_uc_lower('A') == 'a' && pt_uc_lower(0xc9) == 0xe9 && pt_uc_lower(0x3a3) == 0x3c3 &&
              pt_uc_lower(0x212a) == 'k' && pt_uc_lower(0x10400) == 0x10428 &&
              pt_uc_lower(0x1e9e) == 0xdf && pt_uc_lower(0xdf) == 0xdf,
          "lowercase mappings");
    CHECK(pt_uc_intl_class('.') == PT_UC_PUNCT && pt_uc_intl_class('$') == PT_UC_SYMBOL &&
              pt_uc_intl_class('7') == PT_UC_NUMBER && pt_uc_intl_class('a') == PT_UC_OTHER &&
              pt_uc_intl_class(0x1f600) == PT_UC_SYMBOL && pt_uc_intl_class(0x663) == PT_UC_NUMBER &&
              pt_uc_intl_class(0x3002) == PT_UC_PUNCT && pt_uc_intl_class(0x20ac) == PT_UC_SYMBOL,
          "intl classes");
    CHECK(pt_uc_case_class('A') == PT_UC_CASED && pt_uc_case_class(0x301) == PT_UC_CASE_IGNORABLE &&
              pt_uc_case_class('\'') == PT_UC_CASE_IGNORABLE && pt_uc_case_class(' ') == PT_UC_OTHER,
          "case classes");
}

/* ---- corpus cases ---------------------------------------------------------- */

static int score_files(const lines_t *hyp, const lines_t *refs, int nrefs, const pt_score_opts *o,
                       pt_scorer *sc) {
    const char *rl[8];
    size_t rn[8];
    for (size_t i = 0; i < hyp->n; i++) {
        for (int r = 0; r < nrefs; r++) {
            rl[r] = refs[r].line[i];
            rn[r] = refs[r].llen[i];
        }
        if (pt_scorer_add(sc, hyp->line[i], hyp->llen[i], rl, rn, nrefs)) return -1;
    }
    return 0;
}

static int run_case(const char *name, const char *hyp_spec, char ref_specs[][1024], int nrefs,
                    const pt_score_opts *o, const char *bleu_line, double chrf_want) {
    lines_t hyp, refs[8];
    int before = test_failures;
    if (load_lines(hyp_spec, &hyp)) {
        CHECK(0, "%s: no hypothesis file", name);
        return -1;
    }
    for (int r = 0; r < nrefs; r++) {
        if (load_lines(ref_specs[r], &refs[r])) {
            CHECK(0, "%s: no reference file %s", name, ref_specs[r]);
            return -1;
        }
    }
    for (int r = 0; r < nrefs; r++)
        CHECK(refs[r].n == hyp.n, "%s: %zu vs %zu lines", name, refs[r].n, hyp.n);

    pt_scorer *sc = pt_scorer_init(o);
    double t0 = pt_time();
    CHECK(score_files(&hyp, refs, nrefs, o, sc) == 0, "%s: scoring failed", name);
    double secs = pt_time() - t0;
    pt_bleu_score b;
    pt_scorer_bleu(sc, &b);
    double chrf = pt_scorer_chrf(sc);

    double want_score, want_bp, want_ratio, want_prec[4];
    long long want_i[10];
    int got_n = sscanf(bleu_line,
                       "%lf %lf %lf %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lf %lf %lf %lf",
                       &want_score, &want_bp, &want_ratio, &want_i[0], &want_i[1], &want_i[2],
                       &want_i[3], &want_i[4], &want_i[5], &want_i[6], &want_i[7], &want_i[8],
                       &want_i[9], &want_prec[0], &want_prec[1], &want_prec[2], &want_prec[3]);
    CHECK(got_n == 17, "%s: bad bleu line in cases.txt", name);
    CHECK(b.hyp_len == want_i[0] && b.ref_len == want_i[1], "%s: lengths %lld/%lld want %lld/%lld",
          name, (long long)b.hyp_len, (long long)b.ref_len, want_i[0], want_i[1]);
    for (int n = 0; n < 4; n++) {
        CHECK(b.correct[n] == want_i[2 + n] && b.total[n] == want_i[6 + n],
              "%s: %d-grams %lld/%lld want %lld/%lld", name, n + 1, (long long)b.correct[n],
              (long long)b.total[n], want_i[2 + n], want_i[6 + n]);
        CHECK(b.precisions[n] == want_prec[n], "%s: precision %d %.17g want %.17g", name, n + 1,
              b.precisions[n], want_prec[n]);
    }
    CHECK(b.score == want_score, "%s: BLEU %.17g want %.17g", name, b.score, want_score);
    CHECK(b.bp == want_bp, "%s: BP %.17g want %.17g", name, b.bp, want_bp);
    CHECK(b.ratio == want_ratio, "%s: ratio %.17g want %.17g", name, b.ratio, want_ratio);
    CHECK(chrf == chrf_want, "%s: chrF %.17g want %.17g", name, chrf, chrf_want);
    CHECK(pt_scorer_sentences(sc) == (int64_t)hyp.n && pt_scorer_nrefs(sc) == nrefs,
          "%s: sentence/reference counts", name);
    printf("  %-30s BLEU %6.2f chrF %6.2f  %4zu lines x %d refs  %5.1f ms  %s\n", name, b.score,
           chrf, hyp.n, nrefs, secs * 1e3, test_failures == before ? "ok" : "FAILED");
    pt_scorer_free(sc);
    free_lines(&hyp);
    for (int r = 0; r < nrefs; r++) free_lines(&refs[r]);
    return 0;
}

static void test_cases(void) {
    lines_t f;
    if (load_lines(DIR "cases.txt", &f)) {
        CHECK(0, "missing cases.txt");
        return;
    }
    char name[1024] = "", hyp[1024] = "", refs[8][1024], bleu[1024] = "";
    int nrefs = 0, ncases = 0, nsys = 0;
    double chrf = -1;
    pt_score_opts o = pt_score_opts_default();
    for (size_t i = 0; i < f.n; i++) {
        char line[1024];
        size_t n = f.llen[i] < sizeof line - 1 ? f.llen[i] : sizeof line - 1;
        memcpy(line, f.line[i], n);
        line[n] = 0;
        if (!strncmp(line, "case ", 5)) {
            snprintf(name, sizeof name, "%s", line + 5);
            nrefs = 0;
            o = pt_score_opts_default();
        } else if (!strncmp(line, "hyp ", 4)) {
            snprintf(hyp, sizeof hyp, "%s", line + 4);
        } else if (!strncmp(line, "ref ", 4) && nrefs < 8) {
            snprintf(refs[nrefs++], sizeof refs[0], "%s", line + 4);
        } else if (!strncmp(line, "opts ", 5)) {
            char tok[16];
            CHECK(sscanf(line + 5, "%15s %d %d", tok, &o.bleu_lowercase, &o.chrf_lowercase) == 3 &&
                      pt_bleu_tokenizer_parse(tok, &o.tokenize) == 0,
                  "bad opts line %zu", i + 1);
        } else if (!strncmp(line, "bleu ", 5)) {
            snprintf(bleu, sizeof bleu, "%s", line + 5);
        } else if (!strncmp(line, "chrf ", 5)) {
            chrf = strtod(line + 5, NULL);
        } else if (!strcmp(line, "end")) {
            run_case(name, hyp, refs, nrefs, &o, bleu, chrf);
            ncases++;
            nsys += !strncmp(name, "sys-", 4);
        }
    }
    CHECK(ncases >= 5, "only %d cases", ncases);
    /* real system output: Multi30k beam 4 and greedy, newstest2014 beam 4,
     * with 13a and with intl -lc */
    CHECK(nsys >= 5, "only %d sys-* cases (real translate output)", nsys);
    free_lines(&f);
}

/* ---- sentence level ---------------------------------------------------------- */

static void test_sentences(void) {
    lines_t f;
    if (load_lines(DIR "sentences.txt", &f)) {
        CHECK(0, "missing sentences.txt");
        return;
    }
    pt_scorer *sc = pt_scorer_init(NULL);
    size_t i = 0, blocks = 0;
    while (i < f.n) {
        if (f.llen[i] == 0 || f.line[i][0] == '#') {
            i++;
            continue;
        }
        /* sentences HYP REF... N */
        char head[1024];
        snprintf(head, sizeof head, "%.*s", (int)f.llen[i], f.line[i]);
        i++;
        char *tokv[12];
        int nt = 0;
        for (char *t = strtok(head, " "); t && nt < 12; t = strtok(NULL, " ")) tokv[nt++] = t;
        if (nt < 4 || strcmp(tokv[0], "sentences")) {
            CHECK(0, "bad block header in sentences.txt");
            break;
        }
        int nrefs = nt - 3;
        size_t count = strtoul(tokv[nt - 1], NULL, 10);
        lines_t hyp, refs[8];
        int missing = load_lines(tokv[1], &hyp);
        for (int r = 0; r < nrefs && !missing; r++) missing = load_lines(tokv[2 + r], &refs[r]);
        if (missing) {
            CHECK(0, "sentences.txt: a file of block %zu is missing", blocks + 1);
            break;
        }
        int bad = 0;
        for (size_t k = 0; k < count && i < f.n; k++, i++) {
            double want_b, want_c;
            char line[128];
            snprintf(line, sizeof line, "%.*s", (int)f.llen[i], f.line[i]);
            sscanf(line, "%lf %lf", &want_b, &want_c);
            const char *rl[8];
            size_t rn[8];
            for (int r = 0; r < nrefs; r++) rl[r] = refs[r].line[k], rn[r] = refs[r].llen[k];
            pt_bleu_stats bs;
            pt_chrf_stats cs;
            pt_scorer_sentence(sc, hyp.line[k], hyp.llen[k], rl, rn, nrefs, &bs, &cs);
            pt_bleu_score b;
            pt_bleu_compute(&bs, 1, &b);
            double c = pt_chrf_compute(&cs);
            if (b.score != want_b || c != want_c) {
                if (bad++ < 5)
                    fprintf(stderr, "  %s line %zu: BLEU %.17g want %.17g, chrF %.17g want %.17g\n",
                            tokv[1], k + 1, b.score, want_b, c, want_c);
            }
        }
        CHECK(bad == 0, "sentence scores of %s: %d of %zu lines differ", tokv[1], bad, count);
        printf("  sentence level: %-36s %4zu lines  %s\n", tokv[1], count, bad ? "FAILED" : "ok");
        blocks++;
        free_lines(&hyp);
        for (int r = 0; r < nrefs; r++) free_lines(&refs[r]);
    }
    CHECK(blocks >= 4, "only %zu sentence blocks", blocks);
    CHECK(pt_scorer_sentences(sc) == 0, "pt_scorer_sentence must not accumulate");
    pt_scorer_free(sc);
    free_lines(&f);
}

/* ---- edge cases ------------------------------------------------------------- */

static void score1(const pt_score_opts *o, const char *hyp, size_t hn, const char *ref, size_t rn,
                   pt_bleu_stats *bs, pt_chrf_stats *cs) {
    pt_scorer *sc = pt_scorer_init(o);
    const char *rl[1] = {ref};
    CHECK(pt_scorer_sentence(sc, hyp, hn, rl, &rn, 1, bs, cs) == 0, "score1");
    pt_scorer_free(sc);
}

static void test_edges(void) {
    pt_bleu_score b;
    char sig[256];

    /* no sentences at all: BLEU 0, BP 1, ratio 0, chrF 0 */
    pt_scorer *sc = pt_scorer_init(NULL);
    pt_scorer_bleu(sc, &b);
    CHECK(b.score == 0 && b.bp == 1 && b.ratio == 0 && b.hyp_len == 0 && b.ref_len == 0,
          "empty corpus: BLEU %g BP %g", b.score, b.bp);
    CHECK(pt_scorer_chrf(sc) == 0, "empty corpus chrF");
    CHECK(pt_scorer_nrefs(sc) == 0 && pt_scorer_sentences(sc) == 0, "empty corpus counts");

    /* one empty line against one empty line: what sacreBLEU prints (0.0, BP 1) */
    size_t zero = 0;
    const char *empty = "";
    CHECK(pt_scorer_add(sc, "", 0, &empty, &zero, 1) == 0, "add empty");
    pt_scorer_bleu(sc, &b);
    CHECK(b.score == 0 && b.bp == 1 && b.ratio == 0 && pt_scorer_chrf(sc) == 0, "empty line");
    /* no references is an error, not a crash */
    CHECK(pt_scorer_add(sc, "a", 1, NULL, NULL, 0) == -1 && strstr(pt_error(), "reference"),
          "nrefs 0 must fail");

    /* a perfect match of four words: 100 (exp(log(100)) is 100.00000000000004
     * in sacreBLEU too); of three words: 0 (no 4-grams) */
    pt_scorer_reset(sc);
    const char *r4 = "the cat sat down";
    size_t r4n = strlen(r4);
    pt_scorer_add(sc, r4, r4n, &r4, &r4n, 1);
    pt_scorer_bleu(sc, &b);
    CHECK(b.score == 100.00000000000004 && pt_scorer_chrf(sc) == 100, "perfect match: %.17g",
          b.score);
    pt_scorer_reset(sc);
    const char *r3 = "the cat sat";
    size_t r3n = strlen(r3);
    pt_scorer_add(sc, r3, r3n, &r3, &r3n, 1);
    pt_scorer_bleu(sc, &b);
    CHECK(b.score == 0 && b.correct[0] == 3 && b.total[3] == 0, "3 words: BLEU %g", b.score);
    pt_bleu_compute(pt_scorer_bleu_stats(sc), 1, &b);
    CHECK(b.score == 100.00000000000004, "3 words, effective order: %.17g", b.score);

    /* CRLF, trailing whitespace and a missing newline change nothing */
    pt_bleu_stats s1, s2;
    pt_chrf_stats c1, c2;
    score1(NULL, "Le chat.\r\n", 10, "Le chien .", 10, &s1, &c1);
    score1(NULL, "Le chat.", 8, "Le chien .  \r\n", 14, &s2, &c2);
    CHECK(!memcmp(&s1, &s2, sizeof s1) && !memcmp(&c1, &c2, sizeof c1), "CRLF / trailing space");

    /* NUL bytes are ordinary characters */
    score1(NULL, "a\0b c", 5, "a\0b c", 5, &s1, &c1);
    CHECK(s1.hyp_len == 2 && s1.correct[0] == 2 && pt_chrf_compute(&c1) == 100, "NUL inside a token");
    score1(NULL, "a\0b", 3, "a b", 3, &s1, &c1);
    CHECK(s1.hyp_len == 1 && s1.ref_len == 2 && s1.correct[0] == 0, "NUL is not a space");

    /* invalid UTF-8: each bad byte is its own character, never a crash */
    score1(NULL, "caf\xe9 \xff\xfe", 7, "caf\xe9 \xff\xfe", 7, &s1, &c1);
    CHECK(s1.hyp_len == 2 && s1.correct[0] == 2 && c1.hyp[0] == 6 && pt_chrf_compute(&c1) == 100,
          "invalid bytes match themselves");
    score1(NULL, "caf\xe9", 4, "caf\xc3\xa9", 5, &s1, &c1);
    CHECK(s1.correct[0] == 0 && c1.match[0] == 3 && c1.hyp[0] == 4 && c1.ref[0] == 4,
          "an invalid byte is not the character it would be in Latin-1");
    score1(NULL, "\xc3", 1, "\xe2\x82", 2, &s1, &c1); /* truncated sequences */
    CHECK(s1.hyp_len == 1 && s1.ref_len == 1 && c1.ref[0] == 2, "truncated sequences");
    pt_score_opts lc = pt_score_opts_default();
    lc.bleu_lowercase = lc.chrf_lowercase = 1;
    lc.tokenize = PT_TOK_INTL;
    score1(&lc, "\xc3\x89T\xc3\x89 \xed\xa0\x80!", 10, "\xc3\xa9t\xc3\xa9 \xed\xa0\x80 !", 11, &s1,
           &c1); /* ÉTÉ + a UTF-8-encoded surrogate (invalid) */
    CHECK(s1.hyp_len == 3 && s1.correct[0] == 3, "lowercase + intl around invalid bytes: %lld/%lld",
          (long long)s1.correct[0], (long long)s1.hyp_len);

    /* a very long line without spaces, and many n-grams */
    size_t big = 1 << 20;
    char *lng = pt_malloc(big);
    for (size_t i = 0; i < big; i++) lng[i] = "ab .,1-&"[pt_hash_u64(i) % 8];
    score1(NULL, lng, big, lng, big, &s1, &c1);
    CHECK(s1.hyp_len == s1.ref_len && s1.correct[3] == s1.total[3] && pt_chrf_compute(&c1) == 100,
          "long line scores 100 against itself");
    free(lng);

    /* several references: closest length, the shorter on a tie */
    const char *refs[3] = {"a b c d e f", "a b", "a b c d"};
    size_t rlens[3] = {11, 3, 7};
    pt_bleu_stats st;
    pt_scorer_sentence(sc, "a b c", 5, refs, rlens, 3, &st, NULL);
    CHECK(st.ref_len == 2, "closest ref length on a tie: %lld", (long long)st.ref_len);
    CHECK(st.correct[0] == 3 && st.correct[2] == 1, "clipping against the best reference");

    /* variable numbers of references: nrefs:var */
    pt_scorer_reset(sc);
    pt_scorer_add(sc, "a b c", 5, refs, rlens, 3);
    pt_scorer_add(sc, "a b c", 5, refs, rlens, 2);
    CHECK(pt_scorer_nrefs(sc) == -1, "variable reference count");
    pt_score_opts o = pt_score_opts_default();
    pt_bleu_signature(&o, -1, 0, sig, sizeof sig);
    CHECK(!strcmp(sig, "nrefs:var|case:mixed|eff:no|tok:13a|smooth:exp|version:" PT_SCORE_VERSION),
          "signature %s", sig);
    o.bleu_lowercase = 1;
    o.tokenize = PT_TOK_INTL;
    pt_bleu_signature(&o, 2, 1, sig, sizeof sig);
    CHECK(!strcmp(sig, "nrefs:2|case:lc|eff:yes|tok:intl|smooth:exp|version:" PT_SCORE_VERSION),
          "signature %s", sig);
    pt_chrf_signature(&o, 1, sig, sizeof sig);
    CHECK(!strcmp(sig, "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:" PT_SCORE_VERSION),
          "chrF signature %s", sig);

    /* only the metrics asked for */
    o = pt_score_opts_default();
    o.metrics = PT_METRIC_CHRF;
    score1(&o, "a b", 3, "a b", 3, &s1, &c1);
    CHECK(s1.hyp_len == 0 && c1.match[0] == 2, "metrics = chrF only");
    pt_bleu_tokenizer t;
    CHECK(pt_bleu_tokenizer_parse("zh", &t) == -1, "unknown tokenizer");
    pt_scorer_free(sc);
}

int main(void) {
    test_unicode_tables();
    test_tokenizers();
    test_edges();
    test_cases();
    test_sentences();
    return test_done("test_bleu");
}
