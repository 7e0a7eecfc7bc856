/* gguf: the GGUF v3 container (llama.cpp's model file format), read by mmap
 * and written atomically. It knows nothing of models: keys, typed values,
 * tensors with a name, a ggml type, a shape and bytes.
 *
 * Layout (little-endian): "GGUF" u32 version=3, u64 n_tensors, u64 n_kv,
 * n_kv × (string key, u32 type, value), n_tensors × (string name, u32 n_dims,
 * n_dims × u64 ne (ne[0] is the fastest-varying, i.e. the row length), u32 ggml
 * type, u64 offset), padding to `general.alignment` (default 32), tensor data.
 * A string is u64 length + bytes (no NUL). An array is u32 elem type, u64 n,
 * then n values.
 *
 * Reading validates everything against the file size before trusting it: no
 * allocation or pointer is ever made from an unchecked header field. All
 * getters are read-only views into the mapping; they live as long as the
 * gguf_file.
 *
 * Usage:
 *   gguf_file *g = gguf_open("model.gguf");          // NULL: pt_error() says why
 *   uint32_t d; if (gguf_get_u32(g, "petit.d_model", &d)) ...;
 *   const gguf_tensor *t = gguf_find_tensor(g, "tok_emb.weight");
 *   const float *w = t->data;  // t->type == GGUF_TYPE_F32, t->ne[0] = row length
 *   gguf_close(g);
 *
 *   gguf_writer *w = gguf_writer_init();
 *   gguf_set_str(w, "general.architecture", "petit");
 *   gguf_add_tensor(w, "tok_emb.weight", GGUF_TYPE_F32, 2, (uint64_t[]){D, V}, ptr, nbytes);
 *   if (gguf_write(w, "model.gguf")) ...;   // temp file + fsync + rename
 *   gguf_writer_free(w);
 */
#ifndef PETIT_GGUF_H
#define PETIT_GGUF_H

#include <stddef.h>
#include <stdint.h>

/* metadata value types (GGUF spec) */
enum gguf_vtype {
    GGUF_V_U8 = 0, GGUF_V_I8 = 1, GGUF_V_U16 = 2, GGUF_V_I16 = 3, GGUF_V_U32 = 4,
    GGUF_V_I32 = 5, GGUF_V_F32 = 6, GGUF_V_BOOL = 7, GGUF_V_STR = 8, GGUF_V_ARR = 9,
    GGUF_V_U64 = 10, GGUF_V_I64 = 11, GGUF_V_F64 = 12,
};

/* tensor types: ggml's numbering, for the ones petit uses */
enum gguf_ttype {
    GGUF_TYPE_F32 = 0, GGUF_TYPE_F16 = 1, GGUF_TYPE_Q4_0 = 2, GGUF_TYPE_Q8_0 = 8,
    GGUF_TYPE_I8 = 24, GGUF_TYPE_I16 = 25, GGUF_TYPE_I32 = 26, GGUF_TYPE_F64 = 28,
};
/* bytes for n elements of type t (n must be a multiple of the block size for
 * block types); 0 for an unknown type, an n that is not a multiple of the
 * block size, or a size that does not fit in size_t. Block types (ggml's
 * layouts): Q8_0 = 32 weights in 34 bytes (f16 scale + 32 int8), Q4_0 = 32
 * weights in 18 bytes (f16 scale + 16 bytes of nibbles). */
size_t gguf_type_size(uint32_t type, uint64_t n);
uint32_t gguf_type_block(uint32_t type); /* weights per block: 32 or 1; 0 if unknown */
const char *gguf_type_name(uint32_t type); /* "F32", "Q4_0", ...; "?" if unknown */
/* bytes of one value of a fixed-size metadata type (u8 .. f64); 0 for str,
 * arr or an unknown type */
size_t gguf_vtype_size(uint32_t vtype);
/* a fixed-size scalar (u8 .. f64, bool) at p as text: floats the shortest that reads back
 * the same; json: non-finite and unknown types as null (else nan/inf and ?) */
