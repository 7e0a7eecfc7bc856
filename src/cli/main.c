/* main.c: `petit COMMAND [ARGS]` dispatch and shared CLI helpers. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/base.h"
#include "cli/cli.h"
#include "nn/nn.h"
#include "train/dist.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"translate", cmd_translate, "translate text (stdin or -i FILE) with a model"},
    {"serve", cmd_serve, "an HTTP server with LibreTranslate's API (POST /translate)"},
    {"train", cmd_train, "train a translation model on parallel text"},
    {"distill", cmd_distill, "train a student from a teacher (knowledge distillation)"},
    {"plot", cmd_plot, "draw training curves from a metrics file as SVG"},
    {"vocab", cmd_vocab, "train a SentencePiece vocabulary (runs spm_train)"},
    {"encode", cmd_encode, "text -> SentencePiece pieces or ids"},
    {"decode", cmd_decode, "SentencePiece pieces or ids -> text"},
    {"bleu", cmd_bleu, "sacreBLEU-compatible BLEU and chrF"},
    {"quantize", cmd_quantize, "a float model to 8- or 4-bit integer weights (RTN, GPTQ)"},
    {"pack", cmd_pack, "a float model to an entropy-coded one (ECQ + rANS)"},
    {"import", cmd_import, "a Hugging Face MarianMT (OPUS-MT) checkpoint to a petit model"},
    {"shortlist", cmd_shortlist, "learn a lexical shortlist and add it to a model (faster decoding)"},
    {"average", cmd_average, "the mean of several float models' weights (checkpoint averaging)"},
    {"info", cmd_info, "describe a model or checkpoint file"},
};

static void usage(FILE *f) {
    fprintf(f, "petit — small, fast neural machine translation\n\n"
               "usage: petit COMMAND [ARGS]   (petit COMMAND --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nA long option takes its value as --name VALUE or --name=VALUE. Output files are\n"
               "written to a temporary name and renamed; only a regular file is replaced (a\n"
               "symlink: its target).\n");
}

/* Two thread pools read their settings from the environment when their
 * libraries load, before main, so the process runs itself again (once; if
 * exec fails, it just goes on) with:
 *  - OPENBLAS_NUM_THREADS=1. OpenBLAS's own pool spins for a while looking
 *    for work; petit never gives it any (nn_sgemm runs OpenBLAS
 *    single-threaded and threads itself), but on a 2-core machine the
 *    spinning cost a short run most of its time: translating one sentence
 *    took 150 ms instead of 60.
 *  - OMP_WAIT_POLICY=passive, unless the user set a policy: OpenMP threads
 *    that wait at a barrier sleep instead of spinning. With another process
 *    on the cores, spinning threads fight it and wait for each other's time
 *    slices: beside a training job five sentences took 4.0 s with
 *    OpenMP's default policy and 0.2 s passive, as with one thread
 *    (BENCHMARKS.md, "Threads on a busy machine"). */
static void thread_pools_env(char **argv) {
#if defined(__linux__) && (defined(PETIT_BLAS) || defined(_OPENMP))
    int again = 0;
#ifdef PETIT_BLAS
    const char *v = getenv("OPENBLAS_NUM_THREADS");
    if (!(v && !strcmp(v, "1")) && !setenv("OPENBLAS_NUM_THREADS", "1", 1)) again = 1;
#endif
#ifdef _OPENMP
    if (!getenv("OMP_WAIT_POLICY") && !setenv("OMP_WAIT_POLICY", "passive", 0)) again = 1;
#endif
    if (again) execv("/proc/self/exe", argv);
#else
    (void)argv;
#endif
}

/* --name=value is --name value, for every long option of every command:
 * the arguments after the command are rewritten once here, so each
 * command's parser sees only the two-word form. Not split: anything after a
 * bare "--", and the argument after --spm-arg (passed to spm_train as it
 * is, often itself --key=value). Returns the new argv (argc in *argc), one
 * block (the pointers, then copies of the split names) for free(). */
static struct { const char *flag, *value; } splits[64]; /* what was split, to name it in errors */
static int n_splits;

