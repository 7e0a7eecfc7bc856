/* test_gguf: the GGUF container, read and written.
 *
 *  - round trip of every value type, arrays (numeric, string, empty), tensors
 *    of every type petit uses, data alignment, a key set twice, read back both
 *    by mmap and from memory;
 *  - the file written by llama.cpp's gguf Python package
 *    (tests/data/gguf_py.gguf, made by tools/gguf_check.py) read value by value;
 *  - hostile input: every truncation of a small valid file, every bit flip of
 *    its header, random corruption, and hand-made headers with huge counts,
 *    lengths and shapes (rejected, and outside ASan under an address-space
 *    limit so that a huge allocation would abort);
 *  - writer errors: no file is left behind.
 *
 * `test_gguf --write FILE` only writes the round-trip file, for
 * `tools/gguf_check.py check-petit FILE`.
 */
#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "gguf/gguf.h"
#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static char tmpdir[512];

static void tmp_path(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int count_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static int error_mentions(const char *s) { return strstr(pt_error(), s) != NULL; }

/* ---- the round-trip file (tools/gguf_check.py check-petit mirrors it) ---- */

static float f32data[15];   /* ne [5, 3] */
static int32_t i32data[12]; /* ne [2, 3, 1, 2] */
static uint8_t q8data[136]; /* Q8_0 ne [64, 2]: 4 blocks of 34 bytes */
static uint8_t q4data[54];  /* Q4_0 ne [32, 3]: 3 blocks of 18 bytes */
static const uint16_t f16data[7] = {0x0000, 0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600};

static const char *arr_strs[] = {"a", "", "\xc3\xa9"};
static const int32_t arr_i32[] = {1, -2, 3};
static const float arr_f32[] = {0.5f, -0.25f};

static gguf_writer *make_roundtrip(void) {
    for (int i = 0; i < 15; i++) f32data[i] = (float)(i - 7) / 4;
    for (int i = 0; i < 12; i++) i32data[i] = i * -3;
    for (int i = 0; i < 136; i++) q8data[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 54; i++) q4data[i] = (uint8_t)(i * 5);

    gguf_writer *w = gguf_writer_init();
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    int64_t i64 = -9000000000000000000ll;
    gguf_set_val(w, "t.u8", GGUF_V_U8, &u8);
    gguf_set_val(w, "t.i8", GGUF_V_I8, &i8);
    gguf_set_val(w, "t.u16", GGUF_V_U16, &u16);
    gguf_set_val(w, "t.i16", GGUF_V_I16, &i16);
    gguf_set_u32(w, "t.u32", 4000000000u);
    gguf_set_i32(w, "t.i32", -2000000000);
    gguf_set_f32(w, "t.f32", 0.1f);
    gguf_set_bool(w, "t.bool", 7); /* stored as 1 */
    gguf_set_str(w, "t.str", "petit \xc3\xa9t\xc3\xa9");
    gguf_set_u64(w, "t.u64", 18000000000000000000ull);
    gguf_set_val(w, "t.i64", GGUF_V_I64, &i64);
    gguf_set_f64(w, "t.f64", 0.1);
    gguf_set_u32(w, "t.twice", 1);
    gguf_set_arr(w, "t.arr_i32", GGUF_V_I32, arr_i32, 3);
    gguf_set_arr(w, "t.arr_f32", GGUF_V_F32, arr_f32, 2);
    gguf_set_arr_str(w, "t.arr_str", arr_strs, 3);
    gguf_set_arr(w, "t.arr_empty", GGUF_V_U8, NULL, 0);
    gguf_set_arr_str(w, "t.arr_str_empty", NULL, 0);
    gguf_set_strn(w, "t.strn", "a\0b", 3);
    gguf_set_str(w, "t.twice", "second"); /* replaces, keeps its place */

    gguf_add_tensor(w, "a.f32", GGUF_TYPE_F32, 2, (uint64_t[]){5, 3}, f32data, sizeof f32data);
    gguf_add_tensor(w, "b.i32", GGUF_TYPE_I32, 4, (uint64_t[]){2, 3, 1, 2}, i32data,
                    sizeof i32data);
    gguf_add_tensor(w, "c.q8", GGUF_TYPE_Q8_0, 2, (uint64_t[]){64, 2}, q8data, sizeof q8data);
    gguf_add_tensor(w, "d.q4", GGUF_TYPE_Q4_0, 2, (uint64_t[]){32, 3}, q4data, sizeof q4data);
    gguf_add_tensor(w, "e.f16", GGUF_TYPE_F16, 1, (uint64_t[]){7}, f16data, sizeof f16data);
    return w;
}

static void check_format(const gguf_file *g, const char *key, const char *want) {
    char buf[256];
    gguf_format_value(g, gguf_find_key(g, key), buf, sizeof buf);
    CHECK(!strcmp(buf, want), "format %s: got '%s' want '%s'", key, buf, want);
}

/* base: the start of the file in memory, to check alignment relative to it */
static void check_roundtrip(const gguf_file *g, const uint8_t *base, const char *how) {
    CHECK(gguf_version(g) == 3, "%s: version %u", how, gguf_version(g));
    CHECK(gguf_alignment(g) == 32, "%s: alignment %u", how, gguf_alignment(g));
    CHECK(gguf_n_kv(g) == 21, "%s: %d keys (19 + the two checksums)", how, gguf_n_kv(g));
    CHECK(gguf_key(g, 12) && !strcmp(gguf_key(g, 12), "t.twice"), "%s: key 12 is %s", how,
          gguf_key(g, 12));
    CHECK(gguf_kv_type(g, 12) == GGUF_V_STR, "%s: t.twice replaced by a string", how);
    CHECK(gguf_key(g, 19) && !strcmp(gguf_key(g, 19), GGUF_CHECKSUM_KEY), "%s: the checksum is the last key", how);
    CHECK(gguf_key(g, 20) && !strcmp(gguf_key(g, 20), GGUF_META_CHECKSUM_KEY), "%s: then the metadata checksum", how);
    CHECK(gguf_key(g, 21) == NULL && gguf_key(g, -1) == NULL, "%s: key index out of range", how);

    uint8_t u8 = 0;
    int8_t i8 = 0;
    uint16_t u16 = 0;
    int16_t i16 = 0;
    uint32_t u32 = 0;
    int32_t i32 = 0;
    uint64_t u64 = 0;
    int64_t i64 = 0;
    float f32 = 0;
    double f64 = 0;
    int b = 0;
    CHECK(!gguf_get_val(g, "t.u8", GGUF_V_U8, &u8) && u8 == 200, "%s: u8 %u", how, u8);
    CHECK(!gguf_get_val(g, "t.i8", GGUF_V_I8, &i8) && i8 == -100, "%s: i8 %d", how, i8);
    CHECK(!gguf_get_val(g, "t.u16", GGUF_V_U16, &u16) && u16 == 60000, "%s: u16 %u", how, u16);
    CHECK(!gguf_get_val(g, "t.i16", GGUF_V_I16, &i16) && i16 == -30000, "%s: i16 %d", how, i16);
    CHECK(!gguf_get_u32(g, "t.u32", &u32) && u32 == 4000000000u, "%s: u32 %u", how, u32);
    CHECK(!gguf_get_i32(g, "t.i32", &i32) && i32 == -2000000000, "%s: i32 %d", how, i32);
    CHECK(!gguf_get_f32(g, "t.f32", &f32) && f32 == 0.1f, "%s: f32 %g", how, f32);
    CHECK(!gguf_get_bool(g, "t.bool", &b) && b == 1, "%s: bool %d", how, b);
    CHECK(!gguf_get_val(g, "t.bool", GGUF_V_BOOL, &u8) && u8 == 1, "%s: bool stored as %u", how,
          u8);
    CHECK(!gguf_get_u64(g, "t.u64", &u64) && u64 == 18000000000000000000ull, "%s: u64", how);
    CHECK(!gguf_get_val(g, "t.i64", GGUF_V_I64, &i64) && i64 == -9000000000000000000ll, "%s: i64",
          how);
    CHECK(!gguf_get_f64(g, "t.f64", &f64) && f64 == 0.1, "%s: f64 %.17g", how, f64);

    const char *s = NULL;
    uint64_t len = 0;
    CHECK(!gguf_get_str(g, "t.str", &s, &len) && len == 11 &&
              !memcmp(s, "petit \xc3\xa9t\xc3\xa9", 11),
          "%s: str", how);
    CHECK(!gguf_get_str(g, "t.strn", &s, &len) && len == 3 && !memcmp(s, "a\0b", 3),
          "%s: str with a NUL inside", how);
    CHECK(!gguf_get_str(g, "t.twice", &s, &len) && len == 6 && !memcmp(s, "second", 6),
          "%s: replaced key", how);

    uint32_t et = 99;
    const void *data = NULL;
    uint64_t n = 99;
    CHECK(!gguf_get_arr(g, "t.arr_i32", &et, &data, &n) && et == GGUF_V_I32 && n == 3 &&
              !memcmp(data, arr_i32, sizeof arr_i32),
          "%s: i32 array", how);
    CHECK(!gguf_get_arr(g, "t.arr_f32", &et, &data, &n) && et == GGUF_V_F32 && n == 2 &&
              !memcmp(data, arr_f32, sizeof arr_f32),
          "%s: f32 array", how);
    CHECK(!gguf_get_arr(g, "t.arr_empty", &et, &data, &n) && et == GGUF_V_U8 && n == 0,
          "%s: empty array", how);
    CHECK(!gguf_get_arr(g, "t.arr_str_empty", &et, &data, &n) && et == GGUF_V_STR && n == 0,
          "%s: empty string array", how);
    CHECK(!gguf_get_arr(g, "t.arr_str", &et, &data, &n) && et == GGUF_V_STR && n == 3,
          "%s: string array count", how);
    for (uint64_t i = 0; i < 3; i++) {
        CHECK(!gguf_get_arr_str(g, "t.arr_str", i, &s, &len) && len == strlen(arr_strs[i]) &&
                  !memcmp(s, arr_strs[i], len),
              "%s: string %d of the array", how, (int)i);
    }
    CHECK(gguf_get_arr_str(g, "t.arr_str", 3, &s, &len) == -1 && error_mentions("t.arr_str"),
          "%s: string index past the end: %s", how, pt_error());
    CHECK(gguf_get_arr_str(g, "t.arr_str_empty", 0, &s, &len) == -1, "%s: empty string array", how);
    CHECK(gguf_get_arr_str(g, "t.arr_i32", 0, &s, &len) == -1, "%s: not a string array", how);

    /* wrong type, missing key: -1 and an error naming the key */
    CHECK(gguf_get_i32(g, "t.u32", &i32) == -1 && error_mentions("t.u32"), "%s: type mismatch: %s",
          how, pt_error());
    CHECK(gguf_get_u32(g, "no.such.key", &u32) == -1 && error_mentions("no.such.key"),
          "%s: missing key: %s", how, pt_error());
    CHECK(gguf_get_str(g, "t.u8", &s, &len) == -1, "%s: str of a u8", how);
    CHECK(gguf_get_arr(g, "t.str", &et, &data, &n) == -1, "%s: arr of a str", how);
    CHECK(gguf_find_key(g, "no.such.key") == -1, "%s: find missing key", how);

    /* raw access by index */
    int iu16 = gguf_find_key(g, "t.u16");
    CHECK(iu16 == 2, "%s: t.u16 at %d", how, iu16);
    CHECK(!gguf_kv_value(g, iu16, &et, &data, &n) && et == GGUF_V_U16 && n == 1 &&
              !memcmp(data, &(uint16_t){60000}, 2),
          "%s: kv_value of a scalar", how);
    CHECK(gguf_kv_value(g, 21, &et, &data, &n) == -1, "%s: kv_value out of range", how);

    check_format(g, "t.u8", "200");
    check_format(g, "t.i64", "-9000000000000000000");
    check_format(g, "t.f32", "0.1");
    check_format(g, "t.f64", "0.1");
    check_format(g, "t.bool", "true");
    check_format(g, "t.str", "\"petit \xc3\xa9t\xc3\xa9\"");
    check_format(g, "t.strn", "\"a\\x00b\"");
    check_format(g, "t.arr_i32", "[1, -2, 3]");
    check_format(g, "t.arr_str", "[\"a\", \"\", \"\xc3\xa9\"]");
    check_format(g, "t.arr_empty", "[]");

    /* tensors */
    static const struct {
        const char *name;
        uint32_t type, n_dims;
        uint64_t ne[4];
        const void *data;
        size_t nbytes;
    } want[] = {
        {"a.f32", GGUF_TYPE_F32, 2, {5, 3, 1, 1}, f32data, sizeof f32data},
        {"b.i32", GGUF_TYPE_I32, 4, {2, 3, 1, 2}, i32data, sizeof i32data},
        {"c.q8", GGUF_TYPE_Q8_0, 2, {64, 2, 1, 1}, q8data, sizeof q8data},
        {"d.q4", GGUF_TYPE_Q4_0, 2, {32, 3, 1, 1}, q4data, sizeof q4data},
        {"e.f16", GGUF_TYPE_F16, 1, {7, 1, 1, 1}, f16data, sizeof f16data},
    };
    CHECK(gguf_n_tensors(g) == 5, "%s: %d tensors", how, gguf_n_tensors(g));
    CHECK(gguf_data_offset(g) % 32 == 0, "%s: data section at %zu", how, gguf_data_offset(g));
    for (int i = 0; i < 5 && i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        CHECK(!strcmp(t->name, want[i].name), "%s: tensor %d is %s", how, i, t->name);
        CHECK(t->type == want[i].type && t->n_dims == want[i].n_dims, "%s: %s type/dims", how,
              t->name);
        CHECK(!memcmp(t->ne, want[i].ne, sizeof t->ne), "%s: %s shape", how, t->name);
        CHECK(t->n_elems == want[i].ne[0] * want[i].ne[1] * want[i].ne[2] * want[i].ne[3],
              "%s: %s n_elems %llu", how, t->name, (unsigned long long)t->n_elems);
        CHECK(t->nbytes == want[i].nbytes && !memcmp(t->data, want[i].data, t->nbytes),
              "%s: %s data", how, t->name);
        size_t at = (size_t)((const uint8_t *)t->data - base);
        CHECK(at % 32 == 0 && (uintptr_t)t->data % 16 == 0, "%s: %s at byte %zu", how, t->name, at);
        CHECK(gguf_find_tensor(g, want[i].name) == t, "%s: find %s", how, want[i].name);
    }
    CHECK(gguf_find_tensor(g, "nope") == NULL && gguf_find_tensor(g, "a.f3") == NULL,
          "%s: absent tensor", how);
    CHECK(gguf_tensor_at(g, 5) == NULL && gguf_tensor_at(g, -1) == NULL, "%s: tensor index", how);
}

static void test_type_sizes(void) {
    CHECK(gguf_type_size(GGUF_TYPE_F32, 3) == 12, "F32");
    CHECK(gguf_type_size(GGUF_TYPE_F16, 3) == 6, "F16");
    CHECK(gguf_type_size(GGUF_TYPE_Q8_0, 64) == 68, "Q8_0");
    CHECK(gguf_type_size(GGUF_TYPE_Q4_0, 96) == 54, "Q4_0");
    CHECK(gguf_type_size(GGUF_TYPE_Q8_0, 33) == 0, "Q8_0 of a partial block");
    CHECK(gguf_type_size(GGUF_TYPE_I8, 5) == 5 && gguf_type_size(GGUF_TYPE_I16, 5) == 10 &&
              gguf_type_size(GGUF_TYPE_I32, 5) == 20 && gguf_type_size(GGUF_TYPE_F64, 5) == 40,
          "integer types and F64");
    CHECK(gguf_type_size(3, 32) == 0 && gguf_type_size(1000, 1) == 0, "unknown type");
    CHECK(gguf_type_size(GGUF_TYPE_F64, UINT64_MAX / 4) == 0, "overflow");
    CHECK(!strcmp(gguf_type_name(GGUF_TYPE_Q4_0), "Q4_0") && !strcmp(gguf_type_name(77), "?"),
          "type names");
    CHECK(gguf_vtype_size(GGUF_V_STR) == 0 && gguf_vtype_size(GGUF_V_U16) == 2 &&
              gguf_vtype_size(GGUF_V_F64) == 8 && gguf_vtype_size(GGUF_V_BOOL) == 1,
          "value sizes");
}

static void test_roundtrip(void) {
    char path[600];
    tmp_path(path, sizeof path, "rt.gguf");
    gguf_writer *w = make_roundtrip();
    CHECK(gguf_write(w, path) == 0, "write: %s", pt_error());
    gguf_writer_free(w);
    CHECK(count_dir_entries(tmpdir) == 1, "only the file is left (no temp file)");

    gguf_file *g = gguf_open(path);
    CHECK(g != NULL, "open: %s", pt_error());
    if (g) {
        check_roundtrip(g, (const uint8_t *)gguf_tensor_at(g, 0)->data - gguf_data_offset(g),
                        "mmap");
        CHECK((uintptr_t)gguf_tensor_at(g, 0)->data % 32 == 0, "mmap: absolute alignment");
        CHECK(gguf_size(g) % 32 == 0, "file size %zu", gguf_size(g));
        gguf_close(g);
    }

    size_t n = 0;
    char *buf = pt_read_file(path, &n);
    CHECK(buf != NULL, "read back");
    if (!buf) return;
    g = gguf_open_mem(buf, n);
    CHECK(g != NULL, "open_mem: %s", pt_error());
    if (g) {
        check_roundtrip(g, (const uint8_t *)buf, "mem");
        gguf_close(g);
    }
    free(buf);
    remove(path);
}

static void test_alignment_key(void) {
    char path[600];
    tmp_path(path, sizeof path, "al.gguf");
    float x[3] = {1, 2, 3};
    gguf_writer *w = gguf_writer_init();
    gguf_set_u32(w, "general.alignment", 64);
    gguf_add_tensor(w, "x", GGUF_TYPE_F32, 1, (uint64_t[]){3}, x, sizeof x);
    gguf_add_tensor(w, "y", GGUF_TYPE_F32, 1, (uint64_t[]){3}, x, sizeof x);
    CHECK(gguf_write(w, path) == 0, "write with alignment 64: %s", pt_error());
    gguf_writer_free(w);
    gguf_file *g = gguf_open(path);
    CHECK(g && gguf_alignment(g) == 64, "alignment 64 read back");
    if (g) {
        CHECK(gguf_data_offset(g) % 64 == 0, "data section aligned to 64");
        for (int i = 0; i < 2; i++) {
            const gguf_tensor *t = gguf_tensor_at(g, i);
            CHECK((uintptr_t)t->data % 64 == 0 && !memcmp(t->data, x, sizeof x), "tensor %d", i);
        }
        gguf_close(g);
    }
    remove(path);

    w = gguf_writer_init();
    gguf_set_u32(w, "general.alignment", 48);
    CHECK(gguf_write(w, path) == -1 && !file_exists(path), "alignment 48 refused");
    gguf_writer_free(w);
}

/* long values are summarized; a long string is cut at a character boundary */
static void test_format_long(void) {
    uint8_t bytes[1000] = {0};
    const char *strs[5] = {"a", "b", "c", "d", "e"};
    char s[200];
    for (int i = 0; i < 199; i++) s[i] = (char)(i % 2 ? 0xa9 : 0xc3);
    s[199] = 0; /* "ééé...": 2-byte characters, one stray byte at the end */
    gguf_writer *w = gguf_writer_init();
    gguf_set_arr(w, "u8s", GGUF_V_U8, bytes, 1000);
    gguf_set_arr_str(w, "strs", strs, 5);
    gguf_set_str(w, "long", s);
    gguf_set_str(w, "ctl", "\x1b[2J\x7f\n");
    gguf_set_f64(w, "pi", 3.141592653589793);
    gguf_set_f32(w, "third", 1.0f / 3);
    char path[600];
    tmp_path(path, sizeof path, "fmt.gguf");
    CHECK(gguf_write(w, path) == 0, "write: %s", pt_error());
    gguf_writer_free(w);
    gguf_file *g = gguf_open(path);
    CHECK(g != NULL, "open: %s", pt_error());
    if (g) {
        check_format(g, "u8s", "[u8 \xc3\x97 1000]");
        check_format(g, "strs", "[str \xc3\x97 5]");
        check_format(g, "pi", "3.141592653589793"); /* shortest that reads back */
        check_format(g, "third", "0.33333334");
        check_format(g, "ctl", "\"\\x1b[2J\\x7f\\n\"");
        char buf[256];
        gguf_format_value(g, gguf_find_key(g, "long"), buf, sizeof buf);
        /* 30 characters of 2 bytes fit in 60 bytes, then "..." */
        CHECK(strlen(buf) == 1 + 60 + 3 + 1 && !strcmp(buf + 61, "...\"") &&
                  pt_utf8_valid(buf, strlen(buf)),
              "long string: %s", buf);
        char tiny[8];
        gguf_format_value(g, gguf_find_key(g, "u8s"), tiny, sizeof tiny);
        CHECK(strlen(tiny) < sizeof tiny, "a small buffer is never overrun");
        gguf_close(g);
    }
    remove(path);
}

/* Each writer mistake makes gguf_write fail with a message and leaves no file. */
static void test_writer_errors(void) {
    char path[600];
    tmp_path(path, sizeof path, "bad.gguf");
    float x[64] = {0};
    int before = count_dir_entries(tmpdir);
    static const char *long_name =
        "a_tensor_name_that_is_far_too_long_for_ggml_which_keeps_64_bytes_x";
    for (int k = 0; k < 10; k++) {
        gguf_writer *w = gguf_writer_init();
        gguf_set_str(w, "general.architecture", "petit");
        const char *expect = "";
        switch (k) {
        case 0:
            gguf_add_tensor(w, "x", GGUF_TYPE_F32, 1, (uint64_t[]){3}, x, 8), expect = "'x'";
            break;
        case 1:
            gguf_add_tensor(w, "x", 3, 1, (uint64_t[]){3}, x, 12), expect = "unknown type";
            break;
        case 2:
            gguf_add_tensor(w, "x", GGUF_TYPE_F32, 5, (uint64_t[]){1, 1, 1, 1, 1}, x, 4),
                expect = "dimensions";
            break;
        case 3:
            gguf_add_tensor(w, "x", GGUF_TYPE_F32, 2, (uint64_t[]){3, 0}, x, 0), expect = "shape";
            break;
        case 4:
            gguf_add_tensor(w, "x", GGUF_TYPE_Q8_0, 1, (uint64_t[]){16}, x, 17), expect = "block";
            break;
        case 5:
            gguf_add_tensor(w, "x", GGUF_TYPE_F32, 1, (uint64_t[]){3}, x, 12);
            gguf_add_tensor(w, "x", GGUF_TYPE_F32, 1, (uint64_t[]){3}, x, 12);
            expect = "duplicate";
            break;
        case 6:
            gguf_add_tensor(w, long_name, GGUF_TYPE_F32, 1, (uint64_t[]){3}, x, 12),
                expect = "longer";
            break;
        case 7: gguf_set_arr(w, "k", GGUF_V_STR, x, 1), expect = "'k'"; break;
        case 8: gguf_set_str(w, "k", NULL), expect = "'k'"; break;
        case 9: gguf_set_val(w, "k", GGUF_V_ARR, x), expect = "'k'"; break;
        }
        CHECK(gguf_write(w, path) == -1, "writer mistake %d accepted", k);
        CHECK(error_mentions(expect) && error_mentions("bad.gguf"), "mistake %d: '%s' lacks '%s'",
              k, pt_error(), expect);
        gguf_writer_free(w);
    }
    CHECK(count_dir_entries(tmpdir) == before, "no files left behind");

    /* a directory that does not exist */
    char nodir[600], nofile[700];
    tmp_path(nodir, sizeof nodir, "no_such_dir");
    snprintf(nofile, sizeof nofile, "%s/x.gguf", nodir);
    gguf_writer *w = gguf_writer_init();
    gguf_set_u32(w, "k", 1);
    gguf_add_tensor(w, "x", GGUF_TYPE_F32, 1, (uint64_t[]){3}, x, 12);
    pt_clear_error();
    CHECK(gguf_write(w, nofile) == -1, "write into a missing directory");
    CHECK(error_mentions("no_such_dir"), "error names the path: %s", pt_error());
    CHECK(!file_exists(nofile) && !file_exists(nodir), "nothing created");
    CHECK(count_dir_entries(tmpdir) == before, "no files left behind");
    /* the writer is still usable */
    CHECK(gguf_write(w, path) == 0 && file_exists(path), "the same writer then writes: %s",
          pt_error());
    gguf_writer_free(w);
    remove(path);

    gguf_file *g = gguf_open(nofile);
    CHECK(g == NULL && error_mentions("x.gguf"), "open a missing file: %s", pt_error());
    g = gguf_open(tmpdir);
    CHECK(g == NULL, "open a directory");
}

/* ---- the file written by gguf-py ------------------------------------------ */

static void test_python_fixture(void) {
    const char *path = "tests/data/gguf_py.gguf";
    gguf_file *g = gguf_open(path);
    CHECK(g != NULL, "open %s: %s", path, pt_error());
    if (!g) return;
    CHECK(gguf_version(g) == 3 && gguf_n_kv(g) == 13 && gguf_n_tensors(g) == 2,
          "fixture: v%u, %d keys, %d tensors", gguf_version(g), gguf_n_kv(g), gguf_n_tensors(g));
    const char *s;
    uint64_t len;
    uint32_t u32 = 0;
    int32_t i32 = 0;
    uint64_t u64 = 0;
    float f32 = 0;
    double f64 = 0;
    int b = 0;
    int8_t i8 = 0;
    uint16_t u16 = 0;
    int64_t i64 = 0;
    CHECK(!gguf_get_str(g, "general.architecture", &s, &len) && len == 5 && !memcmp(s, "petit", 5),
          "architecture");
    CHECK(!gguf_get_str(g, "general.name", &s, &len) && len == 15 &&
              !memcmp(s, "gguf-py fixture", 15),
          "name");
    CHECK(!gguf_get_u32(g, "petit.d_model", &u32) && u32 == 64, "d_model %u", u32);
    CHECK(!gguf_get_i32(g, "petit.offset", &i32) && i32 == -7, "offset %d", i32);
    CHECK(!gguf_get_u64(g, "petit.step", &u64) && u64 == 1234567890123ull, "step");
    CHECK(!gguf_get_f32(g, "petit.eps", &f32) && f32 == 1e-5f, "eps %g", f32);
    CHECK(!gguf_get_f64(g, "petit.ratio", &f64) && f64 == 0.1, "ratio %.17g", f64);
    CHECK(!gguf_get_bool(g, "petit.flag", &b) && b == 1, "flag");
    CHECK(!gguf_get_val(g, "petit.small", GGUF_V_I8, &i8) && i8 == -5, "small %d", i8);
    CHECK(!gguf_get_val(g, "petit.wide", GGUF_V_U16, &u16) && u16 == 65535, "wide %u", u16);
    CHECK(!gguf_get_val(g, "petit.big", GGUF_V_I64, &i64) && i64 == -9000000000000000ll, "big");

    static const char *tokens[] = {"<unk>", "\xe2\x96\x81le", "\xc3\xa9t\xc3\xa9", "x"};
    uint32_t et;
    const void *data;
    uint64_t n;
    CHECK(!gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &data, &n) && et == GGUF_V_STR && n == 4,
          "tokens");
    for (uint64_t i = 0; i < 4; i++)
        CHECK(!gguf_get_arr_str(g, "tokenizer.ggml.tokens", i, &s, &len) &&
                  len == strlen(tokens[i]) && !memcmp(s, tokens[i], len),
              "token %d", (int)i);
    static const float scores[] = {0.5f, -1.25f, 3.0f};
    CHECK(!gguf_get_arr(g, "petit.scores", &et, &data, &n) && et == GGUF_V_F32 && n == 3 &&
              !memcmp(data, scores, sizeof scores),
          "scores");

    const gguf_tensor *t = gguf_find_tensor(g, "w");
    static const float wv[] = {-1, -0.5f, 0, 0.5f, 1, 1.5f};
    CHECK(t && t->type == GGUF_TYPE_F32 && t->n_dims == 2 && t->ne[0] == 3 && t->ne[1] == 2 &&
              t->n_elems == 6 && t->nbytes == 24 && !memcmp(t->data, wv, sizeof wv),
          "tensor w");
    t = gguf_find_tensor(g, "ids");
    static const int32_t iv[] = {1, -2, 3, -4, 5};
    CHECK(t && t->type == GGUF_TYPE_I32 && t->n_dims == 1 && t->ne[0] == 5 && t->nbytes == 20 &&
              !memcmp(t->data, iv, sizeof iv),
          "tensor ids");
    check_format(g, "tokenizer.ggml.tokens",
                 "[\"<unk>\", \"\xe2\x96\x81le\", \"\xc3\xa9t\xc3\xa9\", \"x\"]");
    check_format(g, "petit.eps", "1e-05");
    gguf_close(g);
}

