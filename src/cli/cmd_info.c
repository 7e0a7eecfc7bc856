/* cmd_info.c: `petit info FILE` describes a GGUF file: its version, every
 * metadata key with its type and a short value, and a table of tensors (type,
 * shape, bytes, bits per weight) with a total line. `--json` prints the same
 * as one JSON object. It reads any GGUF v3 file, not only petit's. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli/cli.h"
#include "model/pack.h"
#include "gguf/gguf.h"

static const char *usage_text =
    "usage: petit info [--json] FILE\n"
    "\n"
    "Describe a GGUF model or checkpoint: the GGUF version, every metadata key\n"
    "with its type and a short value (long arrays summarized as [u8 × N]), then\n"
    "each tensor's type, shape (ne[0], the row length, first), bytes and bits per\n"
    "weight, a total line, and whether the metadata and the tensor data match\n"
    "their checksums (files written before the metadata checksum have none).\n"
    "\n"
    "  --json     print the same as one JSON object (strings in full, arrays of\n"
    "             up to 16 elements in full, longer ones as their count)\n"
    "  -h, --help this text\n";

/* ---- text output ------------------------------------------------------ */

/* Copy s (len bytes) into out with control characters and invalid UTF-8
 * escaped as \xNN, so that a hostile name cannot drive the terminal. */
static void escape_text(const char *s, size_t len, char *out, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < n;) {
        const unsigned char *u = (const unsigned char *)s + i;
        int k = pt_utf8_len(u, len - i);
        if (k > 1 || (k == 1 && *u >= 0x20 && *u != 0x7f)) {
            if (o + (size_t)k + 1 >= n) break;
            memcpy(out + o, u, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", *u);
            i++;
        }
    }
    out[o] = 0;
}

/* display columns of a UTF-8 string (one per character) */
static int columns(const char *s) {
    int c = 0;
    for (; *s; s++) c += ((unsigned char)*s & 0xc0) != 0x80;
    return c;
}

static void print_padded(const char *s, int width) {
    fputs(s, stdout);
    for (int c = columns(s); c < width; c++) putchar(' ');
}

static void type_text(const gguf_file *g, int i, char *out, size_t n) {
    uint32_t type = gguf_kv_type(g, i), et;
    const void *data;
    uint64_t cnt;
    if (type == GGUF_V_ARR && !gguf_kv_value(g, i, &et, &data, &cnt))
        snprintf(out, n, "arr[%s]", gguf_vtype_name(et));
    else
        snprintf(out, n, "%s", gguf_vtype_name(type));
}

static void shape_text(const gguf_tensor *t, char *out, size_t n) {
    size_t o = 0;
    out[0] = 0;
    for (uint32_t d = 0; d < t->n_dims && o < n; d++)
        o += (size_t)snprintf(out + o, n - o, d ? " \xc3\x97 %" PRIu64 : "%" PRIu64, t->ne[d]);
}

static double bits_per_weight(uint64_t bytes, uint64_t elems) {
    return elems ? 8.0 * (double)bytes / (double)elems : 0.0;
}

/* per-tensor metadata of entropy-coded tensors (model/pack.h): listed as one line */
static int ecq_tensor_key(const char *k) {
    if (strncmp(k, "petit.ecq.", 10)) return 0;
    return strchr(k + 10, '.') != NULL; /* petit.ecq.NAME.field, not petit.ecq.lambda */
}

