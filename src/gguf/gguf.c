/* gguf.c: the GGUF v3 reader (mmap, validate everything) and writer (atomic).
 *
 * Reading is one pass over the header with a bounds-checked cursor. Nothing
 * is allocated from a count before the count is checked against the bytes
 * left, and the tables grow as entries are actually parsed, so hostile input
 * costs memory proportional to its own size at most. Keys and tensor names
 * are copied (NUL-terminated); values and tensor data stay in the mapping.
 * Lookups go through a small open-addressing hash of names, which is also
 * how duplicate keys and tensor names are caught.
 *
 * Not here: big-endian files (rejected as a bad version), nested arrays
 * (rejected), types of our own (those are described by metadata elsewhere).
 */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF code reads and writes little-endian values in place"
#endif

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_NAME 63 /* ggml's GGML_MAX_NAME (64) less the NUL */

/* ---- types ------------------------------------------------------------ */

static const struct {
    uint32_t type;
    const char *name;
    uint32_t block; /* weights per block */
    uint32_t bytes; /* bytes per block */
} ttypes[] = {
    {GGUF_TYPE_F32, "F32", 1, 4},     {GGUF_TYPE_F16, "F16", 1, 2},
    {GGUF_TYPE_Q4_0, "Q4_0", 32, 18}, {GGUF_TYPE_Q8_0, "Q8_0", 32, 34},
    {GGUF_TYPE_I8, "I8", 1, 1},       {GGUF_TYPE_I16, "I16", 1, 2},
    {GGUF_TYPE_I32, "I32", 1, 4},     {GGUF_TYPE_F64, "F64", 1, 8},
};
#define N_TTYPES (sizeof ttypes / sizeof ttypes[0])

static int ttype_find(uint32_t type) {
    for (size_t i = 0; i < N_TTYPES; i++)
        if (ttypes[i].type == type) return (int)i;
    return -1;
}

size_t gguf_type_size(uint32_t type, uint64_t n) {
    int k = ttype_find(type);
    if (k < 0 || n % ttypes[k].block) return 0;
    uint64_t blocks = n / ttypes[k].block;
    if (blocks > SIZE_MAX / ttypes[k].bytes) return 0;
    return (size_t)blocks * ttypes[k].bytes;
}

uint32_t gguf_type_block(uint32_t type) {
    int k = ttype_find(type);
    return k < 0 ? 0 : ttypes[k].block;
}

const char *gguf_type_name(uint32_t type) {
    int k = ttype_find(type);
    return k < 0 ? "?" : ttypes[k].name;
}

size_t gguf_vtype_size(uint32_t vtype) {
    switch (vtype) {
    case GGUF_V_U8:
    case GGUF_V_I8:
    case GGUF_V_BOOL: return 1;
    case GGUF_V_U16:
    case GGUF_V_I16: return 2;
    case GGUF_V_U32:
    case GGUF_V_I32:
    case GGUF_V_F32: return 4;
    case GGUF_V_U64:
    case GGUF_V_I64:
    case GGUF_V_F64: return 8;
    default: return 0;
    }
}

const char *gguf_vtype_name(uint32_t vtype) {
    static const char *names[] = {"u8",   "i8",  "u16", "i16", "u32", "i32", "f32",
                                  "bool", "str", "arr", "u64", "i64", "f64"};
    return vtype < sizeof names / sizeof names[0] ? names[vtype] : "?";
}

static uint64_t le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* ---- name index: open addressing over entry numbers ------------------- */

typedef struct {
    int32_t *slot; /* -1 empty, else an entry number */
    uint64_t mask;
} name_index;

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* names[i * stride] read as a const char * */
#define NAME_AT(base, stride, i)                                                                   \
    (*(const char *const *)((const char *)(base) + (size_t)(i) * (stride)))

/* Build the index; returns the number of a duplicate entry, or -1 if none. */
static int index_build(name_index *ix, const void *names, size_t stride, int n) {
    uint64_t cap = 8;
    while (cap < 2 * (uint64_t)n) cap *= 2;
    ix->slot = pt_malloc(cap * sizeof *ix->slot);
    memset(ix->slot, 0xff, cap * sizeof *ix->slot);
    ix->mask = cap - 1;
    for (int i = 0; i < n; i++) {
        const char *name = NAME_AT(names, stride, i);
        uint64_t h = name_hash(name) & ix->mask;
        while (ix->slot[h] >= 0) {
            if (!strcmp(NAME_AT(names, stride, ix->slot[h]), name)) return i;
            h = (h + 1) & ix->mask;
        }
        ix->slot[h] = i;
    }
    return -1;
}

static int index_find(const name_index *ix, const void *names, size_t stride, const char *name) {
    if (!ix->slot || !name) return -1;
    uint64_t h = name_hash(name) & ix->mask;
    while (ix->slot[h] >= 0) {
        if (!strcmp(NAME_AT(names, stride, ix->slot[h]), name)) return ix->slot[h];
        h = (h + 1) & ix->mask;
    }
    return -1;
}

/* ---- the reader ------------------------------------------------------- */

struct gguf_kv {
    char *key;          /* first member: the name index reads it */
    uint32_t type;      /* enum gguf_vtype */
    uint32_t elem_type; /* arrays: element type; else = type */
    uint64_t n;         /* 1, string length, or array count */
    const uint8_t *data;
    uint64_t *str_off; /* arrays of strings: offset of each string's length from data */
    size_t at, end;    /* the entry's bytes in the file: [at, end) */
};

struct gguf_file {
    const uint8_t *base;
    size_t size;
    int mapped;
    uint32_t version, alignment;
    size_t data_offset;
    size_t info_end; /* the end of the tensor infos: the metadata checksum covers [0, info_end) */
    int n_kv, n_tensors;
    struct gguf_kv *kv;
    gguf_tensor *tensors;
    name_index kv_index, tensor_index;
};

typedef struct {
    const uint8_t *b;
    size_t n, pos;
} cursor;

static size_t cur_left(const cursor *c) { return c->n - c->pos; }

static const uint8_t *cur_take(cursor *c, uint64_t k) {
    if (k > cur_left(c)) return NULL;
    const uint8_t *p = c->b + c->pos;
    c->pos += (size_t)k;
    return p;
}

static int cur_u32(cursor *c, uint32_t *v) {
    const uint8_t *p = cur_take(c, 4);
    if (!p) return -1;
    memcpy(v, p, 4);
    return 0;
}

