/* spm_gguf.c: a SentencePiece vocabulary inside GGUF metadata (the keys are
 * listed in spm.h). The .model bytes travel verbatim, so loading one back
 * is spm_load_mem and the tokenization cannot drift from the original. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "text/spm_internal.h"

static void key(char *buf, size_t n, const char *prefix, const char *name) {
    snprintf(buf, n, "%s.%s", prefix, name);
}

/* llama.cpp's token types: 1 normal, 2 unknown, 3 control, 4 user-defined,
 * 5 unused, 6 byte — the same numbering as sentencepiece's */
static void write_ggml_vocab(const spm_model *m, gguf_writer *w) {
    const char **toks = pt_malloc(sizeof(char *) * (size_t)m->n);
    int32_t *types = pt_malloc(sizeof(int32_t) * (size_t)m->n);
    for (int i = 0; i < m->n; i++) {
        toks[i] = spm_piece(m, i);
        types[i] = m->type[i];
    }
    gguf_set_str(w, "tokenizer.ggml.model", "petit-spm");
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, (uint64_t)m->n);
    gguf_set_arr(w, "tokenizer.ggml.scores", GGUF_V_F32, m->score, (uint64_t)m->n);
    gguf_set_arr(w, "tokenizer.ggml.token_type", GGUF_V_I32, types, (uint64_t)m->n);
    int ids[4] = {m->unk, -1, -1, -1};
    const char *names[4] = {"tokenizer.ggml.unknown_token_id", "tokenizer.ggml.bos_token_id",
                            "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id"};
    const char *pieces[4] = {NULL, m->bos_piece, m->eos_piece, m->pad_piece};
    for (int k = 1; k < 4; k++) {
        int id = spm_lookup_id(m, pieces[k], strlen(pieces[k]));
        ids[k] = m->type[id] == SPM_CONTROL ? id : -1;
    }
    for (int k = 0; k < 4; k++)
        if (ids[k] >= 0) gguf_set_u32(w, names[k], (uint32_t)ids[k]);
    free(toks);
    free(types);
}

static void write_joint(const spm_model *m, gguf_writer *w, const char *prefix, const char *side) {
    char k[256];
    snprintf(k, sizeof k, "%s.%s.to_joint", prefix, side);
    gguf_set_arr(w, k, GGUF_V_I32, m->to_joint, (uint64_t)m->n);
}

void spm_to_gguf(const spm_model *src, const spm_model *tgt_or_null, gguf_writer *w,
                 const char *prefix) {
    char k[256];
    key(k, sizeof k, prefix, "model");
    gguf_set_arr(w, k, GGUF_V_U8, src->bytes, src->nbytes);
    if (tgt_or_null) {
        key(k, sizeof k, prefix, "target.model");
        gguf_set_arr(w, k, GGUF_V_U8, tgt_or_null->bytes, tgt_or_null->nbytes);
    }
    const spm_model *j = src->n_joint ? src : tgt_or_null && tgt_or_null->n_joint ? tgt_or_null : NULL;
    if (j) {
        const char **strs = pt_malloc(sizeof(char *) * (size_t)j->n_joint);
        for (int i = 0; i < j->n_joint; i++) strs[i] = j->joint_pool + j->joint_off[i];
        key(k, sizeof k, prefix, "joint.pieces");
        gguf_set_arr_str(w, k, strs, (uint64_t)j->n_joint);
        free(strs);
        key(k, sizeof k, prefix, "joint.unk_id");
        gguf_set_i32(w, k, j->joint_unk);
        if (src->n_joint) write_joint(src, w, prefix, "source");
        if (tgt_or_null && tgt_or_null->n_joint) write_joint(tgt_or_null, w, prefix, "target");
    }
    write_ggml_vocab(src, w);
}

static spm_model *load_key(const gguf_file *g, const char *k) {
    uint32_t type;
    const void *data;
    uint64_t n;
    if (gguf_get_arr(g, k, &type, &data, &n)) return NULL;
    if (type != GGUF_V_U8 && type != GGUF_V_I8) {
        pt_set_error("%s: expected an array of bytes", k);
        return NULL;
    }
    spm_model *m = spm_load_mem(data, (size_t)n);
    if (!m) {
        char msg[900];
        snprintf(msg, sizeof msg, "%s", pt_error());
        pt_set_error("%s: %s", k, msg);
    }
    return m;
}