/* ---- hostile input -------------------------------------------------------- */

/* Read everything a caller could read; under ASan any stray access shows. */
static uint64_t touch_all(const gguf_file *g, const uint8_t *buf, size_t n) {
    uint64_t sum = 0;
    char text[256];
    for (int i = 0; i < gguf_n_kv(g); i++) {
        const char *key = gguf_key(g, i);
        sum += strlen(key);
        gguf_format_value(g, i, text, sizeof text);
        sum += strlen(text);
        uint32_t et;
        const void *data;
        uint64_t cnt;
        if (gguf_kv_value(g, i, &et, &data, &cnt)) continue;
        if (gguf_kv_type(g, i) == GGUF_V_ARR && et == GGUF_V_STR) {
            for (uint64_t j = 0; j < cnt; j++) {
                const char *s;
                uint64_t len;
                if (gguf_get_arr_str(g, key, j, &s, &len)) break;
                for (uint64_t k = 0; k < len; k++) sum += (unsigned char)s[k];
            }
        } else {
            uint64_t bytes = gguf_kv_type(g, i) == GGUF_V_STR ? cnt : cnt * gguf_vtype_size(et);
            for (uint64_t k = 0; k < bytes; k++) sum += ((const uint8_t *)data)[k];
        }
    }
    for (int i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        const uint8_t *p = t->data;
        if (p < buf || p + t->nbytes > buf + n) return UINT64_MAX; /* outside the buffer */
        for (size_t k = 0; k < t->nbytes; k++) sum += p[k];
        sum += strlen(t->name);
    }
    return sum;
}

