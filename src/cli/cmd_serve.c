/* cmd_serve.c: `petit serve` — an HTTP server with LibreTranslate's API
 * (POST /translate, GET /languages) over one loaded model.
 *
 * libmicrohttpd parses HTTP (a thread per connection); this file reads the
 * requests (JSON with base/json.h, forms with libmicrohttpd's post
 * processor), cuts each text into sentences (cli/segment.h; with format
 * "html", the text between the tags: text/split.h), and hands them to the
 * work queue (cli/serve_queue.h), where worker threads translate the
 * sentences of all waiting requests together. The request thread waits for
 * its job and writes the JSON answer.
 *
 * Bounds: a request body over --max-body bytes is refused (413) before it
 * is read when its length is announced, else once it passes the bound; a
 * request of more sentences than the queue holds is refused (413); a
 * request that does not fit in the queue now is refused (429). SIGTERM or
 * SIGINT: new requests get 503, queued ones are finished and answered, then
 * the server closes its connections and exits 0.
 *
 * Not here: TLS, API keys (api_key is accepted and ignored), language
 * detection (source "auto" means the model's source language), /detect,
 * file translation, a web front end. With format "html" each run of text
 * between tags is translated on its own, so an inline tag (<b>, <a>) cuts
 * its sentence into pieces translated apart. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli/cli.h"

#ifndef PETIT_MHD
int cmd_serve(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (cli_is_help(argv[i])) {
            puts("usage: petit serve [options]\n\nThis petit was built without libmicrohttpd, so it has no HTTP "
                 "server.\nInstall it (Debian: apt-get install libmicrohttpd-dev) and run make again.");
            return 0;
        }
    return cli_fail("serve", "not built in: this petit was built without libmicrohttpd\n"
                             "  ---> HINT: apt-get install libmicrohttpd-dev, then make (the build line says "
                             "'✓ libmicrohttpd')");
}
#else

#include <arpa/inet.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/json.h"
#include "cli/segment.h"
#include "cli/serve_queue.h"
#include "petit.h"
#include "text/split.h"

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif
#define HTTP_TOO_LARGE 413 /* MHD_HTTP_PAYLOAD_TOO_LARGE, renamed CONTENT_TOO_LARGE in newer versions */

static const char *usage_text =
    "usage: petit serve [-m MODEL.gguf] [options]\n"
    "\n"
    "An HTTP server with LibreTranslate's API, one model shared by all requests:\n"
    "  POST /translate   JSON or form: q (a string or a list of strings), source, target,\n"
    "                    format (\"text\" or \"html\": tags kept, the text between them\n"
    "                    translated) -> {\"translatedText\": ...} (a string or a list)\n"
    "  GET  /languages   [{\"code\", \"name\", \"targets\"}, ...]\n"
    "  GET  /health      {\"status\": \"ok\", \"queued\", \"requests\", ..., \"heap_kb\": malloc's in use}\n"
    "Errors are {\"error\": \"...\"} with 400 (bad request), 404, 405, 413 (too large),\n"
    "429 (queue full: retry later), 500, 503 (shutting down). Texts are split into\n"
    "sentences (as translate --split) and the sentences of concurrent requests are\n"
    "translated together. SIGTERM or SIGINT: queued requests are answered, new ones\n"
    "get 503, then it exits 0.\n"
    "\n"
    "  -m, --model FILE        model file, or a bundled model's name (tiny, base); default:\n"
    "                          $PETIT_MODEL, else tiny (models/en-fr.gguf)\n"
    "  --host ADDR             address to listen on (default 127.0.0.1; 0.0.0.0: all)\n"
    "  --port N                port (default 5000; 0: any free port, printed at start)\n"
    "  --source CODE           the model's source language (default en)\n"
    "  --target CODE           the model's target language (default fr)\n"
    "  --beam N                beam size (default 4; 1 = greedy, faster)\n"
    "  --shortlist on|off      the model's lexical shortlist, if it has one (default on)\n"
    "  --batch N               sentences decoded together (default 32)\n"
    "  --workers N             translating threads, each with its own buffers (default 1)\n"
    "  --threads N             threads per worker (default: all cores)\n"
    "  --max-body BYTES        largest request body (default 1048576)\n"
    "  --max-queue N           sentences waiting at most (default 1024); more: 429\n"
    "  --max-connections N     open connections at most (default 256)\n"
    "  --timeout S             idle connections closed after S seconds (default 30)\n"
    "  --verbose               a line per request on stderr\n"
    "\n"
    "On start it prints 'petit serve: listening on http://HOST:PORT' on stderr.\n";