static int cur_u64(cursor *c, uint64_t *v) {
    const uint8_t *p = cur_take(c, 8);
    if (!p) return -1;
    memcpy(v, p, 8);
    return 0;
}

static int cur_str(cursor *c, const uint8_t **s, uint64_t *len) {
    if (cur_u64(c, len)) return -1;
    *s = cur_take(c, *len);
    return *s ? 0 : -1;
}

/* a key or tensor name: no NUL inside, copied with one */
static char *cur_name(cursor *c, const char *what, uint64_t i) {
    size_t at = c->pos;
    const uint8_t *s;
    uint64_t len;
    if (cur_str(c, &s, &len)) {
        pt_set_error("truncated %s %llu at byte %zu", what, (unsigned long long)i, at);
        return NULL;
    }
    if (memchr(s, 0, (size_t)len)) {
        pt_set_error("%s %llu at byte %zu contains a NUL byte", what, (unsigned long long)i, at);
        return NULL;
    }
    char *name = pt_malloc((size_t)len + 1);
    memcpy(name, s, (size_t)len);
    name[len] = 0;
    return name;
}

static int parse_value(cursor *c, struct gguf_kv *kv) {
    size_t at = c->pos;
    size_t esz = gguf_vtype_size(kv->type);
    kv->elem_type = kv->type;
    kv->n = 1;
    if (esz) {
        kv->data = cur_take(c, esz);
        if (!kv->data) return pt_set_error("truncated value of '%s' at byte %zu", kv->key, at);
        return 0;
    }
    if (kv->type == GGUF_V_STR) {
        if (cur_str(c, &kv->data, &kv->n))
            return pt_set_error("truncated string value of '%s' at byte %zu", kv->key, at);
        return 0;
    }
    if (kv->type != GGUF_V_ARR)
        return pt_set_error("key '%s' has unknown value type %u", kv->key, kv->type);
    if (cur_u32(c, &kv->elem_type) || cur_u64(c, &kv->n))
        return pt_set_error("truncated array header of '%s' at byte %zu", kv->key, at);
    if (kv->elem_type == GGUF_V_ARR)
        return pt_set_error("key '%s': nested arrays are not supported", kv->key);
    if (kv->elem_type == GGUF_V_STR) {
        /* each string takes at least its 8-byte length: this bounds the
         * offset table by the bytes left in the file */
        if (kv->n > cur_left(c) / 8)
            return pt_set_error("key '%s': array of %llu strings does not fit in the file", kv->key,
                                (unsigned long long)kv->n);
        kv->data = c->b + c->pos;
        if (kv->n) kv->str_off = pt_malloc((size_t)kv->n * sizeof *kv->str_off);
        for (uint64_t j = 0; j < kv->n; j++) {
            const uint8_t *s;
            uint64_t len;
            kv->str_off[j] = (uint64_t)(c->b + c->pos - kv->data);
            if (cur_str(c, &s, &len))
                return pt_set_error("key '%s': truncated string %llu of the array", kv->key,
                                    (unsigned long long)j);
        }
        return 0;
    }
    esz = gguf_vtype_size(kv->elem_type);
    if (!esz)
        return pt_set_error("key '%s': array of unknown element type %u", kv->key, kv->elem_type);
    if (kv->n > cur_left(c) / esz)
        return pt_set_error("key '%s': array of %llu %s does not fit in the file", kv->key,
                            (unsigned long long)kv->n, gguf_vtype_name(kv->elem_type));
    kv->data = cur_take(c, kv->n * esz);
    return 0;
}

static int parse_tensor_info(cursor *c, gguf_tensor *t, uint64_t *offset, uint32_t alignment) {
    size_t at = c->pos;
    if (cur_u32(c, &t->n_dims)) goto truncated;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return pt_set_error("tensor '%s' has %u dimensions (1 to %d allowed)", t->name, t->n_dims,
                            GGUF_MAX_DIMS);
    uint64_t n = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims) continue;
        if (cur_u64(c, &t->ne[d])) goto truncated;
        if (t->ne[d] == 0 || t->ne[d] > INT64_MAX)
            return pt_set_error("tensor '%s' has bad size %llu in dimension %u", t->name,
                                (unsigned long long)t->ne[d], d);
        if (__builtin_mul_overflow(n, t->ne[d], &n) || n > INT64_MAX)
            return pt_set_error("tensor '%s': element count overflows", t->name);
    }
    t->n_elems = n;
    if (cur_u32(c, &t->type) || cur_u64(c, offset)) goto truncated;
    uint32_t block = gguf_type_block(t->type);
    if (!block) return pt_set_error("tensor '%s' has unknown type %u", t->name, t->type);
    if (t->ne[0] % block)
        return pt_set_error("tensor '%s': row length %llu is not a multiple of %s's block of %u",
                            t->name, (unsigned long long)t->ne[0], gguf_type_name(t->type), block);
    t->nbytes = gguf_type_size(t->type, n);
    if (!t->nbytes) return pt_set_error("tensor '%s' is too large", t->name);
    if (*offset % alignment)
        return pt_set_error("tensor '%s': data offset %llu is not a multiple of the alignment %u",
                            t->name, (unsigned long long)*offset, alignment);
    return 0;
truncated:
    return pt_set_error("truncated info of tensor '%s' at byte %zu", t->name, at);
}

static void file_free(gguf_file *g) {
    for (int i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str_off);
    }
    for (int i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    free(g->kv_index.slot);
    free(g->tensor_index.slot);
    if (g->mapped && g->size) munmap((void *)g->base, g->size);
    free(g);
}

/* grow *arr (of elements of size sz) so that index i fits */
static void *grow(void *arr, int *cap, int i, size_t sz) {
    if (i < *cap) return arr;
    int ncap = !*cap ? 16 : *cap > INT32_MAX / 2 ? INT32_MAX : *cap * 2;
    *cap = ncap;
    return pt_realloc(arr, (size_t)ncap * sz);
}

