/* marian.c: a Hugging Face MarianMT checkpoint directory -> a petit model
 * file (marian.h). Names on the Hugging Face side are transformers'
 * (modeling_marian.py); on petit's side MODEL.md's. */
#include "import/marian.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "base/json.h"
#include "import/safetensors.h"
#include "text/spm.h"

typedef struct {
    const char *dir;
    json_value *cfg, *gen, *vocab;
    st_file *st;
    unsigned char *used; /* per safetensors tensor */
    char dtype[16];
    spm_model *src, *tgt;
    const char **pieces; /* joint id -> piece (borrowed from vocab) */
    pt_model m;
    int have_model;
} importer;

static char *path_in(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = pt_malloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static int exists(const char *dir, const char *file) {
    char *p = path_in(dir, file);
    struct stat sb;
    int ok = !stat(p, &sb) && S_ISREG(sb.st_mode);
    free(p);
    return ok;
}

static json_value *read_json(const char *dir, const char *file) {
    char *p = path_in(dir, file);
    size_t n;
    char *text = pt_check_regular(p) ? NULL : pt_read_file(p, &n);
    json_value *v = NULL;
    if (!text) pt_set_error("%s: cannot read", p);
    else if (!(v = json_parse(text, n))) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s", pt_error());
        pt_set_error("%s: %s", file, msg);
    }
    free(text);
    free(p);
    return v;
}

/* ---- config.json --------------------------------------------------------- */

static int cfg_int(const importer *im, const char *key, int *out, int lo, int hi, int def, int required) {
    const json_value *v = json_get(im->cfg, key);
    long long x;
    if (!v || v->type == JSON_NULL) {
        if (required) return pt_set_error("config.json: %s is missing", key);
        *out = def;
        return 0;
    }
    if (!json_int(v, &x) || x < lo || x > hi)
        return pt_set_error("config.json: %s is not an integer in [%d, %d]", key, lo, hi);
    *out = (int)x;
    return 0;
}

static int cfg_bool(const importer *im, const char *key, int def, int *out) {
    const json_value *v = json_get(im->cfg, key);
    if (!v || v->type == JSON_NULL) *out = def;
    else if (v->type == JSON_TRUE || v->type == JSON_FALSE) *out = v->type == JSON_TRUE;
    else return pt_set_error("config.json: %s is %s, not true or false", key, json_type_name(v->type));
    return 0;
}

static int cfg_str_is(const importer *im, const char *key, const char *want, int required) {
    const json_value *v = json_get(im->cfg, key);
    if (!v) return required ? pt_set_error("config.json: %s is missing", key) : 0;
    if (v->type != JSON_STRING || strcmp(v->str, want))
        return pt_set_error("config.json: %s is not \"%s\"", key, want);
    return 0;
}

/* bad_words_ids: none, or [[pad]] (OPUS-MT's), which is mask_pad */
static int bad_words(const importer *im, int pad, int *mask_pad) {
    const json_value *v = im->gen ? json_get(im->gen, "bad_words_ids") : NULL;
    const char *from = "generation_config.json";
    if (!v) v = json_get(im->cfg, "bad_words_ids"), from = "config.json";
    *mask_pad = 0;
    if (!v || v->type == JSON_NULL) return 0;
    long long x;
    if (v->type == JSON_ARRAY && v->n == 1 && v->items[0].type == JSON_ARRAY && v->items[0].n == 1 &&
        json_int(&v->items[0].items[0], &x) && x == pad) {
        *mask_pad = 1;
        return 0;
    }
    return pt_set_error("%s: bad_words_ids other than [[%d]] (the pad id): petit can only ban <pad>", from, pad);
}