typedef struct {
    serve_queue q;
    const petit_model *pm;
    const char *src_lang, *tgt_lang;
    long max_body;
    int verbose;
    pthread_mutex_t log_mu;
    long requests, refused;
} server;

/* ---- a growing string, and JSON strings ------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = pt_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* s as a JSON string; bytes that are not UTF-8 become U+FFFD */
static void sb_json(sbuf *b, const char *s) {
    size_t n = strlen(s);
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        int l = pt_utf8_len((const unsigned char *)s + i, n - i);
        char esc[8];
        if (!l) sb_str(b, "\\ufffd"), i++;
        else if (c == '"' || c == '\\') esc[0] = '\\', esc[1] = (char)c, sb_put(b, esc, 2), i++;
        else if (c < 0x20) snprintf(esc, sizeof esc, "\\u%04x", c), sb_str(b, esc), i++;
        else sb_put(b, s + i, (size_t)l), i += (size_t)l;
    }
    sb_put(b, "\"", 1);
}

/* ---- responses -------------------------------------------------------- */

/* set on SIGTERM: every answer from then on closes its connection, so that
 * keep-alive clients let go and the server can stop without cutting one */
static int stopping;

static mhd_result respond(struct MHD_Connection *c, unsigned status, sbuf *body) {
    struct MHD_Response *r = MHD_create_response_from_buffer(body->n, body->p, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body->p);
        return MHD_NO;
    }
    body->p = NULL;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    if (__atomic_load_n(&stopping, __ATOMIC_RELAXED)) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    mhd_result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static mhd_result respond_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static mhd_result respond_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sbuf b = {0};
    sb_str(&b, "{\"error\": ");
    sb_json(&b, msg);
    sb_str(&b, "}");
    return respond(c, status, &b);
}

/* ---- one request ------------------------------------------------------- */

enum { BODY_JSON, BODY_FORM };

typedef struct {
    int kind;
    sbuf body;               /* JSON: the body */
    struct MHD_PostProcessor *pp;
    sbuf *q;                 /* form: the q values */
    int nq;
    sbuf source, target, format;
    long received;
    int too_big, answered;
} request;

static void request_free(request *r) {
    if (!r) return;
    if (r->pp) MHD_destroy_post_processor(r->pp);
    for (int i = 0; i < r->nq; i++) free(r->q[i].p);
    free(r->q), free(r->body.p), free(r->source.p), free(r->target.p), free(r->format.p);
    free(r);
}

static mhd_result form_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                             const char *content_type, const char *transfer_encoding, const char *data,
                             uint64_t off, size_t size) {
    request *r = cls;
    sbuf *dst = NULL;
    if (!strcmp(key, "q")) {
        if (off == 0) {
            r->q = pt_realloc(r->q, (size_t)(r->nq + 1) * sizeof(sbuf));
            r->q[r->nq++] = (sbuf){0};
        }
        dst = &r->q[r->nq - 1];
    } else if (!strcmp(key, "source")) {
        dst = &r->source;
    } else if (!strcmp(key, "target")) {
        dst = &r->target;
    } else if (!strcmp(key, "format")) {
        dst = &r->format;
    }
    if (dst) sb_put(dst, data ? data : "", data ? size : 0);
    return MHD_YES;
}

/* a text to translate, as the pieces sent to the queue and how to put
 * their translations back */
typedef struct {
    const char *text;   /* the request's */
    int html;
    pt_span *runs;      /* html: the runs of text, each of pieces [first[k], first[k+1]) */
    int n_runs;
    int *first;         /* text: [first[0], first[1]) */
} text_plan;