/* open from an exact-size heap copy, so that ASan sees any read past the end */
static gguf_file *open_copy(const uint8_t *src, size_t n, uint8_t **copy) {
    *copy = pt_malloc(n ? n : 1);
    memcpy(*copy, src, n);
    return gguf_open_mem(*copy, n);
}

/* gguf_copy_kv: every entry of the Python-written fixture (strings, arrays
 * of strings and numbers, every scalar type it has) copied into a new file
 * reads back with the same type and the same bytes */
static void test_copy_kv(void) {
    gguf_file *g = gguf_open("tests/data/gguf_py.gguf");
    CHECK(g != NULL, "open fixture: %s", pt_error());
    if (!g) return;
    gguf_writer *w = gguf_writer_init();
    for (int i = 0; i < gguf_n_kv(g); i++) gguf_copy_kv(w, g, i);
    char path[600];
    snprintf(path, sizeof path, "%s/copy.gguf", tmpdir);
    CHECK(gguf_write(w, path) == 0, "write copy: %s", pt_error());
    gguf_writer_free(w);
    gguf_file *c = gguf_open(path);
    CHECK(c && gguf_n_kv(c) == gguf_n_kv(g) + 2, "copy has %d keys (want the %d + the two checksums)",
          c ? gguf_n_kv(c) : -1, gguf_n_kv(g));
    int same = 1;
    for (int i = 0; c && i < gguf_n_kv(g); i++) {
        int j = gguf_find_key(c, gguf_key(g, i));
        uint32_t t1, t2;
        const void *d1, *d2;
        uint64_t n1, n2;
        if (j < 0 || gguf_kv_type(c, j) != gguf_kv_type(g, i)) { same = 0; continue; }
        gguf_kv_value(g, i, &t1, &d1, &n1);
        gguf_kv_value(c, j, &t2, &d2, &n2);
        char a[256], b[256];
        gguf_format_value(g, i, a, sizeof a);
        gguf_format_value(c, j, b, sizeof b);
        same &= t1 == t2 && n1 == n2 && !strcmp(a, b);
        if (t1 != GGUF_V_STR && gguf_vtype_size(t1)) same &= !memcmp(d1, d2, (size_t)n1 * gguf_vtype_size(t1));
        if (t1 == GGUF_V_STR && gguf_kv_type(g, i) == GGUF_V_ARR)
            for (uint64_t k = 0; k < n1; k++) {
                const char *s1, *s2;
                uint64_t l1, l2;
                gguf_get_arr_str(g, gguf_key(g, i), k, &s1, &l1);
                gguf_get_arr_str(c, gguf_key(g, i), k, &s2, &l2);
                same &= l1 == l2 && !memcmp(s1, s2, l1);
            }
    }
    CHECK(same, "gguf_copy_kv: a copied entry differs");
    if (c) gguf_close(c);
    gguf_close(g);
    unlink(path);
}