static void print_text(const char *path, const gguf_file *g) {
    int n_kv = gguf_n_kv(g), n_t = gguf_n_tensors(g), n_ecq = 0;
    printf("%s: GGUF v%u, %zu bytes, alignment %u, %d keys, %d tensors\n", path, gguf_version(g),
           gguf_size(g), gguf_alignment(g), n_kv, n_t);

    char name[256], type[32], value[256], shape[128];
    int wk = 3, wt = 4, wn = 6, ws = 5;
    for (int i = 0; i < n_kv; i++) {
        const char *k = gguf_key(g, i);
        escape_text(k, strlen(k), name, sizeof name);
        type_text(g, i, type, sizeof type);
        if (columns(name) > wk) wk = columns(name);
        if (columns(type) > wt) wt = columns(type);
    }
    for (int i = 0; i < n_t; i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        escape_text(t->name, strlen(t->name), name, sizeof name);
        shape_text(t, shape, sizeof shape);
        if (columns(name) > wn) wn = columns(name);
        if (columns(shape) > ws) ws = columns(shape);
    }
    if (wk > 48) wk = 48;
    if (wn > 48) wn = 48;

    if (n_kv) {
        printf("\n");
        print_padded("key", wk + 2);
        print_padded("type", wt + 2);
        printf("value\n");
    }
    for (int i = 0; i < n_kv; i++) {
        const char *k = gguf_key(g, i);
        if (ecq_tensor_key(k)) {
            n_ecq++;
            continue;
        }
        escape_text(k, strlen(k), name, sizeof name);
        type_text(g, i, type, sizeof type);
        gguf_format_value(g, i, value, sizeof value);
        print_padded(name, wk + 2);
        print_padded(type, wt + 2);
        printf("%s\n", value);
    }

    if (n_ecq) {
        print_padded("petit.ecq.NAME.*", wk + 2);
        print_padded("", wt + 2);
        printf("(%d keys: the coded tensors' grids, rANS tables and checksums)\n", n_ecq);
    }

    uint64_t params = 0, bytes = 0;
    if (n_t) {
        printf("\n");
        print_padded("tensor", wn + 2);
        print_padded("type", 6);
        print_padded("shape", ws + 2);
        printf("%14s %8s%s\n", "bytes", "bits/w", n_ecq ? "  entropy" : "");
    }
    for (int i = 0; i < n_t; i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        escape_text(t->name, strlen(t->name), name, sizeof name);
        double nw;
        double h = pt_pack_is_coded(g, t) ? pt_pack_entropy(g, t, &nw) : -1;
        if (h >= 0) { /* coded: the matrix's shape, its streams plus row steps, its entropy */
            uint64_t rows, cols;
            char k[160];
            uint32_t r32 = 0, c32 = 0;
            snprintf(k, sizeof k, "petit.ecq.%s.rows", t->name);
            gguf_get_u32(g, k, &r32);
            snprintf(k, sizeof k, "petit.ecq.%s.cols", t->name);
            gguf_get_u32(g, k, &c32);
            rows = r32, cols = c32;
            snprintf(shape, sizeof shape, "%" PRIu64 " \xc3\x97 %" PRIu64, cols, rows);
            uint64_t b = t->nbytes + 2 * rows;
            print_padded(name, wn + 2);
            print_padded("ECQ", 6);
            print_padded(shape, ws + 2);
            printf("%14" PRIu64 " %8.2f %8.3f\n", b, bits_per_weight(b, rows * cols), h);
            params += rows * cols;
            bytes += b;
            continue;
        }
        shape_text(t, shape, sizeof shape);
        print_padded(name, wn + 2);
        print_padded(gguf_type_name(t->type), 6);
        print_padded(shape, ws + 2);
        printf("%14zu %8.2f\n", t->nbytes, bits_per_weight(t->nbytes, t->n_elems));
        params += t->n_elems;
        bytes += t->nbytes;
    }
    printf("\ntotal: %d tensors, %" PRIu64 " parameters, %" PRIu64 " bytes, %.2f bits per weight\n",
           n_t, params, bytes, bits_per_weight(bytes, params));
}

/* ---- JSON output ------------------------------------------------------ */

/* a JSON string: valid UTF-8 as it is, invalid bytes as U+FFFD */
static void json_str(const char *s, size_t len) {
    putchar('"');
    for (size_t i = 0; i < len;) {
        const unsigned char *u = (const unsigned char *)s + i;
        int k = pt_utf8_len(u, len - i);
        if (k <= 0) {
            fputs("\\ufffd", stdout);
            i++;
        } else if (k > 1) {
            fwrite(u, 1, (size_t)k, stdout);
            i += (size_t)k;
        } else {
            if (*u == '"' || *u == '\\')
                printf("\\%c", *u);
            else if (*u == '\n')
                fputs("\\n", stdout);
            else if (*u == '\t')
                fputs("\\t", stdout);
            else if (*u < 0x20)
                printf("\\u%04x", *u);
            else
                putchar(*u);
            i++;
        }
    }
    putchar('"');
}

static void json_scalar(uint32_t type, const uint8_t *p) {
    char tmp[48];
    gguf_scalar_str(tmp, sizeof tmp, type, p, 1);
    fputs(tmp, stdout);
}

/* shortest digits that read back the same; JSON has no NaN or infinity */
static void json_double(double v) { json_scalar(GGUF_V_F64, (const uint8_t *)&v); }

