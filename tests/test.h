/* test.h: the smallest harness that fails loudly.
 *
 * Each tests/test_*.c is one program; CHECK records a failure and goes on,
 * the program exits non-zero if any check failed. tests/run.sh runs every
 * program and shell test and prints the closing "N passed, N failed" line.
 * Tests find the shared data at $PETIT_DATA (default ../shared/data/en-fr)
 * and committed fixtures under tests/data/.
 */
#ifndef PETIT_TEST_H
#define PETIT_TEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int test_checks, test_failures;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        test_checks++;                                                     \
        if (!(cond)) {                                                     \
            test_failures++;                                               \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
        }                                                                  \
    } while (0)

/* |a-b| <= atol + rtol*|b| */
#define CHECK_CLOSE(a, b, atol, rtol, what)                                        \
    do {                                                                           \
        double a_ = (a), b_ = (b);                                                 \
        CHECK(fabs(a_ - b_) <= (atol) + (rtol)*fabs(b_), "%s: got %.9g want %.9g", \
              (what), a_, b_);                                                     \
    } while (0)

static inline const char *test_data_dir(void) {
    const char *d = getenv("PETIT_DATA");
    return d ? d : "../shared/data/en-fr";
}

#ifdef PETIT_NN_ISA_H
/* TEST_EACH_ISA(name) { ... }: the body once per instruction-set level
 * (nn/isa.h) that this CPU has and PETIT_ISA allows, with nn_set_isa set to
 * it; each level says it ran or why it was skipped. The default level is
 * restored after the loop (test_isa_restore). */
static int test_isa_default = -1;
static inline int test_isa_enter(const char *what, int isa) {
    if (test_isa_default < 0) test_isa_default = nn_isa();
    if (isa >= NN_ISA_COUNT) {
        nn_set_isa(test_isa_default);
        return 0;
    }
    if (isa > nn_isa_cap()) {
        printf("  %s at %s: skipped (PETIT_ISA=%s)\n", what, nn_isa_name(isa), getenv("PETIT_ISA"));
        return 0;
    }
    if (nn_set_isa(isa)) {
        printf("  %s at %s: skipped (not on this CPU)\n", what, nn_isa_name(isa));
        return 0;
    }
    printf("  %s at %s\n", what, nn_isa_name(isa));
    return 1;
}
#define TEST_EACH_ISA(what, isa) \
    for (int isa = 0; isa <= NN_ISA_COUNT; isa++) \
        if (test_isa_enter((what), isa))
#endif

static inline int test_done(const char *name) {
    printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
    return test_failures ? 1 : 0;
}
#endif