static void test_truncation_and_flips(void) {
    /* small valid file: the last tensor ends on a 32-byte boundary, so every
     * proper prefix is invalid */
    char path[600];
    tmp_path(path, sizeof path, "small.gguf");
    float a[4] = {1, 2, 3, 4}, c[8] = {5, 6, 7, 8, 9, 10, 11, 12};
    const char *strs[] = {"x", "yz"};
    gguf_writer *w = gguf_writer_init();
    gguf_set_str(w, "general.architecture", "petit");
    gguf_set_u32(w, "k.n", 7);
    gguf_set_arr_str(w, "k.s", strs, 2);
    gguf_set_arr(w, "k.f", GGUF_V_F32, a, 2);
    gguf_add_tensor(w, "a", GGUF_TYPE_F32, 2, (uint64_t[]){2, 2}, a, sizeof a);
    gguf_add_tensor(w, "c", GGUF_TYPE_F32, 1, (uint64_t[]){8}, c, sizeof c);
    CHECK(gguf_write(w, path) == 0, "write small file: %s", pt_error());
    gguf_writer_free(w);
    size_t n = 0;
    uint8_t *file = (uint8_t *)pt_read_file(path, &n);
    remove(path);
    CHECK(file != NULL, "read small file");
    if (!file) return;
    uint8_t *copy;
    gguf_file *g = open_copy(file, n, &copy);
    CHECK(g != NULL, "small file opens: %s", pt_error());
    size_t header = g ? gguf_data_offset(g) : 0;
    CHECK(g && touch_all(g, copy, n) != UINT64_MAX, "small file: tensors inside");
    gguf_close(g);
    free(copy);

    int accepted = 0, silent = 0;
    for (size_t len = 0; len < n; len++) {
        pt_clear_error();
        g = open_copy(file, len, &copy);
        if (g)
            accepted++, gguf_close(g);
        else if (!strcmp(pt_error(), "unknown error"))
            silent++;
        free(copy);
    }
    CHECK(accepted == 0, "%d truncations of %zu bytes accepted", accepted, n);
    CHECK(silent == 0, "%d truncations rejected without a message", silent);

    /* every bit of the header region: never crash, never point outside; the
     * metadata checksum catches every flip of the metadata and tensor infos */
    int ok = 0, bad_ptr = 0, magic_ok = 0, in_meta = 0;
    g = gguf_open_mem(file, n);
    size_t header_end = g ? gguf_header_end(g) : 0, meta_name = 0;
    CHECK(g && gguf_meta_verify(g) == 1, "small file: metadata checksum present and right");
    if (g) {
        uint32_t et;
        const void *v;
        uint64_t cnt;
        gguf_kv_value(g, gguf_find_key(g, GGUF_META_CHECKSUM_KEY), &et, &v, &cnt);
        meta_name = (size_t)((const uint8_t *)v - file) - 4 - strlen(GGUF_META_CHECKSUM_KEY);
        gguf_close(g);
    }
    for (size_t bit = 0; bit < header * 8; bit++) {
        uint8_t *m = pt_malloc(n);
        memcpy(m, file, n);
        m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        g = gguf_open_mem(m, n);
        if (g) {
            ok++;
            if (touch_all(g, m, n) == UINT64_MAX) bad_ptr++;
            if (bit < 32) magic_ok++;
            /* accepted: only a flip of the padding, or of the checksum's key
             * name (the file then reads as one without it, all else intact) */
            size_t at = bit / 8;
            if (at < header_end && !(at >= meta_name && at < meta_name + strlen(GGUF_META_CHECKSUM_KEY)))
                in_meta++;
            gguf_close(g);
        }
        free(m);
    }
    printf("bit flips: %d of %zu accepted\n", ok, header * 8);
    CHECK(bad_ptr == 0, "%d flips gave tensor data outside the file", bad_ptr);
    CHECK(magic_ok == 0, "%d flips of the magic accepted", magic_ok);
    CHECK(ok == (int)(header - header_end) * 8 + (int)strlen(GGUF_META_CHECKSUM_KEY) * 8,
          "metadata checksum: %d flips accepted, want only the %zu of the padding and the %zu of "
          "the checksum's own key name", ok, (header - header_end) * 8, strlen(GGUF_META_CHECKSUM_KEY) * 8);
    CHECK(in_meta == 0, "%d flips of the metadata or tensor infos accepted", in_meta);

    /* random corruption: several bytes at once, random lengths */
    pt_rng r = {12345};
    bad_ptr = 0;
    for (int it = 0; it < 20000; it++) {
        size_t len = pt_rng_next(&r) % 4 ? n : pt_rng_next(&r) % (n + 1);
        uint8_t *m = pt_malloc(len ? len : 1);
        memcpy(m, file, len);
        int flips = 1 + (int)(pt_rng_next(&r) % 6);
        for (int f = 0; f < flips && len; f++) {
            size_t at = pt_rng_next(&r) % (header < len ? header : len);
            uint64_t v = pt_rng_next(&r);
            m[at] = (v & 3) == 0 ? 0xff : (v & 3) == 1 ? 0 : (uint8_t)(v >> 8);
        }
        g = gguf_open_mem(m, len);
        if (g) {
            if (touch_all(g, m, len) == UINT64_MAX) bad_ptr++;
            gguf_close(g);
        }
        free(m);
    }
    CHECK(bad_ptr == 0, "random corruption: %d files with tensor data outside", bad_ptr);
    free(file);
}

