/* cmd_average.c: `petit average -o OUT.gguf A.gguf B.gguf ...` */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli/cli.h"
#include "gguf/gguf.h"
#include "model/average.h"

static const char usage_text[] =
    "usage: petit average -o OUT.gguf MODEL.gguf MODEL.gguf ...\n"
    "\n"
    "Writes the element-wise mean of the weights of two or more float models of one\n"
    "configuration (checkpoint averaging: e.g. the last snapshots a run kept with\n"
    "`petit train --snapshot-every N`, MODEL.stepNNNNNNN.gguf). The output keeps the\n"
    "first model's metadata and vocabulary (training state dropped). Quantize after\n"
    "averaging, not before.\n"
    "\n"
    "  -o, --output FILE       the averaged model (written atomically)\n"
    "  -q, --quiet             no summary on stderr\n";

int cmd_average(int argc, char **argv) {
    const char *out = NULL;
    int quiet = 0, n = 0;
    const char **in = pt_calloc((size_t)argc, sizeof *in);
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (cli_is_help(f)) {
            fputs(usage_text, stdout);
            free(in);
            return 0;
        } else if (!strcmp(f, "-o") || !strcmp(f, "--output")) {
            if (i + 1 >= argc) return free(in), cli_usage("average", "%s needs a value", f);
            out = argv[++i];
        } else if (!strcmp(f, "-q") || !strcmp(f, "--quiet")) {
            quiet = 1;
        } else if (f[0] == '-' && f[1]) {
            return free(in), cli_usage("average", "unknown option '%s'", f);
        } else {
            in[n++] = f;
        }
    }
    if (!out) return free(in), cli_usage("average", "no -o OUT.gguf");
    if (n < 2) return free(in), cli_usage("average", "%d model%s given: average two or more", n, n == 1 ? "" : "s");
    for (int k = 0; k < n; k++)
        if (cli_same_file(in[k], out))
            return free(in), cli_usage("average", "-o %s is also an input: write elsewhere", out);
    double t0 = pt_time();
    gguf_file **g = pt_calloc((size_t)n, sizeof *g);
    pt_model *m = pt_calloc((size_t)n, sizeof *m);
    const pt_model **mp = pt_calloc((size_t)n, sizeof *mp);
    pt_model avg = {0};
    int rc = 1, loaded = 0;
    for (; loaded < n; loaded++) {
        if (cli_load_float_model("average", "is not a float model", in[loaded], &g[loaded], &m[loaded])) goto done;
        mp[loaded] = &m[loaded];
    }
    if (pt_model_average(&avg, mp, n)) {
        cli_fail("average", "%s", pt_error());
        goto done;
    }
    gguf_writer *w = gguf_writer_init();
    for (int i = 0; i < gguf_n_kv(g[0]); i++) /* a model file: no training state */
        if (strncmp(gguf_key(g[0], i), "petit.train.", 12)) gguf_copy_kv(w, g[0], i);
    gguf_set_u32(w, "petit.averaged", (uint32_t)n);
    pt_model_add_tensors(&avg, avg.mem, "", w);
    if (gguf_write(w, out)) cli_fail("average", "%s: %s", out, pt_error());
    else rc = 0;
    gguf_writer_free(w);
    if (!rc && !quiet)
        fprintf(stderr, "petit average: %d models -> %s: %zu weights (%.1f s)\n", n, out, avg.n_params, pt_time() - t0);
done:
    if (avg.mem) pt_model_free(&avg);
    for (int k = 0; k < loaded; k++) {
        pt_model_free(&m[k]);
        gguf_close(g[k]);
    }
    free(g), free(m), free(mp), free(in);
    return rc;
}
