/* cmd_translate.c: `petit translate` — a stdin -> stdout filter (or -i FILE,
 * -o FILE), one line in, one line out, in order. Lines that arrive together
 * are sorted by length and translated in batches, then written back in input
 * order; when no more input is waiting, what has arrived is translated at
 * once, so a line written through a pipe comes back without waiting for end
 * of file. -o FILE is written atomically (a temporary file renamed at the
 * end), so an error leaves no partial output. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/cli.h"
#include "cli/segment.h"
#include "petit.h"

static const char *usage_text =
    "usage: petit translate [-m MODEL.gguf] [options] < source.txt > translation.txt\n"
    "       petit translate [-m MODEL.gguf] [options] [-i] source.txt [-o translation.txt]\n"
    "\n"
    "Translates standard input (or FILE) line by line (UTF-8; any bytes survive). Empty lines\n"
    "give empty lines; a trailing CR is dropped; a NUL byte ends its line's text;\n"
    "sources longer than the model's maximum length are cut (with a warning; --split\n"
    "translates them in pieces instead).\n"
    "\n"
    "  -m, --model FILE        model file (GGUF with its vocabulary), or a bundled model's\n"
    "                          name: tiny (models/en-fr.gguf, the default) or base\n"
    "                          (models/en-fr-base.gguf, larger and slower); default:\n"
    "                          $PETIT_MODEL, else tiny, beside the petit executable\n"
    "  -i, --input FILE        read FILE instead of standard input (also: FILE alone)\n"
    "  -o, --output FILE       write FILE instead of standard output: written to a\n"
    "                          temporary file and renamed when all is done, so on an\n"
    "                          error no partial FILE is left (an older one is kept);\n"
    "                          only a regular file is replaced (a symlink: its target)\n"
    "  --beam N                beam size (default 4; 1 = greedy)\n"
    "  --nbest N               print N hypotheses per line as 'i ||| text ||| score'\n"
    "                          (distinct texts: a hypothesis that detokenizes to the\n"
    "                          text of a better one is dropped, so there may be fewer)\n"
    "  --json                  one JSON object per line: {\"line\": i, \"text\": ...,\n"
    "                          \"score\": ..., \"ms\": ...} (ms: its share of its batch's\n"
    "                          time); with --nbest, \"nbest\": [{\"text\", \"score\"}, ...]\n"
    "  --split                 paragraphs: split each line into sentences (abbreviations,\n"
    "                          numbers, quotes and ellipses kept together), translate them\n"
    "                          and join them back on one line; a sentence longer than the\n"
    "                          model's maximum length is translated in pieces, not cut\n"
    "  --batch N               sentences decoded together (default 32)\n"
    "  --threads N             threads (default: all cores)\n"
    "  --length-penalty X      scores divided by length^X (default 1.0)\n"
    "  --max-len-a X, --max-len-b X   at most a*source+b target tokens (2, 10)\n"
    "  --float-cache           keep the attention caches in 32-bit floats (default:\n"
    "                          16-bit, half the decoder's memory; the results may differ\n"
    "                          in the last digits of the scores)\n"
    "  --allow-unk             let the model emit the unknown token (printed as ⁇); by\n"
    "                          default it never does, as older vocabularies without byte\n"
    "                          fallback would otherwise print it for digits and symbols\n"
    "  --shortlist on|off      a model with a lexical shortlist (petit shortlist) scores\n"
    "                          only the batch's shortlisted pieces (on, the default);\n"
    "                          off: the whole vocabulary, exact and slower\n"
    "  --verbose               a summary (lines, words/s) on stderr at the end\n"
    "\n"
    "A long option's value may also follow an '=' (--beam=4). OpenMP's threads wait\n"
    "passively (OMP_WAIT_POLICY=passive) unless the environment sets a policy.\n";

typedef struct {
    char *text;
    size_t len;
    long index;
} line;

typedef struct {
    petit_translator *t;
    const petit_model *pm;
    int batch, nbest, json, split;
    long done, words_out, warned;
    int tty;
    double t0;
    FILE *out;
    const char *out_name; /* for messages: the -o path or "standard output" */
} run_ctx;