/* a hand-made header */
typedef struct {
    uint8_t b[1024];
    size_t n;
} hb;

static void hb_raw(hb *h, const void *p, size_t k) {
    PT_ASSERT(h->n + k <= sizeof h->b);
    memcpy(h->b + h->n, p, k);
    h->n += k;
}
static void hb_u32(hb *h, uint32_t v) { hb_raw(h, &v, 4); }
static void hb_u64(hb *h, uint64_t v) { hb_raw(h, &v, 8); }
static void hb_str(hb *h, const char *s) {
    hb_u64(h, strlen(s));
    hb_raw(h, s, strlen(s));
}
static hb hb_start(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    hb h = {.n = 0};
    hb_raw(&h, "GGUF", 4);
    hb_u32(&h, version);
    hb_u64(&h, n_tensors);
    hb_u64(&h, n_kv);
    return h;
}
static void hb_pad(hb *h, size_t to) {
    while (h->n % to) h->b[h->n++] = 0;
}
/* a tensor info: name, dims, type, offset */
static void hb_tensor(hb *h, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                      uint64_t offset) {
    hb_str(h, name);
    hb_u32(h, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) hb_u64(h, ne[d]);
    hb_u32(h, type);
    hb_u64(h, offset);
}
/* room for tensor data so that only the field under test is wrong */
static void hb_data(hb *h, size_t bytes) {
    hb_pad(h, 32);
    for (size_t i = 0; i < bytes; i++) h->b[h->n++] = (uint8_t)i;
}

