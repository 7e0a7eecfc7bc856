/* json.c: the strict JSON reader of json.h (recursive descent). */
#include "base/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

typedef struct {
    const char *s;
    size_t n, i;
} parser;

static int fail(const parser *p, const char *what) {
    size_t line = 1, col = 1;
    for (size_t k = 0; k < p->i && k < p->n; k++) {
        if (p->s[k] == '\n') line++, col = 1;
        else col++;
    }
    return pt_set_error("JSON line %zu column %zu: %s", line, col, what);
}

static void skip_ws(parser *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int literal(parser *p, const char *word) {
    size_t l = strlen(word);
    if (p->n - p->i < l || memcmp(p->s + p->i, word, l)) return fail(p, "unexpected character");
    p->i += l;
    return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int number(parser *p, json_value *v) {
    size_t start = p->i;
    if (p->i < p->n && p->s[p->i] == '-') p->i++;
    if (p->i >= p->n || !is_digit(p->s[p->i])) return fail(p, "bad number");
    if (p->s[p->i] == '0') {
        p->i++;
        if (p->i < p->n && is_digit(p->s[p->i])) return fail(p, "number with a leading zero");
    } else {
        while (p->i < p->n && is_digit(p->s[p->i])) p->i++;
    }
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (p->i >= p->n || !is_digit(p->s[p->i])) return fail(p, "bad number: no digit after '.'");
        while (p->i < p->n && is_digit(p->s[p->i])) p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (p->i >= p->n || !is_digit(p->s[p->i])) return fail(p, "bad number: no digit in the exponent");
        while (p->i < p->n && is_digit(p->s[p->i])) p->i++;
    }
    char buf[64];
    size_t l = p->i - start;
    if (l >= sizeof buf) { /* long numbers: strtod on a heap copy */
        char *t = pt_malloc(l + 1);
        memcpy(t, p->s + start, l);
        t[l] = 0;
        v->num = strtod(t, NULL);
        free(t);
    } else {
        memcpy(buf, p->s + start, l);
        buf[l] = 0;
        v->num = strtod(buf, NULL);
    }
    if (!isfinite(v->num)) return p->i = start, fail(p, "number out of range");
    v->type = JSON_NUMBER;
    return 0;
}

static int hex4(parser *p, unsigned *out) {
    if (p->n - p->i < 4) return fail(p, "truncated \\u escape");
    unsigned x = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i++];
        x <<= 4;
        if (c >= '0' && c <= '9') x |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') x |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') x |= (unsigned)(c - 'A' + 10);
        else return p->i--, fail(p, "bad hex digit in \\u escape");
    }
    *out = x;
    return 0;
}

static size_t put_utf8(char *o, unsigned c) {
    if (c < 0x80) return o[0] = (char)c, 1;
    if (c < 0x800) return o[0] = (char)(0xC0 | c >> 6), o[1] = (char)(0x80 | (c & 63)), 2;
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | c >> 12), o[1] = (char)(0x80 | (c >> 6 & 63)), o[2] = (char)(0x80 | (c & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | c >> 18), o[1] = (char)(0x80 | (c >> 12 & 63)), o[2] = (char)(0x80 | (c >> 6 & 63));
    o[3] = (char)(0x80 | (c & 63));
    return 4;
}

/* a string at p->i (the opening quote); the decoded bytes are never longer
 * than the source text, so one allocation of that size holds them */
static int string(parser *p, char **out, size_t *out_len) {
    p->i++;
    size_t end = p->i;
    while (end < p->n && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->n) return fail(p, "unterminated string");
    char *o = pt_malloc(end - p->i + 1);
    size_t k = 0;
    while (p->s[p->i] != '"') {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c < 0x20) return free(o), fail(p, "control character inside a string");
        if (c != '\\') {
            o[k++] = (char)c;
            p->i++;
            continue;
        }
        p->i++;
        char e = p->s[p->i++];
        switch (e) {
        case '"': o[k++] = '"'; break;
        case '\\': o[k++] = '\\'; break;
        case '/': o[k++] = '/'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'u': {
            unsigned u, lo;
            if (hex4(p, &u)) return free(o), -1;
            if (u >= 0xDC00 && u <= 0xDFFF) return free(o), fail(p, "lone low surrogate in \\u escape");
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (p->n - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
                    return free(o), fail(p, "high surrogate without a low one");
                p->i += 2;
                if (hex4(p, &lo)) return free(o), -1;
                if (lo < 0xDC00 || lo > 0xDFFF) return free(o), fail(p, "high surrogate without a low one");
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            }
            k += put_utf8(o + k, u);
            break;
        }
        default: return p->i--, free(o), fail(p, "bad escape in a string");
        }
    }
    p->i++;
    o[k] = 0;
    *out = o;
    *out_len = k;
    return 0;
}