static int parse(gguf_file *g) {
    cursor c = {g->base, g->size, 0};
    const uint8_t *magic = cur_take(&c, 4);
    if (!magic) return pt_set_error("too short to be a GGUF file (%zu bytes)", g->size);
    if (memcmp(magic, GGUF_MAGIC, 4)) return pt_set_error("not a GGUF file (bad magic)");
    uint64_t n_tensors, n_kv;
    if (cur_u32(&c, &g->version) || cur_u64(&c, &n_tensors) || cur_u64(&c, &n_kv))
        return pt_set_error("truncated GGUF header (%zu bytes)", g->size);
    if (g->version != 3 && g->version != 2)
        return pt_set_error("unsupported GGUF version %u (3 expected)", g->version);

    /* smallest possible entries: a kv is key length (8) + type (4) + a
     * one-byte value; a tensor info is name length (8) + n_dims (4) + one
     * dim (8) + type (4) + offset (8) */
    const uint64_t min_kv = 13, min_tensor = 32;
    uint64_t left = cur_left(&c);
    if (n_kv > left / min_kv || n_tensors > left / min_tensor ||
        n_kv * min_kv + n_tensors * min_tensor > left)
        return pt_set_error("header claims %llu keys and %llu tensors, more than the %llu bytes "
                            "left can hold",
                            (unsigned long long)n_kv, (unsigned long long)n_tensors,
                            (unsigned long long)left);
    if (n_kv > INT32_MAX || n_tensors > INT32_MAX) return pt_set_error("too many keys or tensors");

    int cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        size_t at = c.pos;
        char *key = cur_name(&c, "key", i);
        if (!key) return -1;
        g->kv = grow(g->kv, &cap, g->n_kv, sizeof *g->kv);
        struct gguf_kv *kv = &g->kv[g->n_kv++];
        memset(kv, 0, sizeof *kv);
        kv->key = key;
        kv->at = at;
        if (cur_u32(&c, &kv->type))
            return pt_set_error("truncated type of key '%s' at byte %zu", key, c.pos);
        if (parse_value(&c, kv)) return -1;
        kv->end = c.pos;
    }
    int dup = index_build(&g->kv_index, g->kv, sizeof *g->kv, g->n_kv);
    if (dup >= 0) return pt_set_error("duplicate key '%s'", g->kv[dup].key);

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int ia = gguf_find_key(g, "general.alignment");
    if (ia >= 0) {
        if (g->kv[ia].type != GGUF_V_U32)
            return pt_set_error("general.alignment is %s, not u32",
                                gguf_vtype_name(g->kv[ia].type));
        memcpy(&g->alignment, g->kv[ia].data, 4);
        if (g->alignment == 0 || (g->alignment & (g->alignment - 1)))
            return pt_set_error("general.alignment %u is not a power of two", g->alignment);
    }

    cap = 0;
    uint64_t *offsets = NULL;
    int ocap = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        char *name = cur_name(&c, "tensor name", i);
        if (!name) goto fail;
        g->tensors = grow(g->tensors, &cap, g->n_tensors, sizeof *g->tensors);
        offsets = grow(offsets, &ocap, g->n_tensors, sizeof *offsets);
        gguf_tensor *t = &g->tensors[g->n_tensors];
        memset(t, 0, sizeof *t);
        t->name = name;
        g->n_tensors++;
        if (parse_tensor_info(&c, t, &offsets[g->n_tensors - 1], g->alignment)) goto fail;
    }
    g->info_end = c.pos;
    dup = index_build(&g->tensor_index, g->tensors, sizeof *g->tensors, g->n_tensors);
    if (dup >= 0) {
        pt_set_error("duplicate tensor name '%s'", g->tensors[dup].name);
        goto fail;
    }

    /* the data section starts at the next multiple of the alignment; a file
     * without tensors may end before it */
    uint64_t start = ((uint64_t)c.pos + g->alignment - 1) / g->alignment * g->alignment;
    g->data_offset = start <= g->size ? (size_t)start : g->size;
    if (g->n_tensors && start > g->size) {
        pt_set_error(
            "tensor data section starts at byte %llu, past the end of the file (%zu bytes)",
            (unsigned long long)start, g->size);
        goto fail;
    }
    size_t data_len = g->size - g->data_offset;
    for (int i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        if (offsets[i] > data_len || t->nbytes > data_len - offsets[i]) {
            pt_set_error(
                "tensor '%s' (%zu bytes at data offset %llu) runs past the end of the file",
                t->name, t->nbytes, (unsigned long long)offsets[i]);
            goto fail;
        }
        t->data = g->base + g->data_offset + offsets[i];
    }
    free(offsets);
    return 0;
fail:
    free(offsets);
    return -1;
}

static int skip_checksums(void) { /* to read a damaged file on purpose */
    const char *skip = getenv("PETIT_SKIP_CHECKSUM");
    return skip && !strcmp(skip, "1");
}

gguf_file *gguf_open_mem(const void *buf, size_t n) {
    gguf_file *g = pt_calloc(1, sizeof *g);
    g->base = buf;
    g->size = buf ? n : 0;
    if (parse(g) || (!skip_checksums() && gguf_meta_verify(g) < 0)) {
        file_free(g);
        return NULL;
    }
    return g;
}

