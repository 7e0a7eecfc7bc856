/* base: errors, allocation, random numbers, timing and small file helpers.
 *
 * Everything in src/ depends on this; this depends on nothing but libc.
 * Library code never prints or exits: it returns an error code (0 = ok,
 * -1 = failure) or NULL and leaves a message with pt_set_error(); the CLI
 * fetches it with pt_error(). PT_ASSERT stays on in release builds and is for
 * broken invariants only, never for bad input.
 */
#ifndef PETIT_BASE_H
#define PETIT_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- errors ---------------------------------------------------------- */
/* The last error message of this thread. Formatting like printf. Always
 * returns -1 so that `return pt_set_error(...)` reads naturally. */
int pt_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *pt_error(void);
void pt_clear_error(void);

void pt_assert_fail(const char *expr, const char *file, int line);
#define PT_ASSERT(x) ((x) ? (void)0 : pt_assert_fail(#x, __FILE__, __LINE__))

/* ---- allocation ------------------------------------------------------ */
/* These abort on out-of-memory (the one place library code may stop the
 * process): a translator that cannot get a few MB cannot recover anyway.
 * Sizes taken from files must be validated before they reach these. */
void *pt_malloc(size_t n);
void *pt_calloc(size_t n, size_t size);
void *pt_realloc(void *p, size_t n);
char *pt_strdup(const char *s);
/* 64-byte aligned, zeroed; free with pt_free_aligned */
void *pt_alloc_aligned(size_t n);
/* Run fn when the calling thread exits (once per thread and fn, at most 8
 * per thread): frees a thread's _Thread_local scratch, which would otherwise
 * leak with every application thread that translated. The process's main
 * thread does not run them (its memory goes with the process). */
void pt_thread_atexit(void (*fn)(void));
void pt_free_aligned(void *p);
/* Large zeroed buffers whose pages cost memory only once touched (mmap):
 * a buffer sized for the worst case holds only what is written to it */
void *pt_alloc_pages(size_t n);
void pt_free_pages(void *p, size_t n);

/* ---- random numbers -------------------------------------------------- */
/* xoshiro128+-free, stateless where it matters: pt_hash_u64 mixes a key into
 * 64 random bits, so dropout masks are a function of (seed, step, site, index)
 * and do not depend on the thread count. pt_rng is a small sequential
 * generator (splitmix64) for shuffling and initialization. */
typedef struct { uint64_t s; } pt_rng;
uint64_t pt_hash_u64(uint64_t x);
uint64_t pt_rng_next(pt_rng *r);
float pt_rng_uniform(pt_rng *r);   /* [0, 1) */
float pt_rng_normal(pt_rng *r);    /* N(0, 1), Box-Muller */
static inline float pt_hash_uniform(uint64_t key) {
    return (float)(pt_hash_u64(key) >> 40) * (1.0f / 16777216.0f);
}

/* ---- time ------------------------------------------------------------ */
double pt_time(void); /* seconds, monotonic */

/* ---- files ----------------------------------------------------------- */
/* Read a whole file; NULL and an error naming the path on failure.
 * The buffer gets one extra NUL byte (not counted in *len). */
char *pt_read_file(const char *path, size_t *len);

/* Atomic file writing: write to "path.tmp.PID", fsync, rename over path.
 * pt_atomic_open returns a FILE* for the temp file; pt_atomic_commit
 * flushes, fsyncs, closes and renames (and removes the temp file on any
 * failure); pt_atomic_abort closes and removes it. */
typedef struct {
    FILE *f;
    char *path;
    char *tmp;
} pt_atomic_file;
/* Only a regular file is ever replaced: a destination that exists and is a
 * directory, a FIFO, a device or a socket is refused with an error naming
 * it (rename would put a regular file in its place). A symbolic link is
 * written through: its target (which must exist and be a regular file) is
 * replaced, in the target's folder, and the link stays. */
int pt_atomic_open(pt_atomic_file *af, const char *path);
/* 0 if pt_atomic_open(path) would succeed now (the same checks, and a file
 * can be created in the folder: one is created and removed), else -1 with
 * an error: to check an output before hours of work */
int pt_atomic_check(const char *path);
/* 0 if path is (or links to) a regular file, else -1 with an error ("PATH:
 * is a FIFO, not a regular file"): stat only, so a FIFO never blocks. For
 * inputs that are mapped or read whole (models, vocabularies). */
int pt_check_regular(const char *path);
/* "a directory", "a FIFO", "a character device", ... for a st_mode */
const char *pt_file_kind(unsigned st_mode);
int pt_atomic_commit(pt_atomic_file *af);
void pt_atomic_abort(pt_atomic_file *af);

/* Line reader over a memory buffer (a file read whole). Lines end at '\n';
 * a trailing '\r' is kept (callers decide), the final line needs no '\n'.
 * Returns 1 and sets line and len for each line, 0 at the end. */
typedef struct {
    const char *p, *end;
} pt_lines;
static inline void pt_lines_init(pt_lines *it, const char *buf, size_t n) {
    it->p = buf;
    it->end = buf + n;
}
int pt_lines_next(pt_lines *it, const char **line, size_t *len);
size_t pt_count_lines(const char *buf, size_t n);

/* ---- UTF-8 ----------------------------------------------------------- */
/* Length in bytes of the valid UTF-8 character at s (at most n bytes), or 0
 * if the bytes there are not valid UTF-8 (overlong, surrogate, truncated). */
int pt_utf8_len(const unsigned char *s, size_t n);
int pt_utf8_valid(const char *s, size_t n);

#endif
