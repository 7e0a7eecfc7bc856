/* cmd_bleu.c: `petit bleu REF_FILE... < HYP_FILE`: sacreBLEU-compatible BLEU
 * and chrF of a translated test set (the scoring is src/eval/bleu.c). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "cli/cli.h"
#include "eval/bleu.h"

static const char *CMD = "bleu";

static void help(void) {
    printf(
        "usage: petit bleu [OPTIONS] REF_FILE... < HYP_FILE\n"
        "       petit bleu [OPTIONS] -i HYP_FILE REF_FILE...\n"
        "\n"
        "Corpus BLEU and chrF of a hypothesis file against one or more reference\n"
        "files (UTF-8, one sentence per line, line-aligned), computed exactly as\n"
        "sacreBLEU 2.x computes them (checked against sacreBLEU 2.6.0): the same\n"
        "statistics and the same floating-point score.\n"
        "\n"
        "options:\n"
        "  -i, --input FILE     hypotheses from FILE instead of stdin ('-' is stdin)\n"
        "  -m, --metrics LIST   bleu, chrf or bleu,chrf (default bleu,chrf)\n"
        "  -tok, --tokenize T   BLEU tokenizer: 13a (default), intl or none\n"
        "  -lc, --lowercase     case-insensitive BLEU (Python's str.lower)\n"
        "  --chrf-lowercase     case-insensitive chrF (as in sacreBLEU, -lc is BLEU's)\n"
        "  -w, --width N        decimals of the printed scores (default 2)\n"
        "  -b, --score-only     print only the scores, one per line\n"
        "  -sl, --sentence-level  a score line per sentence instead (BLEU with\n"
        "                       sacreBLEU's effective order, eff:yes; with both\n"
        "                       metrics, the BLEU line then the chrF line; with\n"
        "                       --json, one object per sentence)\n"
        "  --json               one JSON object: bleu, chrf (rounded to --width),\n"
        "                       signature {bleu, chrf}, bleu_exact, chrf_exact,\n"
        "                       precisions, bp, ratio, hyp_len, ref_len, counts,\n"
        "                       totals, sentences, nrefs\n"
        "  -h, --help           this help\n"
        "\n"
        "output (sacreBLEU's text format; its signature, with petit's version):\n"
        "  BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:" PT_SCORE_VERSION
        " = 34.12 65.1/40.2/27.0/19.1 (BP = 1.000 ratio = 1.012 hyp_len = 1234 ref_len = 1219)\n"
        "  chrF2|nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:" PT_SCORE_VERSION
        " = 58.31\n"
        "\n"
        "input handling:\n"
        "  - Lines end at '\\n'; a missing final newline changes nothing. Trailing\n"
        "    whitespace is ignored, so CRLF files score as LF files. A lone '\\r'\n"
        "    inside a line is whitespace (as sacreBLEU treats it in reference files\n"
        "    and with -i; its stdin reader would start a new line there).\n"
        "  - Tabs are whitespace: unlike sacreBLEU's stdin reader, petit does not\n"
        "    read tab-separated columns as several systems.\n"
        "  - Different line counts in the hypothesis and a reference file: an error\n"
        "    naming both files and their counts, exit 1.\n"
        "  - Empty files (zero lines, all of them): BLEU 0 (BP 1, hyp_len = ref_len\n"
        "    = 0) and chrF 0, with a warning, exit 0. These are the numbers sacreBLEU\n"
        "    gives for one empty line; sacreBLEU itself refuses a file of zero lines.\n"
        "  - NUL bytes are ordinary characters (as in sacreBLEU). Bytes that are not\n"
        "    valid UTF-8 (which sacreBLEU cannot read) are scored as opaque one-byte\n"
        "    characters, with a warning naming the file and the first such line.\n"
        "\n"
        "exit status: 0 scored, 1 unreadable or mismatched files, 2 usage error\n");
}

/* all of a stream (stdin), NUL-terminated like pt_read_file */
static char *read_stream(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = pt_malloc(cap + 1);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) {
            if (ferror(f)) {
                free(buf);
                pt_set_error("read error");
                return NULL;
            }
            if (feof(f)) break;
            continue;
        }
        cap *= 2;
        buf = pt_realloc(buf, cap + 1);
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