static int read_config(importer *im, pt_config *c) {
    pt_config_default(c);
    if (im->cfg->type != JSON_OBJECT) return pt_set_error("config.json is not a JSON object");
    if (cfg_str_is(im, "model_type", "marian", 1)) return -1;
    const json_value *arch = json_get(im->cfg, "architectures");
    if (arch && arch->type == JSON_ARRAY)
        for (int i = 0; i < arch->n; i++)
            if (arch->items[i].type != JSON_STRING || strcmp(arch->items[i].str, "MarianMTModel"))
                return pt_set_error("config.json: architectures lists %s, not MarianMTModel",
                                    arch->items[i].type == JSON_STRING ? arch->items[i].str : "a non-string");
    int eh = 0, dh = 0, ef = 0, df = 0, dv = 0, start = 0;
    if (cfg_int(im, "vocab_size", &c->vocab, 8, 1 << 20, 0, 1) ||
        cfg_int(im, "decoder_vocab_size", &dv, 0, 1 << 20, c->vocab, 0) ||
        cfg_int(im, "d_model", &c->d_model, 2, 1 << 14, 0, 1) ||
        cfg_int(im, "encoder_layers", &c->enc_layers, 1, 64, 0, 1) ||
        cfg_int(im, "decoder_layers", &c->dec_layers, 1, 64, 0, 1) ||
        cfg_int(im, "encoder_attention_heads", &eh, 1, 256, 0, 1) ||
        cfg_int(im, "decoder_attention_heads", &dh, 1, 256, 0, 1) ||
        cfg_int(im, "encoder_ffn_dim", &ef, 1, 1 << 16, 0, 1) ||
        cfg_int(im, "decoder_ffn_dim", &df, 1, 1 << 16, 0, 1) ||
        cfg_int(im, "max_position_embeddings", &c->max_len, 2, 1 << 14, 0, 1) ||
        cfg_int(im, "pad_token_id", &c->pad_id, 0, c->vocab - 1, 0, 1) ||
        cfg_int(im, "eos_token_id", &c->eos_id, 0, c->vocab - 1, 0, 1) ||
        cfg_int(im, "decoder_start_token_id", &start, 0, c->vocab - 1, c->pad_id, 0))
        return -1;
    if (dv != c->vocab)
        return pt_set_error("config.json: decoder_vocab_size %d differs from vocab_size %d (separate vocabularies "
                            "are not supported)", dv, c->vocab);
    if (eh != dh)
        return pt_set_error("config.json: encoder_attention_heads %d differs from decoder_attention_heads %d", eh, dh);
    if (ef != df) return pt_set_error("config.json: encoder_ffn_dim %d differs from decoder_ffn_dim %d", ef, df);
    c->n_heads = eh;
    c->d_ff = ef;
    c->bos_id = start;
    /* settings petit runs in one way only: name the one that differs */
    static const struct {
        const char *key;
        int def, need;
        const char *why;
    } flags[] = {
        {"normalize_before", 0, 0, "pre-norm layers"},
        {"normalize_embedding", 0, 0, "a layernorm_embedding"},
        {"add_final_layer_norm", 0, 0, "final layer norms"},
        {"add_bias_logits", 0, 0, "a logits bias layer"},
        {"static_position_embeddings", 1, 1, "learned position embeddings of another kind"},
        {"share_encoder_decoder_embeddings", 1, 1, "separate encoder and decoder embeddings"},
        {"tie_word_embeddings", 1, 1, "an output layer untied from the embeddings"},
        {"is_encoder_decoder", 1, 1, "a model that is not an encoder-decoder"},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        int v = 0;
        if (cfg_bool(im, flags[i].key, flags[i].def, &v)) return -1;
        if (v != flags[i].need)
            return pt_set_error("config.json: %s = %s is not supported (petit has no %s)", flags[i].key,
                                v ? "true" : "false", flags[i].why);
    }
    if (cfg_bool(im, "scale_embedding", 0, &c->emb_scale)) return -1;
    const json_value *act = json_get(im->cfg, "activation_function");
    const char *a = act && act->type == JSON_STRING ? act->str : "gelu"; /* MarianConfig's default */
    if (act && act->type != JSON_STRING) return pt_set_error("config.json: activation_function is not a string");
    if (!strcmp(a, "swish") || !strcmp(a, "silu")) c->act = NN_ACT_SWISH;
    else if (!strcmp(a, "relu")) c->act = NN_ACT_RELU;
    else if (!strcmp(a, "gelu")) c->act = NN_ACT_GELU;
    else
        return pt_set_error("config.json: activation_function \"%s\" is not supported (swish, silu, relu, gelu)", a);
    const json_value *dr = json_get(im->cfg, "dropout");
    if (dr && dr->type == JSON_NUMBER && dr->num >= 0 && dr->num < 1) c->dropout = (float)dr->num;
    c->norm = PT_NORM_POST;
    c->pos = PT_POS_LEARNED;
    c->dec_attn = PT_ATTN_DENSE;
    c->ln_eps = 1e-5f; /* nn.LayerNorm's default, which Marian uses */
    if (bad_words(im, c->pad_id, &c->mask_pad)) return -1;
    return 0;
}

