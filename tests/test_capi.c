/* test_capi: the C API through the shared library. Linked against
 * libpetit.so only (and libc): petit.h is all it sees. The API's default
 * options must translate as `petit translate` does with its defaults (both
 * beam 4): the same model gives the same text whichever way it is used.
 * Needs the bundled model (models/en-fr.gguf) and $PETIT (tests/run.sh sets
 * it) for the command-line side. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petit.h"
#include "test.h"

#define MODEL "models/en-fr.gguf"

static const char *src[] = {
    "A man in an orange hat starring at something.",
    "A Boston Terrier is running on lush green grass in front of a white fence.",
    "A girl in karate uniform breaking a stick with a front kick.",
    "Five people wearing winter jackets and helmets stand in the snow, with snowmobiles in the background.",
    "People are fixing the roof of a house.",
    "A group of people standing in front of an igloo.",
    "A boy in a red uniform is attempting to avoid getting out at home plate, while the catcher tries to catch the ball.",
    "",
    "Two dogs play.",
};
#define N ((int)(sizeof src / sizeof src[0]))

int main(void) {
    petit_options o;
    petit_options_default(&o);
    CHECK(o.beam == 4, "petit_options_default: beam %d, want 4 (petit translate's default)", o.beam);
    CHECK(o.nbest == 1 && o.threads == 0, "defaults: nbest %d, threads %d", o.nbest, o.threads);

    CHECK(petit_model_load("nope.gguf") == NULL, "a missing model loads");
    const char *e = petit_last_error();
    CHECK(strstr(e, "nope.gguf: cannot open") && !strstr(e, "nope.gguf: nope.gguf"), "error: '%s'", e);

    petit_model *m = petit_model_load(MODEL);
    CHECK(m != NULL, "load %s: %s", MODEL, petit_last_error());
    if (!m) return test_done("test_capi");
    char *api[N], *api_null[N];
    petit_translator *t = petit_translator_new(m, &o);
    CHECK(petit_translate(t, src, N, api) == 0, "translate: %s", petit_last_error());
    petit_translator_free(t);
    t = petit_translator_new(m, NULL); /* NULL options: the same defaults */
    CHECK(petit_translate(t, src, N, api_null) == 0, "translate: %s", petit_last_error());
    petit_translator_free(t);

    /* the command line, with its defaults, on the same lines */
    const char *p = getenv("PETIT");
    char cmd[1024], in[600];
    const char *td = getenv("TMPDIR");
    snprintf(in, sizeof in, "%s/petit_test_capi_XXXXXX", td && *td ? td : "/tmp");
    int fd = mkstemp(in);
    CHECK(fd >= 0, "mkstemp");
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    for (int i = 0; f && i < N; i++) fprintf(f, "%s\n", src[i]);
    if (f) fclose(f);
    snprintf(cmd, sizeof cmd, "%s translate -m %s < %s", p && *p ? p : "build/petit", MODEL, in);
    FILE *pipe = popen(cmd, "r");
    CHECK(pipe != NULL, "popen %s", cmd);
    char line[4096];
    int same = 0, lines = 0;
    for (int i = 0; pipe && i < N && fgets(line, sizeof line, pipe); i++) {
        line[strcspn(line, "\n")] = 0;
        lines++;
        CHECK(!strcmp(line, api[i]), "line %d: API default '%s', petit translate '%s'", i, api[i], line);
        same += !strcmp(line, api[i]);
        CHECK(!strcmp(api[i], api_null[i]), "line %d: NULL options '%s' != default options '%s'", i,
              api_null[i], api[i]);
    }
    CHECK(pipe && pclose(pipe) == 0, "%s failed", cmd);
    remove(in);
    CHECK(lines == N, "petit translate gave %d lines for %d", lines, N);
    printf("API defaults and petit translate agree on %d of %d lines\n", same, N);
    for (int i = 0; i < N; i++) free(api[i]), free(api_null[i]);
    petit_model_free(m);
    return test_done("test_capi");
}