static int by_len(const void *a, const void *b) {
    const line *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->index < y->index ? -1 : 1;
}

static long count_words(const char *s) {
    long n = 0;
    int in = 0;
    for (; *s; s++) {
        int sp = *s == ' ' || *s == '\t';
        if (!sp && !in) n++;
        in = !sp;
    }
    return n;
}

/* s as a JSON string: escaped, bytes that are not UTF-8 as U+FFFD */
static void put_json_str(FILE *f, const char *s) {
    fputc('"', f);
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        int l = pt_utf8_len((const unsigned char *)s + i, n - i);
        if (!l) fputs("\\ufffd", f), i++;
        else if (c == '"' || c == '\\') fputc('\\', f), fputc(c, f), i++;
        else if (c < 0x20) fprintf(f, "\\u%04x", c), i++;
        else fwrite(s + i, 1, (size_t)l, f), i += (size_t)l;
    }
    fputc('"', f);
}

/* translate items[0..n) (index: its position in the arrays), sorted by
 * length and in batches; out, score, counts, ms have n*nbest (n) slots */
static int translate_items(run_ctx *r, const line *items, int n, char **out, float *score, int *counts,
                           double *ms) {
    int nb = r->nbest, rc = 0;
    line *sorted = pt_malloc((size_t)n * sizeof(line));
    memcpy(sorted, items, (size_t)n * sizeof(line));
    qsort(sorted, (size_t)n, sizeof(line), by_len);
    const char **src = pt_malloc((size_t)r->batch * sizeof(char *));
    char **o = pt_calloc((size_t)r->batch * nb, sizeof(char *));
    float *s = pt_calloc((size_t)r->batch * nb, sizeof(float));
    int *c = pt_calloc((size_t)r->batch, sizeof(int));
    for (int i = 0; i < n && !rc; i += r->batch) {
        int k = n - i < r->batch ? n - i : r->batch;
        for (int j = 0; j < k; j++) src[j] = sorted[i + j].text;
        double tb = pt_time();
        if (petit_translate_nbest(r->t, src, k, o, s, c)) {
            fprintf(stderr, "petit translate: %s\n", petit_last_error());
            rc = -1;
            break;
        }
        if (petit_truncated_tokens(r->t) && r->warned++ < 10)
            fprintf(stderr, "petit translate: %ld source tokens beyond the model's maximum length were cut "
                            "(--split translates long lines in pieces)\n", petit_truncated_tokens(r->t));
        for (int j = 0; j < k; j++) {
            long at = sorted[i + j].index;
            memcpy(out + at * nb, o + (size_t)j * nb, (size_t)nb * sizeof(char *));
            memcpy(score + at * nb, s + (size_t)j * nb, (size_t)nb * sizeof(float));
            counts[at] = c[j];
            ms[at] = 1e3 * (pt_time() - tb) / k;
        }
        if (r->tty) {
            double el = pt_time() - r->t0;
            fprintf(stderr, "\r%ld lines, %.0f lines/s ", r->done + i + k, (r->done + i + k) / (el > 0 ? el : 1));
        }
    }
    free(sorted), free(src), free(o), free(s), free(c);
    return rc;
}

/* --split: each line's pieces (sentences, cut to fit) are translated as one
 * batch and joined back on one line; the score is their sum */