/* ---- vocab.json and the SentencePiece models ----------------------------- */

static int read_vocab(importer *im, pt_config *c) {
    const json_value *v = im->vocab;
    if (v->type != JSON_OBJECT) return pt_set_error("vocab.json is not a JSON object");
    if (v->n != c->vocab)
        return pt_set_error("vocab.json has %d entries but config.json's vocab_size is %d", v->n, c->vocab);
    im->pieces = pt_calloc((size_t)v->n, sizeof *im->pieces);
    for (int i = 0; i < v->n; i++) {
        long long id;
        if (!json_int(&v->items[i], &id) || id < 0 || id >= v->n)
            return pt_set_error("vocab.json: the id of \"%.60s\" is not an integer in [0, %d)", v->keys[i], v->n);
        if (im->pieces[id]) return pt_set_error("vocab.json: id %lld is given twice", id);
        if (strlen(v->keys[i]) != v->key_lens[i]) return pt_set_error("vocab.json: a piece holds a NUL byte");
        im->pieces[id] = v->keys[i];
    }
    long long unk, eos, pad;
    if (!json_int(json_get(v, "<unk>"), &unk)) return pt_set_error("vocab.json has no <unk>");
    if (!json_int(json_get(v, "</s>"), &eos) || eos != c->eos_id)
        return pt_set_error("config.json: eos_token_id %d is not the id of </s> in vocab.json", c->eos_id);
    if (!json_int(json_get(v, "<pad>"), &pad) || pad != c->pad_id)
        return pt_set_error("config.json: pad_token_id %d is not the id of <pad> in vocab.json", c->pad_id);
    c->unk_id = (int)unk;
    return 0;
}

static spm_model *load_spm(const importer *im, const char *file) {
    char *p = path_in(im->dir, file);
    spm_model *m = spm_load_file(p);
    if (m && spm_set_joint_vocab(m, im->pieces, im->vocab->n, (int)json_get(im->vocab, "<unk>")->num)) {
        spm_free(m);
        m = NULL;
    }
    if (!m) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s", pt_error());
        pt_set_error("%s: %s", file, msg);
    }
    free(p);
    return m;
}

/* ---- tensors --------------------------------------------------------------- */

static void note_dtype(importer *im, const st_tensor *t) {
    if (!im->dtype[0]) snprintf(im->dtype, sizeof im->dtype, "%s", t->dtype);
    else if (strcmp(im->dtype, t->dtype)) snprintf(im->dtype, sizeof im->dtype, "mixed");
}

/* Tensor `name` of shape (rows, cols) (cols 0: a vector of rows) into dst */
static int load(importer *im, const char *name, float *dst, int rows, int cols) {
    const st_tensor *t = st_find(im->st, name);
    if (!t) return pt_set_error("model.safetensors: missing tensor %s", name);
    int ok = cols ? t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols
                  : t->ndim == 1 && t->shape[0] == rows;
    if (!ok) {
        char got[96], want[64];
        if (cols) snprintf(want, sizeof want, "(%d, %d)", rows, cols);
        else snprintf(want, sizeof want, "(%d)", rows);
        return pt_set_error("model.safetensors: %s has shape %s, expected %s", name, st_shape_str(t, got, sizeof got),
                            want);
    }
    if (st_read_f32(im->st, t, dst)) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s", pt_error());
        return pt_set_error("model.safetensors: %s", msg);
    }
    im->used[t - st_tensor_at(im->st, 0)] = 1;
    note_dtype(im, t);
    return 0;
}