static gguf_file *open_path(const char *path, int check) {
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
     * below like anything else that is not a regular file */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        pt_set_error("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fstat(fd, &st) != 0) pt_set_error("%s: cannot open: %s", path, strerror(errno));
        else pt_set_error("%s: is %s, not a regular file", path, pt_file_kind(st.st_mode));
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        pt_set_error("%s: too large to map", path);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    void *base = NULL;
    if (size) {
        base = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (base == MAP_FAILED) {
            pt_set_error("%s: cannot map: %s", path, strerror(errno));
            close(fd);
            return NULL;
        }
    }
    close(fd);
    gguf_file *g = pt_calloc(1, sizeof *g);
    g->base = base;
    g->size = size;
    g->mapped = 1;
    if (parse(g) || (check && !skip_checksums() && gguf_meta_verify(g) < 0)) {
        char msg[900];
        snprintf(msg, sizeof msg, "%s", pt_error());
        pt_set_error("%s: %s", path, msg);
        file_free(g);
        return NULL;
    }
    return g;
}

gguf_file *gguf_open(const char *path) { return open_path(path, 1); }
gguf_file *gguf_open_unchecked(const char *path) { return open_path(path, 0); }

void gguf_close(gguf_file *g) {
    if (g) file_free(g);
}

uint32_t gguf_version(const gguf_file *g) { return g->version; }
uint32_t gguf_alignment(const gguf_file *g) { return g->alignment; }
size_t gguf_data_offset(const gguf_file *g) { return g->data_offset; }
size_t gguf_size(const gguf_file *g) { return g->size; }

int gguf_n_kv(const gguf_file *g) { return g->n_kv; }

const char *gguf_key(const gguf_file *g, int i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

uint32_t gguf_kv_type(const gguf_file *g, int i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].type : UINT32_MAX;
}

int gguf_find_key(const gguf_file *g, const char *key) {
    return index_find(&g->kv_index, g->kv, sizeof *g->kv, key);
}

int gguf_kv_value(const gguf_file *g, int i, uint32_t *elem_type, const void **data, uint64_t *n) {
    if (i < 0 || i >= g->n_kv) return pt_set_error("metadata index %d out of range", i);
    *elem_type = g->kv[i].elem_type;
    *data = g->kv[i].data;
    *n = g->kv[i].n;
    return 0;
}

static const struct gguf_kv *get_kv(const gguf_file *g, const char *key, uint32_t type) {
    int i = gguf_find_key(g, key);
    if (i < 0) {
        pt_set_error("metadata key '%s' not found", key ? key : "(null)");
        return NULL;
    }
    if (g->kv[i].type != type) {
        pt_set_error("metadata key '%s' is %s, not %s", key, gguf_vtype_name(g->kv[i].type),
                     gguf_vtype_name(type));
        return NULL;
    }
    return &g->kv[i];
}

int gguf_get_val(const gguf_file *g, const char *key, uint32_t vtype, void *out) {
    size_t sz = gguf_vtype_size(vtype);
    if (!sz)
        return pt_set_error("gguf_get_val: %s is not a fixed-size type", gguf_vtype_name(vtype));
    const struct gguf_kv *kv = get_kv(g, key, vtype);
    if (!kv) return -1;
    memcpy(out, kv->data, sz);
    return 0;
}

int gguf_get_u32(const gguf_file *g, const char *key, uint32_t *out) {
    return gguf_get_val(g, key, GGUF_V_U32, out);
}
int gguf_get_i32(const gguf_file *g, const char *key, int32_t *out) {
    return gguf_get_val(g, key, GGUF_V_I32, out);
}
int gguf_get_u64(const gguf_file *g, const char *key, uint64_t *out) {
    return gguf_get_val(g, key, GGUF_V_U64, out);
}
int gguf_get_f32(const gguf_file *g, const char *key, float *out) {
    return gguf_get_val(g, key, GGUF_V_F32, out);
}
int gguf_get_f64(const gguf_file *g, const char *key, double *out) {
    return gguf_get_val(g, key, GGUF_V_F64, out);
}
int gguf_get_bool(const gguf_file *g, const char *key, int *out) {
    uint8_t b;
    if (gguf_get_val(g, key, GGUF_V_BOOL, &b)) return -1;
    *out = b != 0;
    return 0;
}

int gguf_get_str(const gguf_file *g, const char *key, const char **s, uint64_t *len) {
    const struct gguf_kv *kv = get_kv(g, key, GGUF_V_STR);
    if (!kv) return -1;
    *s = (const char *)kv->data;
    *len = kv->n;
    return 0;
}

int gguf_get_arr(const gguf_file *g, const char *key, uint32_t *elem_type, const void **data,
                 uint64_t *n) {
    const struct gguf_kv *kv = get_kv(g, key, GGUF_V_ARR);
    if (!kv) return -1;
    *elem_type = kv->elem_type;
    *data = kv->data;
    *n = kv->n;
    return 0;
}

static void arr_str_at(const struct gguf_kv *kv, uint64_t i, const char **s, uint64_t *len) {
    const uint8_t *p = kv->data + kv->str_off[i];
    *len = le64(p);
    *s = (const char *)p + 8;
}

int gguf_get_arr_str(const gguf_file *g, const char *key, uint64_t i, const char **s,
                     uint64_t *len) {
    const struct gguf_kv *kv = get_kv(g, key, GGUF_V_ARR);
    if (!kv) return -1;
    if (kv->elem_type != GGUF_V_STR)
        return pt_set_error("metadata key '%s' is an array of %s, not of str", key,
                            gguf_vtype_name(kv->elem_type));
    if (i >= kv->n)
        return pt_set_error("metadata key '%s': index %llu past the %llu strings", key,
                            (unsigned long long)i, (unsigned long long)kv->n);
    arr_str_at(kv, i, s, len);
    return 0;
}

int gguf_n_tensors(const gguf_file *g) { return g->n_tensors; }

const gguf_tensor *gguf_tensor_at(const gguf_file *g, int i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name) {
    int i = index_find(&g->tensor_index, g->tensors, sizeof *g->tensors, name);
    return i < 0 ? NULL : &g->tensors[i];
}

/* ---- formatting ------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t cap, len;
    int full; /* something did not fit */
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...) {
    if (b->full) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= b->cap - b->len) {
        b->full = 1;
        b->buf[b->len] = 0; /* drop the partial piece */
        return;
    }
    b->len += (size_t)k;
}

/* the shortest %g that reads back as the same value */
static void fmt_float(char *out, size_t n, double v, int is_f32, int json) {
    if (isnan(v) || isinf(v)) {
        snprintf(out, n, "%s", json ? "null" : isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        return;
    }
    for (int p = 6; p <= 17; p++) {
        snprintf(out, n, "%.*g", p, v);
        if (is_f32 ? strtof(out, NULL) == (float)v : strtod(out, NULL) == v) break;
    }
}

void gguf_scalar_str(char *out, size_t n, uint32_t type, const void *p, int json) {
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        float f32;
        uint64_t u64;
        int64_t i64;
        double f64;
    } v;
    memcpy(&v, p, gguf_vtype_size(type));
    switch (type) {
    case GGUF_V_U8: snprintf(out, n, "%u", v.u8); break;
    case GGUF_V_I8: snprintf(out, n, "%d", v.i8); break;
    case GGUF_V_U16: snprintf(out, n, "%u", v.u16); break;
    case GGUF_V_I16: snprintf(out, n, "%d", v.i16); break;
    case GGUF_V_U32: snprintf(out, n, "%u", v.u32); break;
    case GGUF_V_I32: snprintf(out, n, "%d", v.i32); break;
    case GGUF_V_U64: snprintf(out, n, "%llu", (unsigned long long)v.u64); break;
    case GGUF_V_I64: snprintf(out, n, "%lld", (long long)v.i64); break;
    case GGUF_V_F32: fmt_float(out, n, v.f32, 1, json); break;
    case GGUF_V_F64: fmt_float(out, n, v.f64, 0, json); break;
    case GGUF_V_BOOL: snprintf(out, n, "%s", v.u8 ? "true" : "false"); break;
    default: snprintf(out, n, "%s", json ? "null" : "?"); break;
    }
}