/* attach the joint vocabulary to m using its to_joint array (checked against it) */
static int load_joint(const gguf_file *g, const char *prefix, const char *side, spm_model *m,
                      const char **strs, int n_joint, int unk) {
    char k[256];
    snprintf(k, sizeof k, "%s.%s.to_joint", prefix, side);
    if (gguf_find_key(g, k) < 0) return 0; /* this side has no joint mapping */
    uint32_t type;
    const void *data;
    uint64_t n;
    if (gguf_get_arr(g, k, &type, &data, &n)) return -1;
    if (type != GGUF_V_I32 || n != (uint64_t)m->n)
        return pt_set_error("%s: expected %d i32 values, found %llu of type %u", k, m->n,
                            (unsigned long long)n, type);
    if (spm_set_joint_vocab(m, strs, n_joint, unk)) return -1;
    /* the stored mapping wins over the one derived from strings (they agree
     * for vocabularies built by piece string; a converter may know better) */
    for (int i = 0; i < m->n; i++) {
        int32_t v;
        memcpy(&v, (const char *)data + 4 * (size_t)i, 4);
        if (v < 0 || v >= n_joint) return pt_set_error("%s[%d] = %d is out of range", k, i, v);
        m->to_joint[i] = v;
    }
    return 0;
}

int spm_from_gguf(const gguf_file *g, const char *prefix, spm_model **src, spm_model **tgt) {
    char k[256];
    *src = NULL;
    if (tgt) *tgt = NULL;
    key(k, sizeof k, prefix, "model");
    if (gguf_find_key(g, k) < 0) return pt_set_error("no vocabulary in this file (key %s)", k);
    spm_model *s = load_key(g, k), *t = NULL;
    if (!s) return -1;
    key(k, sizeof k, prefix, "target.model");
    if (tgt && gguf_find_key(g, k) >= 0 && !(t = load_key(g, k))) goto fail;
    key(k, sizeof k, prefix, "joint.pieces");
    if (gguf_find_key(g, k) >= 0) {
        uint32_t type;
        const void *data;
        uint64_t n;
        if (gguf_get_arr(g, k, &type, &data, &n)) goto fail;
        if (type != GGUF_V_STR || n == 0 || n > (1u << 26)) {
            pt_set_error("%s: expected a non-empty array of strings", k);
            goto fail;
        }
        int32_t unk;
        char ku[256];
        key(ku, sizeof ku, prefix, "joint.unk_id");
        if (gguf_get_i32(g, ku, &unk)) goto fail;
        char **strs = pt_malloc(sizeof(char *) * (size_t)n);
        int ok = 1;
        for (uint64_t i = 0; i < n; i++) {
            const char *p;
            uint64_t l;
            strs[i] = NULL;
            if (gguf_get_arr_str(g, k, i, &p, &l) || memchr(p, 0, (size_t)l)) {
                if (ok) pt_set_error("%s: entry %llu is not a valid string", k, (unsigned long long)i);
                ok = 0;
                continue;
            }
            strs[i] = pt_malloc((size_t)l + 1);
            memcpy(strs[i], p, (size_t)l);
            strs[i][l] = 0;
        }
        if (ok) ok = !load_joint(g, prefix, "source", s, (const char **)strs, (int)n, unk);
        if (ok && t) ok = !load_joint(g, prefix, "target", t, (const char **)strs, (int)n, unk);
        for (uint64_t i = 0; i < n; i++) free(strs[i]);
        free(strs);
        if (!ok) goto fail;
    }
    *src = s;
    if (tgt) *tgt = t;
    return 0;
fail:
    spm_free(s);
    spm_free(t);
    return -1;
}

spm_model *spm_load_auto(const char *path, int target_side) {
    char magic[4] = {0};
    if (pt_check_regular(path)) return NULL; /* a FIFO would block the read */
    FILE *f = fopen(path, "rb");
    if (f) {
        size_t got = fread(magic, 1, 4, f);
        fclose(f);
        if (got == 4 && !memcmp(magic, "GGUF", 4)) {
            gguf_file *g = gguf_open(path);
            if (!g) return NULL;
            spm_model *s, *t;
            int rc = spm_from_gguf(g, "petit.tokenizer", &s, target_side ? &t : NULL);
            gguf_close(g);
            if (rc) {
                char msg[900];
                snprintf(msg, sizeof msg, "%s", pt_error());
                pt_set_error("%s: %s", path, msg);
                return NULL;
            }
            if (target_side && t) {
                spm_free(s);
                return t;
            }
            return s;
        }
    }
    return spm_load_file(path);
}