/* q, k, v (D, D) each, into rows [0,D), [D,2D), [2D,3D) of a fused matrix */
static int load_attn(importer *im, const char *pre, const char *const *parts, int n, float *w, float *b, int D) {
    char name[160];
    for (int k = 0; k < n; k++) {
        snprintf(name, sizeof name, "%s.%s.weight", pre, parts[k]);
        if (load(im, name, w + (size_t)k * D * D, D, D)) return -1;
        snprintf(name, sizeof name, "%s.%s.bias", pre, parts[k]);
        if (load(im, name, b + (size_t)k * D, D, 0)) return -1;
    }
    return 0;
}

static int load_pair(importer *im, const char *pre, const char *what, float *w, float *b, int rows, int cols) {
    char name[160];
    snprintf(name, sizeof name, "%s.%s.weight", pre, what);
    if (load(im, name, w, rows, cols)) return -1;
    snprintf(name, sizeof name, "%s.%s.bias", pre, what);
    return load(im, name, b, rows, 0);
}

/* The first of several names that must hold the same (rows, cols) values
 * goes into dst; the others, when present, must equal it exactly. */
static int load_same(importer *im, const char *const *names, int n, float *dst, int rows, int cols, const char *what,
                     int *found) {
    float *tmp = NULL;
    int first = -1;
    for (int i = 0; i < n; i++) {
        if (!st_find(im->st, names[i])) continue;
        if (first < 0) {
            if (load(im, names[i], dst, rows, cols)) return -1;
            first = i;
            continue;
        }
        if (!tmp) tmp = pt_malloc((size_t)rows * cols * sizeof(float));
        if (load(im, names[i], tmp, rows, cols)) return free(tmp), -1;
        if (memcmp(tmp, dst, (size_t)rows * cols * sizeof(float))) {
            free(tmp);
            return pt_set_error("model.safetensors: %s differs from %s (petit needs %s)", names[i], names[first], what);
        }
    }
    free(tmp);
    *found = first >= 0;
    return 0;
}

/* transformers' MarianSinusoidalPositionalEmbedding: in double, then float:
 * out[p, i] = sin(p / 10000^(2i/D)) for i < ceil(D/2), then the cosines */
static void sinusoid_table(float *out, int P, int D) {
    int half = (D + 1) / 2;
    for (int p = 0; p < P; p++)
        for (int j = 0; j < D; j++) {
            double a = p / pow(10000.0, (double)(2 * (j / 2)) / D);
            if (j % 2 == 0) out[(size_t)p * D + j / 2] = (float)sin(a);
            else out[(size_t)p * D + half + j / 2] = (float)cos(a);
        }
}

