/* cmd_import.c: `petit import --from marian DIR -o OUT.gguf` — a Hugging
 * Face MarianMT checkpoint (OPUS-MT) as a petit model (import/marian.h). */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "cli/cli.h"
#include "import/marian.h"
#include "nn/nn.h"

static const char *usage_text =
    "usage: petit import --from marian DIR -o OUT.gguf\n"
    "\n"
    "Converts a Hugging Face MarianMT checkpoint directory (an OPUS-MT model as\n"
    "save_pretrained writes it: config.json, model.safetensors, source.spm,\n"
    "target.spm, vocab.json; generation_config.json if present) into a petit\n"
    "model file that translate, quantize, pack, distill and info accept. The\n"
    "network is computed exactly: post-norm layers, Marian's sinusoidal\n"
    "positions, scaled and tied embeddings, final_logits_bias, the source and\n"
    "target SentencePiece models over the joint vocabulary; <pad> (the\n"
    "decoder's start token) is never emitted, as bad_words_ids asks.\n"
    "\n"
    "Only model.safetensors is read, not pytorch_model.bin. Variants petit\n"
    "cannot run exactly (pre-norm, layernorm_embedding, untied or separate\n"
    "vocabularies, other activations, ...) are refused, naming the setting.\n"
    "\n"
    "  --from marian        the checkpoint kind (only marian)\n"
    "  -o, --output FILE    the petit model to write\n"
    "  -q, --quiet          no summary line\n";

int cmd_import(int argc, char **argv) {
    const char *from = NULL, *out = NULL, *dir = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(f)) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(f, "-q") || !strcmp(f, "--quiet")) {
            quiet = 1;
            continue;
        } else if (f[0] != '-' || !f[1]) {
            if (cli_split_flag(f)) return cli_unknown("import", f);
            if (dir) return cli_usage("import", "one checkpoint directory only ('%s' and '%s')", dir, f);
            dir = f;
            continue;
        }
        if (!v) return cli_usage("import", "%s needs a value", f);
        i++;
        if (!strcmp(f, "--from")) from = v;
        else if (!strcmp(f, "-o") || !strcmp(f, "--output")) out = v;
        else return cli_unknown("import", f);
    }
    if (!from) return cli_usage("import", "--from marian is required");
    if (strcmp(from, "marian")) return cli_usage("import", "--from '%s': only 'marian' is supported", from);
    if (!dir || !out) return cli_usage("import", "a checkpoint DIR and -o OUT are required");
    if (pt_atomic_check(out)) return cli_fail("import", "%s", pt_error());
    double t0 = pt_time();
    pt_marian_info info;
    if (pt_marian_import(dir, out, &info)) return cli_fail("import", "%s", pt_error());
    if (!quiet) {
        const pt_config *c = &info.cfg;
        fprintf(stderr,
                "petit import: %s -> %s: marian %d+%d layers, d_model %d, %d heads, d_ff %d, vocab %d, %s, "
                "max_len %d; %d %s tensors, positions %s, %s SentencePiece model%s in %.1f s\n",
                dir, out, c->enc_layers, c->dec_layers, c->d_model, c->n_heads, c->d_ff, c->vocab, pt_act_name(c->act),
                c->max_len, info.n_tensors, info.dtype, info.pos_from_file ? "from the file" : "computed",
                info.same_spm ? "one" : "source and target", info.same_spm ? "" : "s", pt_time() - t0);
    }
    return 0;
}
