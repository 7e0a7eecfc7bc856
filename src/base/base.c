/* base.c: see base.h. */
#define _POSIX_C_SOURCE 200809L
#include "base.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ---------------------------------------------------------- */

static _Thread_local char err_buf[1024];

int pt_set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    return -1;
}

const char *pt_error(void) { return err_buf[0] ? err_buf : "unknown error"; }
void pt_clear_error(void) { err_buf[0] = 0; }

void pt_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "petit: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
    abort();
}

/* ---- allocation ------------------------------------------------------ */

static void oom(size_t n) {
    fprintf(stderr, "petit: out of memory (asked for %zu bytes)\n", n);
    abort();
}

void *pt_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *pt_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *pt_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *pt_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = pt_malloc(n);
    memcpy(d, s, n);
    return d;
}

void *pt_alloc_aligned(size_t n) {
    void *p = NULL;
    size_t m = (n + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, m ? m : 64) != 0) oom(n);
    memset(p, 0, m ? m : 64);
    return p;
}

void pt_free_aligned(void *p) { free(p); }

void *pt_alloc_pages(size_t n) {
    void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) oom(n);
    return p;
}

void pt_free_pages(void *p, size_t n) {
    if (p) munmap(p, n ? n : 1);
}

/* ---- random numbers -------------------------------------------------- */

uint64_t pt_hash_u64(uint64_t x) { /* splitmix64 finalizer */
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t pt_rng_next(pt_rng *r) {
    r->s += 0x9e3779b97f4a7c15ULL;
    uint64_t x = r->s;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

float pt_rng_uniform(pt_rng *r) { return (float)(pt_rng_next(r) >> 40) * (1.0f / 16777216.0f); }

float pt_rng_normal(pt_rng *r) {
    double u1 = ((double)(pt_rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(pt_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ---- time ------------------------------------------------------------ */

double pt_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- files ----------------------------------------------------------- */

char *pt_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        pt_set_error("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        pt_set_error("%s: is a directory", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = pt_malloc(cap);
    for (;;) {
        if (cap - n < 2) buf = pt_realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        pt_set_error("%s: read error: %s", path, strerror(errno));
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

const char *pt_file_kind(unsigned m) {
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

int pt_check_regular(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return pt_set_error("%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return pt_set_error("%s: is %s, not a regular file", path, pt_file_kind(st.st_mode));
    return 0;
}

/* the file an output path stands for: path itself, or the end of its chain
 * of symbolic links (malloc'd); NULL with an error if the destination exists
 * and is not a regular file, or is a link to nothing */
static char *output_target(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return pt_strdup(path); /* a new file */
        pt_set_error("%s: cannot write: %s", path, strerror(errno));
        return NULL;
    }
    char *target = NULL;
    if (S_ISLNK(st.st_mode)) {
        if (!(target = realpath(path, NULL))) {
            pt_set_error("%s: is a symbolic link to a missing file (%s); petit writes through a link only "
                         "to an existing file", path, strerror(errno));
            return NULL;
        }
        if (stat(target, &st) != 0) {
            pt_set_error("%s: cannot write: %s", path, strerror(errno));
            free(target);
            return NULL;
        }
    }
    if (!S_ISREG(st.st_mode)) {
        pt_set_error("%s: is %s; petit writes only regular files and does not replace anything else",
                     path, pt_file_kind(st.st_mode));
        free(target);
        return NULL;
    }
    return target ? target : pt_strdup(path);
}

static char *tmp_name(const char *path) {
    size_t n = strlen(path) + 32;
    char *tmp = pt_malloc(n);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    return tmp;
}

int pt_atomic_check(const char *path) {
    char *target = output_target(path);
    if (!target) return -1;
    char *tmp = tmp_name(target);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    int rc = 0;
    if (fd < 0) rc = pt_set_error("%s: cannot create a file there: %s", path, strerror(errno));
    else close(fd), unlink(tmp);
    free(tmp), free(target);
    return rc;
}

int pt_atomic_open(pt_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    if (!(af->path = output_target(path))) return -1;
    af->tmp = tmp_name(af->path);
    unlink(af->tmp); /* a leftover of a killed run with the same pid */
    int fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 || !(af->f = fdopen(fd, "wb"))) {
        pt_set_error("%s: cannot create: %s", af->tmp, strerror(errno));
        if (fd >= 0) close(fd), unlink(af->tmp);
        free(af->path);
        free(af->tmp);
        memset(af, 0, sizeof *af);
        return -1;
    }
    return 0;
}

static void atomic_release(pt_atomic_file *af) {
    free(af->path);
    free(af->tmp);
    memset(af, 0, sizeof *af);
}

int pt_atomic_commit(pt_atomic_file *af) {
    int bad = 0;
    if (fflush(af->f) != 0 || ferror(af->f)) bad = 1;
    if (!bad && fsync(fileno(af->f)) != 0) bad = 1;
    int saved = errno;
    if (fclose(af->f) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    if (!bad && rename(af->tmp, af->path) != 0) {
        bad = 1;
        saved = errno;
    }
    if (bad) {
        pt_set_error("%s: write failed: %s", af->path, strerror(saved));
        remove(af->tmp);
        atomic_release(af);
        return -1;
    }
    atomic_release(af);
    return 0;
}

void pt_atomic_abort(pt_atomic_file *af) {
    if (af->f) fclose(af->f);
    if (af->tmp) remove(af->tmp);
    atomic_release(af);
}

int pt_lines_next(pt_lines *it, const char **line, size_t *len) {
    if (it->p >= it->end) return 0;
    const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
    const char *e = nl ? nl : it->end;
    *line = it->p;
    *len = (size_t)(e - it->p);
    it->p = nl ? nl + 1 : it->end;
    return 1;
}

size_t pt_count_lines(const char *buf, size_t n) {
    pt_lines it;
    const char *l;
    size_t len, c = 0;
    pt_lines_init(&it, buf, n);
    while (pt_lines_next(&it, &l, &len)) c++;
    return c;
}

/* ---- UTF-8 ----------------------------------------------------------- */

int pt_utf8_len(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned min;
    if ((c & 0xe0) == 0xc0) len = 2, min = 0x80, c &= 0x1f;
    else if ((c & 0xf0) == 0xe0) len = 3, min = 0x800, c &= 0x0f;
    else if ((c & 0xf8) == 0xf0) len = 4, min = 0x10000, c &= 0x07;
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    return len;
}

int pt_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int l = pt_utf8_len(p + i, n - i);
        if (!l) return 0;
        i += (size_t)l;
    }
    return 1;
}

/* ---- per-thread cleanup ---------------------------------------------- */

static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static _Thread_local void (*exit_fns[8])(void);
static _Thread_local int n_exit_fns;

static void run_exit_fns(void *unused) {
    (void)unused;
    while (n_exit_fns > 0) exit_fns[--n_exit_fns]();
}

static void make_exit_key(void) { pthread_key_create(&exit_key, run_exit_fns); }

void pt_thread_atexit(void (*fn)(void)) {
    for (int i = 0; i < n_exit_fns; i++)
        if (exit_fns[i] == fn) return;
    PT_ASSERT(n_exit_fns < 8);
    pthread_once(&exit_once, make_exit_key);
    exit_fns[n_exit_fns++] = fn;
    pthread_setspecific(exit_key, (void *)1); /* non-NULL: the destructor runs */
}
