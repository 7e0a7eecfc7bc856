/* cmd_encode.c: `petit encode -m MODEL [--ids]` — text on stdin to
 * SentencePiece pieces (or ids) on stdout, one line per line, written the
 * way spm_encode writes them. Lines end at '\n' only: a '\r' before it is
 * part of the line, as in spm_encode. Output is flushed whenever input has
 * to be waited for, so it works as a co-process without buffering the
 * whole input. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/cli.h"
#include "text/spm.h"

static const char *usage_text =
    "usage: petit encode -m MODEL [--ids] [--target] < text > pieces\n"
    "\n"
    "Tokenize text with a SentencePiece model, one line per line, formatted\n"
    "like `spm_encode` (pieces separated by spaces, or ids with --ids).\n"
    "\n"
    "  -m, --model FILE  a SentencePiece .model, or a petit model file (GGUF)\n"
    "                    holding its vocabulary\n"
    "  --ids             print ids instead of pieces\n"
    "  --target          use the target-side vocabulary of a model file that\n"
    "                    has separate source and target SentencePiece models\n"
    "\n"
    "Any bytes are accepted: invalid UTF-8 becomes U+FFFD as in sentencepiece\n"
    "(so <unk>, or its bytes with byte fallback); NUL is a character.\n";

static char *put_int(char *p, int v) {
    char tmp[16];
    int n = 0;
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    do tmp[n++] = (char)('0' + u % 10), u /= 10;
    while (u);
    if (v < 0) *p++ = '-';
    while (n) *p++ = tmp[--n];
    return p;
}

int cmd_encode(int argc, char **argv) {
    const char *model = NULL;
    int as_ids = 0, target = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (++i >= argc) return cli_usage("encode", "%s needs a file", a);
            model = argv[i];
        } else if (!strncmp(a, "--model=", 8)) {
            model = a + 8;
        } else if (!strcmp(a, "--ids")) {
            as_ids = 1;
        } else if (!strcmp(a, "--target")) {
            target = 1;
        } else {
            return cli_unknown("encode", a);
        }
    }
    if (!model) return cli_usage("encode", "-m MODEL is required");
    spm_model *m = spm_load_auto(model, target);
    if (!m) return cli_fail("encode", "%s", pt_error());

    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    cli_reader r = {0, NULL, 0, 0, 0, 0};
    int *ids = NULL;
    size_t cap = 0, out_cap = 0;
    char *out = NULL, *line;
    size_t len;
    int rc = 0, got;
    long lineno = 0;
    while ((got = cli_reader_next(&r, stdout, &line, &len)) == 1) {
        lineno++;
        if (as_ids) {
            int n = spm_encode(m, line, len, &ids, &cap);
            if (n < 0) {
                rc = cli_fail("encode", "line %ld: %s", lineno, pt_error());
                break;
            }
            size_t need = (size_t)n * 12 + 2;
            if (out_cap < need) out = pt_realloc(out, out_cap = need * 2);
            char *p = out;
            for (int k = 0; k < n; k++) {
                if (k) *p++ = ' ';
                p = put_int(p, ids[k]);
            }
            *p++ = '\n';
            fwrite(out, 1, (size_t)(p - out), stdout);
        } else {
            long n = spm_encode_pieces(m, line, len, &out, &out_cap);
            if (n < 0) {
                rc = cli_fail("encode", "line %ld: %s", lineno, pt_error());
                break;
            }
            fwrite(out, 1, (size_t)n, stdout);
            fputc('\n', stdout);
        }
    }
    if (got < 0) rc = cli_fail("encode", "reading stdin: %s", strerror(errno));
    if (fflush(stdout) != 0 || ferror(stdout)) rc = cli_fail("encode", "writing stdout failed");
    free(r.buf);
    free(ids);
    free(out);
    spm_free(m);
    return rc;
}