static void expect_reject(const hb *h, const char *what, const char *msg) {
    uint8_t *copy;
    pt_clear_error();
    gguf_file *g = open_copy(h->b, h->n, &copy);
    CHECK(g == NULL, "%s: accepted", what);
    if (g)
        gguf_close(g);
    else
        CHECK(error_mentions(msg), "%s: error '%s' lacks '%s'", what, pt_error(), msg);
    free(copy);
}

static void expect_accept(const hb *h, const char *what) {
    uint8_t *copy;
    gguf_file *g = open_copy(h->b, h->n, &copy);
    CHECK(g != NULL, "%s: rejected: %s", what, pt_error());
    gguf_close(g);
    free(copy);
}

/* clang-format off: each header is built in one chained statement */
static void test_hostile_headers(void) {
    hb h;
    h = hb_start(3, 0, 0);
    expect_accept(&h, "empty file with a header");
    expect_reject(&(hb){.n = 0}, "zero bytes", "too short");
    h = hb_start(3, 0, 0), memcpy(h.b, "GGUG", 4);
    expect_reject(&h, "bad magic", "magic");
    h = hb_start(3, 0, 0), memcpy(h.b, "gguf", 4);
    expect_reject(&h, "lower-case magic", "magic");
    h = hb_start(1, 0, 0);
    expect_reject(&h, "version 1", "version");
    h = hb_start(4, 0, 0);
    expect_reject(&h, "version 4", "version");
    h = hb_start(0x03000000u, 0, 0);
    expect_reject(&h, "big-endian version 3", "version");
    h = hb_start(3, 0, 0), h.n = 20;
    expect_reject(&h, "header cut short", "truncated");

    /* huge counts */
    h = hb_start(3, 0, UINT64_MAX);
    expect_reject(&h, "n_kv = 2^64-1", "more than");
    h = hb_start(3, 1ull << 62, 0);
    expect_reject(&h, "n_tensors = 2^62", "more than");
    h = hb_start(3, UINT64_MAX, UINT64_MAX);
    expect_reject(&h, "both counts 2^64-1", "more than");
    h = hb_start(3, 0, 3), hb_str(&h, "k"), hb_u32(&h, GGUF_V_U8), h.b[h.n++] = 1;
    expect_reject(&h, "n_kv = 3 with room for one", "more than");

    /* huge lengths */
    h = hb_start(3, 0, 1), hb_u64(&h, 1ull << 63), hb_raw(&h, "kkkkkkkkkkkkkkkk", 16);
    expect_reject(&h, "key length 2^63", "truncated");
    h = hb_start(3, 0, 1), hb_u64(&h, UINT64_MAX), hb_raw(&h, "kkkkkkkkkkkkkkkk", 16);
    expect_reject(&h, "key length 2^64-1", "truncated");
    h = hb_start(3, 0, 1), hb_str(&h, "k"), hb_u32(&h, GGUF_V_STR), hb_u64(&h, UINT64_MAX - 3);
    expect_reject(&h, "string length 2^64-4", "truncated");
    h = hb_start(3, 0, 1), hb_str(&h, "k"), hb_u32(&h, GGUF_V_ARR), hb_u32(&h, GGUF_V_U8),
    hb_u64(&h, 1ull << 62);
    expect_reject(&h, "u8 array of 2^62", "does not fit");
    h = hb_start(3, 0, 1), hb_str(&h, "k"), hb_u32(&h, GGUF_V_ARR), hb_u32(&h, GGUF_V_U64),
    hb_u64(&h, (1ull << 61) + 1), hb_u64(&h, 0);
    expect_reject(&h, "u64 array of 2^61+1 (count × 8 wraps)", "does not fit");
    h = hb_start(3, 0, 1), hb_str(&h, "k"), hb_u32(&h, GGUF_V_ARR), hb_u32(&h, GGUF_V_STR),
    hb_u64(&h, 1ull << 60), hb_str(&h, "a");
    expect_reject(&h, "string array of 2^60", "does not fit");
    h = hb_start(3, 0, 1), hb_str(&h, "k"), hb_u32(&h, GGUF_V_ARR), hb_u32(&h, GGUF_V_STR),
    hb_u64(&h, 3), hb_str(&h, "a"), hb_u64(&h, UINT64_MAX), hb_str(&h, "c");
    expect_reject(&h, "second string of an array 2^64-1 long", "truncated");

    /* bad types and structure */
    h = hb_start(3, 0, 1), hb_str(&h, "k"), hb_u32(&h, 13), hb_u64(&h, 0);
    expect_reject(&h, "value type 13", "unknown value type");
    h = hb_start(3, 0, 1), hb_str(&h, "k"), hb_u32(&h, GGUF_V_ARR), hb_u32(&h, 99), hb_u64(&h, 0);
    expect_reject(&h, "array of type 99", "unknown element type");
    h = hb_start(3, 0, 1), hb_str(&h, "k"), hb_u32(&h, GGUF_V_ARR), hb_u32(&h, GGUF_V_ARR),
    hb_u64(&h, 1), hb_u32(&h, GGUF_V_U8), hb_u64(&h, 0);
    expect_reject(&h, "nested array", "nested");
    h = hb_start(3, 0, 2), hb_str(&h, "k"), hb_u32(&h, GGUF_V_U8), h.b[h.n++] = 1;
    hb_str(&h, "k"), hb_u32(&h, GGUF_V_U8), h.b[h.n++] = 2;
    expect_reject(&h, "duplicate key", "duplicate key");
    h = hb_start(3, 0, 1), hb_u64(&h, 3), hb_raw(&h, "k\0j", 3), hb_u32(&h, GGUF_V_U8),
    h.b[h.n++] = 1;
    expect_reject(&h, "NUL in a key", "NUL");
    uint64_t one[1] = {8};
    for (int k = 0; k < 3; k++) {
        static const uint32_t aligns[] = {0, 48, 1u << 31};
        h = hb_start(3, 1, 1), hb_str(&h, "general.alignment"), hb_u32(&h, GGUF_V_U32),
        hb_u32(&h, aligns[k]), hb_tensor(&h, "t", 1, one, GGUF_TYPE_F32, 0), hb_data(&h, 32);
        if (k < 2)
            expect_reject(&h, "alignment 0 or 48", "power of two");
        else
            expect_reject(&h, "alignment 2^31: data section past the end", "past the end");
    }
    h = hb_start(3, 0, 1), hb_str(&h, "general.alignment"), hb_u32(&h, GGUF_V_U64), hb_u64(&h, 32);
    expect_reject(&h, "alignment as u64", "not u32");
    h = hb_start(3, 1, 1), hb_str(&h, "general.alignment"), hb_u32(&h, GGUF_V_U32), hb_u32(&h, 64),
    hb_tensor(&h, "t", 1, one, GGUF_TYPE_F32, 0);
    hb_pad(&h, 64), hb_raw(&h, "0123456789abcdef0123456789abcdef", 32);
    expect_accept(&h, "alignment 64");

    /* tensors */
    h = hb_start(3, 1, 0), hb_tensor(&h, "t", 1, one, GGUF_TYPE_F32, 0), hb_data(&h, 32);
    expect_accept(&h, "one F32 tensor");
    h = hb_start(3, 1, 0), hb_tensor(&h, "t", 1, one, GGUF_TYPE_F32, 0), hb_data(&h, 31);
    expect_reject(&h, "tensor data one byte short", "past the end");
    h = hb_start(3, 1, 0), hb_tensor(&h, "t", 1, one, GGUF_TYPE_F32, 0);
    expect_reject(&h, "no data section", "data section starts");
    h = hb_start(3, 1, 0), hb_tensor(&h, "t", 0, one, GGUF_TYPE_F32, 0), hb_data(&h, 64);
    expect_reject(&h, "0 dimensions", "dimensions");
    h = hb_start(3, 1, 0), hb_tensor(&h, "t", 5, (uint64_t[]){1, 1, 1, 1, 1}, GGUF_TYPE_F32, 0),
    hb_data(&h, 64);
    expect_reject(&h, "5 dimensions", "dimensions");
    h = hb_start(3, 1, 0), hb_tensor(&h, "t", 2, (uint64_t[]){8, 0}, GGUF_TYPE_F32, 0),
    hb_data(&h, 64);
    expect_reject(&h, "ne = 0", "bad size");
    h = hb_start(3, 1, 0), hb_tensor(&h, "t", 1, (uint64_t[]){1ull << 63}, GGUF_TYPE_I8, 0),
    hb_data(&h, 64);
    expect_reject(&h, "ne = 2^63", "bad size");
    h = hb_start(3, 1, 0),
    hb_tensor(&h, "t", 3, (uint64_t[]){1ull << 32, 1ull << 32, 1ull << 32}, GGUF_TYPE_I8, 0),
    hb_data(&h, 64);
    expect_reject(&h, "element count 2^96", "overflows");
    h = hb_start(3, 1, 0),
    hb_tensor(&h, "t", 2, (uint64_t[]){1ull << 40, 1ull << 20}, GGUF_TYPE_F64, 0), hb_data(&h, 64);
    expect_reject(&h, "2^60 F64 elements", "past the end");
    h = hb_start(3, 1, 0), hb_tensor(&h, "t", 1, (uint64_t[]){1ull << 62}, GGUF_TYPE_F64, 0),
    hb_data(&h, 64);
    expect_reject(&h, "2^62 F64 elements (bytes overflow)", "too large");
    h = hb_start(3, 1, 0), hb_tensor(&h, "t", 1, one, 3, 0), hb_data(&h, 64);
    expect_reject(&h, "type Q4_1 (not ours)", "unknown type");
    h = hb_start(3, 1, 0), hb_tensor(&h, "t", 1, one, 1000, 0), hb_data(&h, 64);
    expect_reject(&h, "type 1000", "unknown type");
    h = hb_start(3, 1, 0), hb_tensor(&h, "t", 1, (uint64_t[]){16}, GGUF_TYPE_Q8_0, 0),
    hb_data(&h, 64);
    expect_reject(&h, "Q8_0 row of 16", "block");
    h = hb_start(3, 1, 0), hb_tensor(&h, "t", 1, one, GGUF_TYPE_F32, 4), hb_data(&h, 64);
    expect_reject(&h, "offset 4", "alignment");
    h = hb_start(3, 1, 0), hb_tensor(&h, "t", 1, one, GGUF_TYPE_F32, 1ull << 40), hb_data(&h, 64);
    expect_reject(&h, "offset 2^40", "past the end");
    h = hb_start(3, 1, 0), hb_tensor(&h, "t", 1, one, GGUF_TYPE_F32, UINT64_MAX - 31),
    hb_data(&h, 64);
    expect_reject(&h, "offset 2^64-32", "past the end");
    h = hb_start(3, 2, 0), hb_tensor(&h, "t", 1, one, GGUF_TYPE_F32, 0),
    hb_tensor(&h, "t", 1, one, GGUF_TYPE_F32, 32), hb_data(&h, 64);
    expect_reject(&h, "duplicate tensor", "duplicate tensor");
    h = hb_start(3, 1, 0), hb_u64(&h, 2), hb_raw(&h, "t\0", 2), hb_u32(&h, 1), hb_u64(&h, 8),
    hb_u32(&h, GGUF_TYPE_F32), hb_u64(&h, 0), hb_data(&h, 32);
    expect_reject(&h, "NUL in a tensor name", "NUL");
    h = hb_start(3, 1, 0), hb_tensor(&h, "t", 2, (uint64_t[]){8, 1}, GGUF_TYPE_F32, 0), h.n -= 3;
    expect_reject(&h, "tensor info cut short", "truncated");
}
/* clang-format on */