void gguf_scalar_str(char *out, size_t n, uint32_t type, const void *p, int json);
const char *gguf_vtype_name(uint32_t vtype); /* "u32", "str", "arr", ...; "?" */

#define GGUF_MAX_DIMS 4

typedef struct {
    const char *name;     /* NUL-terminated copy */
    uint32_t type;        /* enum gguf_ttype */
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] fastest; unused dims are 1 */
    uint64_t n_elems;
    const void *data;     /* into the mapping, aligned */
    size_t nbytes;
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Opens and validates; a file whose metadata checksum does not match is
 * refused (see below). Anything but a regular file is refused before it is
 * read (a FIFO does not block). */
gguf_file *gguf_open(const char *path);
/* the same without the metadata checksum, for `petit info` to describe a
 * damaged file (gguf_meta_verify then says what is wrong) */
gguf_file *gguf_open_unchecked(const char *path);
/* parse from memory the caller keeps alive (fuzzing, tests); tensor data is
 * aligned relative to buf, so buf should be aligned at least as much as the
 * tensor types need (malloc's alignment is enough) */
gguf_file *gguf_open_mem(const void *buf, size_t n);
void gguf_close(gguf_file *g);

/* Data checksum. gguf_write stores GGUF_CHECKSUM_KEY (u64): a 64-bit hash
 * of every tensor's bytes in order (gguf_data_hash), so that a damaged file
 * (flipped bits, a bad copy) is caught before its weights are used.
 * gguf_verify: 0 if the hash matches or the file has none (older files),
 * else -1 with an error. It reads the whole data section. The environment
 * variable PETIT_SKIP_CHECKSUM=1 turns the check off (to salvage or study a
 * damaged file). */
#define GGUF_CHECKSUM_KEY "petit.data_checksum"
uint64_t gguf_data_hash(const void *const *data, const size_t *nbytes, int n);
uint64_t gguf_file_data_hash(const gguf_file *g); /* of an open file's tensors */
int gguf_verify(const gguf_file *g); /* the metadata checksum, then the data checksum */
/* Metadata checksum. gguf_write also stores GGUF_META_CHECKSUM_KEY (u64):
 * the same hash over every byte of the file before the tensor data (magic,
 * counts, every key and value, tokenizer arrays included, and the tensor
 * infos) except that entry's own bytes; with the data checksum this covers
 * every byte but the alignment padding. gguf_open and gguf_open_mem check it
 * (cheap: the header only) unless PETIT_SKIP_CHECKSUM=1. gguf_meta_verify:
 * 1 it matches, 0 the file has none (written before it existed: read as
 * before), -1 it does not match (error set). */
#define GGUF_META_CHECKSUM_KEY "petit.meta_checksum"
int gguf_meta_verify(const gguf_file *g);
uint64_t gguf_file_meta_hash(const gguf_file *g); /* what the key should hold */
size_t gguf_header_end(const gguf_file *g); /* the end of the tensor infos */

uint32_t gguf_version(const gguf_file *g);     /* 3 (version 2, same layout, is read too) */
uint32_t gguf_alignment(const gguf_file *g);   /* general.alignment or 32 */
size_t gguf_data_offset(const gguf_file *g);   /* file offset of the tensor data section */
size_t gguf_size(const gguf_file *g);          /* file (or buffer) size in bytes */

int gguf_n_kv(const gguf_file *g);
const char *gguf_key(const gguf_file *g, int i);
uint32_t gguf_kv_type(const gguf_file *g, int i);
int gguf_find_key(const gguf_file *g, const char *key); /* index or -1 */
/* The raw value of entry i. Scalar: *elem_type = its type, *data -> its
 * little-endian bytes, *n = 1. String: *elem_type = GGUF_V_STR, *data -> the
 * bytes, *n = length. Array: *elem_type = the element type, *data -> the
 * elements (for strings: the serialized u64 length + bytes pairs; use
 * gguf_get_arr_str), *n = count. Returns 0, or -1 if i is out of range. */