const char *cli_split_flag(const char *arg) {
    for (int i = 0; i < n_splits; i++)
        if (splits[i].value == arg) return splits[i].flag;
    return NULL;
}

int cli_unknown(const char *cmd, const char *arg) {
    const char *flag = cli_split_flag(arg);
    if (flag) return cli_usage(cmd, "%s takes no value (in '%s=%s')", flag, flag, arg);
    return cli_usage(cmd, "unknown option '%s'", arg);
}

static char **split_long_options(int *argc, char **argv) {
    size_t bytes = 0;
    for (int i = 0; i < *argc; i++) bytes += strlen(argv[i]) + 1;
    char **out = pt_malloc(((size_t)*argc * 2 + 1) * sizeof(char *) + bytes);
    char *names = (char *)(out + (size_t)*argc * 2 + 1);
    int n = 0, rest = 0;
    for (int i = 0; i < *argc; i++) {
        char *a = argv[i], *eq = a[0] == '-' && a[1] == '-' && a[2] ? strchr(a, '=') : NULL;
        if (i < 2 || rest || !eq || eq == a + 2) {
            out[n++] = a;
        } else { /* "--name" copied into the block, the value points into argv */
            memcpy(names, a, (size_t)(eq - a));
            names[eq - a] = 0;
            out[n++] = names;
            names += eq - a + 1;
            out[n++] = eq + 1;
            if (n_splits < 64) splits[n_splits].flag = out[n - 2], splits[n_splits++].value = out[n - 1];
        }
        if (i >= 2 && !strcmp(a, "--")) rest = 1;
        if (i >= 2 && !strcmp(a, "--spm-arg") && i + 1 < *argc) out[n++] = argv[++i];
    }
    *argc = n;
    out[n] = NULL;
    return out;
}

static int run_command(int argc, char **argv) {
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("petit 0.1 (%s, mpi: %s)\n", nn_backend(), pt_dist_backend());
        printf("isa: %s (this CPU:", nn_isa_name(nn_isa()));
        for (int i = 0; i < NN_ISA_COUNT; i++)
            if (nn_isa_supported(i)) printf(" %s", nn_isa_name(i));
        printf("; PETIT_ISA caps it)\n");
#ifdef PETIT_EMUL512
        printf("isa: this build emulates avx512 and avx512-vnni on avx2 (make emul512; for tests, slow)\n");
#endif
#ifdef _OPENMP
        const char *wp = getenv("OMP_WAIT_POLICY");
        printf("openmp: %d threads by default, OMP_WAIT_POLICY=%s\n", omp_get_num_procs(), wp ? wp : "(unset)");
#else
        printf("openmp: not built in (one thread)\n");
#endif
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "petit: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv) {
    thread_pools_env(argv);
    char **args = split_long_options(&argc, argv);
    int rc = run_command(argc, args);
    free(args);
    return rc;
}

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "petit %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

int cli_fail_path(const char *cmd, const char *path) {
    const char *e = pt_error();
    size_t n = strlen(path);
    if (!strncmp(e, path, n) && e[n] == ':') return cli_fail(cmd, "%s", e);
    return cli_fail(cmd, "%s: %s", path, e);
}

const char *cli_context;

