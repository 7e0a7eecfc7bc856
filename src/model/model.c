/* model.c: configuration, parameter layout, and the training forward/backward
 * of the encoder–decoder transformer defined in MODEL.md. */
#include "model/model.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/base.h"
#include "model/pack.h"
#include "nn/nn.h"

/* ---- configuration --------------------------------------------------- */

void pt_config_default(pt_config *c) {
    memset(c, 0, sizeof *c);
    c->vocab = 8000;
    c->d_model = 256;
    c->n_heads = 4;
    c->d_ff = 1024;
    c->enc_layers = 6;
    c->dec_layers = 6;
    c->max_len = 128;
    c->norm = PT_NORM_PRE;
    c->act = NN_ACT_RELU;
    c->pos = PT_POS_SINUSOIDAL;
    c->emb_scale = 1;
    c->dec_attn = PT_ATTN_DENSE;
    c->attn_window = 0;
    c->local_heads = 0;
    c->grid_heads = 0;
    c->dropout = 0.1f;
    c->ln_eps = 1e-5f;
    c->unk_id = 0;
    c->bos_id = 1;
    c->eos_id = 2;
    c->pad_id = 3;
}

static const char *norm_names[] = {"pre", "post"};
static const char *act_names[] = {"relu", "gelu", "swish"};
static const char *pos_names[] = {"sinusoidal", "learned"};
static const char *attn_names[] = {"dense", "multiaxis"};

static int parse_name(const char *s, const char **names, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) return i;
    return -1;
}
const char *pt_norm_name(int v) { return v >= 0 && v < 2 ? norm_names[v] : "?"; }
const char *pt_act_name(int v) { return v >= 0 && v < 3 ? act_names[v] : "?"; }
const char *pt_pos_name(int v) { return v >= 0 && v < 2 ? pos_names[v] : "?"; }
int pt_norm_parse(const char *s) { return parse_name(s, norm_names, 2); }
int pt_act_parse(const char *s) { return parse_name(s, act_names, 3); }
int pt_pos_parse(const char *s) { return parse_name(s, pos_names, 2); }
const char *pt_attn_name(int v) { return v >= 0 && v < 2 ? attn_names[v] : "?"; }
int pt_attn_parse(const char *s) { return parse_name(s, attn_names, 2); }