static int key_cmp(const void *a, const void *b) {
    const char *const *x = a, *const *y = b;
    return strcmp(*x, *y);
}

static int value(parser *p, json_value *v, int depth);

static int container(parser *p, json_value *v, int depth, int object) {
    if (depth >= JSON_MAX_DEPTH) return fail(p, "nested too deeply");
    char close = object ? '}' : ']';
    v->type = object ? JSON_OBJECT : JSON_ARRAY;
    p->i++;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == close) return p->i++, 0;
    int cap = 0;
    for (;;) {
        if (v->n == cap) {
            cap = cap ? 2 * cap : 8;
            v->items = pt_realloc(v->items, sizeof *v->items * (size_t)cap);
            if (object) {
                v->keys = pt_realloc(v->keys, sizeof *v->keys * (size_t)cap);
                v->key_lens = pt_realloc(v->key_lens, sizeof *v->key_lens * (size_t)cap);
            }
        }
        json_value *it = &v->items[v->n];
        memset(it, 0, sizeof *it);
        if (object) {
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != '"') return fail(p, "expected a string key");
            if (string(p, &v->keys[v->n], &v->key_lens[v->n])) return -1;
            v->n++; /* counted now so json_free frees the key */
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') return fail(p, "expected ':' after a key");
            p->i++;
        } else {
            v->n++;
        }
        if (value(p, it, depth + 1)) return -1;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            break;
        }
        return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    if (object && v->n > 1) { /* duplicate keys: sort a copy, compare neighbours */
        char **k = pt_malloc(sizeof *k * (size_t)v->n);
        memcpy(k, v->keys, sizeof *k * (size_t)v->n);
        qsort(k, (size_t)v->n, sizeof *k, key_cmp);
        for (int i = 1; i < v->n; i++)
            if (!strcmp(k[i - 1], k[i])) {
                pt_set_error("JSON: duplicate key \"%.60s\" in an object", k[i]);
                free(k);
                return -1;
            }
        free(k);
    }
    return 0;
}

static int value(parser *p, json_value *v, int depth) {
    skip_ws(p);
    if (p->i >= p->n) return fail(p, "unexpected end of input");
    switch (p->s[p->i]) {
    case '{': return container(p, v, depth, 1);
    case '[': return container(p, v, depth, 0);
    case '"': v->type = JSON_STRING; return string(p, &v->str, &v->len);
    case 't': v->type = JSON_TRUE; return literal(p, "true");
    case 'f': v->type = JSON_FALSE; return literal(p, "false");
    case 'n': v->type = JSON_NULL; return literal(p, "null");
    default: return number(p, v);
    }
}

static void free_inner(json_value *v) {
    for (int i = 0; i < v->n; i++) {
        free_inner(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->key_lens);
    free(v->str);
}

void json_free(json_value *v) {
    if (!v) return;
    free_inner(v);
    free(v);
}

json_value *json_parse(const char *text, size_t len) {
    if (!pt_utf8_valid(text, len)) return pt_set_error("JSON: the text is not valid UTF-8"), NULL;
    parser p = {text, len, 0};
    json_value *v = pt_calloc(1, sizeof *v);
    if (value(&p, v, 0)) return json_free(v), NULL;
    skip_ws(&p);
    if (p.i != p.n) return fail(&p, "text after the JSON value"), json_free(v), NULL;
    return v;
}

const json_value *json_get(const json_value *v, const char *key) {
    if (!v || v->type != JSON_OBJECT) return NULL;
    size_t l = strlen(key);
    for (int i = 0; i < v->n; i++)
        if (v->key_lens[i] == l && !memcmp(v->keys[i], key, l)) return &v->items[i];
    return NULL;
}

int json_int(const json_value *v, long long *out) {
    if (!v || v->type != JSON_NUMBER || !(fabs(v->num) <= 9007199254740992.0) || v->num != floor(v->num)) return 0;
    *out = (long long)v->num;
    return 1;
}

const char *json_type_name(json_type t) {
    static const char *names[] = {"null", "false", "true", "a number", "a string", "an array", "an object"};
    return t >= JSON_NULL && t <= JSON_OBJECT ? names[t] : "?";
}