static void sb_scalar(strbuf *b, uint32_t type, const uint8_t *p) {
    char tmp[48];
    gguf_scalar_str(tmp, sizeof tmp, type, p, 0);
    sb_printf(b, "%s", tmp);
}

/* "quoted": valid UTF-8 as it is, C escapes for control characters and
 * invalid bytes, cut (at a character boundary) past max bytes */
static void sb_quoted(strbuf *b, const char *s, uint64_t len, size_t max) {
    sb_printf(b, "\"");
    uint64_t j = 0;
    while (j < len && !b->full) {
        const unsigned char *u = (const unsigned char *)s + j;
        int k = pt_utf8_len(u, (size_t)(len - j));
        if (j + (k > 0 ? (uint64_t)k : 1) > max) {
            sb_printf(b, "...");
            break;
        }
        if (k > 1)
            sb_printf(b, "%.*s", k, (const char *)u);
        else if (k == 1 && (*u == '"' || *u == '\\'))
            sb_printf(b, "\\%c", *u);
        else if (k == 1 && *u == '\n')
            sb_printf(b, "\\n");
        else if (k == 1 && *u == '\t')
            sb_printf(b, "\\t");
        else if (k == 1 && *u >= 0x20 && *u != 0x7f)
            sb_printf(b, "%c", *u);
        else
            sb_printf(b, "\\x%02x", *u);
        j += k > 0 ? (uint64_t)k : 1;
    }
    sb_printf(b, "\"");
}

void gguf_format_value(const gguf_file *g, int i, char *buf, size_t n) {
    if (!buf || !n) return;
    buf[0] = 0;
    if (i < 0 || i >= g->n_kv) return;
    const struct gguf_kv *kv = &g->kv[i];
    strbuf b = {buf, n, 0, 0};
    if (kv->type == GGUF_V_STR) {
        sb_quoted(&b, (const char *)kv->data, kv->n, 60);
    } else if (kv->type != GGUF_V_ARR) {
        sb_scalar(&b, kv->type, kv->data);
    } else {
        int is_str = kv->elem_type == GGUF_V_STR;
        uint64_t show = is_str ? 4 : 8;
        if (kv->n <= show) {
            size_t esz = gguf_vtype_size(kv->elem_type);
            sb_printf(&b, "[");
            for (uint64_t j = 0; j < kv->n; j++) {
                if (j) sb_printf(&b, ", ");
                if (is_str) {
                    const char *s;
                    uint64_t len;
                    arr_str_at(kv, j, &s, &len);
                    sb_quoted(&b, s, len, 24);
                } else {
                    sb_scalar(&b, kv->elem_type, kv->data + j * esz);
                }
            }
            sb_printf(&b, "]");
        }
        if (kv->n > show || b.full) {
            b.len = 0;
            b.full = 0;
            sb_printf(&b, "[%s \xc3\x97 %llu]", gguf_vtype_name(kv->elem_type),
                      (unsigned long long)kv->n);
        }
    }
}

/* ---- the writer ------------------------------------------------------- */

typedef struct {
    char *key;
    uint32_t type;
    uint8_t *val; /* the serialized value (what follows the type) */
    size_t len;
} wkv;

typedef struct {
    char *name;
    uint32_t type, n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    const void *data;
    size_t nbytes;
} wtensor;

struct gguf_writer {
    wkv *kv;
    int n_kv, cap_kv;
    wtensor *t;
    int n_t, cap_t;
    char err[512]; /* the first bad argument, reported by gguf_write */
};