/* Outside ASan: cap the address space a little above what the process has,
 * so that an allocation sized from a hostile header would abort the test. */
static void limit_address_space(void) {
#ifndef UNDER_ASAN
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f) return;
    if (fscanf(f, "%lu", &pages) != 1) pages = 0;
    fclose(f);
    if (!pages) return;
    rlim_t cap = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)256 << 20);
    struct rlimit rl = {cap, cap};
    if (setrlimit(RLIMIT_AS, &rl) == 0)
        printf("address space capped at %lu MiB\n", (unsigned long)(cap >> 20));
#endif
}

/* the data checksum: written by every file, verified, stale copies replaced;
 * a flipped bit anywhere in the tensor data is caught; files without one pass */
static void test_checksum(void) {
    char path[600];
    snprintf(path, sizeof path, "%s/sum.gguf", tmpdir);
    gguf_writer *w = make_roundtrip();
    gguf_set_u64(w, GGUF_CHECKSUM_KEY, 12345); /* as if copied from another file */
    CHECK(gguf_write(w, path) == 0, "write: %s", pt_error());
    gguf_writer_free(w);
    size_t n;
    uint8_t *buf = (uint8_t *)pt_read_file(path, &n);
    remove(path);
    gguf_file *g = gguf_open_mem(buf, n);
    CHECK(g && gguf_verify(g) == 0, "a fresh file verifies: %s", pt_error());
    size_t data = g ? gguf_data_offset(g) : n;
    gguf_close(g);
    int caught = 0, tried = 0;
    uint64_t r = 7;
    for (int k = 0; k < 200 && data < n; k++) {
        size_t at = data + (size_t)(pt_hash_u64(r++) % (n - data));
        int bit = (int)(pt_hash_u64(r++) % 8);
        buf[at] ^= (uint8_t)(1u << bit);
        gguf_file *h = gguf_open_mem(buf, n);
        if (h) {
            /* padding between tensors is not data: a flip there changes nothing */
            int in_tensor = 0;
            for (int i = 0; i < gguf_n_tensors(h); i++) {
                const uint8_t *p = gguf_tensor_at(h, i)->data;
                in_tensor |= buf + at >= p && buf + at < p + gguf_tensor_at(h, i)->nbytes;
            }
            tried += in_tensor;
            if (in_tensor) {
                int bad = gguf_verify(h) != 0;
                caught += bad;
                if (bad && caught == 1) CHECK(strstr(pt_error(), "damaged") != NULL, "message: %s", pt_error());
            }
            gguf_close(h);
        }
        buf[at] ^= (uint8_t)(1u << bit);
    }
    printf("checksum: %d of %d bit flips in tensor data caught\n", caught, tried);
    CHECK(tried > 50 && caught == tried, "%d of %d flips in tensor data caught", caught, tried);
    free(buf);
    gguf_file *old = gguf_open("tests/data/gguf_py.gguf"); /* written before checksums */
    CHECK(old && gguf_verify(old) == 0, "a file without a checksum still verifies");
    gguf_close(old);
}