int gguf_kv_value(const gguf_file *g, int i, uint32_t *elem_type, const void **data,
                  uint64_t *n);

/* Typed getters: return 0 and set *out if the key exists with exactly that
 * type, else -1 (with an error naming the key). */
int gguf_get_u32(const gguf_file *g, const char *key, uint32_t *out);
int gguf_get_i32(const gguf_file *g, const char *key, int32_t *out);
int gguf_get_u64(const gguf_file *g, const char *key, uint64_t *out);
int gguf_get_f32(const gguf_file *g, const char *key, float *out);
int gguf_get_f64(const gguf_file *g, const char *key, double *out);
int gguf_get_bool(const gguf_file *g, const char *key, int *out);
/* any fixed-size scalar type (u8 .. f64): copies gguf_vtype_size(vtype) bytes */
int gguf_get_val(const gguf_file *g, const char *key, uint32_t vtype, void *out);
/* string: pointer into the mapping, NOT NUL-terminated; length in *len */
int gguf_get_str(const gguf_file *g, const char *key, const char **s, uint64_t *len);
/* arrays of fixed-size elements: pointer to the raw little-endian elements.
 * For an array of strings this gives *elem_type = GGUF_V_STR and the count
 * *n; read the strings with gguf_get_arr_str. Nested arrays are rejected at
 * open. */
int gguf_get_arr(const gguf_file *g, const char *key, uint32_t *elem_type, const void **data,
                 uint64_t *n);
/* array of strings: the i-th string */
int gguf_get_arr_str(const gguf_file *g, const char *key, uint64_t i, const char **s,
                     uint64_t *len);
/* a short printable rendering of value i (for `petit info`) into buf:
 * numbers, true/false, "quoted" strings (escaped, cut with "..." past ~60
 * bytes), short arrays in full ([1, 2, 3]), long ones as [u8 × 238771] */
void gguf_format_value(const gguf_file *g, int i, char *buf, size_t n);

int gguf_n_tensors(const gguf_file *g);
const gguf_tensor *gguf_tensor_at(const gguf_file *g, int i);
const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name); /* NULL if absent */

/* ---- writing --------------------------------------------------------- */
typedef struct gguf_writer gguf_writer;
gguf_writer *gguf_writer_init(void);
void gguf_writer_free(gguf_writer *w);
/* Keys are copied. Setting a key twice replaces it (keeping its place).
 * The setters cannot fail: a bad argument (unknown type, NULL string, bad
 * tensor shape or size, duplicate tensor name, name over 63 bytes) is
 * remembered and gguf_write then fails with that message. A u32
 * general.alignment, if set, must be a power of two and is used for the
 * tensor data; otherwise it is 32 and no key is written. */
void gguf_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_set_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_set_f32(gguf_writer *w, const char *key, float v);
void gguf_set_f64(gguf_writer *w, const char *key, double v);
void gguf_set_bool(gguf_writer *w, const char *key, int v);
void gguf_set_str(gguf_writer *w, const char *key, const char *s);
void gguf_set_strn(gguf_writer *w, const char *key, const char *s, size_t len);
/* any fixed-size scalar type (u8 .. f64) from gguf_vtype_size(vtype) bytes at v */
void gguf_set_val(gguf_writer *w, const char *key, uint32_t vtype, const void *v);
/* array of fixed-size elements (copied) */
void gguf_set_arr(gguf_writer *w, const char *key, uint32_t elem_type, const void *data, uint64_t n);
void gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n);
/* copy metadata entry i of g (any type) under the same key */
void gguf_copy_kv(gguf_writer *w, const gguf_file *g, int i);
/* The data pointer is borrowed until gguf_write returns. ne[0] fastest. */
void gguf_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                     const uint64_t *ne, const void *data, size_t nbytes);
/* atomic: temp file, fsync, rename; on failure no file is left. 0 ok, -1 error */
int gguf_write(gguf_writer *w, const char *path);

