/* cmd_pack.c: `petit pack` — a float model to an entropy-coded one: every
 * weight matrix ECQ-assigned to a uniform grid, the levels rANS-coded
 * (model/pack.h). The packed file loads and translates like any model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "cli/cli.h"
#include "model/pack.h"
#include "nn/nn.h"

static const char *usage_text =
    "usage: petit pack -m MODEL.gguf -o OUT.gguf --lambda L [options]\n"
    "\n"
    "Writes an entropy-coded copy of a float (F32) model: each weight matrix's\n"
    "weights take levels kΔ of a uniform grid, chosen to trade squared error\n"
    "against code length (entropy-constrained quantization), and the levels are\n"
    "rANS-coded. Larger L: fewer bits, more error. The input is not changed.\n"
    "\n"
    "  -m, --model FILE     the float model\n"
    "  -o, --output FILE    the packed model (not the input)\n"
    "  --lambda L           rate-distortion trade-off, >= 0, in units of each\n"
    "                       tensor's weight variance per bit (0: plain rounding)\n"
    "  --bits B             grid of 2^(B-1)-1 levels each side of zero, B = 2..8 (default 8)\n"
    "  --tensors LIST       all (default) or a comma list of emb, attn, ffn\n"
    "  --calib FILE         GPTQ with the ECQ quantizer: source-language sentences that\n"
    "                       weigh each layer's errors by its inputs, which later columns\n"
    "                       then absorb (default: plain ECQ, no data)\n"
    "  --calib-lines N      use the first N non-empty lines (default 1024)\n"
    "  --calib-cache FILE   keep the calibration's statistics in FILE and reuse them while\n"
    "                       model, tensors and sentences are the same (sweeps over lambda)\n"
    "  --damp X             GPTQ's damping, a fraction of the Hessian's mean diagonal (0.01)\n"
    "  --fisher P           with --calib: share the bits across tensors by their sensitivity\n"
    "                       (the Fisher's diagonal from the calibration sentences' gradients):\n"
    "                       tensor t's lambda times (mean s / s_t)^P (default 0.75; 0: the same\n"
    "                       lambda for all, and a calibration half as long)\n"
    "  --threads N          threads (default: all cores)\n"
    "  -q, --quiet          no per-tensor lines\n";

int cmd_pack(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *groups = "all", *calib_path = NULL, *cache = NULL;
    double lambda = -1, damp = 0.01, fisher = -1;
    long bits = 8, x, calib_lines = 1024;
    int quiet = 0, threads = 0, have_lambda = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(f)) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(f, "-q") || !strcmp(f, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!v) return cli_usage("pack", "%s needs a value", f);
        i++;
        if (!strcmp(f, "-m") || !strcmp(f, "--model")) in = v;
        else if (!strcmp(f, "-o") || !strcmp(f, "--output")) out = v;
        else if (!strcmp(f, "--lambda")) {
            char *e;
            lambda = strtod(v, &e);
            if (*e || e == v || !isfinite(lambda) || lambda < 0)
                return cli_usage("pack", "--lambda must be a number >= 0, not '%s'", v);
            have_lambda = 1;
        } else if (!strcmp(f, "--bits")) {
            if (cli_int("pack", f, v, 2, 8, &bits)) return 2;
        } else if (!strcmp(f, "--tensors")) groups = v;
        else if (!strcmp(f, "--calib")) calib_path = v;
        else if (!strcmp(f, "--calib-lines")) {
            if (cli_int("pack", f, v, 1, 1000000, &calib_lines)) return 2;
        } else if (!strcmp(f, "--damp")) {
            if (cli_float("pack", f, v, 0.0, 10.0, &damp)) return 2;
        } else if (!strcmp(f, "--calib-cache")) cache = v;
        else if (!strcmp(f, "--fisher")) {
            if (cli_float("pack", f, v, 0.0, 4.0, &fisher)) return 2;
        }
        else if (!strcmp(f, "--threads")) {
            if (cli_int("pack", f, v, 0, 1024, &x)) return 2;
            threads = (int)x;
        } else return cli_unknown("pack", f);
    }
    if (!in || !out) return cli_usage("pack", "-m MODEL and -o OUT are required");
    if (!have_lambda) return cli_usage("pack", "--lambda L is required (try 0.05)");
    if (fisher >= 0 && !calib_path) return cli_usage("pack", "--fisher needs --calib FILE");
    if (fisher < 0) fisher = calib_path ? 0.75 : 0;
    if (!strcmp(in, out) || cli_same_file(in, out))
        return cli_usage("pack", "the output would overwrite the input model");
    if (pt_atomic_check(out)) return cli_fail("pack", "%s", pt_error()); /* before the work */
    pt_quant_policy pol;
    pt_quant_policy_default(&pol, NN_Q8_0);
    if (pt_quant_groups_parse(groups, &pol.groups)) return cli_usage("pack", "--tensors: %s", pt_error());
    nn_set_threads(threads);

    gguf_file *g;
    pt_model m;
    if (cli_load_float_model("pack", "is not a float model", in, &g, &m)) return 1;
    pt_calib *calib = NULL;
    int rc = 1;
    if (calib_path && cli_calibrate("pack", g, in, &m, &pol, calib_path, (int)calib_lines, fisher > 0, cache, quiet,
                                    &calib))
        goto done;
    if (fisher > 0 && pt_calib_allocate(calib, m.mem, fisher)) {
        cli_fail_path("pack", calib_path);
        goto done;
    }
    double t0 = pt_time();
    gguf_writer *w = gguf_writer_init();
    cli_copy_meta(w, g);
    pt_pack_set_keys(w, &pol, lambda, (int)bits);
    pt_quant_keep keep = {0};
    pt_pack_stats st;
    if (pt_pack_add_tensors(w, &m, m.mem, &pol, lambda, (int)bits, calib, damp, pt_calib_scales(calib), &keep,
                            quiet ? NULL : stderr, &st)) {
        cli_fail("pack", "%s", pt_error());
    } else if (gguf_write(w, out)) {
        cli_fail_path("pack", out);
    } else if (st.params == 0) { /* no ratio to show: say why nothing was coded */
        fprintf(stderr, "petit pack: %s -> %s: no weight matrix to code (--tensors selects none whose rows are a "
                        "multiple of 32 weights); %s is a float copy of %s\n", in, out, out, in);
        rc = 0;
    } else {
        struct stat so;
        double ob = stat(out, &so) ? 0 : (double)so.st_size;
        fprintf(stderr,
                "petit pack: %s -> %s: lambda %g, %d bits%s: %.0f weights coded in %.3f bits/weight "
                "(entropy %.3f; every tensor decoded back exactly, its streams at most %+.2f%% over its "
                "entropy), %.1f%% zeros; file %.2f MB -> %.2f MB (%.1fx smaller) in %.1f s\n",
                in, out, lambda, (int)bits, calib ? ", GPTQ" : "", st.params, st.bytes * 8 / st.params, st.entropy_bits / st.params,
                100 * (st.worst_ratio - 1), 100 * st.zeros / st.params, gguf_size(g) / 1e6, ob / 1e6,
                gguf_size(g) / (ob > 0 ? ob : 1), pt_time() - t0);
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