/* gguf_fields: a struct written and read back through one table; groups,
 * NONZERO rows, missing keys and wrong types */
typedef struct {
    int a, flag, mode, zero;
    long big;
    uint64_t fp;
    unsigned bits;
    float x;
    double y;
} fields_t;
static const char *mode_name(int m) { return m ? "on" : "off"; }
static int mode_parse(const char *s) { return !strcmp(s, "on") ? 1 : !strcmp(s, "off") ? 0 : -1; }
static const gguf_field fields[] = {
    GGUF_FIELD_INT("t.a", GGUF_V_U32, fields_t, a, 0, 0),
    GGUF_FIELD_BOOL("t.flag", fields_t, flag, 0, 0),
    GGUF_FIELD_ENUM("t.mode", fields_t, mode, mode_name, mode_parse, 0, 0),
    GGUF_FIELD_INT("t.zero", GGUF_V_U32, fields_t, zero, GGUF_OPT_NONZERO, 0),
    GGUF_FIELD_LONG("t.big", fields_t, big, 0, 0),
    GGUF_FIELD_U64("t.fp", fields_t, fp, 0, 0),
    GGUF_FIELD_UNSIGNED("t.bits", fields_t, bits, 0, 2),
    GGUF_FIELD_FLOAT("t.x", fields_t, x, 0, 0),
    GGUF_FIELD_DOUBLE("t.y", fields_t, y, GGUF_OPT_MISSING_OK, 0),
};
static void test_fields(void) {
    char path[600];
    snprintf(path, sizeof path, "%s/fields.gguf", tmpdir);
    fields_t in = {7, 1, 1, 0, 5000000000L, 0xfedcba9876543210ull, 0x80000001u, 1.5f, -2.25}, out;
    for (int grp = 0; grp < 2; grp++) {
        gguf_writer *w = gguf_writer_init();
        gguf_fields_write(w, fields, 9, &in, grp ? 2 : 0);
        CHECK(gguf_write(w, path) == 0, "write: %s", pt_error());
        gguf_writer_free(w);
        gguf_file *g = gguf_open(path);
        CHECK(g != NULL, "open: %s", pt_error());
        if (!g) return;
        CHECK(gguf_find_key(g, "t.zero") < 0, "a NONZERO row written for 0");
        CHECK((gguf_find_key(g, "t.bits") >= 0) == grp, "group 2 written with flags %d", grp ? 2 : 0);
        memset(&out, 0, sizeof out);
        out.zero = 3;
        CHECK(gguf_fields_read(g, fields, 9, &out, grp ? 2 : 0) == 0, "read: %s", pt_error());
        CHECK(out.a == 7 && out.flag == 1 && out.mode == 1 && out.zero == 3 && out.big == 5000000000L &&
                  out.fp == in.fp && out.x == 1.5f && out.y == -2.25 && out.bits == (grp ? in.bits : 0u),
              "fields read back differ (group %d)", grp);
        if (!grp) CHECK(gguf_fields_read(g, fields, 9, &out, 2) == -1, "a missing required key (t.bits) accepted");
        gguf_close(g);
    }
    /* another type under a key: refused with its name */
    gguf_writer *w = gguf_writer_init();
    gguf_fields_write(w, fields, 9, &in, 0);
    gguf_set_f32(w, "t.a", 7.0f);
    gguf_set_str(w, "t.mode", "sideways");
    CHECK(gguf_write(w, path) == 0, "write: %s", pt_error());
    gguf_writer_free(w);
    gguf_file *g = gguf_open(path);
    if (g) {
        CHECK(gguf_fields_read(g, fields, 1, &out, 0) == -1 && strstr(pt_error(), "t.a"), "f32 read as u32: %s",
              pt_error());
        CHECK(gguf_fields_read(g, fields + 2, 1, &out, 0) == -1 && strstr(pt_error(), "sideways"),
              "an unknown enum name accepted: %s", pt_error());
        gguf_close(g);
    }
    unlink(path);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write")) {
        gguf_writer *w = make_roundtrip();
        int rc = gguf_write(w, argv[2]);
        gguf_writer_free(w);
        if (rc) fprintf(stderr, "test_gguf: %s\n", pt_error());
        return rc ? 1 : 0;
    }
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/petit_test_gguf_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("test_gguf: mkdtemp");
        return 1;
    }
    limit_address_space();
    test_type_sizes();
    test_roundtrip();
    test_alignment_key();
    test_format_long();
    test_writer_errors();
    test_python_fixture();
    test_copy_kv();
    test_fields();
    test_checksum();
    test_hostile_headers();
    test_truncation_and_flips();
    CHECK(count_dir_entries(tmpdir) == 0, "temp directory left empty");
    rmdir(tmpdir);
    return test_done("test_gguf");
}