static int translate_split(run_ctx *r, const line *pend, int n, char **out, float *score, int *counts,
                           double *ms) {
    cli_pieces p = {0};
    int *first = pt_malloc((size_t)(n + 1) * sizeof(int));
    for (int i = 0; i < n; i++) {
        first[i] = p.n;
        if (cli_segment(r->pm, pend[i].text, pend[i].len, &p) < 0) {
            fprintf(stderr, "petit translate: %s\n", petit_last_error());
            cli_pieces_free(&p), free(first);
            return -1;
        }
    }
    first[n] = p.n;
    int m = p.n;
    line *items = pt_malloc((size_t)(m ? m : 1) * sizeof(line));
    for (int i = 0; i < m; i++) items[i] = (line){p.text[i], strlen(p.text[i]), i};
    char **o = pt_calloc((size_t)(m ? m : 1), sizeof(char *));
    float *s = pt_calloc((size_t)(m ? m : 1), sizeof(float));
    int *c = pt_calloc((size_t)(m ? m : 1), sizeof(int));
    double *t = pt_calloc((size_t)(m ? m : 1), sizeof(double));
    int rc = m ? translate_items(r, items, m, o, s, c, t) : 0;
    for (int i = 0; i < n && !rc; i++) {
        out[i] = cli_join(o + first[i], first[i + 1] - first[i]);
        score[i] = 0, ms[i] = 0, counts[i] = 1;
        for (int j = first[i]; j < first[i + 1]; j++) score[i] += s[j], ms[i] += t[j];
    }
    for (int i = 0; i < m; i++) free(o[i]);
    free(o), free(s), free(c), free(t), free(items), free(first);
    cli_pieces_free(&p);
    return rc;
}

/* translate `n` pending lines and write them in input order */
static int flush_pending(run_ctx *r, line *pend, int n) {
    if (!n) return 0;
    int nb = r->nbest;
    char **out = pt_calloc((size_t)n * nb, sizeof(char *));
    float *score = pt_calloc((size_t)n * nb, sizeof(float));
    int *counts = pt_calloc((size_t)n, sizeof(int));
    double *ms = pt_calloc((size_t)n, sizeof(double));
    line *items = pt_malloc((size_t)n * sizeof(line));
    for (int i = 0; i < n; i++) items[i] = pend[i], items[i].index = i;
    int rc = r->split ? translate_split(r, items, n, out, score, counts, ms)
                      : translate_items(r, items, n, out, score, counts, ms);
    free(items);
    if (rc) {
        for (int i = 0; i < n * nb; i++) free(out[i]);
        free(out), free(score), free(counts), free(ms);
        return -1;
    }
    FILE *f = r->out;
    for (int i = 0; i < n; i++) {
        char **hyp = out + (size_t)i * nb;
        const float *sc = score + (size_t)i * nb;
        if (r->json) {
            fprintf(f, "{\"line\": %ld, \"text\": ", pend[i].index);
            put_json_str(f, hyp[0] ? hyp[0] : "");
            fprintf(f, ", \"score\": %.6f, \"ms\": %.3f", sc[0], ms[i]);
            if (nb > 1) {
                fputs(", \"nbest\": [", f);
                for (int h = 0; h < counts[i]; h++) {
                    fputs(h ? ", {\"text\": " : "{\"text\": ", f);
                    put_json_str(f, hyp[h]);
                    fprintf(f, ", \"score\": %.6f}", sc[h]);
                }
                fputc(']', f);
            }
            fputs("}\n", f);
        } else if (nb == 1) {
            fputs(hyp[0], f);
            fputc('\n', f);
        } else {
            for (int h = 0; h < counts[i]; h++) fprintf(f, "%ld ||| %s ||| %.6f\n", pend[i].index, hyp[h], sc[h]);
        }
        if (counts[i] > 0 && hyp[0]) r->words_out += count_words(hyp[0]);
        for (int h = 0; h < nb; h++) free(hyp[h]);
    }
    int bad = fflush(f) != 0 || ferror(f);
    int e = errno;
    r->done += n;
    free(out), free(score), free(counts), free(ms);
    if (bad) {
        fprintf(stderr, "petit translate: %s: write failed: %s\n", r->out_name, strerror(e ? e : EIO));
        return -1;
    }
    return 0;
}

