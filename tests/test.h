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

static inline int test_done(const char *name) {
    printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
    return test_failures ? 1 : 0;
}
#endif