static void w_error(gguf_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void w_error(gguf_writer *w, const char *fmt, ...) {
    if (w->err[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
}

gguf_writer *gguf_writer_init(void) { return pt_calloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (int i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* takes ownership of val */
static void w_set(gguf_writer *w, const char *key, uint32_t type, uint8_t *val, size_t len) {
    if (!key) {
        w_error(w, "metadata key is NULL");
        free(val);
        return;
    }
    for (int i = 0; i < w->n_kv; i++) {
        if (!strcmp(w->kv[i].key, key)) {
            free(w->kv[i].val);
            w->kv[i].type = type;
            w->kv[i].val = val;
            w->kv[i].len = len;
            return;
        }
    }
    w->kv = grow(w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv);
    w->kv[w->n_kv++] = (wkv){pt_strdup(key), type, val, len};
}

void gguf_set_val(gguf_writer *w, const char *key, uint32_t vtype, const void *v) {
    size_t sz = gguf_vtype_size(vtype);
    if (!sz || !v) {
        w_error(w, "metadata key '%s': %s is not a fixed-size type", key ? key : "(null)",
                gguf_vtype_name(vtype));
        return;
    }
    uint8_t *val = pt_malloc(sz);
    memcpy(val, v, sz);
    w_set(w, key, vtype, val, sz);
}

void gguf_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    gguf_set_val(w, key, GGUF_V_U32, &v);
}
void gguf_set_i32(gguf_writer *w, const char *key, int32_t v) {
    gguf_set_val(w, key, GGUF_V_I32, &v);
}
void gguf_set_u64(gguf_writer *w, const char *key, uint64_t v) {
    gguf_set_val(w, key, GGUF_V_U64, &v);
}
void gguf_set_f32(gguf_writer *w, const char *key, float v) {
    gguf_set_val(w, key, GGUF_V_F32, &v);
}
void gguf_set_f64(gguf_writer *w, const char *key, double v) {
    gguf_set_val(w, key, GGUF_V_F64, &v);
}
void gguf_set_bool(gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    gguf_set_val(w, key, GGUF_V_BOOL, &b);
}

void gguf_set_strn(gguf_writer *w, const char *key, const char *s, size_t len) {
    if (!s && len) {
        w_error(w, "metadata key '%s': NULL string", key ? key : "(null)");
        return;
    }
    uint8_t *val = pt_malloc(8 + len);
    uint64_t n = len;
    memcpy(val, &n, 8);
    if (len) memcpy(val + 8, s, len);
    w_set(w, key, GGUF_V_STR, val, 8 + len);
}

void gguf_set_str(gguf_writer *w, const char *key, const char *s) {
    if (!s) {
        w_error(w, "metadata key '%s': NULL string", key ? key : "(null)");
        return;
    }
    gguf_set_strn(w, key, s, strlen(s));
}

void gguf_set_arr(gguf_writer *w, const char *key, uint32_t elem_type, const void *data,
                  uint64_t n) {
    const char *k = key ? key : "(null)";
    size_t esz = gguf_vtype_size(elem_type);
    if (!esz) {
        w_error(w, "metadata key '%s': arrays of %s need gguf_set_arr_str or are not allowed", k,
                gguf_vtype_name(elem_type));
        return;
    }
    if (n && !data) {
        w_error(w, "metadata key '%s': NULL array data", k);
        return;
    }
    if (n > (SIZE_MAX - 12) / esz) {
        w_error(w, "metadata key '%s': array too large", k);
        return;
    }
    size_t len = 12 + (size_t)n * esz;
    uint8_t *val = pt_malloc(len);
    memcpy(val, &elem_type, 4);
    memcpy(val + 4, &n, 8);
    if (n) memcpy(val + 12, data, (size_t)n * esz);
    w_set(w, key, GGUF_V_ARR, val, len);
}

void gguf_copy_kv(gguf_writer *w, const gguf_file *g, int i) {
    if (i < 0 || i >= g->n_kv) {
        w_error(w, "gguf_copy_kv: metadata index %d out of range", i);
        return;
    }
    const struct gguf_kv *kv = &g->kv[i];
    if (kv->type == GGUF_V_STR) {
        gguf_set_strn(w, kv->key, (const char *)kv->data, (size_t)kv->n);
        return;
    }
    if (kv->type != GGUF_V_ARR) {
        gguf_set_val(w, kv->key, kv->type, kv->data);
        return;
    }
    /* an array: element type, count, then the elements as they lie in the
     * file (strings as length + bytes; the last one ends the span) */
    size_t body = 0;
    if (kv->elem_type != GGUF_V_STR) body = (size_t)kv->n * gguf_vtype_size(kv->elem_type);
    else if (kv->n) body = (size_t)kv->str_off[kv->n - 1] + 8 + (size_t)le64(kv->data + kv->str_off[kv->n - 1]);
    uint8_t *val = pt_malloc(12 + body);
    memcpy(val, &kv->elem_type, 4);
    memcpy(val + 4, &kv->n, 8);
    if (body) memcpy(val + 12, kv->data, body);
    w_set(w, kv->key, GGUF_V_ARR, val, 12 + body);
}

void gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n) {
    const char *k = key ? key : "(null)";
    if (n && !strs) {
        w_error(w, "metadata key '%s': NULL string array", k);
        return;
    }
    size_t len = 12;
    for (uint64_t j = 0; j < n; j++) {
        if (!strs[j]) {
            w_error(w, "metadata key '%s': string %llu is NULL", k, (unsigned long long)j);
            return;
        }
        len += 8 + strlen(strs[j]);
    }
    uint8_t *val = pt_malloc(len), *p = val + 12;
    uint32_t et = GGUF_V_STR;
    memcpy(val, &et, 4);
    memcpy(val + 4, &n, 8);
    for (uint64_t j = 0; j < n; j++) {
        uint64_t sl = strlen(strs[j]);
        memcpy(p, &sl, 8);
        memcpy(p + 8, strs[j], (size_t)sl);
        p += 8 + sl;
    }
    w_set(w, key, GGUF_V_ARR, val, len);
}

/* checks a tensor for gguf_add_tensor; 0 ok, else the writer's error is set */
static int tensor_check(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                        const uint64_t *ne, const void *data, size_t nbytes, wtensor *t) {
    if (!name || !*name) return w_error(w, "tensor with an empty name"), -1;
    if (strlen(name) > GGUF_MAX_NAME)
        return w_error(w, "tensor name '%s' is longer than %d bytes", name, GGUF_MAX_NAME), -1;
    for (int i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return w_error(w, "duplicate tensor name '%s'", name), -1;
    uint32_t block = gguf_type_block(type);
    if (!block) return w_error(w, "tensor '%s' has unknown type %u", name, type), -1;
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne)
        return w_error(w, "tensor '%s' has %u dimensions (1 to %d allowed)", name, n_dims,
                       GGUF_MAX_DIMS),
               -1;
    uint64_t n = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = d < n_dims ? ne[d] : 1;
        if (t->ne[d] == 0 || t->ne[d] > INT64_MAX || __builtin_mul_overflow(n, t->ne[d], &n) ||
            n > INT64_MAX)
            return w_error(w, "tensor '%s' has a bad shape", name), -1;
    }
    if (t->ne[0] % block)
        return w_error(w, "tensor '%s': row length %llu is not a multiple of %s's block of %u",
                       name, (unsigned long long)t->ne[0], gguf_type_name(type), block),
               -1;
    size_t want = gguf_type_size(type, n);
    if (!want || nbytes != want)
        return w_error(w, "tensor '%s': %zu bytes given, %s of %llu elements needs %zu", name,
                       nbytes, gguf_type_name(type), (unsigned long long)n, want),
               -1;
    if (!data) return w_error(w, "tensor '%s' has NULL data", name), -1;
    return 0;
}

void gguf_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                     const uint64_t *ne, const void *data, size_t nbytes) {
    wtensor t = {0};
    if (tensor_check(w, name, type, n_dims, ne, data, nbytes, &t)) return;
    t.name = pt_strdup(name);
    t.type = type;
    t.n_dims = n_dims;
    t.data = data;
    t.nbytes = nbytes;
    w->t = grow(w->t, &w->cap_t, w->n_t, sizeof *w->t);
    w->t[w->n_t++] = t;
}

typedef struct {
    uint8_t *p;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        while (b->len + n > b->cap) b->cap = b->cap ? b->cap * 2 : 4096;
        b->p = pt_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}
static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }
static void put_str(bytes *b, const char *s) {
    size_t n = strlen(s);
    put_u64(b, n);
    put(b, s, n);
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* ---- data checksum ---------------------------------------------------- */

/* Four independent lanes of xor-rotate-multiply rounds over 32-byte chunks,
 * one multiply a word, so the loop runs near memory speed; the tail and the
 * lengths are mixed in at the end. Not cryptographic: it catches damage,
 * not tampering. */
#define H_P1 0x9E3779B185EBCA87ULL
#define H_P2 0xC2B2AE3D27D4EB4FULL
static inline uint64_t h_rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
/* a bijection of a for each w, and of w for each a: one changed bit of the
 * data always changes its lane, and later rounds cannot undo it */
static inline uint64_t h_round(uint64_t a, uint64_t w) { return h_rotl(a ^ w, 31) * H_P1; }

static void h_bytes(uint64_t lane[4], const uint8_t *p, size_t n) {
    uint64_t a = lane[0], b = lane[1], c = lane[2], d = lane[3]; /* locals: p may alias lane */
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t w0, w1, w2, w3;
        memcpy(&w0, p + i, 8), memcpy(&w1, p + i + 8, 8), memcpy(&w2, p + i + 16, 8), memcpy(&w3, p + i + 24, 8);
        a = h_round(a, w0), b = h_round(b, w1), c = h_round(c, w2), d = h_round(d, w3);
    }
    uint8_t last[32] = {0};
    memcpy(last, p + i, n - i);
    uint64_t w[4];
    memcpy(w, last, 32);
    uint64_t t = (uint64_t)(n - i);
    lane[0] = h_round(a, w[0] ^ t), lane[1] = h_round(b, w[1] ^ t), lane[2] = h_round(c, w[2] ^ t);
    lane[3] = h_round(d, w[3] ^ t);
}