int pt_config_check(const pt_config *c) {
#define RANGE(f, lo, hi) \
    if (c->f < (lo) || c->f > (hi)) return pt_set_error("config: " #f " = %d is outside [%d, %d]", (int)c->f, (int)(lo), (int)(hi))
    RANGE(vocab, 8, 1 << 20);
    RANGE(d_model, 2, 1 << 14);
    RANGE(n_heads, 1, 256);
    RANGE(d_ff, 1, 1 << 16);
    RANGE(enc_layers, 1, 64);
    RANGE(dec_layers, 1, 64);
    RANGE(max_len, 2, 1 << 14);
    RANGE(norm, 0, 1);
    RANGE(act, 0, 2);
    RANGE(pos, 0, 1);
    RANGE(dec_attn, 0, 1);
    RANGE(pad_id, 0, c->vocab - 1);
    RANGE(bos_id, 0, c->vocab - 1);
    RANGE(eos_id, 0, c->vocab - 1);
    RANGE(unk_id, 0, c->vocab - 1);
#undef RANGE
    if (c->d_model % c->n_heads)
        return pt_set_error("config: d_model %d is not a multiple of heads %d", c->d_model, c->n_heads);
    if (c->pos == PT_POS_SINUSOIDAL && c->d_model % 2)
        return pt_set_error("config: sinusoidal positions need an even d_model (got %d)", c->d_model);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return pt_set_error("config: dropout %g is outside [0, 1)", c->dropout);
    if (!(c->ln_eps > 0.0f && c->ln_eps < 1.0f)) return pt_set_error("config: ln_eps %g is not in (0, 1)", c->ln_eps);
    if (c->dec_attn == PT_ATTN_MULTIAXIS) {
        if (c->attn_window < 1)
            return pt_set_error("config: multiaxis attention needs a window of at least 1 (got %d)", c->attn_window);
        if (c->attn_window > c->max_len)
            return pt_set_error("config: window %d is larger than the maximum length %d", c->attn_window, c->max_len);
        if (c->local_heads < 0 || c->grid_heads < 0)
            return pt_set_error("config: negative head counts (local %d, grid %d)", c->local_heads, c->grid_heads);
        if (c->local_heads + c->grid_heads > c->n_heads)
            return pt_set_error("config: %d local + %d grid heads is more than the %d heads", c->local_heads,
                                c->grid_heads, c->n_heads);
        if (c->local_heads + c->grid_heads == 0)
            return pt_set_error("config: multiaxis attention with no local or grid head (use dense)");
    }
    return 0;
}

/* The configuration's keys, in the order they are written; the multiaxis
 * window and heads only for a multiaxis decoder */
enum { CFG_MULTIAXIS = 1 };
#define CI(key, f, opt, grp) GGUF_FIELD_INT(key, GGUF_V_U32, pt_config, f, opt, grp)
static const gguf_field cfg_keys[] = {
    CI("petit.vocab_size", vocab, 0, 0),
    CI("petit.d_model", d_model, 0, 0),
    CI("petit.n_heads", n_heads, 0, 0),
    CI("petit.d_ff", d_ff, 0, 0),
    CI("petit.enc_layers", enc_layers, 0, 0),
    CI("petit.dec_layers", dec_layers, 0, 0),
    CI("petit.max_len", max_len, 0, 0),
    GGUF_FIELD_ENUM("petit.norm", pt_config, norm, pt_norm_name, pt_norm_parse, GGUF_OPT_MISSING_OK, 0),
    GGUF_FIELD_ENUM("petit.act", pt_config, act, pt_act_name, pt_act_parse, GGUF_OPT_MISSING_OK, 0),
    GGUF_FIELD_ENUM("petit.pos", pt_config, pos, pt_pos_name, pt_pos_parse, GGUF_OPT_MISSING_OK, 0),
    GGUF_FIELD_BOOL("petit.emb_scale", pt_config, emb_scale, GGUF_OPT_MISSING_OK, 0),
    GGUF_FIELD_ENUM("petit.dec_attn", pt_config, dec_attn, pt_attn_name, pt_attn_parse, GGUF_OPT_MISSING_OK, 0),
    CI("petit.attn_window", attn_window, 0, CFG_MULTIAXIS),
    CI("petit.local_heads", local_heads, 0, CFG_MULTIAXIS),
    CI("petit.grid_heads", grid_heads, 0, CFG_MULTIAXIS),
    GGUF_FIELD_FLOAT("petit.dropout", pt_config, dropout, GGUF_OPT_MISSING_OK, 0),
    GGUF_FIELD_FLOAT("petit.ln_eps", pt_config, ln_eps, GGUF_OPT_MISSING_OK, 0),
    CI("petit.pad_id", pad_id, GGUF_OPT_MISSING_OK, 0),
    CI("petit.bos_id", bos_id, GGUF_OPT_MISSING_OK, 0),
    CI("petit.eos_id", eos_id, GGUF_OPT_MISSING_OK, 0),
    CI("petit.unk_id", unk_id, GGUF_OPT_MISSING_OK, 0),
    GGUF_FIELD_BOOL("petit.mask_pad", pt_config, mask_pad, GGUF_OPT_NONZERO, 0),
};
#undef CI
#define N_CFG_KEYS ((int)(sizeof cfg_keys / sizeof cfg_keys[0]))

void pt_config_to_gguf(const pt_config *c, gguf_writer *w) {
    gguf_set_str(w, "general.architecture", "petit");
    gguf_fields_write(w, cfg_keys, N_CFG_KEYS, c, c->dec_attn == PT_ATTN_MULTIAXIS ? CFG_MULTIAXIS : 0);
}

int pt_config_from_gguf(pt_config *c, const gguf_file *g) {
    pt_config_default(c);
    const char *arch;
    uint64_t n;
    if (gguf_get_str(g, "general.architecture", &arch, &n) || n != 5 || memcmp(arch, "petit", 5))
        return pt_set_error("not a petit model (general.architecture is not 'petit')");
    /* the decoder's kind first: it decides whether the multiaxis keys must be there */
    if (gguf_fields_read(g, cfg_keys, N_CFG_KEYS, c, 0) ||
        (c->dec_attn == PT_ATTN_MULTIAXIS && gguf_fields_read(g, cfg_keys, N_CFG_KEYS, c, CFG_MULTIAXIS)))
        return -1;
    return pt_config_check(c);
}

/* ---- parameter layout ------------------------------------------------ */

/* dims: V vocab, P positions, D, 3 = 3D, 2 = 2D, F, 1 = a vector */
static const struct {
    size_t field;
    char stack;      /* 'E' per encoder layer, 'D' per decoder layer, 0 once */
    char rows, cols; /* dimension letters */
    const char *name;
} layout[PT_N_PARAM_KINDS] = {
#define P(f, st, r, c, n) {offsetof(pt_params, f), st, r, c, n}
    P(tok_emb, 0, 'V', 'D', "tok_emb.weight"),
    P(pos_emb, 0, 'P', 'D', "pos_emb.weight"),
    P(e_ln1_w, 'E', '1', 'D', "enc.%d.ln1.weight"),
    P(e_ln1_b, 'E', '1', 'D', "enc.%d.ln1.bias"),
    P(e_qkv_w, 'E', '3', 'D', "enc.%d.attn.qkv.weight"),
    P(e_qkv_b, 'E', '1', '3', "enc.%d.attn.qkv.bias"),
    P(e_o_w, 'E', 'D', 'D', "enc.%d.attn.out.weight"),
    P(e_o_b, 'E', '1', 'D', "enc.%d.attn.out.bias"),
    P(e_ln2_w, 'E', '1', 'D', "enc.%d.ln2.weight"),
    P(e_ln2_b, 'E', '1', 'D', "enc.%d.ln2.bias"),
    P(e_up_w, 'E', 'F', 'D', "enc.%d.ffn.up.weight"),
    P(e_up_b, 'E', '1', 'F', "enc.%d.ffn.up.bias"),
    P(e_down_w, 'E', 'D', 'F', "enc.%d.ffn.down.weight"),
    P(e_down_b, 'E', '1', 'D', "enc.%d.ffn.down.bias"),
    P(e_lnf_w, 'e', '1', 'D', "enc.ln.weight"),
    P(e_lnf_b, 'e', '1', 'D', "enc.ln.bias"),
    P(d_ln1_w, 'D', '1', 'D', "dec.%d.ln1.weight"),
    P(d_ln1_b, 'D', '1', 'D', "dec.%d.ln1.bias"),
    P(d_qkv_w, 'D', '3', 'D', "dec.%d.self.qkv.weight"),
    P(d_qkv_b, 'D', '1', '3', "dec.%d.self.qkv.bias"),
    P(d_o_w, 'D', 'D', 'D', "dec.%d.self.out.weight"),
    P(d_o_b, 'D', '1', 'D', "dec.%d.self.out.bias"),
    P(d_ln2_w, 'D', '1', 'D', "dec.%d.ln2.weight"),
    P(d_ln2_b, 'D', '1', 'D', "dec.%d.ln2.bias"),
    P(d_cq_w, 'D', 'D', 'D', "dec.%d.cross.q.weight"),
    P(d_cq_b, 'D', '1', 'D', "dec.%d.cross.q.bias"),
    P(d_ckv_w, 'D', '2', 'D', "dec.%d.cross.kv.weight"),
    P(d_ckv_b, 'D', '1', '2', "dec.%d.cross.kv.bias"),
    P(d_co_w, 'D', 'D', 'D', "dec.%d.cross.out.weight"),
    P(d_co_b, 'D', '1', 'D', "dec.%d.cross.out.bias"),
    P(d_ln3_w, 'D', '1', 'D', "dec.%d.ln3.weight"),
    P(d_ln3_b, 'D', '1', 'D', "dec.%d.ln3.bias"),
    P(d_up_w, 'D', 'F', 'D', "dec.%d.ffn.up.weight"),
    P(d_up_b, 'D', '1', 'F', "dec.%d.ffn.up.bias"),
    P(d_down_w, 'D', 'D', 'F', "dec.%d.ffn.down.weight"),
    P(d_down_b, 'D', '1', 'D', "dec.%d.ffn.down.bias"),
    P(d_lnf_w, 'd', '1', 'D', "dec.ln.weight"),
    P(d_lnf_b, 'd', '1', 'D', "dec.ln.bias"),
    P(out_b, 0, '1', 'V', "out.bias"),
#undef P
};

static int dim_of(const pt_config *c, char d) {
    switch (d) {
    case 'V': return c->vocab;
    case 'P': return c->max_len;
    case 'D': return c->d_model;
    case '3': return 3 * c->d_model;
    case '2': return 2 * c->d_model;
    case 'F': return c->d_ff;
    default: return 1;
    }
}

/* how many copies of layout entry k this config has (0 = absent) */
static int copies_of(const pt_config *c, int k) {
    switch (layout[k].stack) {
    case 'E': return c->enc_layers;
    case 'D': return c->dec_layers;
    case 'e':
    case 'd': return c->norm == PT_NORM_PRE;
    default: return layout[k].field == offsetof(pt_params, pos_emb) ? c->pos == PT_POS_LEARNED : 1;
    }
}

static size_t layout_walk(const pt_config *c, float *block, pt_params *p, pt_tensor *t, int *nt) {
    size_t off = 0;
    int n = 0;
    for (int k = 0; k < PT_N_PARAM_KINDS; k++) {
        int rows = dim_of(c, layout[k].rows), cols = dim_of(c, layout[k].cols);
        int copies = copies_of(c, k);
        float **ptr = p ? (float **)((char *)p + layout[k].field) : NULL;
        if (ptr) *ptr = copies && block ? block + off : NULL;
        for (int l = 0; l < copies; l++) {
            if (t) {
                pt_tensor *x = &t[n];
                snprintf(x->name, sizeof x->name, layout[k].name, l);
                x->offset = off;
                x->rows = rows;
                x->cols = cols;
                x->decay = rows > 1;
            }
            n++;
            off += (size_t)rows * cols;
        }
    }
    if (nt) *nt = n;
    return off;
}

/* m->first[] and the float weights over block (every tensor F32) */
static void resolve_weights(const pt_model *m, const float *block, nn_weight *w, int *first) {
    int n = 0;
    for (int k = 0; k < PT_N_PARAM_KINDS; k++) {
        PT_ASSERT(layout[k].field == (size_t)k * sizeof(float *)); /* PT_KIND's assumption */
        int copies = copies_of(&m->cfg, k);
        if (first) first[k] = copies ? n : -1;
        n += copies;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const pt_tensor *t = &m->tensors[i];
        w[i] = (nn_weight){NN_F32, t->cols, t->rows, block + t->offset, NULL};
    }
}

int pt_model_init(pt_model *m, const pt_config *cfg) {
    memset(m, 0, sizeof *m);
    if (pt_config_check(cfg)) return -1;
    m->cfg = *cfg;
    m->n_params = layout_walk(cfg, NULL, NULL, NULL, &m->n_tensors);
    m->tensors = pt_calloc((size_t)m->n_tensors, sizeof(pt_tensor));
    m->mem = pt_alloc_aligned(m->n_params * sizeof(float));
    layout_walk(cfg, m->mem, &m->p, m->tensors, NULL);
    m->w = pt_calloc((size_t)m->n_tensors, sizeof(nn_weight));
    resolve_weights(m, m->mem, m->w, m->first);
    return 0;
}

void pt_model_view(const pt_model *m, float *block, pt_model *view) {
    PT_ASSERT(!m->n_quant && !m->pk); /* a training model */
    *view = *m;
    view->mem = block; /* the caller's: pt_model_view_free leaves it */
    pt_params_point(m, block, &view->p);
    view->w = pt_calloc((size_t)m->n_tensors, sizeof(nn_weight));
    resolve_weights(m, block, view->w, NULL);
}

void pt_model_view_free(pt_model *view) {
    free(view->w);
    memset(view, 0, sizeof *view);
}

void pt_model_free(pt_model *m) {
    if (m->mapped == 2) munmap(m->mem, m->n_params * sizeof(float));
    else if (!m->mapped) pt_free_aligned(m->mem);
    free(m->tensors);
    free(m->w);
    pt_free_aligned(m->owned);
    if (m->pk) {
        free(m->pk);
        pt_free_pages(m->pk_mem, m->pk_bytes);
    }
    memset(m, 0, sizeof *m);
}

void pt_params_point(const pt_model *m, float *block, pt_params *out) {
    layout_walk(&m->cfg, block, out, NULL, NULL);
}

int pt_model_find(const pt_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return i;
    return -1;
}

void pt_model_init_weights(pt_model *m, uint64_t seed) {
    const pt_config *c = &m->cfg;
    pt_rng rng = {seed};
    for (int i = 0; i < m->n_tensors; i++) {
        const pt_tensor *t = &m->tensors[i];
        float *w = m->mem + t->offset;
        size_t n = (size_t)t->rows * t->cols;
        const char *nm = t->name;
        size_t len = strlen(nm);
        if (!strcmp(nm, "tok_emb.weight")) {
            float s = 1.0f / sqrtf((float)c->d_model);
            for (size_t j = 0; j < n; j++) w[j] = s * pt_rng_normal(&rng);
        } else if (!strcmp(nm, "pos_emb.weight")) {
            for (size_t j = 0; j < n; j++) w[j] = 0.02f * pt_rng_normal(&rng);
        } else if (t->rows > 1) {
            float a = sqrtf(6.0f / (float)(t->rows + t->cols));
            for (size_t j = 0; j < n; j++) w[j] = a * (2.0f * pt_rng_uniform(&rng) - 1.0f);
        } else if (strstr(nm, ".ln") && len > 7 && !strcmp(nm + len - 7, ".weight")) {
            for (size_t j = 0; j < n; j++) w[j] = 1.0f;
        } else {
            memset(w, 0, n * sizeof(float));
        }
    }
}

void pt_model_add_tensors(const pt_model *m, const float *block, const char *prefix,
                          gguf_writer *w) {
    char name[96];
    for (int i = 0; i < m->n_tensors; i++) {
        const pt_tensor *t = &m->tensors[i];
        snprintf(name, sizeof name, "%s%s", prefix, t->name);
        uint64_t ne[2] = {(uint64_t)t->cols, (uint64_t)t->rows};
        gguf_add_tensor(w, name, GGUF_TYPE_F32, t->rows > 1 ? 2 : 1, ne, block + t->offset,
                        (size_t)t->rows * t->cols * sizeof(float));
    }
}

/* A model with integer tensors: the F32 ones are copied into an anonymous
 * mapping laid out as usual; the integer ones stay in the file's mapping
 * and their slots in mem are never touched (so they cost no memory). */
/* Before allocating anything sized by the configuration: every tensor the
 * configuration asks for is in the file with its shape, its data there in
 * full (entropy-coded ones: their stated shape; their size is checked when
 * decoded), so n_params is bounded by what the file holds. */
static int check_tensors(const pt_model *m, const gguf_file *g) {
    for (int i = 0; i < m->n_tensors; i++) {
        const pt_tensor *t = &m->tensors[i];
        const gguf_tensor *gt = gguf_find_tensor(g, t->name);
        if (!gt) return pt_set_error("tensor %s is missing", t->name);
        if (pt_pack_is_coded(g, gt)) continue;
        if (gt->ne[0] != (uint64_t)t->cols || gt->n_elems != (uint64_t)t->rows * t->cols)
            return pt_set_error("tensor %s: shape [%llu x %llu], expected [%d x %d]", t->name,
                                (unsigned long long)gt->ne[0], (unsigned long long)gt->ne[1], t->cols, t->rows);
    }
    return 0;
}

static int load_quantized(pt_model *m, const gguf_file *g) {
    if (check_tensors(m, g)) {
        pt_model_free(m);
        return -1;
    }
    size_t bytes = m->n_params * sizeof(float);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        pt_set_error("cannot map %zu bytes for the model", bytes);
        pt_model_free(m);
        return -1;
    }
    m->mem = mem;
    m->mapped = 2;
    m->w = pt_calloc((size_t)m->n_tensors, sizeof(nn_weight));
    resolve_weights(m, m->mem, m->w, m->first);
    /* entropy-coded tensors are decoded into one owned block, in parallel
     * (a failure is decoded again on this thread for its message: errors
     * are per thread) */
    size_t coded = 0;
    size_t *at = pt_calloc((size_t)m->n_tensors, sizeof(size_t));
    int *rc = pt_calloc((size_t)m->n_tensors, sizeof(int)), *type = pt_calloc((size_t)m->n_tensors, sizeof(int));
    for (int i = 0; i < m->n_tensors; i++) {
        const gguf_tensor *gt = gguf_find_tensor(g, m->tensors[i].name); /* there: check_tensors */
        if (pt_pack_is_coded(g, gt)) {
            size_t b = pt_pack_decoded_bytes(g, gt, m->tensors[i].rows, m->tensors[i].cols);
            if (!b) {
                free(at), free(rc), free(type);
                pt_model_free(m);
                return -1;
            }
            at[i] = coded + 1; /* 0: not coded */
            coded += (b + 63) & ~(size_t)63;
        }
    }
    /* a coded stream may expand a lot (rANS spends almost nothing on a very
     * likely symbol), but not without bound: a file claiming more is damaged */
    if (coded > (size_t)1024 * gguf_size(g) + ((size_t)64 << 20)) {
        pt_set_error("its coded tensors would decode to %zu MB from a %zu KB file: refused as damaged",
                     coded >> 20, gguf_size(g) >> 10);
        free(at), free(rc), free(type);
        pt_model_free(m);
        return -1;
    }
    if (coded) m->owned = pt_alloc_aligned(coded);
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < m->n_tensors; i++)
        if (at[i]) {
            const pt_tensor *t = &m->tensors[i];
            rc[i] = pt_pack_decode(g, gguf_find_tensor(g, t->name), t->rows, t->cols, &type[i],
                                   (char *)m->owned + at[i] - 1);
        }
    for (int i = 0; i < m->n_tensors; i++) {
        const pt_tensor *t = &m->tensors[i];
        const gguf_tensor *gt = gguf_find_tensor(g, t->name);
        int bad = 0;
        if (at[i]) {
            void *dst = (char *)m->owned + at[i] - 1;
            if (rc[i]) {
                int again;
                pt_pack_decode(g, gt, t->rows, t->cols, &again, dst); /* sets the error here */
                bad = -1;
            } else {
                m->w[i] = (nn_weight){type[i], t->cols, t->rows, dst, NULL};
                m->n_quant++;
                continue;
            }
        } else if (gt->type == GGUF_TYPE_F32) memcpy(m->mem + t->offset, gt->data, gt->nbytes);
        else if ((gt->type != GGUF_TYPE_Q8_0 && gt->type != GGUF_TYPE_Q4_0) || t->rows < 2)
            bad = pt_set_error("tensor %s: type %s is not one petit computes with", t->name, gguf_type_name(gt->type));
        else if (((uintptr_t)gt->data & 1) != 0) bad = pt_set_error("tensor %s: misaligned", t->name);
        if (bad) {
            free(at), free(rc), free(type);
            pt_model_free(m);
            return -1;
        }
        if (gt->type != GGUF_TYPE_F32) m->w[i] = (nn_weight){(int)gt->type, t->cols, t->rows, gt->data, NULL};
        m->n_quant += gt->type != GGUF_TYPE_F32;
    }
    free(at), free(rc), free(type);
    layout_walk(&m->cfg, m->mem, &m->p, NULL, NULL);
    return 0;
}