/* the pieces of t (appended to p); 0, or -1 with petit_last_error */
static int plan_text(const petit_model *pm, text_plan *t, cli_pieces *p) {
    if (!t->html) {
        t->first = pt_malloc(2 * sizeof(int));
        t->first[0] = p->n;
        if (cli_segment(pm, t->text, strlen(t->text), p) < 0) return -1;
        t->first[1] = p->n;
        return 0;
    }
    int cap = 0;
    t->n_runs = pt_html_runs(t->text, strlen(t->text), &t->runs, &cap);
    t->first = pt_malloc((size_t)(t->n_runs + 1) * sizeof(int));
    for (int k = 0; k < t->n_runs; k++) {
        t->first[k] = p->n;
        char *plain = pt_html_unescape(t->text + t->runs[k].start, t->runs[k].len);
        int rc = cli_segment(pm, plain, strlen(plain), p);
        free(plain);
        if (rc < 0) return -1;
    }
    t->first[t->n_runs] = p->n;
    return 0;
}

/* the translation of t from the pieces' translations out[] (JSON-escaped into b) */
static void put_translation(sbuf *b, const text_plan *t, char **out) {
    if (!t->html) {
        char *s = cli_join(out + t->first[0], t->first[1] - t->first[0]);
        sb_json(b, s);
        free(s);
        return;
    }
    sbuf page = {0};
    size_t at = 0;
    sb_put(&page, "", 0);
    for (int k = 0; k < t->n_runs; k++) {
        sb_put(&page, t->text + at, t->runs[k].start - at);
        char *s = cli_join(out + t->first[k], t->first[k + 1] - t->first[k]);
        if (*s) {
            char *e = pt_html_escape(s);
            sb_str(&page, e);
            free(e);
        } else { /* the model said nothing for this run: its text stays, rather than vanish */
            sb_put(&page, t->text + t->runs[k].start, t->runs[k].len);
        }
        free(s);
        at = t->runs[k].start + t->runs[k].len;
    }
    sb_str(&page, t->text + at);
    sb_json(b, page.p);
    free(page.p);
}

static const char *language_name(const char *code) {
    static const char *const names[][2] = {
        {"en", "English"}, {"fr", "French"}, {"de", "German"}, {"es", "Spanish"}, {"it", "Italian"},
        {"pt", "Portuguese"}, {"nl", "Dutch"}, {"ru", "Russian"}, {"zh", "Chinese"}, {"ja", "Japanese"},
        {"ar", "Arabic"}, {"pl", "Polish"}, {"cs", "Czech"}, {"ro", "Romanian"}, {"uk", "Ukrainian"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i][0], code)) return names[i][1];
    return code;
}

static mhd_result languages(server *s, struct MHD_Connection *c) {
    sbuf b = {0};
    sb_str(&b, "[{\"code\": ");
    sb_json(&b, s->src_lang);
    sb_str(&b, ", \"name\": ");
    sb_json(&b, language_name(s->src_lang));
    sb_str(&b, ", \"targets\": [");
    sb_json(&b, s->tgt_lang);
    sb_str(&b, "]}, {\"code\": ");
    sb_json(&b, s->tgt_lang);
    sb_str(&b, ", \"name\": ");
    sb_json(&b, language_name(s->tgt_lang));
    sb_str(&b, ", \"targets\": []}]");
    return respond(c, MHD_HTTP_OK, &b);
}

/* the bytes malloc has handed out and not had back (glibc), or -1 */
static long heap_in_use(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    return (long)(mi.uordblks + mi.hblkhd);
#else
    return -1;
#endif
}

static mhd_result health(server *s, struct MHD_Connection *c) {
    pthread_mutex_lock(&s->q.mu);
    long queued = s->q.queued, jobs = s->q.jobs_done, sent = s->q.sentences_done, batches = s->q.batches;
    pthread_mutex_unlock(&s->q.mu);
    long heap = heap_in_use();
    char msg[320];
    snprintf(msg, sizeof msg,
             "{\"status\": \"ok\", \"queued\": %ld, \"requests\": %ld, \"sentences\": %ld, \"batches\": %ld, "
             "\"heap_kb\": %ld}",
             queued, jobs, sent, batches, heap < 0 ? -1 : heap / 1024);
    sbuf b = {0};
    sb_str(&b, msg);
    return respond(c, MHD_HTTP_OK, &b);
}