typedef struct {
    const char *name; /* for messages */
    char *buf;
    size_t len;
    size_t lines;
    pt_lines it;
} text_file;

static int load(text_file *t, const char *path) {
    if (!path || !strcmp(path, "-")) {
        t->name = "stdin";
        t->buf = read_stream(stdin, &t->len);
        if (!t->buf) return cli_fail(CMD, "stdin: %s", pt_error());
    } else {
        t->name = path;
        t->buf = pt_read_file(path, &t->len);
        if (!t->buf) return cli_fail(CMD, "%s", pt_error());
    }
    t->lines = pt_count_lines(t->buf, t->len);
    pt_lines_init(&t->it, t->buf, t->len);
    return 0;
}

/* warn once per file about lines that are not valid UTF-8 */
static void check_utf8(const text_file *t) {
    pt_lines it;
    const char *l;
    size_t n, lineno = 0, bad = 0, first = 0;
    pt_lines_init(&it, t->buf, t->len);
    while (pt_lines_next(&it, &l, &n)) {
        lineno++;
        if (!pt_utf8_valid(l, n) && !bad++) first = lineno;
    }
    if (bad)
        fprintf(stderr,
                "petit bleu: warning: %s: %zu line%s not valid UTF-8 (first: line %zu); "
                "each invalid byte is scored as one opaque character\n",
                t->name, bad, bad == 1 ? " is" : "s are", first);
}

static void print_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        putchar(*s);
    }
    putchar('"');
}

typedef struct {
    const char *input;
    const char **refs;
    int nrefs, json, score_only, sentence_level, width;
    pt_score_opts o;
} args_t;

static int parse_metrics(const char *flag, const char *list, int *metrics) {
    *metrics = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == 4 && !strncasecmp(p, "bleu", 4)) *metrics |= PT_METRIC_BLEU;
        else if (n == 4 && !strncasecmp(p, "chrf", 4)) *metrics |= PT_METRIC_CHRF;
        else return cli_usage(CMD, "%s: unknown metric '%.*s' (bleu or chrf)", flag, (int)n, p);
        p += n + (p[n] == ',');
    }
    if (!*metrics) return cli_usage(CMD, "%s: no metric given", flag);
    return 0;
}

/* Fills *a from the command line (a->refs gets the reference files). *stop
 * says whether to exit now, with the returned code (0 after --help, 2 after
 * a usage error). */
static int parse_args(int argc, char **argv, args_t *a, int *stop) {
    *stop = 1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(s)) {
            help();
            return 0;
        } else if (!strcmp(s, "-i") || !strcmp(s, "--input")) {
            if (!val) return cli_usage(CMD, "%s needs a file", s);
            a->input = argv[++i];
        } else if (!strcmp(s, "-m") || !strcmp(s, "--metrics")) {
            if (!val) return cli_usage(CMD, "%s needs a list", s);
            if (parse_metrics(s, argv[++i], &a->o.metrics)) return 2;
        } else if (!strcmp(s, "-tok") || !strcmp(s, "--tokenize")) {
            if (!val) return cli_usage(CMD, "%s needs a tokenizer", s);
            if (pt_bleu_tokenizer_parse(argv[++i], &a->o.tokenize))
                return cli_usage(CMD, "%s", pt_error());
        } else if (!strcmp(s, "-lc") || !strcmp(s, "--lowercase")) {
            a->o.bleu_lowercase = 1;
        } else if (!strcmp(s, "--chrf-lowercase")) {
            a->o.chrf_lowercase = 1;
        } else if (!strcmp(s, "-w") || !strcmp(s, "--width")) {
            long w;
            if (cli_int(CMD, s, val, 0, 17, &w)) return 2;
            a->width = (int)w;
            i++;
        } else if (!strcmp(s, "-b") || !strcmp(s, "--score-only")) {
            a->score_only = 1;
        } else if (!strcmp(s, "-sl") || !strcmp(s, "--sentence-level")) {
            a->sentence_level = 1;
        } else if (!strcmp(s, "--json")) {
            a->json = 1;
        } else if (!strcmp(s, "--")) {
            while (++i < argc) a->refs[a->nrefs++] = argv[i];
        } else if (s[0] == '-' && s[1]) {
            return cli_unknown(CMD, s);
        } else if (cli_split_flag(s)) {
            return cli_unknown(CMD, s);
        } else {
            a->refs[a->nrefs++] = s;
        }
    }
    if (a->nrefs == 0) return cli_usage(CMD, "no reference file given");
    *stop = 0;
    return 0;
}