uint64_t gguf_data_hash(const void *const *data, const size_t *nbytes, int n) {
    uint64_t lane[4] = {H_P1 + H_P2, H_P2, 0, (uint64_t)0 - H_P1};
    for (int t = 0; t < n; t++) {
        h_bytes(lane, data[t], nbytes[t]);
        lane[t & 3] ^= (uint64_t)nbytes[t] * H_P1;
    }
    uint64_t h = h_rotl(lane[0], 1) + h_rotl(lane[1], 7) + h_rotl(lane[2], 12) + h_rotl(lane[3], 18);
    h ^= h >> 33, h *= H_P2, h ^= h >> 29, h *= H_P1, h ^= h >> 32;
    return h;
}

uint64_t gguf_file_data_hash(const gguf_file *g) {
    int n = gguf_n_tensors(g);
    const void **d = pt_malloc((size_t)(n ? n : 1) * sizeof *d);
    size_t *nb = pt_malloc((size_t)(n ? n : 1) * sizeof *nb);
    for (int i = 0; i < n; i++) d[i] = gguf_tensor_at(g, i)->data, nb[i] = gguf_tensor_at(g, i)->nbytes;
    uint64_t h = gguf_data_hash(d, nb, n);
    free(d), free(nb);
    return h;
}

/* the hash of the header's bytes [0, info_end) without the entry [at, end)
 * of the metadata checksum itself */
static uint64_t meta_hash(const uint8_t *p, size_t at, size_t end, size_t info_end) {
    const void *d[2] = {p, p + end};
    size_t nb[2] = {at, info_end - end};
    return gguf_data_hash(d, nb, 2);
}

size_t gguf_header_end(const gguf_file *g) { return g->info_end; }

uint64_t gguf_file_meta_hash(const gguf_file *g) {
    int i = gguf_find_key(g, GGUF_META_CHECKSUM_KEY);
    size_t at = i < 0 ? g->info_end : g->kv[i].at, end = i < 0 ? g->info_end : g->kv[i].end;
    return meta_hash(g->base, at, end, g->info_end);
}

int gguf_meta_verify(const gguf_file *g) {
    int i = gguf_find_key(g, GGUF_META_CHECKSUM_KEY);
    if (i < 0) return 0;
    const struct gguf_kv *kv = &g->kv[i];
    if (kv->type != GGUF_V_U64)
        return pt_set_error("the file is damaged: %s is %s, not u64", GGUF_META_CHECKSUM_KEY,
                            gguf_vtype_name(kv->type));
    uint64_t want, got = gguf_file_meta_hash(g);
    memcpy(&want, kv->data, 8);
    if (got != want)
        return pt_set_error("the file is damaged: its metadata does not match its checksum "
                            "(%016llx, stored %016llx)", (unsigned long long)got, (unsigned long long)want);
    return 1;
}

int gguf_verify(const gguf_file *g) {
    uint64_t want;
    if (skip_checksums()) return 0;
    if (gguf_meta_verify(g) < 0) return -1;
    if (gguf_find_key(g, GGUF_CHECKSUM_KEY) < 0) return 0;
    if (gguf_get_u64(g, GGUF_CHECKSUM_KEY, &want)) return -1;
    uint64_t got = gguf_file_data_hash(g);
    if (got != want)
        return pt_set_error("the file is damaged: its tensor data does not match its checksum "
                            "(%016llx, stored %016llx)", (unsigned long long)got, (unsigned long long)want);
    return 0;
}