/* the request's fields, read from JSON or the form; on a bad request,
 * an error message in err and -1. texts[] point into the request. */
typedef struct {
    const char **texts;
    int n, list;
    const char *source, *target, *format;
    json_value *root;
} fields;

static int read_fields(request *r, fields *f, char *err, size_t errn) {
    memset(f, 0, sizeof *f);
    if (r->kind == BODY_FORM) {
        if (!r->nq) return snprintf(err, errn, "Invalid request: missing q parameter"), -1;
        f->texts = pt_malloc((size_t)r->nq * sizeof(char *));
        for (int i = 0; i < r->nq; i++) f->texts[i] = r->q[i].p;
        f->n = r->nq, f->list = r->nq > 1;
        f->source = r->source.p, f->target = r->target.p, f->format = r->format.p;
        return 0;
    }
    f->root = json_parse(r->body.p ? r->body.p : "", r->body.n);
    if (!f->root) return snprintf(err, errn, "Invalid JSON: %s", pt_error()), -1;
    if (f->root->type != JSON_OBJECT) return snprintf(err, errn, "Invalid request: the body is not a JSON object"), -1;
    const json_value *q = json_get(f->root, "q");
    if (!q) return snprintf(err, errn, "Invalid request: missing q parameter"), -1;
    if (q->type == JSON_STRING) {
        f->texts = pt_malloc(sizeof(char *));
        f->texts[0] = q->str, f->n = 1;
    } else if (q->type == JSON_ARRAY) {
        f->texts = pt_malloc((size_t)(q->n ? q->n : 1) * sizeof(char *));
        for (int i = 0; i < q->n; i++) {
            if (q->items[i].type != JSON_STRING)
                return snprintf(err, errn, "Invalid request: q[%d] is %s, not a string", i,
                                json_type_name(q->items[i].type)), -1;
            f->texts[i] = q->items[i].str;
        }
        f->n = q->n, f->list = 1;
    } else {
        return snprintf(err, errn, "Invalid request: q is %s, not a string or a list", json_type_name(q->type)), -1;
    }
    const char *names[3] = {"source", "target", "format"};
    const char **dst[3] = {&f->source, &f->target, &f->format};
    for (int k = 0; k < 3; k++) {
        const json_value *v = json_get(f->root, names[k]);
        if (v && v->type != JSON_STRING && v->type != JSON_NULL)
            return snprintf(err, errn, "Invalid request: %s is %s, not a string", names[k], json_type_name(v->type)), -1;
        *dst[k] = v && v->type == JSON_STRING ? v->str : NULL;
    }
    return 0;
}