static int load_weights(importer *im, pt_marian_info *info) {
    const pt_config *c = &im->m.cfg;
    const pt_params *p = &im->m.p;
    int D = c->d_model, F = c->d_ff, V = c->vocab, P = c->max_len;
    size_t DD = (size_t)D * D;
    static const char *emb[] = {"model.shared.weight", "model.encoder.embed_tokens.weight",
                                "model.decoder.embed_tokens.weight", "lm_head.weight"};
    int found = 0;
    if (load_same(im, emb, 4, p->tok_emb, V, D, "one embedding tied across encoder, decoder and output", &found))
        return -1;
    if (!found) return pt_set_error("model.safetensors: missing tensor model.shared.weight (the embeddings)");
    static const char *pos[] = {"model.encoder.embed_positions.weight", "model.decoder.embed_positions.weight"};
    if (load_same(im, pos, 2, p->pos_emb, P, D, "one position table", &info->pos_from_file)) return -1;
    if (!info->pos_from_file) sinusoid_table(p->pos_emb, P, D);
    const st_tensor *fb = st_find(im->st, "final_logits_bias");
    if (fb) {
        char got[96];
        if (fb->ndim != 2 || fb->shape[0] != 1 || fb->shape[1] != V)
            return pt_set_error("model.safetensors: final_logits_bias has shape %s, expected (1, %d)",
                                st_shape_str(fb, got, sizeof got), V);
        if (st_read_f32(im->st, fb, p->out_b)) return -1;
        im->used[fb - st_tensor_at(im->st, 0)] = 1;
        note_dtype(im, fb);
    } /* else zeros, as transformers starts it */
    static const char *qkv[] = {"q_proj", "k_proj", "v_proj"}, *kv[] = {"k_proj", "v_proj"};
    char pre[96], sub[128];
    for (int l = 0; l < c->enc_layers; l++) {
        snprintf(pre, sizeof pre, "model.encoder.layers.%d", l);
        snprintf(sub, sizeof sub, "%s.self_attn", pre);
        if (load_attn(im, sub, qkv, 3, p->e_qkv_w + 3 * DD * l, p->e_qkv_b + (size_t)3 * D * l, D) ||
            load_pair(im, sub, "out_proj", p->e_o_w + DD * l, p->e_o_b + (size_t)D * l, D, D) ||
            load_pair(im, pre, "self_attn_layer_norm", p->e_ln1_w + (size_t)D * l, p->e_ln1_b + (size_t)D * l, D, 0) ||
            load_pair(im, pre, "fc1", p->e_up_w + (size_t)F * D * l, p->e_up_b + (size_t)F * l, F, D) ||
            load_pair(im, pre, "fc2", p->e_down_w + (size_t)D * F * l, p->e_down_b + (size_t)D * l, D, F) ||
            load_pair(im, pre, "final_layer_norm", p->e_ln2_w + (size_t)D * l, p->e_ln2_b + (size_t)D * l, D, 0))
            return -1;
    }
    for (int l = 0; l < c->dec_layers; l++) {
        snprintf(pre, sizeof pre, "model.decoder.layers.%d", l);
        snprintf(sub, sizeof sub, "%s.self_attn", pre);
        if (load_attn(im, sub, qkv, 3, p->d_qkv_w + 3 * DD * l, p->d_qkv_b + (size_t)3 * D * l, D) ||
            load_pair(im, sub, "out_proj", p->d_o_w + DD * l, p->d_o_b + (size_t)D * l, D, D) ||
            load_pair(im, pre, "self_attn_layer_norm", p->d_ln1_w + (size_t)D * l, p->d_ln1_b + (size_t)D * l, D, 0))
            return -1;
        snprintf(sub, sizeof sub, "%s.encoder_attn", pre);
        if (load_pair(im, sub, "q_proj", p->d_cq_w + DD * l, p->d_cq_b + (size_t)D * l, D, D) ||
            load_attn(im, sub, kv, 2, p->d_ckv_w + 2 * DD * l, p->d_ckv_b + (size_t)2 * D * l, D) ||
            load_pair(im, sub, "out_proj", p->d_co_w + DD * l, p->d_co_b + (size_t)D * l, D, D) ||
            load_pair(im, pre, "encoder_attn_layer_norm", p->d_ln2_w + (size_t)D * l, p->d_ln2_b + (size_t)D * l, D, 0) ||
            load_pair(im, pre, "fc1", p->d_up_w + (size_t)F * D * l, p->d_up_b + (size_t)F * l, F, D) ||
            load_pair(im, pre, "fc2", p->d_down_w + (size_t)D * F * l, p->d_down_b + (size_t)D * l, D, F) ||
            load_pair(im, pre, "final_layer_norm", p->d_ln3_w + (size_t)D * l, p->d_ln3_b + (size_t)D * l, D, 0))
            return -1;
    }
    for (int i = 0; i < st_n_tensors(im->st); i++) {
        if (im->used[i]) continue;
        const char *n = st_tensor_at(im->st, i)->name;
        if (strstr(n, "layernorm_embedding"))
            return pt_set_error("model.safetensors: %s: a layernorm_embedding is not supported", n);
        if (strstr(n, "coder.layer_norm."))
            return pt_set_error("model.safetensors: %s: a final layer norm (pre-norm model) is not supported", n);
        return pt_set_error("model.safetensors: unexpected tensor %s (%s, more layers than config.json says?)", n,
                            st_tensor_at(im->st, i)->dtype);
    }
    info->n_tensors = st_n_tensors(im->st);
    return 0;
}