/* ---- a struct's fields as keys: one table for writing and reading ----
 *
 * A table row names a key, its GGUF value type, and the struct field it
 * holds (offset and C type), so that the code that saves a struct and the
 * code that loads it cannot drift apart (the model configuration, the
 * trainer's checkpoint state):
 *
 *   static const gguf_field keys[] = {
 *       GGUF_FIELD_INT("petit.d_model", GGUF_V_U32, pt_config, d_model, 0),
 *       GGUF_FIELD_FLOAT("petit.dropout", pt_config, dropout, 0), ...
 *   };
 *   gguf_fields_write(w, keys, n, &cfg, flags);   gguf_fields_read(g, keys, n, &cfg, flags);
 *
 * A row with group != 0 is written and read only when (flags & group).
 * opt: GGUF_OPT_MISSING_OK (a missing key leaves the field as it is),
 * GGUF_OPT_NONZERO (written only when the field is not 0; implies the
 * former). An enum field is an int written as a string: name() and parse()
 * (parse returns < 0 for an unknown name). */
enum { GGUF_C_INT, GGUF_C_LONG, GGUF_C_U64, GGUF_C_UNSIGNED, GGUF_C_FLOAT, GGUF_C_DOUBLE, GGUF_C_BOOL, GGUF_C_ENUM };
enum { GGUF_OPT_MISSING_OK = 1, GGUF_OPT_NONZERO = 2 };
typedef struct {
    const char *key;
    uint32_t vtype;   /* GGUF_V_U32, GGUF_V_U64, GGUF_V_F32, GGUF_V_F64, GGUF_V_BOOL, GGUF_V_STR (enum) */
    uint8_t ctype;    /* GGUF_C_* */
    uint8_t opt;      /* GGUF_OPT_* */
    unsigned group;
    size_t off;
    const char *(*name)(int);
    int (*parse)(const char *);
} gguf_field;
#define GGUF_FIELD_INT(k, vt, T, f, opt, grp) {k, vt, GGUF_C_INT, opt, grp, offsetof(T, f), NULL, NULL}
#define GGUF_FIELD_LONG(k, T, f, opt, grp) {k, GGUF_V_U64, GGUF_C_LONG, opt, grp, offsetof(T, f), NULL, NULL}
#define GGUF_FIELD_U64(k, T, f, opt, grp) {k, GGUF_V_U64, GGUF_C_U64, opt, grp, offsetof(T, f), NULL, NULL}
#define GGUF_FIELD_UNSIGNED(k, T, f, opt, grp) {k, GGUF_V_U32, GGUF_C_UNSIGNED, opt, grp, offsetof(T, f), NULL, NULL}
#define GGUF_FIELD_FLOAT(k, T, f, opt, grp) {k, GGUF_V_F32, GGUF_C_FLOAT, opt, grp, offsetof(T, f), NULL, NULL}
#define GGUF_FIELD_DOUBLE(k, T, f, opt, grp) {k, GGUF_V_F64, GGUF_C_DOUBLE, opt, grp, offsetof(T, f), NULL, NULL}
#define GGUF_FIELD_BOOL(k, T, f, opt, grp) {k, GGUF_V_BOOL, GGUF_C_BOOL, opt, grp, offsetof(T, f), NULL, NULL}
#define GGUF_FIELD_ENUM(k, T, f, name, parse, opt, grp) \
    {k, GGUF_V_STR, GGUF_C_ENUM, opt, grp, offsetof(T, f), name, parse}
void gguf_fields_write(gguf_writer *w, const gguf_field *f, int n, const void *base, unsigned flags);
/* 0, or -1 with an error naming the key (missing, another type, a u32 over
 * 2^30 for an int field) */
int gguf_fields_read(const gguf_file *g, const gguf_field *f, int n, void *base, unsigned flags);

#endif