int cli_usage(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "petit %s: ", cmd);
    if (cli_context) fprintf(stderr, "%s: ", cli_context);
    vfprintf(stderr, fmt, ap);
    if (cli_context) fprintf(stderr, "\n");
    else fprintf(stderr, "\n  (try 'petit %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

int cli_is_help(const char *a) { return !strcmp(a, "-h") || !strcmp(a, "--help"); }

int cli_int(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    if (!s) return cli_usage(cmd, "%s needs a value", flag), -1;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) {
        cli_usage(cmd, "%s: '%s' is not an integer in [%ld, %ld]", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_on_off(const char *cmd, const char *flag, const char *s, int *out) {
    if (!s || (strcmp(s, "on") && strcmp(s, "off")))
        return cli_usage(cmd, "%s takes on or off%s%s%s", flag, s ? " (not '" : "", s ? s : "", s ? "')" : ""), -1;
    *out = !strcmp(s, "on");
    return 0;
}

int cli_float(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out) {
    char *end;
    if (!s) return cli_usage(cmd, "%s needs a value", flag), -1;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        cli_usage(cmd, "%s: '%s' is not a number in [%g, %g]", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_reader_next(cli_reader *r, FILE *flush, char **line, size_t *len) {
    for (;;) {
        char *nl = r->end > r->start ? memchr(r->buf + r->start, '\n', r->end - r->start) : NULL;
        if (nl) {
            *line = r->buf + r->start;
            *len = (size_t)(nl - *line);
            r->start += *len + 1;
            return 1;
        }
        if (r->eof) {
            if (r->end == r->start) return 0;
            *line = r->buf + r->start;
            *len = r->end - r->start;
            r->start = r->end;
            return 1;
        }
        if (r->start > 0) { /* keep the partial line at the front */
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        if (r->end == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 1 << 16;
            r->buf = pt_realloc(r->buf, r->cap);
        }
        if (flush) fflush(flush);
        ssize_t got = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (got == 0) r->eof = 1;
        r->end += (size_t)got;
    }
}

int cli_same_file(const char *a, const char *b) {
    struct stat x, y;
    return !stat(a, &x) && !stat(b, &y) && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

int cli_load_float_model(const char *cmd, const char *refusal, const char *path, gguf_file **g, pt_model *m) {
    *g = gguf_open(path);
    if (!*g) return cli_fail(cmd, "%s", pt_error());
    for (int i = 0; i < gguf_n_tensors(*g); i++) {
        const gguf_tensor *t = gguf_tensor_at(*g, i);
        if (t->type != GGUF_TYPE_F32) {
            cli_fail(cmd, "%s %s (%s is %s): %s the float model", path, refusal, t->name, gguf_type_name(t->type), cmd);
            gguf_close(*g);
            return 1;
        }
    }
    if (pt_model_from_gguf(m, *g)) {
        cli_fail_path(cmd, path);
        gguf_close(*g);
        return 1;
    }
    return 0;
}

void cli_copy_meta(gguf_writer *w, const gguf_file *g) {
    for (int i = 0; i < gguf_n_kv(g); i++)
        if (strncmp(gguf_key(g, i), "petit.quant.", 12) && strncmp(gguf_key(g, i), "petit.ecq.", 10))
            gguf_copy_kv(w, g, i);
}

/* the bundled model file (models/FILE) in the executable's folder, else in
 * the current one; NULL if neither has it */
static const char *bundled(const char *file, char *buf, size_t n) {
    char exe[4096];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        if ((size_t)snprintf(buf, n, "%.4000s/models/%s", exe, file) < n && access(buf, R_OK) == 0) return buf;
    }
    snprintf(buf, n, "models/%s", file);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

/* $PETIT_MODEL, else models/en-fr.gguf in the executable's folder (or the
 * current one): the model a plain `petit translate` or `petit serve` uses */
const char *cli_default_model(char *buf, size_t n) {
    const char *e = getenv("PETIT_MODEL");
    if (e && *e) return e;
    return bundled("en-fr.gguf", buf, n);
}

/* The bundled models by name: "tiny" (the student, the default) and "base"
 * (the teacher), as Bergamot names its sizes. */
static const struct {
    const char *name, *file;
} bundled_models[] = {{"tiny", "en-fr.gguf"}, {"base", "en-fr-base.gguf"}};

const char *cli_model_path(const char *cmd, const char *m, char *buf, size_t n) {
    for (size_t i = 0; i < sizeof bundled_models / sizeof bundled_models[0]; i++) {
        if (strcmp(m, bundled_models[i].name) || access(m, F_OK) == 0) continue; /* a file of that name wins */
        const char *p = bundled(bundled_models[i].file, buf, n);
        if (!p) cli_fail(cmd, "the bundled model '%s' (models/%s) is not installed beside petit or here", m,
                         bundled_models[i].file);
        return p;
    }
    return m;
}