int cmd_translate(int argc, char **argv) {
    const char *model = NULL, *input = NULL, *output = NULL;
    int json = 0, split = 0;
    petit_options o;
    petit_options_default(&o); /* the API's defaults are the command's (beam 4) */
    long batch = 32, x;
    double d;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(f)) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(f, "-m") || !strcmp(f, "--model")) {
            if (!v) return cli_usage("translate", "%s needs a value", f);
            model = v, i++;
        } else if (!strcmp(f, "-i") || !strcmp(f, "--input")) {
            if (!v) return cli_usage("translate", "%s needs a value", f);
            if (input) return cli_usage("translate", "one input file at a time ('%s' and '%s')", input, v);
            input = v, i++;
        } else if (!strcmp(f, "-o") || !strcmp(f, "--output")) {
            if (!v) return cli_usage("translate", "%s needs a value", f);
            output = v, i++;
        } else if (!strcmp(f, "--json")) {
            json = 1;
        } else if (!strcmp(f, "--split")) {
            split = 1;
        } else if (!strcmp(f, "--beam")) {
            if (cli_int("translate", f, v, 1, 256, &x)) return 2;
            o.beam = (int)x, i++;
        } else if (!strcmp(f, "--nbest")) {
            if (cli_int("translate", f, v, 1, 512, &x)) return 2;
            o.nbest = (int)x, i++;
        } else if (!strcmp(f, "--batch")) {
            if (cli_int("translate", f, v, 1, 4096, &x)) return 2;
            batch = x, i++;
        } else if (!strcmp(f, "--threads")) {
            if (cli_int("translate", f, v, 0, 1024, &x)) return 2;
            o.threads = (int)x, i++;
        } else if (!strcmp(f, "--length-penalty")) {
            if (cli_float("translate", f, v, 0, 10, &d)) return 2;
            o.length_penalty = (float)d, i++;
        } else if (!strcmp(f, "--max-len-a")) {
            if (cli_float("translate", f, v, 0, 100, &d)) return 2;
            o.max_len_a = (float)d, i++;
        } else if (!strcmp(f, "--max-len-b")) {
            if (cli_float("translate", f, v, 0, 10000, &d)) return 2;
            o.max_len_b = (float)d, i++;
        } else if (!strcmp(f, "--float-cache")) {
            o.float_cache = 1;
        } else if (!strcmp(f, "--allow-unk")) {
            o.allow_unk = 1;
        } else if (!strcmp(f, "--shortlist")) {
            if (cli_on_off("translate", f, v, &o.shortlist)) return 2;
            i++;
        } else if (!strcmp(f, "--verbose") || !strcmp(f, "-v")) {
            verbose = 1;
        } else if (f[0] == '-' && f[1]) {
            return cli_unknown("translate", f);
        } else if (cli_split_flag(f)) { /* --verbose=1 */
            return cli_unknown("translate", f);
        } else { /* a positional argument: the input file ("-": standard input) */
            if (input) return cli_usage("translate", "one input file at a time ('%s' and '%s')", input, f);
            input = f;
        }
    }
    char def[4096];
    if (model && !(model = cli_model_path("translate", model, def, sizeof def))) return 1;
    if (!model && !(model = cli_default_model(def, sizeof def)))
        return cli_usage("translate", "no -m MODEL.gguf, no $PETIT_MODEL and no bundled models/en-fr.gguf "
                                      "beside the executable");
    if (o.nbest > 2 * o.beam)
        return cli_usage("translate", "--nbest %d is more than twice the beam (%d)", o.nbest, o.beam);
    if (split && o.nbest > 1)
        return cli_usage("translate", "--split joins one translation per sentence: no --nbest with it");
    int in_fd = 0;
    if (input && strcmp(input, "-")) {
        struct stat st;
        if ((in_fd = open(input, O_RDONLY | O_CLOEXEC)) < 0)
            return cli_fail("translate", "%s: cannot open: %s", input, strerror(errno));
        if (fstat(in_fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            close(in_fd);
            return cli_fail("translate", "%s: is a directory", input);
        }
    }
    pt_atomic_file af = {0};
    if (output && pt_atomic_check(output)) { /* before loading the model */
        if (in_fd > 0) close(in_fd);
        return cli_fail("translate", "%s", pt_error());
    }
    double t0 = pt_time();
    petit_model *pm = petit_model_load(model);
    if (!pm) {
        if (in_fd > 0) close(in_fd);
        return cli_fail("translate", "%s", petit_last_error());
    }
    if (output && pt_atomic_open(&af, output)) {
        if (in_fd > 0) close(in_fd);
        petit_model_free(pm);
        return cli_fail("translate", "%s", pt_error());
    }
    petit_translator *t = petit_translator_new(pm, &o);
    run_ctx r = {t, pm, (int)batch, o.nbest, json, split, 0, 0, 0, isatty(2), pt_time(), output ? af.f : stdout,
                 output ? output : "standard output"};
    if (verbose) fprintf(stderr, "petit translate: loaded %s in %.0f ms\n", model, 1e3 * (pt_time() - t0));

    /* read stdin ourselves, so we know when nothing more is waiting */
    size_t cap = 1 << 16, have = 0, start = 0;
    char *buf = pt_malloc(cap);
    int cap_pend = (int)batch * 8, npend = 0, eof = 0, rc = 0;
    line *pend = pt_malloc((size_t)cap_pend * sizeof(line));
    long index = 0;
    struct pollfd pfd = {in_fd, POLLIN, 0};
    for (;;) {
        /* complete lines in the buffer become pending */
        char *nl;
        while (npend < cap_pend && (nl = memchr(buf + start, '\n', have - start))) {
            size_t len = (size_t)(nl - (buf + start));
            if (len && buf[start + len - 1] == '\r') len--;
            pend[npend].text = pt_malloc(len + 1);
            memcpy(pend[npend].text, buf + start, len);
            pend[npend].text[len] = 0;
            pend[npend].len = len;
            pend[npend].index = index++;
            npend++;
            start = (size_t)(nl - buf) + 1;
        }
        if (eof && start < have && npend < cap_pend) { /* a last line without '\n' */
            size_t len = have - start;
            if (buf[have - 1] == '\r') len--;
            pend[npend].text = pt_malloc(len + 1);
            memcpy(pend[npend].text, buf + start, len);
            pend[npend].text[len] = 0;
            pend[npend].len = len, pend[npend].index = index++;
            npend++;
            start = have;
        }
        int waiting = !eof && poll(&pfd, 1, 0) > 0;
        int drained = eof && start >= have;
        if (drained && !npend) break;
        if (npend == cap_pend || (npend && !waiting) || drained) {
            if (flush_pending(&r, pend, npend)) {
                rc = 1;
                break;
            }
            for (int i = 0; i < npend; i++) free(pend[i].text);
            npend = 0;
            if (eof && start >= have) break;
            continue;
        }
        if (eof) continue;
        /* read more (blocking: nothing is pending, or more input is waiting) */
        if (start > 0) {
            memmove(buf, buf + start, have - start);
            have -= start, start = 0;
        }
        if (cap - have < 4096) buf = pt_realloc(buf, cap *= 2);
        ssize_t got = read(in_fd, buf + have, cap - have);
        if (got < 0) {
            if (errno == EINTR) continue;
            rc = cli_fail("translate", "%s: read error: %s", input && in_fd ? input : "standard input", strerror(errno));
            break;
        }
        if (got == 0) eof = 1;
        have += (size_t)got;
    }
    for (int i = 0; i < npend; i++) free(pend[i].text);
    if (r.tty) fputc('\n', stderr);
    if (verbose) {
        double el = pt_time() - r.t0;
        fprintf(stderr, "petit translate: %ld lines, %ld words out in %.2f s: %.0f words/s (beam %d, batch %ld, %s)\n",
                r.done, r.words_out, el, r.words_out / (el > 0 ? el : 1), o.beam, batch, model);
    }
    free(pend);
    free(buf);
    petit_translator_free(t);
    petit_model_free(pm);
    if (in_fd > 0) close(in_fd);
    if (output) {
        if (rc) pt_atomic_abort(&af); /* no partial output; an older file stays */
        else if (pt_atomic_commit(&af)) rc = cli_fail("translate", "%s", pt_error());
    } else if (!rc && (fflush(stdout) != 0 || ferror(stdout))) {
        rc = cli_fail("translate", "standard output: write failed: %s", strerror(errno));
    }
    return rc;
}