/* the tensors pt_model_pack copies: float weight matrices, not the learned positions */
static int packable(const pt_model *m, int i) {
    const pt_tensor *t = &m->tensors[i];
    return m->w[i].type == NN_F32 && t->rows > 1 && t->cols > 1 && i != m->first[PT_KIND(pos_emb)];
}

void pt_model_pack(pt_model *m) {
    if (m->pk) return;
    size_t total = 0, *off = pt_calloc((size_t)m->n_tensors, sizeof(size_t));
    for (int i = 0; i < m->n_tensors; i++) /* whole 64-byte lines each */
        if (packable(m, i)) {
            off[i] = total;
            total += (nn_pmat_floats(m->tensors[i].cols, m->tensors[i].rows) * sizeof(float) + 63) / 64 * 64;
        }
    if (!total) {
        free(off);
        return;
    }
    m->pk = pt_calloc((size_t)m->n_tensors, sizeof(nn_pmat));
    m->pk_bytes = total;
    m->pk_mem = pt_alloc_pages(total);
#ifdef MADV_HUGEPAGE
    madvise(m->pk_mem, total, MADV_HUGEPAGE); /* fewer page faults and TLB misses, if the system allows */
#endif
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < m->n_tensors; i++) {
        if (!packable(m, i)) continue;
        const pt_tensor *t = &m->tensors[i];
        const float *w = m->w[i].data;
        nn_pmat_pack(&m->pk[i], (float *)((char *)m->pk_mem + off[i]), w, t->cols, t->rows);
        m->w[i].pk = &m->pk[i];
        if (m->mapped != 1) continue; /* 1: in place in the file's mapping */
        /* the whole pages of this tensor: not needed any more */
        uintptr_t a = (uintptr_t)w, e = a + (size_t)t->rows * t->cols * sizeof(float);
        a = (a + page - 1) / page * page, e = e / page * page;
        if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
    }
    free(off);
}