static mhd_result translate(server *s, struct MHD_Connection *c, request *r) {
    char err[600];
    fields f;
    if (read_fields(r, &f, err, sizeof err)) {
        free(f.texts);
        json_free(f.root);
        return respond_error(c, MHD_HTTP_BAD_REQUEST, "%s", err);
    }
    int bad = 0, html = 0;
    if (f.source && *f.source && strcmp(f.source, "auto") && strcmp(f.source, s->src_lang))
        bad = snprintf(err, sizeof err, "%s (%s) is not available as a source language (this server: %s)", f.source,
                       language_name(f.source), s->src_lang);
    else if (f.target && *f.target && strcmp(f.target, s->tgt_lang))
        bad = snprintf(err, sizeof err, "%s (%s) is not available as a target language (this server: %s)", f.target,
                       language_name(f.target), s->tgt_lang);
    else if (f.format && *f.format && strcmp(f.format, "text") && !(html = !strcmp(f.format, "html")))
        bad = snprintf(err, sizeof err, "Invalid request: format '%s' (text or html)", f.format);
    if (bad) {
        free(f.texts);
        json_free(f.root);
        return respond_error(c, MHD_HTTP_BAD_REQUEST, "%s", err);
    }
    int detect = !f.source || !*f.source || !strcmp(f.source, "auto");
    text_plan *plan = pt_calloc((size_t)(f.n ? f.n : 1), sizeof(text_plan));
    cli_pieces p = {0};
    int failed = 0;
    for (int i = 0; i < f.n && !failed; i++) {
        plan[i].text = f.texts[i], plan[i].html = html;
        failed = plan_text(s->pm, &plan[i], &p) != 0;
    }
    unsigned status = MHD_HTTP_OK;
    serve_job job = {.src = p.text, .n = p.n};
    if (failed) {
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        snprintf(err, sizeof err, "%s", petit_last_error());
    } else if (p.n > s->q.max_queued) {
        status = HTTP_TOO_LARGE;
        snprintf(err, sizeof err, "Request too large: %d sentences, at most %ld", p.n, s->q.max_queued);
    } else if (p.n) {
        int rc = serve_queue_submit(&s->q, &job);
        if (rc == SERVE_FULL) {
            status = MHD_HTTP_TOO_MANY_REQUESTS;
            snprintf(err, sizeof err, "Too many requests: the queue is full, retry later");
        } else if (rc == SERVE_STOPPING) {
            status = MHD_HTTP_SERVICE_UNAVAILABLE;
            snprintf(err, sizeof err, "The server is shutting down");
        } else {
            serve_queue_wait(&s->q, &job);
            if (job.failed) {
                status = MHD_HTTP_INTERNAL_SERVER_ERROR;
                snprintf(err, sizeof err, "Translation failed: %s", job.error);
            }
        }
    }
    mhd_result rc;
    if (status != MHD_HTTP_OK) {
        rc = respond_error(c, status, "%s", err);
    } else {
        sbuf b = {0};
        sb_str(&b, "{\"translatedText\": ");
        if (f.list) sb_str(&b, "[");
        for (int i = 0; i < f.n; i++) {
            if (i) sb_str(&b, ", ");
            put_translation(&b, &plan[i], job.out);
        }
        if (f.list) sb_str(&b, "]");
        if (detect) { /* no detection: the one source language, as LibreTranslate answers for "auto" */
            char d[128];
            snprintf(d, sizeof d, "{\"confidence\": 100.0, \"language\": \"%s\"}", s->src_lang);
            sb_str(&b, ", \"detectedLanguage\": ");
            if (f.list) sb_str(&b, "[");
            for (int i = 0; i < (f.list ? f.n : 1); i++) {
                if (i) sb_str(&b, ", ");
                sb_str(&b, d);
            }
            if (f.list) sb_str(&b, "]");
        }
        sb_str(&b, "}");
        rc = respond(c, status, &b);
    }
    if (job.out)
        for (int i = 0; i < job.n; i++) free(job.out[i]);
    free(job.out);
    for (int i = 0; i < f.n; i++) free(plan[i].runs), free(plan[i].first);
    free(plan);
    cli_pieces_free(&p);
    free(f.texts);
    json_free(f.root);
    if (s->verbose) {
        pthread_mutex_lock(&s->log_mu);
        fprintf(stderr, "petit serve: POST /translate %u: %d texts, %d sentences\n", status, f.n, job.n);
        pthread_mutex_unlock(&s->log_mu);
    }
    return rc;
}

static int starts_with_ci(const char *s, const char *prefix) {
    for (; *prefix; s++, prefix++)
        if ((*s | 0x20) != (*prefix | 0x20)) return 0;
    return 1;
}

