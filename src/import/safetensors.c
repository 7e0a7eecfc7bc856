/* safetensors.c: the validating .safetensors reader of safetensors.h. */
#include "import/safetensors.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "base/json.h"
#include "nn/quant.h"

#define ST_MAX_HEADER (100u << 20)

struct st_file {
    const uint8_t *map;
    size_t size;
    st_tensor *t;
    int n;
};

static int elem_size_of(const char *dtype) {
    static const struct {
        const char *name;
        int size;
    } known[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
                 {"I8", 1},  {"U64", 8}, {"U32", 4}, {"U16", 2},  {"U8", 1},   {"BOOL", 1}, {"F8_E4M3", 1},
                 {"F8_E5M2", 1}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(dtype, known[i].name)) return known[i].size;
    return 0;
}

void st_close(st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    free(f->t);
    if (f->map) munmap((void *)f->map, f->size);
    free(f);
}

/* one header entry: {"dtype": "F32", "shape": [..], "data_offsets": [b, e]} */
static int parse_entry(const char *path, const char *name, const json_value *v, const uint8_t *data,
                       uint64_t data_size, st_tensor *t) {
    const json_value *dt = json_get(v, "dtype"), *sh = json_get(v, "shape"), *off = json_get(v, "data_offsets");
    if (v->type != JSON_OBJECT || !dt || dt->type != JSON_STRING || !sh || sh->type != JSON_ARRAY || !off ||
        off->type != JSON_ARRAY)
        return pt_set_error("%s: tensor %s: the header entry needs dtype, shape and data_offsets", path, name);
    if (dt->len >= sizeof t->dtype) return pt_set_error("%s: tensor %s: unknown dtype", path, name);
    memcpy(t->dtype, dt->str, dt->len + 1);
    t->elem_size = elem_size_of(t->dtype);
    if (sh->n > ST_MAX_DIMS) return pt_set_error("%s: tensor %s has %d dimensions (at most %d)", path, name, sh->n, ST_MAX_DIMS);
    t->ndim = sh->n;
    uint64_t numel = 1;
    for (int i = 0; i < sh->n; i++) {
        long long d;
        if (!json_int(&sh->items[i], &d) || d < 0 || d > (1LL << 40))
            return pt_set_error("%s: tensor %s: bad shape", path, name);
        t->shape[i] = d;
        if (d && numel > UINT64_MAX / (uint64_t)d) return pt_set_error("%s: tensor %s: shape overflows", path, name);
        numel *= (uint64_t)d;
    }
    t->numel = numel;
    long long b, e;
    if (off->n != 2 || !json_int(&off->items[0], &b) || !json_int(&off->items[1], &e) || b < 0 || e < b ||
        (uint64_t)e > data_size)
        return pt_set_error("%s: tensor %s: data_offsets [%.0f, %.0f] are outside the %llu data bytes", path, name,
                            off->n > 0 && off->items[0].type == JSON_NUMBER ? off->items[0].num : -1.0,
                            off->n > 1 && off->items[1].type == JSON_NUMBER ? off->items[1].num : -1.0,
                            (unsigned long long)data_size);
    t->data = data + b;
    t->nbytes = (uint64_t)(e - b);
    if (t->elem_size && (numel > UINT64_MAX / (uint64_t)t->elem_size || numel * (uint64_t)t->elem_size != t->nbytes))
        return pt_set_error("%s: tensor %s: %llu bytes for %llu elements of %s", path, name,
                            (unsigned long long)t->nbytes, (unsigned long long)numel, t->dtype);
    return 0;
}