/* pt_mm with an observer (training's passes; NULL: none) */
static void mm(const pt_model *m, const pt_observer *o, const nn_weight *W, float *Y, const float *X,
               const float *b, int N) {
    if (o && o->fn) o->fn(o->ctx, (int)(W - m->w), X, N, W->in);
    nn_matmul(Y, X, W, b, N);
}

void pt_mm(const pt_model *m, const nn_weight *W, float *Y, const float *X, const float *b, int N) {
    mm(m, NULL, W, Y, X, b, N);
}

const float *pt_emb_row(const pt_model *m, int id, float *scratch) {
    return nn_weight_row(PT_W(m, tok_emb, 0), id, scratch);
}

int pt_model_from_gguf(pt_model *m, const gguf_file *g) {
    pt_config cfg;
    if (gguf_verify(g) || pt_config_from_gguf(&cfg, g)) return -1;
    memset(m, 0, sizeof *m);
    cfg.dropout = 0.0f;
    m->cfg = cfg;
    m->n_params = layout_walk(&cfg, NULL, NULL, NULL, &m->n_tensors);
    m->tensors = pt_calloc((size_t)m->n_tensors, sizeof(pt_tensor));
    layout_walk(&cfg, NULL, NULL, m->tensors, NULL);
    for (int i = 0; i < m->n_tensors; i++) {
        const gguf_tensor *gt = gguf_find_tensor(g, m->tensors[i].name);
        if (gt && gt->type != GGUF_TYPE_F32) return load_quantized(m, g);
    }
    /* contiguous and in order, with the right shapes? then use it in place */
    const gguf_tensor *first = gguf_find_tensor(g, m->tensors[0].name);
    int inplace = first && first->type == GGUF_TYPE_F32 && ((uintptr_t)first->data & 31) == 0;
    for (int i = 0; inplace && i < m->n_tensors; i++) {
        const pt_tensor *t = &m->tensors[i];
        const gguf_tensor *gt = gguf_find_tensor(g, t->name);
        inplace = gt && gt->type == GGUF_TYPE_F32 && gt->ne[0] == (uint64_t)t->cols &&
                  gt->n_elems == (uint64_t)t->rows * t->cols &&
                  (const float *)gt->data == (const float *)first->data + t->offset;
    }
    if (inplace) {
        m->mem = (float *)first->data; /* read-only in practice: inference never writes it */
        m->mapped = 1;
    } else {
        if (check_tensors(m, g)) {
            pt_model_free(m);
            return -1;
        }
        m->mem = pt_alloc_aligned(m->n_params * sizeof(float));
        if (pt_model_load_tensors(m, m->mem, "", g)) {
            pt_model_free(m);
            return -1;
        }
    }
    layout_walk(&cfg, m->mem, &m->p, NULL, NULL);
    m->w = pt_calloc((size_t)m->n_tensors, sizeof(nn_weight));
    resolve_weights(m, m->mem, m->w, m->first);
    return 0;
}

/* A float model of our own from an integer or packed file: every weight's
 * rows as the file's kernels see them (nn_weight_row), so the float model
 * computes what the file did, up to the products' rounding. */
static int load_dequantized(pt_model *m, const gguf_file *g) {
    pt_model v;
    if (pt_model_from_gguf(&v, g)) return -1; /* verifies the file and reads its configuration */
    if (pt_model_init(m, &v.cfg)) {
        pt_model_free(&v);
        return -1;
    }
    int maxc = 0;
    for (int i = 0; i < v.n_tensors; i++) maxc = v.tensors[i].cols > maxc ? v.tensors[i].cols : maxc;
    float *row = pt_malloc((size_t)maxc * sizeof(float));
    for (int i = 0; i < v.n_tensors; i++) {
        const pt_tensor *t = &m->tensors[i];
        for (int r = 0; r < t->rows; r++)
            memcpy(m->mem + t->offset + (size_t)r * t->cols, nn_weight_row(&v.w[i], r, row),
                   (size_t)t->cols * sizeof(float));
    }
    free(row);
    pt_model_free(&v);
    return 0;
}

int pt_model_own_from_gguf(pt_model *m, const gguf_file *g, int dequantize) {
    for (int i = 0; dequantize && i < gguf_n_tensors(g); i++)
        if (gguf_tensor_at(g, i)->type != GGUF_TYPE_F32) return load_dequantized(m, g);
    pt_config cfg;
    if (gguf_verify(g) || pt_config_from_gguf(&cfg, g) || pt_model_init(m, &cfg)) return -1;
    if (pt_model_load_tensors(m, m->mem, "", g)) {
        pt_model_free(m);
        return -1;
    }
    return 0;
}

int pt_model_load(pt_model *m, const char *path) {
    gguf_file *g = gguf_open(path);
    if (!g) return -1;
    int rc = pt_model_own_from_gguf(m, g, 1);
    if (rc) {
        char msg[900];
        snprintf(msg, sizeof msg, "%s", pt_error());
        pt_set_error("%s: %s", path, msg);
    }
    gguf_close(g);
    return rc;
}

int pt_model_load_tensors(const pt_model *m, float *block, const char *prefix, const gguf_file *g) {
    char name[96];
    for (int i = 0; i < m->n_tensors; i++) {
        const pt_tensor *t = &m->tensors[i];
        snprintf(name, sizeof name, "%s%s", prefix, t->name);
        const gguf_tensor *gt = gguf_find_tensor(g, name);
        if (!gt) return pt_set_error("tensor %s is missing", name);
        if (gt->type != GGUF_TYPE_F32) return pt_set_error("tensor %s: type %s, expected F32", name, gguf_type_name(gt->type));
        if (gt->n_elems != (uint64_t)t->rows * t->cols || gt->ne[0] != (uint64_t)t->cols)
            return pt_set_error("tensor %s: shape [%llu x %llu], expected [%d x %d]", name,
                                (unsigned long long)gt->ne[0], (unsigned long long)gt->ne[1], t->cols, t->rows);
        memcpy(block + t->offset, gt->data, gt->nbytes);
    }
    return 0;
}

/* ---- activations ----------------------------------------------------- */

#define MAX_BUFS 512

typedef pt_layer_bufs layer_acts; /* training keeps one per layer */

struct pt_acts {
    pt_config cfg;
    pt_acts_caps caps;
    layer_acts *enc, *dec;
    float *enc_final, *enc_mean, *enc_rstd; /* (Ns, D), pre-norm final LN */
    float *dec_final, *dec_mean, *dec_rstd; /* (Nt, D) */
    float *logits;                          /* (Nt, V) */
    float *pe;                              /* (P, D) sinusoidal table */
    /* gradient scratch */
    float *g_a, *g_b, *g_tmp, *g_sub, *g_qkv, *g_ctx, *g_S, *g_up, *g_mem, *g_ckv;
    int *labels;
    float *bufs[MAX_BUFS];
    int n_bufs;
    pt_observer obs; /* pt_acts_observe; every layer's obs points here */
};

static float *abuf(pt_acts *a, size_t n) {
    PT_ASSERT(a->n_bufs < MAX_BUFS);
    return a->bufs[a->n_bufs++] = pt_alloc_aligned(n * sizeof(float));
}

pt_acts_caps pt_caps_max(pt_acts_caps a, pt_acts_caps b) {
#define MX(f) a.f = a.f > b.f ? a.f : b.f
    MX(ns), MX(nt), MX(pss), MX(ptt), MX(pts), MX(tmax);
#undef MX
    return a;
}

int pt_caps_fit(pt_acts_caps h, pt_acts_caps n) {
    return n.ns <= h.ns && n.nt <= h.nt && n.pss <= h.pss && n.ptt <= h.ptt && n.pts <= h.pts &&
           n.tmax <= h.tmax;
}

