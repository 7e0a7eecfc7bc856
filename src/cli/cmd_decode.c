/* cmd_decode.c: `petit decode -m MODEL [--ids]` — SentencePiece pieces (or
 * ids) on stdin to text on stdout, one line per line, as spm_decode does:
 * tokens are separated by spaces (runs of spaces count as one separator),
 * an empty line gives an empty line. Unlike spm_decode, which stops the
 * program at an id out of range, petit reports the line and exits 1; a
 * token that is not a number is an error too (spm_decode reads it as 0). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/cli.h"
#include "text/spm.h"

static const char *usage_text =
    "usage: petit decode -m MODEL [--ids] [--source] < pieces > text\n"
    "\n"
    "Detokenize SentencePiece pieces (or ids with --ids), one line per line,\n"
    "like `spm_decode`.\n"
    "\n"
    "  -m, --model FILE  a SentencePiece .model, or a petit model file (GGUF)\n"
    "                    holding its vocabulary\n"
    "  --ids             read ids instead of pieces\n"
    "  --source          use the source-side vocabulary of a model file that\n"
    "                    has separate source and target SentencePiece models\n"
    "                    (the default there is the target side)\n";

int cmd_decode(int argc, char **argv) {
    const char *model = NULL;
    int as_ids = 0, source = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (++i >= argc) return cli_usage("decode", "%s needs a file", a);
            model = argv[i];
        } else if (!strncmp(a, "--model=", 8)) {
            model = a + 8;
        } else if (!strcmp(a, "--ids")) {
            as_ids = 1;
        } else if (!strcmp(a, "--source")) {
            source = 1;
        } else {
            return cli_unknown("decode", a);
        }
    }
    if (!model) return cli_usage("decode", "-m MODEL is required");
    spm_model *m = spm_load_auto(model, !source);
    if (!m) return cli_fail("decode", "%s", pt_error());

    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    cli_reader r = {0, NULL, 0, 0, 0, 0};
    int *ids = NULL;
    const char **toks = NULL;
    size_t *lens = NULL, cap = 0;
    char *line;
    size_t len;
    int rc = 0, got;
    long lineno = 0;
    const int vocab = spm_vocab_size(m);
    while (rc == 0 && (got = cli_reader_next(&r, stdout, &line, &len)) == 1) {
        lineno++;
        /* split on ' ', skipping empty tokens */
        int n = 0;
        for (size_t i = 0; i < len;) {
            while (i < len && line[i] == ' ') i++;
            if (i >= len) break;
            size_t j = i;
            while (j < len && line[j] != ' ') j++;
            if ((size_t)n >= cap) {
                cap = cap ? 2 * cap : 256;
                ids = pt_realloc(ids, sizeof(int) * cap);
                toks = pt_realloc(toks, sizeof(char *) * cap);
                lens = pt_realloc(lens, sizeof(size_t) * cap);
            }
            toks[n] = line + i;
            lens[n] = j - i;
            if (as_ids) {
                long v = 0;
                size_t k = i;
                while (k < j && line[k] >= '0' && line[k] <= '9' && v < vocab)
                    v = v * 10 + (line[k++] - '0');
                if (k != j || v >= vocab) {
                    rc = cli_fail("decode", "line %ld: '%.*s' is not an id in [0, %d)", lineno,
                                  (int)(j - i < 40 ? j - i : 40), line + i, vocab);
                    break;
                }
                ids[n] = (int)v;
            }
            n++;
            i = j;
        }
        if (rc) break;
        size_t tl;
        char *text = as_ids ? spm_decode(m, ids, n, &tl) : spm_decode_pieces(m, toks, lens, n, &tl);
        fwrite(text, 1, tl, stdout);
        fputc('\n', stdout);
        free(text);
    }
    if (rc == 0 && got < 0) rc = cli_fail("decode", "reading stdin: %s", strerror(errno));
    if (fflush(stdout) != 0 || ferror(stdout)) rc = cli_fail("decode", "writing stdout failed");
    free(r.buf);
    free(ids);
    free(toks);
    free(lens);
    spm_free(m);
    return rc;
}