/* ---- the whole import ------------------------------------------------------ */

static void importer_free(importer *im) {
    json_free(im->cfg);
    json_free(im->gen);
    json_free(im->vocab);
    st_close(im->st);
    free(im->used);
    free(im->pieces);
    if (im->src) spm_free(im->src);
    if (im->tgt) spm_free(im->tgt);
    if (im->have_model) pt_model_free(&im->m);
}

int pt_marian_import(const char *dir, const char *out, pt_marian_info *info) {
    importer im = {.dir = dir};
    pt_marian_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    static const char *need[] = {"config.json", "model.safetensors", "source.spm", "target.spm", "vocab.json"};
    struct stat sb;
    if (stat(dir, &sb) || !S_ISDIR(sb.st_mode)) return pt_set_error("%s is not a directory", dir);
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if (exists(dir, need[i])) continue;
        if (i == 1 && exists(dir, "pytorch_model.bin"))
            return pt_set_error("%s has pytorch_model.bin but no model.safetensors: petit reads safetensors only "
                                "(convert it with transformers: from_pretrained, then save_pretrained with "
                                "safe_serialization=True)", dir);
        return pt_set_error("%s: missing %s (not a MarianMT checkpoint directory?)", dir, need[i]);
    }
    if (exists(dir, "target_vocab.json"))
        return pt_set_error("%s: target_vocab.json: separate source and target vocabularies are not supported", dir);
    int rc = -1;
    pt_config cfg;
    if (!(im.cfg = read_json(dir, "config.json"))) goto done;
    if (exists(dir, "generation_config.json") && !(im.gen = read_json(dir, "generation_config.json"))) goto done;
    if (read_config(&im, &cfg)) goto done;
    if (!(im.vocab = read_json(dir, "vocab.json")) || read_vocab(&im, &cfg)) goto done;
    if (pt_config_check(&cfg)) goto done;
    char *sp = path_in(dir, "model.safetensors");
    im.st = st_open(sp);
    free(sp);
    if (!im.st) goto done;
    im.used = pt_calloc((size_t)st_n_tensors(im.st) + 1, 1);
    /* the file must be big enough for the weight matrices its config
     * describes (2 bytes a weight at least) before that much memory is taken */
    double D = cfg.d_model, F = cfg.d_ff;
    double weights = cfg.vocab * D + cfg.enc_layers * (4 * D * D + 2 * F * D) + cfg.dec_layers * (8 * D * D + 2 * F * D);
    char *stp = path_in(dir, "model.safetensors");
    int small = !stat(stp, &sb) && (double)sb.st_size < 2 * weights;
    free(stp);
    if (small) {
        pt_set_error("model.safetensors (%lld bytes) is too small for the model config.json describes (%.0f weights)",
                     (long long)sb.st_size, weights);
        goto done;
    }
    if (pt_model_init(&im.m, &cfg)) goto done;
    im.have_model = 1;
    if (load_weights(&im, info)) goto done;
    if (!(im.src = load_spm(&im, "source.spm")) || !(im.tgt = load_spm(&im, "target.spm"))) goto done;
    size_t ns, nt;
    const void *bs = spm_model_bytes(im.src, &ns), *bt = spm_model_bytes(im.tgt, &nt);
    info->same_spm = ns == nt && !memcmp(bs, bt, ns);
    gguf_writer *w = gguf_writer_init();
    pt_config_to_gguf(&cfg, w);
    gguf_set_str(w, "petit.import.from", "marian");
    spm_to_gguf(im.src, info->same_spm ? NULL : im.tgt, w, "petit.tokenizer");
    pt_model_add_tensors(&im.m, im.m.mem, "", w);
    rc = gguf_write(w, out);
    gguf_writer_free(w);
    info->cfg = cfg;
    snprintf(info->dtype, sizeof info->dtype, "%s", im.dtype);
done:
    importer_free(&im);
    return rc;
}