static void print_json(const args_t *a, pt_scorer *sc) {
    const pt_score_opts *o = &a->o;
    int do_bleu = o->metrics & PT_METRIC_BLEU, do_chrf = o->metrics & PT_METRIC_CHRF;
    int w = a->width;
    pt_bleu_score b;
    pt_scorer_bleu(sc, &b);
    double chrf = pt_scorer_chrf(sc);
    char sig[256];

    printf("{");
    if (do_bleu) printf("\"bleu\": %.*f, ", w, b.score);
    if (do_chrf) printf("\"chrf\": %.*f, ", w, chrf);
    printf("\"signature\": {");
    if (do_bleu) {
        pt_bleu_signature(o, a->nrefs, 0, sig, sizeof sig);
        printf("\"bleu\": ");
        print_json_string(sig);
    }
    if (do_chrf) {
        pt_chrf_signature(o, a->nrefs, sig, sizeof sig);
        printf("%s\"chrf\": ", do_bleu ? ", " : "");
        print_json_string(sig);
    }
    printf("}");
    if (do_bleu) {
        printf(", \"bleu_exact\": %.17g, \"precisions\": [", b.score);
        for (int n = 0; n < PT_BLEU_ORDER; n++) printf("%s%.17g", n ? ", " : "", b.precisions[n]);
        printf("], \"bp\": %.17g, \"ratio\": %.17g, \"hyp_len\": %lld, \"ref_len\": %lld", b.bp,
               b.ratio, (long long)b.hyp_len, (long long)b.ref_len);
        printf(", \"counts\": [");
        for (int n = 0; n < PT_BLEU_ORDER; n++) printf("%s%lld", n ? ", " : "", (long long)b.correct[n]);
        printf("], \"totals\": [");
        for (int n = 0; n < PT_BLEU_ORDER; n++) printf("%s%lld", n ? ", " : "", (long long)b.total[n]);
        printf("]");
    }
    if (do_chrf) printf(", \"chrf_exact\": %.17g", chrf);
    printf(", \"sentences\": %lld, \"nrefs\": %d}\n", (long long)pt_scorer_sentences(sc), a->nrefs);
}

/* sacreBLEU's text format (or just the numbers with -b); eff: sentence BLEU */
static void print_text(const args_t *a, const pt_bleu_stats *bs, const pt_chrf_stats *cs, int eff) {
    const pt_score_opts *o = &a->o;
    int w = a->width;
    char sig[256];
    if (o->metrics & PT_METRIC_BLEU) {
        pt_bleu_score b;
        pt_bleu_compute(bs, eff, &b);
        pt_bleu_signature(o, a->nrefs, eff, sig, sizeof sig);
        if (a->score_only) printf("%.*f\n", w, b.score);
        else
            printf("BLEU|%s = %.*f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %lld "
                   "ref_len = %lld)\n",
                   sig, w, b.score, b.precisions[0], b.precisions[1], b.precisions[2],
                   b.precisions[3], b.bp, b.ratio, (long long)b.hyp_len, (long long)b.ref_len);
    }
    if (o->metrics & PT_METRIC_CHRF) {
        double chrf = pt_chrf_compute(cs);
        pt_chrf_signature(o, a->nrefs, sig, sizeof sig);
        if (a->score_only) printf("%.*f\n", w, chrf);
        else printf("chrF%d|%s = %.*f\n", PT_CHRF_BETA, sig, w, chrf);
    }
}

