/* safetensors: read the tensors of a .safetensors file (Hugging Face's
 * format: u64 little-endian header length N, N bytes of JSON naming each
 * tensor's dtype, shape and [begin, end) byte range in the data that
 * follows, then the data).
 *
 * The file is mapped read-only. st_open validates the whole header before
 * anything is used: every range lies inside the file and holds exactly
 * shape x element size bytes (no overflow), shapes have at most ST_MAX_DIMS
 * non-negative dimensions; nothing is allocated from a size read in the file
 * beyond the header itself, which must fit in the file and in 100 MB.
 * Any dtype is listed; st_read_f32 converts F32, F16, BF16 and F64.
 *
 * What it is not: a writer, or a reader of PyTorch's pickle files
 * (pytorch_model.bin).
 *
 *   st_file *f = st_open("model.safetensors");       // NULL: pt_error() says why
 *   const st_tensor *t = st_find(f, "lm_head.weight");
 *   float *x = malloc(t->numel * sizeof(float));
 *   if (st_read_f32(f, t, x)) ...;
 *   st_close(f);
 */
#ifndef PETIT_SAFETENSORS_H
#define PETIT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    char dtype[16]; /* "F32", "F16", "BF16", "F64", "I64", ... */
    int elem_size;  /* bytes per element; 0 if the dtype is not known */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t numel;
    const uint8_t *data; /* into the mapping */
    uint64_t nbytes;
} st_tensor;

typedef struct st_file st_file;

st_file *st_open(const char *path);
void st_close(st_file *f);
int st_n_tensors(const st_file *f);
const st_tensor *st_tensor_at(const st_file *f, int i);
/* the tensor of that name, or NULL */
const st_tensor *st_find(const st_file *f, const char *name);
/* "(a, b, c)" into buf */
const char *st_shape_str(const st_tensor *t, char *buf, size_t n);
/* t's elements as floats into out (t->numel of them): 0, or -1 with an
 * error for a dtype other than F32 / F16 / BF16 / F64 */
int st_read_f32(const st_file *f, const st_tensor *t, float *out);

#endif
