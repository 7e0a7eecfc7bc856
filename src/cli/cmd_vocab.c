/* cmd_vocab.c: `petit vocab` — train a SentencePiece model by running
 * sentencepiece's own trainer, spm_train (fork + exec with an argument
 * vector: no shell, no quoting). petit reads the result natively
 * (src/text/spm.c); it does not train vocabularies itself.
 *
 * Defaults petit's models rely on: <unk>=0, <s>=1, </s>=2, <pad>=3 (a pad
 * id for batching), and at most --max-lines sentences sampled at random
 * (spm_train's --input_sentence_size with --shuffle_input_sentence), so
 * that training stays within a minute or two on the project's corpus.
 * spm_train's log goes to PREFIX.log (or to stderr with -v). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/cli.h"
#include "text/spm.h"
#include "text/spm_internal.h"

static const char *usage_text =
    "usage: petit vocab -i FILE [-i FILE...] -o PREFIX --size N [options]\n"
    "\n"
    "Train a SentencePiece vocabulary with sentencepiece's spm_train; writes\n"
    "PREFIX.model, PREFIX.vocab and PREFIX.log. Special ids: <unk>=0, <s>=1,\n"
    "</s>=2, <pad>=3.\n"
    "\n"
    "  -i, --input FILE         training text, one sentence per line (repeatable)\n"
    "  -o, --output PREFIX      output prefix\n"
    "  --size N                 vocabulary size\n"
    "  --type unigram|bpe       model type (default unigram)\n"
    "  --coverage F             character coverage (default 0.9999: rarer characters\n"
    "                           are spelled as bytes)\n"
    "  --normalization NAME     nmt_nfkc (default), identity, nfkc, nmt_nfkc_cf, nfkc_cf\n"
    "  --no-byte-fallback       no <0xNN> byte pieces (default: with them, so that any\n"
    "                           character is encodable and none becomes <unk>)\n"
    "  --no-split-digits        let pieces hold several digits (default: one digit a piece)\n"
    "  --max-lines N            sample at most N sentences (default 1000000)\n"
    "  --user-symbols A,B,...   user-defined symbols (always one piece)\n"
    "  --threads N              spm_train threads (default: the CPUs online)\n"
    "  --spm-arg ARG            pass ARG to spm_train as it is (repeatable)\n"
    "  -v, --verbose            show spm_train's log instead of writing PREFIX.log\n"
    "\n"
    "After training, every line of the input (up to --max-lines) is encoded and\n"
    "decoded again: a line that decodes to other than its normalized text fails\n"
    "the command, and so does one that needs <unk> (with --no-byte-fallback, the\n"
    "lines that need <unk> are a warning instead).\n"
    "\n"
    "Needs spm_train on PATH (Debian/Ubuntu: apt-get install sentencepiece).\n";

/* the full path of prog found on PATH, or NULL */
static char *find_on_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path || !*path) return NULL;
    size_t plen = strlen(prog);
    for (const char *p = path;;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        char *cand = pt_malloc(n + plen + 3);
        if (n == 0) snprintf(cand, n + plen + 3, "./%s", prog);
        else snprintf(cand, n + plen + 3, "%.*s/%s", (int)n, p, prog);
        struct stat st;
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) return cand;
        free(cand);
        if (!colon) return NULL;
        p = colon + 1;
    }
}

static void print_log_tail(const char *log) {
    size_t n;
    char *buf = pt_read_file(log, &n);
    if (!buf) return;
    size_t start = n, lines = 0;
    while (start > 0 && lines < 8)
        if (buf[--start] == '\n' && start + 1 < n) lines++;
    fprintf(stderr, "  --- last lines of %s:\n", log);
    pt_lines it;
    const char *l;
    size_t len;
    pt_lines_init(&it, buf + start, n - start);
    while (pt_lines_next(&it, &l, &len))
        if (len) fprintf(stderr, "  | %.*s\n", (int)len, l);
    free(buf);
}

static char *fmt(const char *f, const char *v) {
    size_t n = strlen(f) + strlen(v) + 1;
    char *s = pt_malloc(n);
    snprintf(s, n, f, v);
    return s;
}