static mhd_result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                         const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    server *s = cls;
    request *r = *con_cls;
    if (!r) { /* the headers: route, and refuse early what can be refused */
        r = pt_calloc(1, sizeof *r);
        *con_cls = r;
        int post = !strcmp(method, "POST"), get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
        if (!strcmp(method, "OPTIONS")) { /* CORS preflight */
            struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
            MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
            MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
            MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Content-Type");
            mhd_result rc = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, resp);
            MHD_destroy_response(resp);
            r->answered = 1;
            return rc;
        }
        if (!strcmp(url, "/languages") || !strcmp(url, "/health") || !strcmp(url, "/translate")) {
            int want_post = !strcmp(url, "/translate");
            if (want_post ? !post : !get) {
                r->answered = 1;
                return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Method %s not allowed on %s", method, url);
            }
        } else {
            r->answered = 1;
            return respond_error(c, MHD_HTTP_NOT_FOUND, "Not found: %s", url);
        }
        if (!post) {
            r->answered = 1;
            return !strcmp(url, "/languages") ? languages(s, c) : health(s, c);
        }
        const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (len && strtoll(len, NULL, 10) > s->max_body) {
            r->answered = 1; /* before reading it (and before "100 Continue") */
            return respond_error(c, HTTP_TOO_LARGE, "Request too large: %s bytes, at most %ld", len,
                                 s->max_body);
        }
        const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (type && (starts_with_ci(type, "application/x-www-form-urlencoded") ||
                     starts_with_ci(type, "multipart/form-data"))) {
            r->kind = BODY_FORM;
            r->pp = MHD_create_post_processor(c, 64 * 1024, form_field, r);
            if (!r->pp) {
                r->answered = 1;
                return respond_error(c, MHD_HTTP_BAD_REQUEST, "Invalid form: %s", type);
            }
        }
        return MHD_YES;
    }
    if (r->answered) { /* an early answer: the rest of the body is read and dropped */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        r->received += (long)*upload_size;
        if (r->received > s->max_body) r->too_big = 1;
        else if (r->kind == BODY_FORM) MHD_post_process(r->pp, upload, *upload_size);
        else sb_put(&r->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    r->answered = 1;
    if (r->too_big)
        return respond_error(c, HTTP_TOO_LARGE, "Request too large: over %ld bytes", s->max_body);
    return translate(s, c, r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    server *s = cls;
    request *r = *con_cls;
    if (!r) return;
    __atomic_fetch_add(&s->requests, 1, __ATOMIC_RELAXED);
    request_free(r);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    server *s = cls;
    if (!s->verbose) return;
    pthread_mutex_lock(&s->log_mu);
    fputs("petit serve: http: ", stderr);
    vfprintf(stderr, fmt, ap);
    pthread_mutex_unlock(&s->log_mu);
}

int cmd_serve(int argc, char **argv) {
    const char *model = NULL, *host = "127.0.0.1", *src_lang = "en", *tgt_lang = "fr";
    long port = 5000, batch = 32, workers = 1, max_body = 1 << 20, max_queue = 1024, max_conn = 256, timeout = 30, x;
    int verbose = 0;
    petit_options o;
    petit_options_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(f)) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(f, "-m") || !strcmp(f, "--model")) {
            if (!v) return cli_usage("serve", "%s needs a value", f);
            model = v, i++;
        } else if (!strcmp(f, "--host")) {
            if (!v) return cli_usage("serve", "%s needs a value", f);
            host = v, i++;
        } else if (!strcmp(f, "--source") || !strcmp(f, "--target")) {
            if (!v || !*v) return cli_usage("serve", "%s needs a language code", f);
            *(f[2] == 's' ? &src_lang : &tgt_lang) = v, i++;
        } else if (!strcmp(f, "--port")) {
            if (cli_int("serve", f, v, 0, 65535, &port)) return 2;
            i++;
        } else if (!strcmp(f, "--beam")) {
            if (cli_int("serve", f, v, 1, 256, &x)) return 2;
            o.beam = (int)x, i++;
        } else if (!strcmp(f, "--shortlist")) {
            if (cli_on_off("serve", f, v, &o.shortlist)) return 2;
            i++;
        } else if (!strcmp(f, "--batch")) {
            if (cli_int("serve", f, v, 1, 4096, &batch)) return 2;
            i++;
        } else if (!strcmp(f, "--workers")) {
            if (cli_int("serve", f, v, 1, 64, &workers)) return 2;
            i++;
        } else if (!strcmp(f, "--threads")) {
            if (cli_int("serve", f, v, 0, 1024, &x)) return 2;
            o.threads = (int)x, i++;
        } else if (!strcmp(f, "--max-body")) {
            if (cli_int("serve", f, v, 1, 1L << 30, &max_body)) return 2;
            i++;
        } else if (!strcmp(f, "--max-queue")) {
            if (cli_int("serve", f, v, 1, 1L << 24, &max_queue)) return 2;
            i++;
        } else if (!strcmp(f, "--max-connections")) {
            if (cli_int("serve", f, v, 1, 100000, &max_conn)) return 2;
            i++;
        } else if (!strcmp(f, "--timeout")) {
            if (cli_int("serve", f, v, 1, 86400, &timeout)) return 2;
            i++;
        } else if (!strcmp(f, "--verbose") || !strcmp(f, "-v")) {
            verbose = 1;
        } else {
            return cli_unknown("serve", f);
        }
    }
    char def[4096];
    if (model && !(model = cli_model_path("serve", model, def, sizeof def))) return 1;
    if (!model && !(model = cli_default_model(def, sizeof def)))
        return cli_usage("serve", "no -m MODEL.gguf, no $PETIT_MODEL and no bundled models/en-fr.gguf");
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    int v6 = strchr(host, ':') != NULL;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&addr;
        a->sin6_family = AF_INET6, a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) return cli_usage("serve", "--host '%s': not an address", host);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&addr;
        a->sin_family = AF_INET, a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return cli_usage("serve", "--host '%s': not an IPv4 or IPv6 address", host);
    }

    petit_model *pm = petit_model_load(model);
    if (!pm) return cli_fail("serve", "%s", petit_last_error());
    server s = {.pm = pm, .src_lang = src_lang, .tgt_lang = tgt_lang, .max_body = max_body, .verbose = verbose};
    pthread_mutex_init(&s.log_mu, NULL);

    /* the signals are taken by sigwait below: blocked in every thread (they inherit the mask) */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (serve_queue_start(&s.q, pm, &o, (int)workers, (int)batch, max_queue)) {
        petit_model_free(pm);
        return cli_fail("serve", "%s", pt_error());
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, handle, &s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, completed, &s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conn,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout, MHD_OPTION_THREAD_STACK_SIZE, (size_t)1 << 20,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, &s, MHD_OPTION_END);
    if (!d) {
        int e = errno;
        serve_queue_stop(&s.q);
        serve_queue_free(&s.q);
        petit_model_free(pm);
        return cli_fail("serve", "cannot listen on %s port %ld: %s", host, port, strerror(e ? e : EADDRINUSE));
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info ? info->port : (unsigned)port;
    fprintf(stderr, "petit serve: %s (%s -> %s, beam %d), listening on http://%s%s%s:%u\n", model, src_lang, tgt_lang,
            o.beam, v6 ? "[" : "", host, v6 ? "]" : "", bound);
    fflush(stderr);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {}
    fprintf(stderr, "petit serve: %s: finishing the queued requests\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    /* 1. new requests get 503 (and "Connection: close"); new connections are
     * refused: the listening socket stops accepting and is shut down (it is
     * closed only after MHD_stop_daemon, as libmicrohttpd asks) */
    __atomic_store_n(&stopping, 1, __ATOMIC_RELAXED);
    serve_queue_close(&s.q);
    MHD_socket lfd = MHD_quiesce_daemon(d);
    if (lfd != MHD_INVALID_SOCKET) shutdown(lfd, SHUT_RDWR);
    /* 2. the queued requests are translated and answered */
    serve_queue_stop(&s.q);
    /* 3. the open connections finish what they were sending (up to 5 s: an
     * idle keep-alive connection would wait for its timeout) */
    for (int i = 0; i < 100; i++) {
        const union MHD_DaemonInfo *ci = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (!ci || ci->num_connections == 0) break;
        usleep(50 * 1000);
    }
    MHD_stop_daemon(d); /* closes the rest, waits for the connections' threads */
    if (lfd != MHD_INVALID_SOCKET) close(lfd);
    fprintf(stderr, "petit serve: stopped after %ld requests (%ld sentences in %ld batches)\n", s.requests,
            s.q.sentences_done, s.q.batches);
    serve_queue_free(&s.q);
    pthread_mutex_destroy(&s.log_mu);
    petit_model_free(pm);
    return 0;
}
#endif