pt_acts_caps pt_acts_capacity(const pt_acts *a) { return a->caps; }

void pt_acts_reserve(pt_acts **a, const pt_config *cfg, pt_acts_caps need) {
    if (*a) {
        pt_acts_caps have = pt_acts_capacity(*a);
        if (pt_caps_fit(have, need)) return;
        need = pt_caps_max(have, need);
        pt_acts_free(*a);
    }
    *a = pt_acts_new_caps(cfg, need);
}

/* the buffers every layer has: K sublayers over N rows, attention maps of
 * n_att floats; in is the layer's input. Returns the layer's output. */
static float *alloc_layer(pt_acts *a, layer_acts *L, float *in, int K, size_t N, size_t n_att) {
    size_t D = (size_t)a->cfg.d_model, F = (size_t)a->cfg.d_ff;
    L->res[0] = in;
    for (int k = 0; k < K; k++) {
        L->res[k + 1] = abuf(a, N * D);
        L->ln[k] = abuf(a, N * D);
        L->mean[k] = abuf(a, N);
        L->rstd[k] = abuf(a, N);
    }
    L->qkv = abuf(a, N * 3 * D);
    L->P = abuf(a, n_att);
    L->ctx = abuf(a, N * D);
    L->up = abuf(a, N * F);
    L->act = abuf(a, N * F);
    return L->res[K];
}

pt_acts *pt_acts_new(const pt_config *c, int B, int S, int T) {
    return pt_acts_new_caps(c, pt_caps_of(B, S, T));
}

static pt_acts *acts_new(const pt_config *c, pt_acts_caps caps, int infer) {
    pt_acts *a = pt_calloc(1, sizeof *a);
    a->cfg = *c;
    a->caps = caps;
    size_t D = (size_t)c->d_model, F = (size_t)c->d_ff, H = (size_t)c->n_heads, V = (size_t)c->vocab;
    size_t Ns = caps.ns, Nt = caps.nt, N = Ns > Nt ? Ns : Nt;
    a->enc = pt_calloc((size_t)c->enc_layers, sizeof(layer_acts));
    a->dec = pt_calloc((size_t)c->dec_layers, sizeof(layer_acts));
    float *prev = abuf(a, Ns * D);
    if (infer) {
        /* nothing is kept for a backward pass: every encoder layer uses layer
         * 0's buffers, except that outputs alternate between two buffers so a
         * layer never writes its own input */
        float *out2 = NULL;
        for (int l = 0; l < c->enc_layers; l++) {
            layer_acts *L = &a->enc[l];
            if (l == 0) {
                prev = alloc_layer(a, L, prev, 2, Ns, H * caps.pss);
                continue;
            }
            if (l == 1) out2 = abuf(a, Ns * D);
            *L = a->enc[0];
            L->res[0] = prev;
            L->res[2] = l % 2 ? out2 : a->enc[0].res[2];
            prev = L->res[2];
        }
    } else {
        for (int l = 0; l < c->enc_layers; l++) prev = alloc_layer(a, &a->enc[l], prev, 2, Ns, H * caps.pss);
    }
    prev = abuf(a, Nt * D);
    /* decoder self-attention maps: dense (B, H, T, T), or the sparse heads'
     * compact rows (nn.h) */
    nn_mask self = pt_dec_self_mask(c);
    size_t n_self = c->dec_attn == PT_ATTN_DENSE ? H * caps.ptt : Nt * nn_mask_pcols(&self, (int)H, (int)caps.tmax);
    for (int l = 0; l < c->dec_layers; l++) {
        layer_acts *L = &a->dec[l];
        prev = alloc_layer(a, L, prev, 3, Nt, n_self);
        L->cq = abuf(a, Nt * D);
        L->ckv = abuf(a, Nt ? Ns * 2 * D : 0); /* an encoder-only set (Nt = 0) has no decoder */
        L->cP = abuf(a, H * caps.pts);
        L->cctx = abuf(a, Nt * D);
    }
    for (int l = 0; l < c->enc_layers; l++) a->enc[l].obs = &a->obs;
    for (int l = 0; l < c->dec_layers; l++) a->dec[l].obs = &a->obs;
    a->enc_final = abuf(a, Ns * D);
    a->enc_mean = abuf(a, Ns);
    a->enc_rstd = abuf(a, Ns);
    a->dec_final = abuf(a, Nt * D);
    a->dec_mean = abuf(a, Nt);
    a->dec_rstd = abuf(a, Nt);
    a->logits = abuf(a, Nt * V);
    a->pe = abuf(a, (size_t)c->max_len * D);
    for (int t = 0; t < c->max_len; t++)
        for (size_t i = 0; i < D / 2; i++) {
            double f = (double)t / pow(10000.0, 2.0 * (double)i / (double)D);
            a->pe[t * D + i] = (float)sin(f);
            a->pe[t * D + D / 2 + i] = (float)cos(f);
        }
    size_t PP = H * (caps.pss > caps.pts ? caps.pss : caps.pts);
    PP = PP > n_self ? PP : n_self;
    a->g_tmp = abuf(a, N * D); /* the encoder's sublayer outputs */
    if (infer) return a;
    a->g_a = abuf(a, N * D);
    a->g_b = abuf(a, N * D);
    a->g_sub = abuf(a, N * D);
    a->g_qkv = abuf(a, N * 3 * D);
    a->g_ctx = abuf(a, N * D);
    a->g_S = abuf(a, PP);
    a->g_up = abuf(a, N * F);
    a->g_mem = abuf(a, Ns * D);
    a->g_ckv = abuf(a, Ns * 2 * D);
    a->labels = pt_calloc(Nt, sizeof(int));
    return a;
}

pt_acts *pt_acts_new_caps(const pt_config *c, pt_acts_caps caps) { return acts_new(c, caps, 0); }
pt_acts *pt_acts_new_inference(const pt_config *c, pt_acts_caps caps) { return acts_new(c, caps, 1); }

void pt_acts_free(pt_acts *a) {
    if (!a) return;
    for (int i = 0; i < a->n_bufs; i++) pt_free_aligned(a->bufs[i]);
    free(a->enc);
    free(a->dec);
    free(a->labels);
    free(a);
}

float *pt_acts_logits(pt_acts *a) { return a->logits; }
const float *pt_acts_pe(const pt_acts *a) { return a->pe; }

void pt_acts_observe(pt_acts *a, const pt_observer *o) { a->obs = o ? *o : (pt_observer){0}; }

/* ---- forward pieces -------------------------------------------------- */

static uint64_t site_key(uint64_t key, int site) {
    return key ? pt_hash_u64(key * 0x100000001b3ULL + (uint64_t)site) : 0;
}

void pt_embed(const pt_model *m, const float *sin_pe, float *out, const int *ids, int N, int T, int t0) {
    const pt_config *c = &m->cfg;
    int D = c->d_model;
    float s = c->emb_scale ? sqrtf((float)D) : 1.0f;
    const float *pe = c->pos == PT_POS_LEARNED ? m->p.pos_emb : sin_pe;
#pragma omp parallel for schedule(static) if ((long)N * D > 32768)
    for (int r = 0; r < N; r++) {
        float *o = out + (size_t)r * D;
        const float *e = pt_emb_row(m, ids[r], o), *p = pe + (size_t)(t0 + r % T) * D;
        for (int i = 0; i < D; i++) o[i] = e[i] * s + p[i];
    }
}

static void embed(const pt_model *m, const pt_acts *a, float *out, const int *ids, int B, int T,
                  uint64_t key) {
    pt_embed(m, a->pe, out, ids, B * T, T, 0);
    if (key) nn_dropout(out, (size_t)B * T * m->cfg.d_model, m->cfg.dropout, key);
}

static void embed_backward(const pt_model *m, float *g_tok, float *g_pos, const float *dout,
                           const int *ids, int B, int T, uint64_t key) {
    const pt_config *c = &m->cfg;
    int D = c->d_model;
    float s = c->emb_scale ? sqrtf((float)D) : 1.0f;
    /* dout is scratch here: the dropout mask is applied in place */
    if (key) nn_dropout((float *)dout, (size_t)B * T * D, c->dropout, key);
    for (int r = 0; r < B * T; r++) { /* rows in order: deterministic scatter-add */
        float *g = g_tok + (size_t)ids[r] * D;
        const float *d = dout + (size_t)r * D;
        for (int i = 0; i < D; i++) g[i] += s * d[i];
        if (g_pos) {
            float *gp = g_pos + (size_t)(r % T) * D;
            for (int i = 0; i < D; i++) gp[i] += d[i];
        }
    }
}