/* Scores the loaded files (line counts already checked) into sc; with -sl,
 * prints each sentence's scores on the way. */
static void score(const args_t *a, pt_scorer *sc, text_file *hyp, text_file *ref) {
    int nrefs = a->nrefs;
    const char **rl = pt_calloc((size_t)nrefs, sizeof *rl);
    size_t *rn = pt_calloc((size_t)nrefs, sizeof *rn);
    const char *hl;
    size_t hn;
    int64_t line = 0;
    while (pt_lines_next(&hyp->it, &hl, &hn)) {
        for (int r = 0; r < nrefs; r++) {
            int more = pt_lines_next(&ref[r].it, &rl[r], &rn[r]);
            PT_ASSERT(more); /* the line counts were compared */
        }
        line++;
        if (!a->sentence_level) {
            int err = pt_scorer_add(sc, hl, hn, rl, rn, nrefs);
            PT_ASSERT(err == 0); /* it fails only without references */
            continue;
        }
        pt_bleu_stats bs;
        pt_chrf_stats cs;
        int err = pt_scorer_sentence(sc, hl, hn, rl, rn, nrefs, &bs, &cs);
        PT_ASSERT(err == 0);
        if (a->json) {
            printf("{\"line\": %lld", (long long)line);
            if (a->o.metrics & PT_METRIC_BLEU) {
                pt_bleu_score b;
                pt_bleu_compute(&bs, 1, &b);
                printf(", \"bleu\": %.*f, \"bleu_exact\": %.17g, \"hyp_len\": %lld, \"ref_len\": %lld",
                       a->width, b.score, b.score, (long long)b.hyp_len, (long long)b.ref_len);
            }
            if (a->o.metrics & PT_METRIC_CHRF) {
                double c = pt_chrf_compute(&cs);
                printf(", \"chrf\": %.*f, \"chrf_exact\": %.17g", a->width, c, c);
            }
            printf("}\n");
        } else {
            print_text(a, &bs, &cs, 1);
        }
    }
    free(rl);
    free(rn);
}

int cmd_bleu(int argc, char **argv) {
    args_t a = {.refs = pt_calloc((size_t)argc, sizeof(char *)), .width = 2,
                .o = pt_score_opts_default()};
    int stop, rc = parse_args(argc, argv, &a, &stop);
    if (stop) {
        free(a.refs);
        return rc;
    }
    rc = 1;
    text_file hyp = {0}, *ref = pt_calloc((size_t)a.nrefs, sizeof *ref);
    if (load(&hyp, a.input)) goto done;
    for (int r = 0; r < a.nrefs; r++)
        if (load(&ref[r], a.refs[r])) goto done;
    for (int r = 0; r < a.nrefs; r++) {
        if (ref[r].lines != hyp.lines) {
            cli_fail(CMD, "%s has %zu lines but the hypotheses (%s) have %zu", ref[r].name,
                     ref[r].lines, hyp.name, hyp.lines);
            goto done;
        }
    }
    check_utf8(&hyp);
    for (int r = 0; r < a.nrefs; r++) check_utf8(&ref[r]);
    if (hyp.lines == 0)
        fprintf(stderr, "petit bleu: warning: the files are empty: no sentences, scores are 0\n");

    pt_scorer *sc = pt_scorer_init(&a.o);
    score(&a, sc, &hyp, ref);
    if (!a.sentence_level) { /* else score() printed them line by line */
        if (a.json) print_json(&a, sc);
        else print_text(&a, pt_scorer_bleu_stats(sc), pt_scorer_chrf_stats(sc), 0);
    }
    pt_scorer_free(sc);
    rc = fflush(stdout) ? cli_fail(CMD, "cannot write the output") : 0;
done:
    free(hyp.buf);
    for (int r = 0; r < a.nrefs; r++) free(ref[r].buf);
    free(ref);
    free(a.refs);
    return rc;
}
