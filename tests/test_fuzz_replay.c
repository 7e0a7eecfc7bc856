/* test_fuzz_replay: every fuzz target (tests/fuzz/fuzz_*.c) run, in the
 * ordinary build (and under ASan with make asan), on its committed inputs:
 * the seeds in tests/fuzz/seeds/TARGET/ and the inputs that once crashed or
 * exhausted memory in tests/fuzz/regress/TARGET/ (each a regression test
 * for a fixed bug). A target aborts when its property fails. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "test.h"

#define LLVMFuzzerTestOneInput fuzz_gguf_one
#include "fuzz/fuzz_gguf.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_spm_one
#include "fuzz/fuzz_spm.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_tokenize_one
#include "fuzz/fuzz_tokenize.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_rans_one
#include "fuzz/fuzz_rans.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_translate_one
#include "fuzz/fuzz_translate.c"
#undef LLVMFuzzerTestOneInput

typedef int (*target_fn)(const uint8_t *, size_t);

static int replay_dir(const char *dir, target_fn fn) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        char *buf = pt_read_file(path, &len);
        CHECK(buf != NULL, "%s: %s", path, pt_error());
        if (!buf) continue;
        uint8_t *copy = malloc(len ? len : 1); /* an exact-size buffer, as the fuzzer gives */
        memcpy(copy, buf, len);
        fn(copy, len);
        free(copy);
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

int main(void) {
    static const struct {
        const char *name;
        target_fn fn;
    } t[] = {{"fuzz_gguf", fuzz_gguf_one}, {"fuzz_spm", fuzz_spm_one}, {"fuzz_tokenize", fuzz_tokenize_one},
             {"fuzz_rans", fuzz_rans_one}, {"fuzz_translate", fuzz_translate_one}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char dir[256];
        snprintf(dir, sizeof dir, "tests/fuzz/seeds/%s", t[i].name);
        int s = replay_dir(dir, t[i].fn);
        snprintf(dir, sizeof dir, "tests/fuzz/regress/%s", t[i].name);
        int r = replay_dir(dir, t[i].fn);
        printf("%-15s %d seeds, %d regression inputs\n", t[i].name, s, r);
        CHECK(s > 0, "%s: no seeds found (run from the repository root)", t[i].name);
    }
    return test_done("test_fuzz_replay");
}