static void json_value(const gguf_file *g, int i) {
    const char *key = gguf_key(g, i);
    uint32_t type = gguf_kv_type(g, i), et;
    const void *data;
    uint64_t n;
    if (gguf_kv_value(g, i, &et, &data, &n)) return;
    printf("{\"type\": \"%s\"", gguf_vtype_name(type));
    if (type == GGUF_V_STR) {
        fputs(", \"value\": ", stdout);
        json_str(data, (size_t)n);
    } else if (type != GGUF_V_ARR) {
        fputs(", \"value\": ", stdout);
        json_scalar(type, data);
    } else {
        printf(", \"elem_type\": \"%s\", \"n\": %" PRIu64, gguf_vtype_name(et), n);
        if (n <= 16) {
            fputs(", \"value\": [", stdout);
            for (uint64_t j = 0; j < n; j++) {
                if (j) fputs(", ", stdout);
                if (et == GGUF_V_STR) {
                    const char *s;
                    uint64_t len;
                    if (gguf_get_arr_str(g, key, j, &s, &len) == 0) json_str(s, (size_t)len);
                } else {
                    json_scalar(et, (const uint8_t *)data + j * gguf_vtype_size(et));
                }
            }
            putchar(']');
        }
    }
    putchar('}');
}

static void print_json(const char *path, const gguf_file *g) {
    int n_kv = gguf_n_kv(g), n_t = gguf_n_tensors(g);
    fputs("{\"file\": ", stdout);
    json_str(path, strlen(path));
    printf(", \"version\": %u, \"size\": %zu, \"alignment\": %u, \"data_offset\": %zu,\n",
           gguf_version(g), gguf_size(g), gguf_alignment(g), gguf_data_offset(g));
    fputs(" \"metadata\": {", stdout);
    for (int i = 0; i < n_kv; i++) {
        const char *k = gguf_key(g, i);
        fputs(i ? ",\n  " : "\n  ", stdout);
        json_str(k, strlen(k));
        fputs(": ", stdout);
        json_value(g, i);
    }
    fputs(n_kv ? "\n },\n" : "},\n", stdout);
    fputs(" \"tensors\": [", stdout);
    uint64_t params = 0, bytes = 0;
    for (int i = 0; i < n_t; i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", stdout);
        json_str(t->name, strlen(t->name));
        printf(", \"type\": \"%s\", \"shape\": [", gguf_type_name(t->type));
        for (uint32_t d = 0; d < t->n_dims; d++) printf(d ? ", %" PRIu64 : "%" PRIu64, t->ne[d]);
        printf("], \"elements\": %" PRIu64 ", \"bytes\": %zu, \"bits_per_weight\": ", t->n_elems,
               t->nbytes);
        json_double(bits_per_weight(t->nbytes, t->n_elems));
        putchar('}');
        params += t->n_elems;
        bytes += t->nbytes;
    }
    fputs(n_t ? "\n ],\n" : "],\n", stdout);
    printf(" \"total\": {\"tensors\": %d, \"parameters\": %" PRIu64 ", \"bytes\": %" PRIu64
           ", \"bits_per_weight\": ",
           n_t, params, bytes);
    json_double(bits_per_weight(bytes, params));
    fputs("}}\n", stdout);
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--")) {
            if (i + 1 < argc && !path) path = argv[++i];
            if (i + 1 < argc) return cli_usage("info", "one FILE at a time");
        } else if (a[0] == '-' && a[1]) {
            return cli_unknown("info", a);
        } else if (cli_split_flag(a)) {
            return cli_unknown("info", a);
        } else if (path) {
            return cli_usage("info", "one FILE at a time");
        } else {
            path = a;
        }
    }
    if (!path) return cli_usage("info", "missing FILE");
    gguf_file *g = gguf_open_unchecked(path); /* a damaged file is described, then refused */
    if (!g) return cli_fail("info", "%s", pt_error());
    if (json)
        print_json(path, g);
    else
        print_text(path, g);
    int meta = gguf_meta_verify(g);
    char meta_err[512];
    snprintf(meta_err, sizeof meta_err, "%s", pt_error());
    int damaged = meta >= 0 && gguf_verify(g) != 0;
    if (!json) {
        printf("metadata checksum: %s\n", meta < 0 ? "MISMATCH" : meta ? "ok" : "absent (older file)");
        printf("data checksum: %s\n", meta < 0 ? "not checked" : damaged ? "MISMATCH"
                                     : gguf_find_key(g, GGUF_CHECKSUM_KEY) >= 0 ? "ok" : "none (an older file)");
    }
    gguf_close(g);
    if (fflush(stdout) != 0 || ferror(stdout)) return cli_fail("info", "cannot write the output");
    if (meta < 0) return cli_fail("info", "%s: %s", path, meta_err);
    if (damaged) return cli_fail("info", "%s: the file is damaged: its tensor data does not match its checksum",
                                 path);
    return 0;
}