/* Sublayer k of a layer: pre-norm  res[k+1] = res[k] + drop(f(LN(res[k])))
 *                        post-norm res[k+1] = LN(res[k] + drop(f(res[k])))
 * sub_in returns what f reads; sub_out finishes after f wrote `y`. */
static const float *sub_in(const pt_config *c, layer_acts *L, int k, const float *lnw,
                           const float *lnb, int N) {
    if (c->norm == PT_NORM_POST) return L->res[k];
    nn_layernorm(L->ln[k], L->mean[k], L->rstd[k], L->res[k], lnw, lnb, N, c->d_model, c->ln_eps);
    return L->ln[k];
}

static void sub_out(const pt_config *c, layer_acts *L, int k, float *y, const float *lnw,
                    const float *lnb, int N, uint64_t key) {
    size_t n = (size_t)N * c->d_model;
    if (key) nn_dropout(y, n, c->dropout, key);
    if (c->norm == PT_NORM_PRE) {
        nn_add3(L->res[k + 1], L->res[k], y, n);
    } else {
        nn_add3(L->ln[k], L->res[k], y, n);
        nn_layernorm(L->res[k + 1], L->mean[k], L->rstd[k], L->ln[k], lnw, lnb, N, c->d_model, c->ln_eps);
    }
}

/* self-attention: y = Attn(x) (N, D); saves qkv, P, ctx */
static void self_attn(const pt_model *m, layer_acts *L, float *y, const float *x, const nn_weight *w_qkv,
                      const float *b_qkv, const nn_weight *w_o, const float *b_o, int B, int T,
                      const nn_mask *mask) {
    const pt_config *c = &m->cfg;
    int D = c->d_model, N = B * T;
    mm(m, L->obs, w_qkv, L->qkv, x, b_qkv, N);
    nn_attention(L->ctx, L->P, L->qkv, 3 * D, L->qkv + D, L->qkv + 2 * D, 3 * D, B, T, T,
                 c->n_heads, D / c->n_heads, mask);
    mm(m, L->obs, w_o, y, L->ctx, b_o, N);
}

static void ffn(const pt_model *m, layer_acts *L, float *y, const float *x, const nn_weight *w_up,
                const float *b_up, const nn_weight *w_down, const float *b_down, int N) {
    const pt_config *c = &m->cfg;
    int F = c->d_ff;
    mm(m, L->obs, w_up, L->up, x, b_up, N);
    nn_act(L->act, L->up, (size_t)N * F, c->act);
    mm(m, L->obs, w_down, y, L->act, b_down, N);
}

/* The encoder over a padded batch; returns its output (B*S, D) inside a. */
static const float *encode(const pt_model *m, pt_acts *a, const int *src, const int *src_len, int B,
                           int S, uint64_t key) {
    const pt_config *c = &m->cfg;
    const pt_params *p = &m->p;
    int D = c->d_model, F = c->d_ff, Ns = B * S;
    size_t D3 = 3 * (size_t)D;
    nn_mask src_mask = {.kind = NN_MASK_PAD, .klen = src_len};
    /* encoder */
    embed(m, a, a->enc[0].res[0], src, B, S, site_key(key, 0));
    for (int l = 0; l < c->enc_layers; l++) {
        layer_acts *L = &a->enc[l];
        const float *x = sub_in(c, L, 0, p->e_ln1_w + l * D, p->e_ln1_b + l * D, Ns);
        self_attn(m, L, a->g_tmp, x, PT_W(m, e_qkv_w, l), p->e_qkv_b + l * D3, PT_W(m, e_o_w, l), p->e_o_b + l * D,
                  B, S, &src_mask);
        sub_out(c, L, 0, a->g_tmp, p->e_ln1_w + l * D, p->e_ln1_b + l * D, Ns, site_key(key, 100 + 2 * l));
        x = sub_in(c, L, 1, p->e_ln2_w + l * D, p->e_ln2_b + l * D, Ns);
        ffn(m, L, a->g_tmp, x, PT_W(m, e_up_w, l), p->e_up_b + (size_t)l * F, PT_W(m, e_down_w, l),
            p->e_down_b + l * D, Ns);
        sub_out(c, L, 1, a->g_tmp, p->e_ln2_w + l * D, p->e_ln2_b + l * D, Ns, site_key(key, 101 + 2 * l));
    }
    const float *mem = a->enc[c->enc_layers - 1].res[2];
    if (c->norm == PT_NORM_PRE) {
        nn_layernorm(a->enc_final, a->enc_mean, a->enc_rstd, mem, p->e_lnf_w, p->e_lnf_b, Ns, D, c->ln_eps);
        mem = a->enc_final;
    }
    return mem;
}

const float *pt_encode(const pt_model *m, pt_acts *a, const int *src, const int *src_len, int B, int S) {
    pt_acts_caps need = pt_caps_of(B, S, 0);
    pt_acts_caps have = a->caps;
    PT_ASSERT(need.ns <= have.ns && need.pss <= have.pss && S <= m->cfg.max_len);
    return encode(m, a, src, src_len, B, S, 0);
}


/* ---- the decoder layer, shared by training and decoding ------------- */

void pt_dec_layer(const pt_model *m, int l, pt_layer_bufs *L, float *y, int N, const pt_dec_attn *at,
                  uint64_t key) {
    const pt_config *c = &m->cfg;
    const pt_params *p = &m->p;
    int D = c->d_model, F = c->d_ff;
    size_t D3 = 3 * (size_t)D;
    /* causal self-attention */
    const float *x = sub_in(c, L, 0, p->d_ln1_w + l * D, p->d_ln1_b + l * D, N);
    mm(m, L->obs, PT_W(m, d_qkv_w, l), L->qkv, x, p->d_qkv_b + l * D3, N);
    at->self(at->ctx, l, L);
    mm(m, L->obs, PT_W(m, d_o_w, l), y, L->ctx, p->d_o_b + l * D, N);
    sub_out(c, L, 0, y, p->d_ln1_w + l * D, p->d_ln1_b + l * D, N, site_key(key, 1000 + 3 * l));
    /* cross-attention over the encoder's output */
    x = sub_in(c, L, 1, p->d_ln2_w + l * D, p->d_ln2_b + l * D, N);
    mm(m, L->obs, PT_W(m, d_cq_w, l), L->cq, x, p->d_cq_b + l * D, N);
    at->cross(at->ctx, l, L);
    mm(m, L->obs, PT_W(m, d_co_w, l), y, L->cctx, p->d_co_b + l * D, N);
    sub_out(c, L, 1, y, p->d_ln2_w + l * D, p->d_ln2_b + l * D, N, site_key(key, 1001 + 3 * l));
    /* feed-forward */
    x = sub_in(c, L, 2, p->d_ln3_w + l * D, p->d_ln3_b + l * D, N);
    ffn(m, L, y, x, PT_W(m, d_up_w, l), p->d_up_b + (size_t)l * F, PT_W(m, d_down_w, l), p->d_down_b + l * D, N);
    sub_out(c, L, 2, y, p->d_ln3_w + l * D, p->d_ln3_b + l * D, N, site_key(key, 1002 + 3 * l));
}

static void dec_logits(const pt_model *m, const pt_observer *o, const nn_weight *out_w, const float *out_b,
                       float *logits, const float *x, float *ln, float *mean, float *rstd, int N) {
    const pt_config *c = &m->cfg;
    if (c->norm == PT_NORM_PRE) {
        nn_layernorm(ln, mean, rstd, x, m->p.d_lnf_w, m->p.d_lnf_b, N, c->d_model, c->ln_eps);
        x = ln;
    }
    if (out_w) nn_matmul(logits, x, out_w, out_b, N); /* not one of m's: nothing to observe */
    else mm(m, o, PT_W(m, tok_emb, 0), logits, x, m->p.out_b, N);
}

void pt_dec_logits(const pt_model *m, const nn_weight *out_w, const float *out_b, float *logits, const float *x,
                   float *ln, float *mean, float *rstd, int N) {
    dec_logits(m, NULL, out_w, out_b, logits, x, ln, mean, rstd, N);
}

/* training's attention cores: over the whole target sequence and the
 * encoder's output, the probabilities kept for the backward pass */