int gguf_write(gguf_writer *w, const char *path) {
    if (w->err[0]) return pt_set_error("%s: %s", path, w->err);
    { /* the checksum of this data (replacing one copied from another file) */
        const void **d = pt_malloc((size_t)(w->n_t ? w->n_t : 1) * sizeof *d);
        size_t *nb = pt_malloc((size_t)(w->n_t ? w->n_t : 1) * sizeof *nb);
        for (int i = 0; i < w->n_t; i++) d[i] = w->t[i].data, nb[i] = w->t[i].nbytes;
        gguf_set_u64(w, GGUF_CHECKSUM_KEY, gguf_data_hash(d, nb, w->n_t));
        free(d), free(nb);
    }
    gguf_set_u64(w, GGUF_META_CHECKSUM_KEY, 0); /* its value is filled in below */
    uint64_t alignment = GGUF_DEFAULT_ALIGNMENT;
    for (int i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment")) continue;
        uint32_t a = 0;
        if (w->kv[i].type == GGUF_V_U32) memcpy(&a, w->kv[i].val, 4);
        if (a == 0 || (a & (a - 1)))
            return pt_set_error("%s: general.alignment must be a u32 power of two", path);
        alignment = a;
    }

    bytes h = {0};
    put(&h, GGUF_MAGIC, 4);
    put_u32(&h, 3);
    put_u64(&h, (uint64_t)w->n_t);
    put_u64(&h, (uint64_t)w->n_kv);
    size_t meta_at = 0, meta_end = 0;
    for (int i = 0; i < w->n_kv; i++) {
        int meta = !strcmp(w->kv[i].key, GGUF_META_CHECKSUM_KEY);
        if (meta) meta_at = h.len;
        put_str(&h, w->kv[i].key);
        put_u32(&h, w->kv[i].type);
        put(&h, w->kv[i].val, w->kv[i].len);
        if (meta) meta_end = h.len;
    }
    uint64_t off = 0;
    for (int i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(&h, t->name);
        put_u32(&h, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(&h, t->ne[d]);
        put_u32(&h, t->type);
        put_u64(&h, off);
        off = align_up(off + t->nbytes, alignment);
    }
    { /* the metadata checksum: every header byte but its own entry's */
        uint64_t mh = meta_hash(h.p, meta_at, meta_end, h.len);
        memcpy(h.p + meta_end - 8, &mh, 8);
    }
    static const uint8_t zeros[64];
    uint64_t pad = align_up(h.len, alignment) - h.len;

    pt_atomic_file af;
    if (pt_atomic_open(&af, path)) {
        free(h.p);
        return -1;
    }
    int bad = fwrite(h.p, 1, h.len, af.f) != h.len;
    free(h.p);
    for (uint64_t i = 0; i < pad && !bad; i += sizeof zeros) {
        size_t k = pad - i < sizeof zeros ? (size_t)(pad - i) : sizeof zeros;
        bad = fwrite(zeros, 1, k, af.f) != k;
    }
    for (int i = 0; i < w->n_t && !bad; i++) {
        const wtensor *t = &w->t[i];
        bad = fwrite(t->data, 1, t->nbytes, af.f) != t->nbytes;
        pad = align_up(t->nbytes, alignment) - t->nbytes;
        for (uint64_t j = 0; j < pad && !bad; j += sizeof zeros) {
            size_t k = pad - j < sizeof zeros ? (size_t)(pad - j) : sizeof zeros;
            bad = fwrite(zeros, 1, k, af.f) != k;
        }
    }
    if (bad) {
        int saved = errno;
        pt_atomic_abort(&af);
        return pt_set_error("%s: write failed: %s", path, strerror(saved));
    }
    return pt_atomic_commit(&af);
}

/* ---- field tables ------------------------------------------------------ */

static int field_on(const gguf_field *f, unsigned flags) { return !f->group || (flags & f->group); }

void gguf_fields_write(gguf_writer *w, const gguf_field *f, int n, const void *base, unsigned flags) {
    for (int i = 0; i < n; i++) {
        if (!field_on(&f[i], flags)) continue;
        const char *p = (const char *)base + f[i].off;
        double x = 0;
        uint64_t u = 0;
        if (f[i].ctype == GGUF_C_ENUM) {
            gguf_set_str(w, f[i].key, f[i].name(*(const int *)p));
            continue;
        }
        switch (f[i].ctype) {
        case GGUF_C_INT: u = (uint64_t)(int64_t) * (const int *)p; break;
        case GGUF_C_BOOL: u = *(const int *)p != 0; break;
        case GGUF_C_LONG: u = (uint64_t)(int64_t) * (const long *)p; break;
        case GGUF_C_U64: u = *(const uint64_t *)p; break;
        case GGUF_C_UNSIGNED: u = *(const unsigned *)p; break;
        case GGUF_C_FLOAT: x = *(const float *)p; break;
        case GGUF_C_DOUBLE: x = *(const double *)p; break;
        }
        if ((f[i].opt & GGUF_OPT_NONZERO) && u == 0 && x == 0) continue;
        switch (f[i].vtype) {
        case GGUF_V_U32: gguf_set_u32(w, f[i].key, (uint32_t)u); break;
        case GGUF_V_U64: gguf_set_u64(w, f[i].key, u); break;
        case GGUF_V_BOOL: gguf_set_bool(w, f[i].key, u != 0); break;
        case GGUF_V_F32: gguf_set_f32(w, f[i].key, (float)x); break;
        case GGUF_V_F64: gguf_set_f64(w, f[i].key, x); break;
        }
    }
}

int gguf_fields_read(const gguf_file *g, const gguf_field *f, int n, void *base, unsigned flags) {
    for (int i = 0; i < n; i++) {
        if (!field_on(&f[i], flags)) continue;
        const char *key = f[i].key;
        if (gguf_find_key(g, key) < 0) {
            if (f[i].opt) continue;
            return pt_set_error("missing key %s", key);
        }
        char *p = (char *)base + f[i].off;
        if (f[i].ctype == GGUF_C_ENUM) {
            const char *str;
            uint64_t len;
            char buf[32];
            if (gguf_get_str(g, key, &str, &len) || len >= sizeof buf) return pt_set_error("key %s: bad value", key);
            memcpy(buf, str, len);
            buf[len] = 0;
            int v = f[i].parse(buf);
            if (v < 0) return pt_set_error("key %s: unsupported value '%s'", key, buf);
            *(int *)p = v;
            continue;
        }
        uint64_t u = 0;
        double x = 0;
        uint32_t u32;
        float fl;
        int b, bad = 0;
        switch (f[i].vtype) {
        case GGUF_V_U32: bad = gguf_get_u32(g, key, &u32), u = u32; break;
        case GGUF_V_U64: bad = gguf_get_u64(g, key, &u); break;
        case GGUF_V_BOOL: bad = gguf_get_bool(g, key, &b), u = (uint64_t)b; break;
        case GGUF_V_F32: bad = gguf_get_f32(g, key, &fl), x = fl; break;
        case GGUF_V_F64: bad = gguf_get_f64(g, key, &x); break;
        default: bad = 1;
        }
        if (bad) return pt_set_error("key %s is not a %s", key, gguf_vtype_name(f[i].vtype));
        switch (f[i].ctype) {
        case GGUF_C_INT:
            if (u > (1u << 30)) return pt_set_error("key %s = %llu is out of range", key, (unsigned long long)u);
            *(int *)p = (int)u;
            break;
        case GGUF_C_BOOL: *(int *)p = u != 0; break;
        case GGUF_C_LONG:
            if (u > (uint64_t)1 << 62) return pt_set_error("key %s = %llu is out of range", key, (unsigned long long)u);
            *(long *)p = (long)u;
            break;
        case GGUF_C_U64: *(uint64_t *)p = u; break;
        case GGUF_C_UNSIGNED: *(unsigned *)p = (unsigned)u; break;
        case GGUF_C_FLOAT: *(float *)p = (float)x; break;
        case GGUF_C_DOUBLE: *(double *)p = x; break;
        }
    }
    return 0;
}