/* The check after training: every line of the inputs (at most max_lines in
 * all) is encoded and decoded again; lines that need <unk>, or whose decoding
 * is not their normalized text (sentencepiece's normalizer, U+2581 as the
 * space, no leading space), are counted and shown. Either is an error (a
 * translator must be able to spell its own training text), except that
 * without byte fallback lines that need <unk> are a warning. */
static int check_round_trip(const spm_model *m, const char **inputs, int n_in, long max_lines) {
    const char *C = "vocab";
    long lines = 0, unk_lines = 0, diff_lines = 0, unk_shown = 0, diff_shown = 0;
    int unk = spm_unk_id(m), *ids = NULL;
    size_t ids_cap = 0, norm_cap = 0;
    char *norm = NULL;
    for (int k = 0; k < n_in && lines < max_lines; k++) {
        size_t n;
        char *buf = pt_read_file(inputs[k], &n);
        if (!buf) return cli_fail(C, "%s: %s", inputs[k], pt_error());
        pt_lines it;
        const char *l;
        size_t len;
        pt_lines_init(&it, buf, n);
        while (lines < max_lines && pt_lines_next(&it, &l, &len)) {
            lines++;
            int nid = spm_encode(m, l, len, &ids, &ids_cap);
            if (nid < 0) { free(buf); free(ids); free(norm); return cli_fail(C, "encode: %s", pt_error()); }
            int has_unk = 0;
            for (int i = 0; i < nid; i++) has_unk |= ids[i] == unk;
            if (has_unk) {
                if (unk_shown++ < 5) fprintf(stderr, "  <unk> in %s:%ld: %.*s\n", inputs[k], lines, (int)len, l);
                unk_lines++;
                continue;
            }
            size_t dlen, nlen = spm_normalize(m, l, len, &norm, &norm_cap);
            char *dec = spm_decode(m, ids, nid, &dlen);
            /* the normalized text with spaces for U+2581 (E2 96 81), no leading space */
            size_t w = 0;
            for (size_t r = 0; r < nlen; r++) {
                if (r + 2 < nlen && (unsigned char)norm[r] == 0xE2 && (unsigned char)norm[r + 1] == 0x96 &&
                    (unsigned char)norm[r + 2] == 0x81) {
                    norm[w++] = ' ';
                    r += 2;
                } else {
                    norm[w++] = norm[r];
                }
            }
            size_t off = w > 0 && norm[0] == ' ';
            if (!dec || dlen != w - off || memcmp(dec, norm + off, dlen)) {
                if (diff_shown++ < 5)
                    fprintf(stderr, "  round trip differs, %s:%ld: '%.*s' -> '%.*s'\n", inputs[k], lines,
                            (int)(w - off), norm + off, dec ? (int)dlen : 0, dec ? dec : "");
                diff_lines++;
            }
            free(dec);
        }
        free(buf);
    }
    free(ids);
    free(norm);
    fprintf(stderr, "petit vocab: round trip over %ld lines: %ld with <unk>, %ld decoded differently\n", lines,
            unk_lines, diff_lines);
    if (unk_lines && !spm_byte_fallback(m))
        fprintf(stderr, "petit vocab: warning: %ld lines need <unk> (--no-byte-fallback was given)\n",
                unk_lines);
    else if (unk_lines || diff_lines)
        return cli_fail(C, "%ld lines need <unk> and %ld do not round-trip with byte fallback on",
                        unk_lines, diff_lines);
    return 0;
}

