/* cmd_shortlist.c: `petit shortlist -m MODEL --src F --tgt F -o OUT` */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli/cli.h"
#include "decode/shortlist.h"
#include "gguf/gguf.h"
#include "text/spm.h"
#include "train/train.h"

static const char usage_text[] =
    "usage: petit shortlist -m MODEL.gguf --src TRAIN.en --tgt TRAIN.fr -o OUT.gguf [options]\n"
    "\n"
    "Learns a lexical shortlist from parallel text (IBM model 1 by EM over the model's\n"
    "pieces) and writes a copy of the model that carries it. petit translate then\n"
    "computes the output layer and the softmax over the batch's shortlisted pieces only:\n"
    "the frequent ones, the --top best translations of each source piece, and (one\n"
    "vocabulary for both sides) the source pieces themselves. --shortlist off at\n"
    "translation decodes over the whole vocabulary again. Use the model's own training\n"
    "text (never a test set).\n"
    "\n"
    "  -m, --model FILE        the model (any: float, quantized, packed)\n"
    "      --src FILE          source side of the parallel text\n"
    "      --tgt FILE          target side, line-aligned\n"
    "  -o, --output FILE       the model with its shortlist (written atomically)\n"
    "      --top K             candidates per source piece (default 50)\n"
    "      --frequent N        most frequent target pieces always in (default 100)\n"
    "      --iters N           EM iterations (default 5)\n"
    "      --max-lines N       read only the first N pairs (default: all)\n"
    "  -q, --quiet             no progress on stderr\n";

static void progress(void *ctx, int iter, double ppl) {
    if (!*(int *)ctx) fprintf(stderr, "petit shortlist: EM iteration %d: perplexity %.1f\n", iter, ppl);
}

int cmd_shortlist(int argc, char **argv) {
    const char *model = NULL, *src = NULL, *tgt = NULL, *out = NULL;
    long max_lines = 0, v;
    int quiet = 0;
    pt_lex_opts lo;
    pt_lex_opts_default(&lo);
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(f)) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(f, "-q") || !strcmp(f, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (f[0] != '-') return cli_usage("shortlist", "unexpected argument '%s'", f);
        int known = !strcmp(f, "-m") || !strcmp(f, "--model") || !strcmp(f, "--src") || !strcmp(f, "--tgt") ||
                    !strcmp(f, "-o") || !strcmp(f, "--output") || !strcmp(f, "--top") || !strcmp(f, "--frequent") ||
                    !strcmp(f, "--iters") || !strcmp(f, "--max-lines");
        if (!known) return cli_unknown("shortlist", f);
        if (!val) return cli_usage("shortlist", "%s needs a value", f);
        i++;
        if (!strcmp(f, "-m") || !strcmp(f, "--model")) model = val;
        else if (!strcmp(f, "--src")) src = val;
        else if (!strcmp(f, "--tgt")) tgt = val;
        else if (!strcmp(f, "-o") || !strcmp(f, "--output")) out = val;
        else {
            long lo_ = !strcmp(f, "--frequent") ? 0 : 1, hi = !strcmp(f, "--max-lines") ? 1L << 40 : !strcmp(f, "--frequent") ? 1 << 20 : 4096;
            if (cli_int("shortlist", f, val, lo_, hi, &v)) return 2;
            if (!strcmp(f, "--top")) lo.k = (int)v;
            else if (!strcmp(f, "--frequent")) lo.n_freq = (int)v;
            else if (!strcmp(f, "--iters")) lo.iters = (int)v;
            else max_lines = v;
        }
    }
    if (!model || !src || !tgt || !out) return cli_usage("shortlist", "-m, --src, --tgt and -o are all needed");
    if (cli_same_file(model, out)) return cli_usage("shortlist", "-o %s is the model: write elsewhere", out);
    if (pt_atomic_check(out)) return cli_fail("shortlist", "%s", pt_error());
    double t0 = pt_time();
    gguf_file *g = gguf_open(model);
    if (!g) return cli_fail("shortlist", "%s", pt_error());
    pt_config cfg;
    spm_model *sp = NULL, *tsp = NULL;
    pt_corpus c = {0};
    pt_shortlist sl = {0};
    int rc = 1;
    if (pt_config_from_gguf(&cfg, g) || spm_from_gguf(g, "petit.tokenizer", &sp, &tsp)) {
        cli_fail_path("shortlist", model);
        goto done;
    }
    if (pt_corpus_load_sides(&c, src, tgt, sp, tsp, cfg.eos_id, cfg.max_len, max_lines)) {
        cli_fail("shortlist", "%s", pt_error());
        goto done;
    }
    if (!c.n) {
        cli_fail("shortlist", "%s: no usable sentence pairs", src);
        goto done;
    }
    if (!quiet)
        fprintf(stderr, "petit shortlist: %d pairs (%.1f s to read), top %d, frequent %d, %d iterations\n", c.n,
                pt_time() - t0, lo.k, lo.n_freq, lo.iters);
    lo.copy_source = tsp == NULL;
    lo.progress = progress, lo.ctx = &quiet;
    if (pt_shortlist_build(&sl, c.n, c.src_off, c.src_ids, c.tgt_off, c.tgt_ids, cfg.vocab, cfg.vocab, cfg.eos_id,
                           &lo)) {
        cli_fail("shortlist", "%s", pt_error());
        goto done;
    }
    gguf_writer *w = gguf_writer_init();
    for (int i = 0; i < gguf_n_kv(g); i++)
        if (strncmp(gguf_key(g, i), "petit.shortlist.", 16)) gguf_copy_kv(w, g, i);
    for (int i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        if (strncmp(t->name, "shortlist.", 10)) gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
    }
    int16_t *narrow = pt_shortlist_to_gguf(&sl, w);
    if (gguf_write(w, out)) cli_fail("shortlist", "%s: %s", out, pt_error());
    else rc = 0;
    gguf_writer_free(w);
    free(narrow);
    if (!rc && !quiet) {
        long filled = 0;
        for (size_t i = 0; i < (size_t)sl.n_src * sl.k; i++) filled += sl.s2t[i] >= 0;
        fprintf(stderr, "petit shortlist: -> %s: %d source pieces x %d (%.1f%% filled), %d frequent (%.1f s)\n", out,
                sl.n_src, sl.k, 100.0 * filled / ((double)sl.n_src * sl.k), sl.n_freq, pt_time() - t0);
    }
done:
    pt_shortlist_free(&sl);
    pt_corpus_free(&c);
    if (sp) spm_free(sp);
    if (tsp) spm_free(tsp);
    gguf_close(g);
    return rc;
}
