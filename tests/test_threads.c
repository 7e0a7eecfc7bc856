/* test_threads: the thread count is per translator. Two translators on two
 * threads, one with 1 thread and one with 2, created before either
 * translates: each translates with its own count (not the one set last),
 * and both give the translations a single translator gives. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "petit.h"
#include "test.h"

static const char *src[3] = {"A man is riding a bike.", "Two dogs play in the snow.", "The price is 8 dollars."};
static petit_model *model;
static pthread_barrier_t created, done;

typedef struct {
    int threads, seen, rc;
    char *out[3];
} job;

static void *run(void *p) {
    job *j = p;
    petit_options o;
    petit_options_default(&o);
    o.threads = j->threads;
    petit_translator *t = petit_translator_new(model, &o);
    pthread_barrier_wait(&created); /* both translators exist: the last one made set its count */
    j->rc = t ? petit_translate(t, src, 3, j->out) : -1;
    j->seen = nn_threads();
    pthread_barrier_wait(&done);
    petit_translator_free(t);
    return NULL;
}

int main(void) {
    model = petit_model_load("models/en-fr.gguf");
    CHECK(model != NULL, "load: %s", petit_last_error());
    if (!model) return test_done("test_threads");
    petit_options o;
    petit_options_default(&o);
    o.threads = 1;
    petit_translator *t = petit_translator_new(model, &o);
    char *ref[3];
    CHECK(petit_translate(t, src, 3, ref) == 0, "reference: %s", petit_last_error());
    petit_translator_free(t);

    pthread_barrier_init(&created, NULL, 2);
    pthread_barrier_init(&done, NULL, 2);
    job a = {.threads = 1}, b = {.threads = 2};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, run, &a);
    pthread_create(&tb, NULL, run, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.rc == 0 && b.rc == 0, "both translate");
    CHECK(a.seen == 1, "the 1-thread translator ran with %d threads", a.seen);
#ifdef _OPENMP
    CHECK(b.seen == 2, "the 2-thread translator ran with %d threads", b.seen);
#else
    CHECK(b.seen == 1, "without OpenMP every translator runs 1 thread (%d)", b.seen);
#endif
    for (int i = 0; i < 3 && a.rc == 0 && b.rc == 0; i++) {
        CHECK(!strcmp(a.out[i], ref[i]) && !strcmp(b.out[i], ref[i]), "line %d: '%s' / '%s', alone '%s'", i, a.out[i],
              b.out[i], ref[i]);
        free(a.out[i]), free(b.out[i]);
    }
    for (int i = 0; i < 3; i++) free(ref[i]);
    petit_model_free(model);
    return test_done("test_threads");
}