int cmd_vocab(int argc, char **argv) {
    const char *C = "vocab";
    const char **inputs = pt_calloc((size_t)argc, sizeof(char *));
    const char **extra = pt_calloc((size_t)argc, sizeof(char *));
    int n_in = 0, n_extra = 0, byte_fallback = 1, split_digits = 1, verbose = 0, rc = 0;
    const char *prefix = NULL, *type = "unigram", *norm = "nmt_nfkc", *user = NULL;
    long size = 0, max_lines = 1000000, threads = sysconf(_SC_NPROCESSORS_ONLN);
    double coverage = 0.9999;
    if (threads < 1) threads = 1;
    if (threads > 16) threads = 16;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(a)) {
            fputs(usage_text, stdout);
            goto out;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (!strcmp(a, "--byte-fallback")) {
            byte_fallback = 1;
        } else if (!strcmp(a, "--no-byte-fallback")) {
            byte_fallback = 0;
        } else if (!strcmp(a, "--split-digits")) {
            split_digits = 1;
        } else if (!strcmp(a, "--no-split-digits")) {
            split_digits = 0;
        } else if (!v) {
            rc = cli_usage(C, "%s needs a value", a);
        } else {
            i++;
            if (!strcmp(a, "-i") || !strcmp(a, "--input")) inputs[n_in++] = v;
            else if (!strcmp(a, "-o") || !strcmp(a, "--output")) prefix = v;
            else if (!strcmp(a, "--size")) rc = cli_int(C, a, v, 2, 10000000, &size) ? 2 : 0;
            else if (!strcmp(a, "--type")) type = v;
            else if (!strcmp(a, "--coverage")) rc = cli_float(C, a, v, 1e-6, 1.0, &coverage) ? 2 : 0;
            else if (!strcmp(a, "--normalization")) norm = v;
            else if (!strcmp(a, "--max-lines")) rc = cli_int(C, a, v, 1, 1000000000L, &max_lines) ? 2 : 0;
            else if (!strcmp(a, "--threads")) rc = cli_int(C, a, v, 1, 1024, &threads) ? 2 : 0;
            else if (!strcmp(a, "--user-symbols")) user = v;
            else if (!strcmp(a, "--spm-arg")) extra[n_extra++] = v;
            else rc = cli_unknown(C, a);
        }
    }
    if (rc) goto out;
    if (n_in == 0) { rc = cli_usage(C, "at least one -i FILE is required"); goto out; }
    if (!prefix) { rc = cli_usage(C, "-o PREFIX is required"); goto out; }
    if (size == 0) { rc = cli_usage(C, "--size N is required"); goto out; }
    if (strcmp(type, "unigram") && strcmp(type, "bpe")) {
        rc = cli_usage(C, "--type must be unigram or bpe, not '%s'", type);
        goto out;
    }
    static const char *norms[] = {"nmt_nfkc", "identity", "nfkc", "nmt_nfkc_cf", "nfkc_cf"};
    int norm_ok = 0;
    for (size_t k = 0; k < sizeof norms / sizeof *norms; k++) norm_ok |= !strcmp(norm, norms[k]);
    if (!norm_ok) { rc = cli_usage(C, "unknown --normalization '%s'", norm); goto out; }
    for (int k = 0; k < n_in; k++) {
        if (strchr(inputs[k], ',')) {
            rc = cli_fail(C, "%s: spm_train cannot take a file name with a comma in it", inputs[k]);
            goto out;
        }
        FILE *f = fopen(inputs[k], "rb");
        if (!f) { rc = cli_fail(C, "%s: cannot open: %s", inputs[k], strerror(errno)); goto out; }
        fclose(f);
    }
    /* spm_train writes PREFIX.model and .vocab in place, and the log is
     * truncated in place: check all three first (a FIFO, a device or a
     * directory there is refused; a symlink is written through) */
    static const char *outs[] = {"%s.model", "%s.vocab", "%s.log"};
    for (int k = 0; k < 3 && !(verbose && k == 2); k++) {
        char *o = fmt(outs[k], prefix);
        int bad = pt_atomic_check(o);
        free(o);
        if (bad) { rc = cli_fail(C, "%s", pt_error()); goto out; }
    }
    char *spm_train = find_on_path("spm_train");
    if (!spm_train) {
        rc = cli_fail(C, "spm_train not found on PATH\n"
                         "  ---> HINT: petit vocab runs sentencepiece's trainer; install it with\n"
                         "      apt-get install sentencepiece   (Debian/Ubuntu)");
        goto out;
    }

    /* the argument vector */
    size_t in_len = 0;
    for (int k = 0; k < n_in; k++) in_len += strlen(inputs[k]) + 1;
    char *input_arg = pt_malloc(in_len + 16), *p = input_arg;
    p += sprintf(p, "--input=");
    for (int k = 0; k < n_in; k++) p += sprintf(p, "%s%s", k ? "," : "", inputs[k]);
    char num[64];
    char **av = pt_calloc((size_t)(32 + n_extra), sizeof(char *));
    int ac = 0;
    av[ac++] = pt_strdup("spm_train");
    av[ac++] = input_arg;
    av[ac++] = fmt("--model_prefix=%s", prefix);
    av[ac++] = fmt("--model_type=%s", type);
    snprintf(num, sizeof num, "%ld", size);
    av[ac++] = fmt("--vocab_size=%s", num);
    snprintf(num, sizeof num, "%.9g", coverage);
    av[ac++] = fmt("--character_coverage=%s", num);
    av[ac++] = fmt("--normalization_rule_name=%s", norm);
    av[ac++] = fmt("--byte_fallback=%s", byte_fallback ? "true" : "false");
    av[ac++] = fmt("--split_digits=%s", split_digits ? "true" : "false");
    snprintf(num, sizeof num, "%ld", max_lines);
    av[ac++] = fmt("--input_sentence_size=%s", num);
    av[ac++] = pt_strdup("--shuffle_input_sentence=true");
    snprintf(num, sizeof num, "%ld", threads);
    av[ac++] = fmt("--num_threads=%s", num);
    av[ac++] = pt_strdup("--unk_id=0");
    av[ac++] = pt_strdup("--bos_id=1");
    av[ac++] = pt_strdup("--eos_id=2");
    av[ac++] = pt_strdup("--pad_id=3");
    if (user) av[ac++] = fmt("--user_defined_symbols=%s", user);
    for (int k = 0; k < n_extra; k++) av[ac++] = pt_strdup(extra[k]);
    av[ac] = NULL;

    char *log = fmt("%s.log", prefix);
    int logfd = -1;
    if (!verbose && (logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
        rc = cli_fail(C, "%s: cannot create: %s", log, strerror(errno));
    } else {
        fprintf(stderr, "petit vocab: training a %ld-piece %s model with %s (%s) ...\n", size, type,
                spm_train, verbose ? "log below" : log);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            rc = cli_fail(C, "fork: %s", strerror(errno));
        } else if (pid == 0) {
            if (logfd >= 0) {
                dup2(logfd, 1);
                dup2(logfd, 2);
                close(logfd);
            } else {
                dup2(2, 1); /* spm_train's log on our stderr; stdout stays clean */
            }
            execv(spm_train, av);
            fprintf(stderr, "petit vocab: cannot run %s: %s\n", spm_train, strerror(errno));
            _exit(127);
        } else {
            int status = 0;
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
            if (logfd >= 0) close(logfd);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                if (WIFSIGNALED(status))
                    rc = cli_fail(C, "spm_train was killed by signal %d", WTERMSIG(status));
                else
                    rc = cli_fail(C, "spm_train failed (exit %d)", WEXITSTATUS(status));
                if (!verbose) print_log_tail(log);
            } else {
                char *mpath = fmt("%s.model", prefix);
                spm_model *m = spm_load_file(mpath);
                if (!m) {
                    rc = cli_fail(C, "spm_train wrote a model petit cannot read: %s", pt_error());
                } else {
                    fprintf(stderr, "petit vocab: wrote %s.model and %s.vocab (%d pieces, %s, %s%s%s)\n",
                            prefix, prefix, spm_vocab_size(m), type, norm,
                            byte_fallback ? ", byte fallback" : "", split_digits ? ", split digits" : "");
                    rc = check_round_trip(m, inputs, n_in, max_lines);
                    spm_free(m);
                }
                free(mpath);
            }
        }
    }
    free(log);
    for (int k = 0; k < ac; k++) free(av[k]);
    free(av);
    free(spm_train);
out:
    free(inputs);
    free(extra);
    return rc;
}