typedef struct {
    const pt_model *m;
    pt_acts *a;
    const pt_batch *bt;
    const float *mem;
    const nn_mask *src_mask, *causal;
} train_attn;

static void train_self(void *ctx, int l, pt_layer_bufs *L) {
    const train_attn *t = ctx;
    const pt_config *c = &t->m->cfg;
    int D = c->d_model;
    (void)l;
    nn_attention(L->ctx, L->P, L->qkv, 3 * D, L->qkv + D, L->qkv + 2 * D, 3 * D, t->bt->B, t->bt->T, t->bt->T,
                 c->n_heads, D / c->n_heads, t->causal);
}

static void train_cross(void *ctx, int l, pt_layer_bufs *L) {
    const train_attn *t = ctx;
    const pt_config *c = &t->m->cfg;
    int D = c->d_model, B = t->bt->B, S = t->bt->S, T = t->bt->T;
    mm(t->m, L->obs, PT_W(t->m, d_ckv_w, l), L->ckv, t->mem, t->m->p.d_ckv_b + l * 2 * D, B * S);
    nn_attention(L->cctx, L->cP, L->cq, D, L->ckv, L->ckv + D, 2 * D, B, T, S, c->n_heads, D / c->n_heads,
                 t->src_mask);
}

/* the network up to the logits (a->logits) */
static void forward_logits(const pt_model *m, pt_acts *a, const pt_batch *bt, uint64_t key) {
    const pt_config *c = &m->cfg;
    PT_ASSERT(pt_caps_fit(a->caps, pt_caps_of(bt->B, bt->S, bt->T)));
    PT_ASSERT(bt->S <= c->max_len && bt->T <= c->max_len);
    int B = bt->B, S = bt->S, T = bt->T, Nt = B * T;
    if (c->dropout <= 0.0f) key = 0;
    nn_mask src_mask = {.kind = NN_MASK_PAD, .klen = bt->src_len}, causal = pt_dec_self_mask(c);

    const float *mem = encode(m, a, bt->src, bt->src_len, B, S, key);

    /* decoder */
    embed(m, a, a->dec[0].res[0], bt->tgt_in, B, T, site_key(key, 1));
    train_attn ta = {m, a, bt, mem, &src_mask, &causal};
    pt_dec_attn at = {train_self, train_cross, &ta};
    for (int l = 0; l < c->dec_layers; l++) pt_dec_layer(m, l, &a->dec[l], a->g_tmp, Nt, &at, key);
    dec_logits(m, &a->obs, NULL, NULL, a->logits, a->dec[c->dec_layers - 1].res[3], a->dec_final, a->dec_mean,
               a->dec_rstd, Nt);
}

static int count_tokens(const pt_config *c, const pt_batch *bt) {
    int n = 0;
    for (int r = 0; r < bt->B * bt->T; r++) n += bt->tgt_out[r] != c->pad_id;
    return n;
}

double pt_forward(const pt_model *m, pt_acts *a, const pt_batch *bt, float smoothing,
                  uint64_t key, int *n_tokens) {
    forward_logits(m, a, bt, key);
    if (n_tokens) *n_tokens = count_tokens(&m->cfg, bt);
    return nn_xent(a->logits, bt->tgt_out, bt->B * bt->T, m->cfg.vocab, smoothing, m->cfg.pad_id);
}

/* ---- backward pieces ------------------------------------------------- */

/* Given d_out = dL/d res[k+1], start the sublayer's backward: returns dL/dy
 * (the sublayer's output before dropout) in a->g_tmp, and leaves in d_in the
 * residual part of dL/d res[k]. sub_backward_end adds the part through f. */
static void sub_backward_begin(const pt_config *c, pt_acts *a, layer_acts *L, int k,
                               float *d_in, const float *d_out, const float *lnw, float *glnw,
                               float *glnb, int N, uint64_t key) {
    size_t n = (size_t)N * c->d_model;
    if (c->norm == PT_NORM_PRE) {
        memcpy(d_in, d_out, n * sizeof(float));
    } else {
        memset(d_in, 0, n * sizeof(float));
        nn_layernorm_backward(d_in, glnw, glnb, d_out, L->ln[k], L->mean[k], L->rstd[k], lnw, N, c->d_model);
    }
    memcpy(a->g_tmp, d_in, n * sizeof(float));
    if (key) nn_dropout(a->g_tmp, n, c->dropout, key);
}

/* g_sub = dL/d(f's input); finish dL/d res[k] in d_in */
static void sub_backward_end(const pt_config *c, pt_acts *a, layer_acts *L, int k, float *d_in,
                             const float *lnw, float *glnw, float *glnb, int N) {
    if (c->norm == PT_NORM_PRE)
        nn_layernorm_backward(d_in, glnw, glnb, a->g_sub, L->res[k], L->mean[k], L->rstd[k], lnw, N, c->d_model);
    else
        nn_add(d_in, a->g_sub, (size_t)N * c->d_model);
}

static const float *sub_input(const pt_config *c, const layer_acts *L, int k) {
    return c->norm == PT_NORM_PRE ? L->ln[k] : L->res[k];
}

/* dy in a->g_tmp -> a->g_sub = dL/dx */
static void self_attn_backward(const pt_config *c, pt_acts *a, layer_acts *L, const float *x,
                               const float *w_qkv, float *g_wqkv, float *g_bqkv, const float *w_o,
                               float *g_wo, float *g_bo, int B, int T, const nn_mask *mask) {
    int D = c->d_model, N = B * T;
    nn_linear_backward(a->g_ctx, 0.0f, g_wo, g_bo, a->g_tmp, L->ctx, w_o, N, D, D);
    nn_attention_backward(a->g_qkv, a->g_qkv + D, a->g_qkv + 2 * D, a->g_S, a->g_ctx, L->P, L->qkv,
                          3 * D, L->qkv + D, L->qkv + 2 * D, 3 * D, B, T, T, c->n_heads,
                          D / c->n_heads, mask);
    nn_linear_backward(a->g_sub, 0.0f, g_wqkv, g_bqkv, a->g_qkv, x, w_qkv, N, D, 3 * D);
}

static void ffn_backward(const pt_config *c, pt_acts *a, layer_acts *L, const float *x,
                         const float *w_up, float *g_wup, float *g_bup, const float *w_down,
                         float *g_wdown, float *g_bdown, int N) {
    int D = c->d_model, F = c->d_ff;
    nn_linear_backward(a->g_up, 0.0f, g_wdown, g_bdown, a->g_tmp, L->act, w_down, N, F, D);
    nn_act_backward(a->g_up, a->g_up, L->up, (size_t)N * F, c->act);
    nn_linear_backward(a->g_sub, 0.0f, g_wup, g_bup, a->g_up, x, w_up, N, D, F);
}

