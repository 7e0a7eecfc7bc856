/* cmd_quantize.c: `petit quantize` — a float model to 8- or 4-bit integer
 * weights, by round to nearest or by GPTQ with calibration sentences
 * (their statistics: decode/calib.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "cli/cli.h"
#include "decode/calib.h"
#include "model/quantize.h"
#include "nn/nn.h"
#include "text/spm.h"

static const char *usage_text =
    "usage: petit quantize -m MODEL.gguf -o OUT.gguf --type q8|q4 [options]\n"
    "\n"
    "Writes a copy of a float (F32) model with integer weights: Q8_0 (8.5 bits a\n"
    "weight) or Q4_0 (4.5 bits), ggml's block layouts. The input is not changed.\n"
    "\n"
    "  -m, --model FILE      the float model\n"
    "  -o, --output FILE     the quantized model (not the input)\n"
    "  --type q8|q4          integer type\n"
    "  --method rtn|gptq     round to nearest (default), or GPTQ (needs --calib)\n"
    "  --calib FILE          GPTQ: source-language sentences, one per line\n"
    "  --calib-lines N       GPTQ: use the first N non-empty lines (default 256)\n"
    "  --damp X              GPTQ: damping, a fraction of the Hessian's mean diagonal (0.01)\n"
    "  --tensors LIST        weights to quantize: all (default), or a comma list of\n"
    "                        emb (embedding = output layer), attn, ffn\n"
    "  --emb-type q8|q4|f32  the embedding's type (default: --type)\n"
    "  --threads N           threads (default: all cores)\n"
    "  -q, --quiet           no per-tensor lines\n";

/* the tokenizer from g, then pt_calibrate; errors printed */
int cli_calibrate(const char *cmd, const gguf_file *g, const char *model_path, pt_model *m,
                  const pt_quant_policy *pol, const char *path, int max_lines, int grads, const char *cache,
                  int quiet, pt_calib **out) {
    spm_model *sp = NULL, *tsp = NULL;
    *out = NULL;
    if (spm_from_gguf(g, "petit.tokenizer", &sp, &tsp)) return cli_fail_path(cmd, model_path);
    char name[64];
    snprintf(name, sizeof name, "petit %s", cmd);
    pt_calib_opts co;
    pt_calib_opts_default(&co);
    co.max_lines = max_lines, co.grads = grads, co.cache = cache, co.progress = quiet ? NULL : stderr;
    co.name = name;
    int rc = pt_calibrate(m, sp, pol, path, &co, out) ? cli_fail(cmd, "%s", pt_error()) : 0;
    spm_free(sp);
    if (tsp) spm_free(tsp);
    return rc;
}

int cmd_quantize(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *calib_path = NULL, *groups = "all", *emb = NULL;
    int type = -1, gptq = 0, quiet = 0, threads = 0;
    long calib_lines = 256, x;
    double damp = 0.01;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(f)) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(f, "-q") || !strcmp(f, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!v) return cli_usage("quantize", "%s needs a value", f);
        i++;
        if (!strcmp(f, "-m") || !strcmp(f, "--model")) in = v;
        else if (!strcmp(f, "-o") || !strcmp(f, "--output")) out = v;
        else if (!strcmp(f, "--type")) {
            type = nn_qtype_parse(v);
            if (type != NN_Q8_0 && type != NN_Q4_0)
                return cli_usage("quantize", "unknown --type '%s' (q8 or q4)", v);
        } else if (!strcmp(f, "--method")) {
            if (strcmp(v, "rtn") && strcmp(v, "gptq"))
                return cli_usage("quantize", "unknown --method '%s' (rtn or gptq)", v);
            gptq = !strcmp(v, "gptq");
        } else if (!strcmp(f, "--calib")) calib_path = v;
        else if (!strcmp(f, "--calib-lines")) {
            if (cli_int("quantize", f, v, 1, 1000000, &calib_lines)) return 2;
        } else if (!strcmp(f, "--damp")) {
            if (cli_float("quantize", f, v, 0.0, 10.0, &damp)) return 2;
        } else if (!strcmp(f, "--tensors")) groups = v;
        else if (!strcmp(f, "--emb-type")) emb = v;
        else if (!strcmp(f, "--threads")) {
            if (cli_int("quantize", f, v, 0, 1024, &x)) return 2;
            threads = (int)x;
        } else return cli_unknown("quantize", f);
    }
    if (!in || !out) return cli_usage("quantize", "-m MODEL and -o OUT are required");
    if (type < 0) return cli_usage("quantize", "--type q8|q4 is required");
    if (gptq && !calib_path) return cli_usage("quantize", "--method gptq needs --calib FILE");
    if (!gptq && calib_path) return cli_usage("quantize", "--calib is for --method gptq");
    if (!strcmp(in, out) || cli_same_file(in, out))
        return cli_usage("quantize", "the output would overwrite the input model");
    if (pt_atomic_check(out)) return cli_fail("quantize", "%s", pt_error()); /* before the work */
    pt_quant_policy pol;
    pt_quant_policy_default(&pol, type);
    if (pt_quant_groups_parse(groups, &pol.groups)) return cli_usage("quantize", "--tensors: %s", pt_error());
    if (emb) {
        pol.emb_type = nn_qtype_parse(emb);
        if (pol.emb_type < 0) return cli_usage("quantize", "unknown --emb-type '%s' (q8, q4 or f32)", emb);
    }
    nn_set_threads(threads);

    gguf_file *g;
    pt_model m;
    if (cli_load_float_model("quantize", "is already quantized", in, &g, &m)) return 1;
    int rc = 1;
    pt_calib *calib = NULL;
    if (gptq && cli_calibrate("quantize", g, in, &m, &pol, calib_path, (int)calib_lines, 0, NULL, quiet, &calib)) goto done;
    gguf_writer *w = gguf_writer_init();
    cli_copy_meta(w, g);
    pt_quant_set_keys(w, &pol, gptq ? "gptq" : "rtn");
    pt_quant_keep keep = {0};
    double t0 = pt_time();
    if (pt_quant_add_tensors(w, &m, m.mem, &pol, calib, damp, &keep, quiet ? NULL : stderr)) {
        cli_fail("quantize", "%s", pt_error());
    } else if (gguf_write(w, out)) {
        cli_fail_path("quantize", out);
    } else {
        int nq = 0;
        for (int i = 0; i < m.n_tensors; i++) nq += pt_quant_tensor_type(&m, i, &pol) != NN_F32;
        if (!nq)
            fprintf(stderr, "petit quantize: %s: no weight matrix to quantize (--tensors selects none whose rows "
                            "are a multiple of 32 weights); %s is a float copy\n", in, out);
        struct stat st;
        long long ob = stat(out, &st) ? 0 : (long long)st.st_size;
        fprintf(stderr, "petit quantize: %s -> %s: %s %s, %.1f MB -> %.1f MB (%.1f s)\n", in, out, nn_qtype_name(type),
                gptq ? "GPTQ" : "RTN", gguf_size(g) / 1e6, ob / 1e6, pt_time() - t0);
        rc = 0;
    }
    pt_quant_keep_free(&keep);
    gguf_writer_free(w);
done:
    pt_calib_free(calib);
    pt_model_free(&m);
    gguf_close(g);
    return rc;
}
