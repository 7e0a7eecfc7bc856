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
 * block types); 0 for an unknown type */
size_t gguf_type_size(uint32_t type, uint64_t n);
const char *gguf_type_name(uint32_t type);

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

gguf_file *gguf_open(const char *path);
/* parse from memory the caller keeps alive (fuzzing, tests) */
gguf_file *gguf_open_mem(const void *buf, size_t n);
void gguf_close(gguf_file *g);

int gguf_n_kv(const gguf_file *g);
const char *gguf_key(const gguf_file *g, int i);
uint32_t gguf_kv_type(const gguf_file *g, int i);
int gguf_find_key(const gguf_file *g, const char *key); /* index or -1 */

/* Typed getters: return 0 and set *out if the key exists with exactly that
 * type, else -1 (with an error naming the key). */
int gguf_get_u32(const gguf_file *g, const char *key, uint32_t *out);
int gguf_get_i32(const gguf_file *g, const char *key, int32_t *out);
int gguf_get_u64(const gguf_file *g, const char *key, uint64_t *out);
int gguf_get_f32(const gguf_file *g, const char *key, float *out);
int gguf_get_f64(const gguf_file *g, const char *key, double *out);
int gguf_get_bool(const gguf_file *g, const char *key, int *out);
/* string: pointer into the mapping, NOT NUL-terminated; length in *len */
int gguf_get_str(const gguf_file *g, const char *key, const char **s, uint64_t *len);
/* arrays of fixed-size elements: pointer to the raw little-endian elements */
int gguf_get_arr(const gguf_file *g, const char *key, uint32_t *elem_type, const void **data,
                 uint64_t *n);
/* array of strings: the i-th string */
int gguf_get_arr_str(const gguf_file *g, const char *key, uint64_t i, const char **s,
                     uint64_t *len);
/* a short printable rendering of value i (for `petit info`) into buf */
void gguf_format_value(const gguf_file *g, int i, char *buf, size_t n);

int gguf_n_tensors(const gguf_file *g);
const gguf_tensor *gguf_tensor_at(const gguf_file *g, int i);
const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name); /* NULL if absent */

/* ---- writing --------------------------------------------------------- */
typedef struct gguf_writer gguf_writer;
gguf_writer *gguf_writer_init(void);
void gguf_writer_free(gguf_writer *w);
/* Keys are copied. Setting a key twice replaces it. */
void gguf_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_set_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_set_f32(gguf_writer *w, const char *key, float v);
void gguf_set_f64(gguf_writer *w, const char *key, double v);
void gguf_set_bool(gguf_writer *w, const char *key, int v);
void gguf_set_str(gguf_writer *w, const char *key, const char *s);
void gguf_set_strn(gguf_writer *w, const char *key, const char *s, size_t len);
/* array of fixed-size elements (copied) */
void gguf_set_arr(gguf_writer *w, const char *key, uint32_t elem_type, const void *data, uint64_t n);
void gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n);
/* The data pointer is borrowed until gguf_write returns. ne[0] fastest. */
void gguf_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                     const uint64_t *ne, const void *data, size_t nbytes);
/* atomic: temp file, fsync, rename; on failure no file is left. 0 ok, -1 error */
int gguf_write(gguf_writer *w, const char *path);

#endif