double pt_forward_backward(const pt_model *m, pt_acts *a, const pt_batch *bt, float smoothing,
                           uint64_t key, float scale, float *grads, int *n_tokens) {
    const pt_config *c = &m->cfg;
    const pt_params *p = &m->p;
    PT_ASSERT(!m->n_quant); /* integer weights have no gradient (QAT trains F32 masters) */
    pt_params g;
    pt_params_point(m, grads, &g);
    int B = bt->B, S = bt->S, T = bt->T, D = c->d_model, F = c->d_ff, V = c->vocab;
    int Ns = B * S, Nt = B * T;
    size_t D3 = 3 * (size_t)D, D2 = 2 * (size_t)D;
    if (c->dropout <= 0.0f) key = 0;
    nn_mask src_mask = {.kind = NN_MASK_PAD, .klen = bt->src_len}, causal = pt_dec_self_mask(c);

    forward_logits(m, a, bt, key);
    if (n_tokens) *n_tokens = count_tokens(c, bt);
    const pt_soft_targets *kd = bt->soft;
    double loss = kd ? nn_kd_backward(a->logits, bt->tgt_out, kd->ids, kd->p, kd->k, Nt, V, smoothing, kd->alpha,
                                      kd->tau, c->pad_id, scale)
                     : nn_xent_backward(a->logits, bt->tgt_out, Nt, V, smoothing, c->pad_id, scale);

    /* output layer (tied embedding) */
    const float *h = c->norm == PT_NORM_PRE ? a->dec_final : a->dec[c->dec_layers - 1].res[3];
    float *d = a->g_a, *d_next = a->g_b;
    nn_linear_backward(d, 0.0f, g.tok_emb, g.out_b, a->logits, h, p->tok_emb, Nt, D, V);
    if (c->norm == PT_NORM_PRE) {
        memset(d_next, 0, (size_t)Nt * D * sizeof(float));
        nn_layernorm_backward(d_next, g.d_lnf_w, g.d_lnf_b, d, a->dec[c->dec_layers - 1].res[3],
                              a->dec_mean, a->dec_rstd, p->d_lnf_w, Nt, D);
        float *t = d; d = d_next; d_next = t;
    }
    const float *mem = c->norm == PT_NORM_PRE ? a->enc_final : a->enc[c->enc_layers - 1].res[2];
    memset(a->g_mem, 0, (size_t)Ns * D * sizeof(float));

    /* decoder, top down; d holds dL/d res[k+1], d_next receives dL/d res[k] */
    for (int l = c->dec_layers - 1; l >= 0; l--) {
        layer_acts *L = &a->dec[l];
        float *t;
        /* FFN */
        sub_backward_begin(c, a, L, 2, d_next, d, p->d_ln3_w + l * D, g.d_ln3_w + l * D,
                           g.d_ln3_b + l * D, Nt, site_key(key, 1002 + 3 * l));
        ffn_backward(c, a, L, sub_input(c, L, 2), p->d_up_w + (size_t)l * F * D,
                     g.d_up_w + (size_t)l * F * D, g.d_up_b + (size_t)l * F,
                     p->d_down_w + (size_t)l * D * F, g.d_down_w + (size_t)l * D * F,
                     g.d_down_b + l * D, Nt);
        sub_backward_end(c, a, L, 2, d_next, p->d_ln3_w + l * D, g.d_ln3_w + l * D, g.d_ln3_b + l * D, Nt);
        t = d; d = d_next; d_next = t;
        /* cross-attention */
        sub_backward_begin(c, a, L, 1, d_next, d, p->d_ln2_w + l * D, g.d_ln2_w + l * D,
                           g.d_ln2_b + l * D, Nt, site_key(key, 1001 + 3 * l));
        nn_linear_backward(a->g_ctx, 0.0f, g.d_co_w + (size_t)l * D * D, g.d_co_b + l * D, a->g_tmp,
                           L->cctx, p->d_co_w + (size_t)l * D * D, Nt, D, D);
        nn_attention_backward(a->g_qkv, a->g_ckv, a->g_ckv + D, a->g_S, a->g_ctx, L->cP, L->cq, D,
                              L->ckv, L->ckv + D, 2 * D, B, T, S, c->n_heads, D / c->n_heads, &src_mask);
        nn_linear_backward(a->g_sub, 0.0f, g.d_cq_w + (size_t)l * D * D, g.d_cq_b + l * D, a->g_qkv,
                           sub_input(c, L, 1), p->d_cq_w + (size_t)l * D * D, Nt, D, D);
        nn_linear_backward(a->g_mem, 1.0f, g.d_ckv_w + l * D2 * D, g.d_ckv_b + l * D2, a->g_ckv, mem,
                           p->d_ckv_w + l * D2 * D, Ns, D, 2 * D);
        sub_backward_end(c, a, L, 1, d_next, p->d_ln2_w + l * D, g.d_ln2_w + l * D, g.d_ln2_b + l * D, Nt);
        t = d; d = d_next; d_next = t;
        /* causal self-attention */
        sub_backward_begin(c, a, L, 0, d_next, d, p->d_ln1_w + l * D, g.d_ln1_w + l * D,
                           g.d_ln1_b + l * D, Nt, site_key(key, 1000 + 3 * l));
        self_attn_backward(c, a, L, sub_input(c, L, 0), p->d_qkv_w + l * D3 * D, g.d_qkv_w + l * D3 * D,
                           g.d_qkv_b + l * D3, p->d_o_w + (size_t)l * D * D, g.d_o_w + (size_t)l * D * D,
                           g.d_o_b + l * D, B, T, &causal);
        sub_backward_end(c, a, L, 0, d_next, p->d_ln1_w + l * D, g.d_ln1_w + l * D, g.d_ln1_b + l * D, Nt);
        t = d; d = d_next; d_next = t;
    }
    embed_backward(m, g.tok_emb, g.pos_emb, d, bt->tgt_in, B, T, site_key(key, 1));

    /* encoder */
    d = a->g_a, d_next = a->g_b;
    if (c->norm == PT_NORM_PRE) {
        memset(d, 0, (size_t)Ns * D * sizeof(float));
        nn_layernorm_backward(d, g.e_lnf_w, g.e_lnf_b, a->g_mem, a->enc[c->enc_layers - 1].res[2],
                              a->enc_mean, a->enc_rstd, p->e_lnf_w, Ns, D);
    } else {
        memcpy(d, a->g_mem, (size_t)Ns * D * sizeof(float));
    }
    for (int l = c->enc_layers - 1; l >= 0; l--) {
        layer_acts *L = &a->enc[l];
        float *t;
        sub_backward_begin(c, a, L, 1, d_next, d, p->e_ln2_w + l * D, g.e_ln2_w + l * D,
                           g.e_ln2_b + l * D, Ns, site_key(key, 101 + 2 * l));
        ffn_backward(c, a, L, sub_input(c, L, 1), p->e_up_w + (size_t)l * F * D,
                     g.e_up_w + (size_t)l * F * D, g.e_up_b + (size_t)l * F,
                     p->e_down_w + (size_t)l * D * F, g.e_down_w + (size_t)l * D * F,
                     g.e_down_b + l * D, Ns);
        sub_backward_end(c, a, L, 1, d_next, p->e_ln2_w + l * D, g.e_ln2_w + l * D, g.e_ln2_b + l * D, Ns);
        t = d; d = d_next; d_next = t;
        sub_backward_begin(c, a, L, 0, d_next, d, p->e_ln1_w + l * D, g.e_ln1_w + l * D,
                           g.e_ln1_b + l * D, Ns, site_key(key, 100 + 2 * l));
        self_attn_backward(c, a, L, sub_input(c, L, 0), p->e_qkv_w + l * D3 * D, g.e_qkv_w + l * D3 * D,
                           g.e_qkv_b + l * D3, p->e_o_w + (size_t)l * D * D, g.e_o_w + (size_t)l * D * D,
                           g.e_o_b + l * D, B, S, &src_mask);
        sub_backward_end(c, a, L, 0, d_next, p->e_ln1_w + l * D, g.e_ln1_w + l * D, g.e_ln1_b + l * D, Ns);
        t = d; d = d_next; d_next = t;
    }
    embed_backward(m, g.tok_emb, g.pos_emb, d, bt->src, B, S, site_key(key, 0));
    return loss;
}

double pt_train_flops(const pt_config *c, int B, int S, int T) {
    double D = c->d_model, F = c->d_ff, V = c->vocab, Ns = (double)B * S, Nt = (double)B * T;
    double enc = c->enc_layers * (Ns * 2 * (4 * D * D + 2 * F * D) + 4.0 * B * S * S * D);
    double dec = c->dec_layers * (Nt * 2 * (6 * D * D + 2 * F * D) + Ns * 2 * 2 * D * D +
                                  4.0 * B * T * T * D + 4.0 * B * T * S * D);
    double out = Nt * 2 * D * V;
    return 3.0 * (enc + dec + out);
}

int pt_greedy_reference(const pt_model *m, pt_acts *a, const int *src, int src_len, int *out,
                        int max_out) {
    const pt_config *c = &m->cfg;
    int T = max_out + 1 < c->max_len ? max_out + 1 : c->max_len;
    int *tin = pt_malloc((size_t)T * sizeof(int)), *tout = pt_malloc((size_t)T * sizeof(int));
    int n = 0;
    tin[0] = c->bos_id;
    for (int t = 1; t <= T; t++) {
        for (int j = 0; j < t; j++) tout[j] = c->pad_id; /* no loss wanted */
        int tl = t;
        pt_batch bt = {1, src_len, t, src, &src_len, tin, tout, &tl, NULL};
        int ntok;
        pt_forward(m, a, &bt, 0.0f, 0, &ntok);
        const float *z = pt_acts_logits(a) + (size_t)(t - 1) * c->vocab;
        int best = -1;
        for (int v = 0; v < c->vocab; v++)
            if (!(c->mask_pad && v == c->pad_id) && (best < 0 || z[v] > z[best])) best = v;
        if (best == c->eos_id || t == T) break;
        out[n++] = best;
        tin[t] = best;
    }
    free(tin);
    free(tout);
    return n;
}
