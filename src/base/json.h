/* json: a small, strict JSON reader (RFC 8259) that builds a tree.
 *
 * For the few JSON files petit reads (a Hugging Face checkpoint's
 * config.json and vocab.json, a safetensors header). Strict: the input must
 * be valid UTF-8 holding exactly one value; no comments, no trailing commas,
 * no NaN/Infinity, no leading zeros, no control characters inside strings,
 * no lone surrogates in \u escapes, no duplicate keys in an object. Nesting
 * deeper than JSON_MAX_DEPTH is refused. Memory is proportional to the input.
 *
 * What it is not: a writer, a streaming parser, or exact for integers beyond
 * 2^53 (numbers are doubles; json_int says whether one is an exact integer).
 *
 *   json_value *v = json_parse(text, len);      // NULL: pt_error() says where
 *   const json_value *d = json_get(v, "d_model");
 *   long long x;
 *   if (d && json_int(d, &x)) ...;
 *   json_free(v);
 */
#ifndef PETIT_JSON_H
#define PETIT_JSON_H

#include <stddef.h>

#define JSON_MAX_DEPTH 64

typedef enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    double num;        /* NUMBER */
    char *str;         /* STRING: UTF-8, NUL-terminated (may also hold NULs: see len) */
    size_t len;
    json_value *items; /* ARRAY: the elements; OBJECT: the members' values, in file order */
    char **keys;       /* OBJECT: keys[i] names items[i] (NUL-terminated) */
    size_t *key_lens;
    int n;             /* ARRAY / OBJECT: number of elements / members */
};

json_value *json_parse(const char *text, size_t len);
void json_free(json_value *v);
/* member of an object by key, or NULL (also when v is not an object) */
const json_value *json_get(const json_value *v, const char *key);
/* 1 if v is a number holding an exact integer in [-2^53, 2^53], stored in *out */
int json_int(const json_value *v, long long *out);
const char *json_type_name(json_type t);

#endif