st_file *st_open(const char *path) {
    int fd = open(path, O_RDONLY | O_NONBLOCK); /* a FIFO must not block: refused below */
    if (fd < 0) return pt_set_error("%s: cannot open", path), NULL;
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        int known = fstat(fd, &sb) == 0;
        close(fd);
        if (!known) return pt_set_error("%s: cannot open", path), NULL;
        return pt_set_error("%s: is %s, not a regular file", path, pt_file_kind(sb.st_mode)), NULL;
    }
    st_file *f = pt_calloc(1, sizeof *f);
    f->size = (size_t)sb.st_size;
    if (f->size < 8) {
        close(fd);
        st_close(f);
        return pt_set_error("%s: too short for a safetensors file (%zu bytes)", path, (size_t)sb.st_size), NULL;
    }
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        st_close(f);
        return pt_set_error("%s: cannot map", path), NULL;
    }
    f->map = m;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | f->map[i];
    if (hl > f->size - 8 || hl > ST_MAX_HEADER || hl < 2) {
        pt_set_error("%s: header length %llu does not fit the %zu-byte file: not a safetensors file?", path,
                     (unsigned long long)hl, f->size);
        st_close(f);
        return NULL;
    }
    /* the header may be padded with trailing spaces */
    json_value *h = json_parse((const char *)f->map + 8, (size_t)hl);
    if (!h) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", pt_error());
        pt_set_error("%s: bad header: %s", path, msg);
        st_close(f);
        return NULL;
    }
    if (h->type != JSON_OBJECT) {
        pt_set_error("%s: the header is not a JSON object", path);
        goto fail;
    }
    const uint8_t *data = f->map + 8 + hl;
    uint64_t data_size = f->size - 8 - hl;
    f->t = pt_calloc((size_t)h->n + 1, sizeof *f->t);
    for (int i = 0; i < h->n; i++) {
        if (!strcmp(h->keys[i], "__metadata__")) continue;
        if (strlen(h->keys[i]) != h->key_lens[i]) {
            pt_set_error("%s: a tensor name holds a NUL byte", path);
            goto fail;
        }
        st_tensor *t = &f->t[f->n];
        t->name = pt_strdup(h->keys[i]);
        f->n++;
        if (parse_entry(path, t->name, &h->items[i], data, data_size, t)) goto fail;
    }
    json_free(h);
    return f;
fail:
    json_free(h);
    st_close(f);
    return NULL;
}

int st_n_tensors(const st_file *f) { return f->n; }
const st_tensor *st_tensor_at(const st_file *f, int i) { return i >= 0 && i < f->n ? &f->t[i] : NULL; }

const st_tensor *st_find(const st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

const char *st_shape_str(const st_tensor *t, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "(");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, ")");
    return buf;
}

int st_read_f32(const st_file *f, const st_tensor *t, float *out) {
    (void)f;
    const uint8_t *d = t->data;
    if (!strcmp(t->dtype, "F32")) {
        for (uint64_t i = 0; i < t->numel; i++) {
            uint32_t u = (uint32_t)d[4 * i] | (uint32_t)d[4 * i + 1] << 8 | (uint32_t)d[4 * i + 2] << 16 |
                         (uint32_t)d[4 * i + 3] << 24;
            memcpy(&out[i], &u, 4);
        }
    } else if (!strcmp(t->dtype, "F16")) {
        for (uint64_t i = 0; i < t->numel; i++) out[i] = nn_f32_from_fp16((uint16_t)(d[2 * i] | d[2 * i + 1] << 8));
    } else if (!strcmp(t->dtype, "BF16")) {
        for (uint64_t i = 0; i < t->numel; i++) {
            uint32_t u = (uint32_t)(d[2 * i] | d[2 * i + 1] << 8) << 16;
            memcpy(&out[i], &u, 4);
        }
    } else if (!strcmp(t->dtype, "F64")) {
        for (uint64_t i = 0; i < t->numel; i++) {
            uint64_t u = 0;
            for (int k = 7; k >= 0; k--) u = u << 8 | d[8 * i + (uint64_t)k];
            double x;
            memcpy(&x, &u, 8);
            out[i] = (float)x;
        }
    } else {
        return pt_set_error("tensor %s has dtype %s (F32, F16, BF16 or F64 expected)", t->name, t->dtype);
    }
    return 0;
}
