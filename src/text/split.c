/* split.c: sentence boundaries and HTML text runs (split.h). Byte-level,
 * UTF-8 aware where it matters (quotes, ellipsis, no-break spaces, a few
 * upper-case ranges); no tables beyond the abbreviation list. */
#include "text/split.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"

/* words that a '.' follows without ending the sentence (case-sensitive:
 * "No. 5" but "I said no. Then ...") */
static const char *const abbreviations[] = {
    "Mr", "Mrs", "Ms", "Messrs", "Dr", "Prof", "Sr", "Jr", "St", "Mt", "Gen", "Col", "Lt", "Sgt", "Capt",
    "Cmdr", "Adm", "Gov", "Sen", "Rep", "Rev", "Hon", "Pres", "Mme", "Mmes", "Mlle", "Mlles", "Me", "Mgr",
    "No", "Nos", "Art", "Fig", "fig", "Vol", "vol", "pp", "p", "Ch", "Sec", "approx",
    "vs", "cf", "ca", "al", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov",
    "Dec", "Ave", "Blvd", "Rd", "Dept", "Univ", "Nr", "nr", "env", "resp",
};

static int is_abbreviation(const char *w, size_t n) {
    for (size_t i = 0; i < sizeof abbreviations / sizeof abbreviations[0]; i++)
        if (strlen(abbreviations[i]) == n && !memcmp(abbreviations[i], w, n)) return 1;
    return 0;
}

static int match(const char *s, size_t n, size_t i, const char *what) {
    size_t l = strlen(what);
    return n - i >= l && !memcmp(s + i, what, l);
}

/* length of the whitespace at s+i (space, tab, CR, LF, U+00A0, U+202F), 0 if none */
static size_t space_at(const char *s, size_t n, size_t i) {
    if (i >= n) return 0;
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') return 1;
    if (match(s, n, i, "\xc2\xa0")) return 2;
    if (match(s, n, i, "\xe2\x80\xaf")) return 3;
    return 0;
}

static size_t skip_space(const char *s, size_t n, size_t i) {
    for (size_t l; (l = space_at(s, n, i));) i += l;
    return i;
}

/* a sentence-ending mark at s+i: . ! ? … */
static size_t terminator_at(const char *s, size_t n, size_t i) {
    if (i >= n) return 0;
    if (s[i] == '.' || s[i] == '!' || s[i] == '?') return 1;
    return match(s, n, i, "\xe2\x80\xa6") ? 3 : 0;
}

/* a closing quote or bracket: " ' ) ] » ” ’ */
static size_t closer_at(const char *s, size_t n, size_t i) {
    if (i >= n) return 0;
    if (s[i] == '"' || s[i] == '\'' || s[i] == ')' || s[i] == ']') return 1;
    if (match(s, n, i, "\xc2\xbb")) return 2;
    if (match(s, n, i, "\xe2\x80\x9d") || match(s, n, i, "\xe2\x80\x99")) return 3;
    return 0;
}

/* an opening quote, bracket or dash: " ' ( [ « “ ‘ ¿ ¡ - – — */
static size_t opener_at(const char *s, size_t n, size_t i) {
    if (i >= n) return 0;
    if (s[i] == '"' || s[i] == '\'' || s[i] == '(' || s[i] == '[' || s[i] == '-') return 1;
    if (match(s, n, i, "\xc2\xab") || match(s, n, i, "\xc2\xbf") || match(s, n, i, "\xc2\xa1")) return 2;
    if (match(s, n, i, "\xe2\x80\x9c") || match(s, n, i, "\xe2\x80\x98") || match(s, n, i, "\xe2\x80\x93") ||
        match(s, n, i, "\xe2\x80\x94"))
        return 3;
    return 0;
}

/* an upper-case letter or a digit at s+i: ASCII, Latin-1 (À-Þ but ×),
 * Latin Extended-A (even code points, the capitals), Greek and Cyrillic capitals */
static int upper_at(const char *s, size_t n, size_t i) {
    if (i >= n) return 0;
    unsigned char c = (unsigned char)s[i], d = i + 1 < n ? (unsigned char)s[i + 1] : 0;
    if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
    if (c == 0xc3) return d >= 0x80 && d <= 0x9e && d != 0x97;
    if (c == 0xc4 || c == 0xc5) return d >= 0x80 && d <= 0xbf && !(d & 1); /* U+0100-017F: even = capital */
    if (c == 0xce) return d >= 0x91 && d <= 0xa9;
    if (c == 0xd0) return d >= 0x80 && d <= 0xaf;
    return 0;
}

/* does a sentence start at s+i (openers and spaces, then a capital or digit)? */
static int starts_sentence(const char *s, size_t n, size_t i, int digits) {
    for (size_t l; (l = opener_at(s, n, i)) || (l = space_at(s, n, i));) i += l;
    return upper_at(s, n, i) && (digits || s[i] < '0' || s[i] > '9');
}

/* may the single '.' at s+dot end a sentence, judging by the word before it? */
static int period_ends(const char *s, size_t dot) {
    size_t b = dot;
    while (b > 0 && s[b - 1] != ' ' && s[b - 1] != '\t' && s[b - 1] != '\n' && s[b - 1] != '(' &&
           s[b - 1] != '"' && s[b - 1] != '\'' && s[b - 1] != '[' && (unsigned char)s[b - 1] < 0x80)
        b--;
    const char *w = s + b;
    size_t len = dot - b;
    if (len == 0) return 1;
    if (len == 1 && w[0] >= 'A' && w[0] <= 'Z') return 0; /* an initial: "J. K. Rowling" */
    int dots = 0, digits = 0;
    for (size_t k = 0; k < len; k++) dots |= w[k] == '.', digits |= w[k] >= '0' && w[k] <= '9';
    if (dots && !digits) return 0; /* "e.g.", "U.S." (but "7.8%." ends a sentence) */
    return !is_abbreviation(w, len);
}

static void push(pt_span **spans, int *cap, int *k, const char *s, size_t a, size_t b) {
    while (a < b && space_at(s, b, a)) a += space_at(s, b, a);
    while (b > a) { /* trailing whitespace: one byte, or a 2- or 3-byte space */
        if (space_at(s, b, b - 1) == 1) b--;
        else if (b - a >= 2 && space_at(s, b, b - 2) == 2) b -= 2;
        else if (b - a >= 3 && space_at(s, b, b - 3) == 3) b -= 3;
        else break;
    }
    if (a >= b) return;
    if (*k == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *spans = pt_realloc(*spans, (size_t)*cap * sizeof(pt_span));
    }
    (*spans)[(*k)++] = (pt_span){a, b - a};
}

int pt_split_sentences(const char *s, size_t n, pt_span **spans, int *cap) {
    int k = 0;
    size_t start = 0, i = 0;
    while (i < n) {
        size_t l = terminator_at(s, n, i);
        if (!l) {
            int u = pt_utf8_len((const unsigned char *)s + i, n - i);
            i += u ? (size_t)u : 1;
            continue;
        }
        size_t j = i + l, run = 1;
        while ((l = terminator_at(s, n, j))) j += l, run++;
        int lone_period = run == 1 && s[i] == '.';
        int ellipsis = (s[i] == '.' && run >= 2) || s[i] == '\xe2'; /* "..." or "…": not before a digit */
        /* closing quotes and brackets, also French "word. »" with a space before » */
        for (;;) {
            if ((l = closer_at(s, n, j))) j += l;
            else if (space_at(s, n, j) && match(s, n, skip_space(s, n, j), "\xc2\xbb")) j = skip_space(s, n, j) + 2;
            else break;
        }
        if (!space_at(s, n, j)) { /* "3.5", "example.com", the end of the text */
            i = j;
            continue;
        }
        size_t next = skip_space(s, n, j);
        if (next < n && starts_sentence(s, n, next, !ellipsis) && (!lone_period || period_ends(s, i))) {
            push(spans, cap, &k, s, start, j);
            start = next;
        }
        i = next;
    }
    push(spans, cap, &k, s, start, n);
    return k;
}

/* ---- HTML ------------------------------------------------------------ */

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int match_ci(const char *s, size_t n, size_t i, const char *what) {
    size_t l = strlen(what);
    if (n - i < l) return 0;
    for (size_t k = 0; k < l; k++)
        if (lower((unsigned char)s[i + k]) != what[k]) return 0;
    return 1;
}

/* the end of the tag that opens at s+i ('<'): after its '>' (quoted attribute values may hold '>') */
static size_t tag_end(const char *s, size_t n, size_t i) {
    if (match(s, n, i, "<!--")) {
        for (size_t k = i + 4; k + 3 <= n; k++)
            if (match(s, n, k, "-->")) return k + 3;
        return n;
    }
    char q = 0;
    for (size_t k = i + 1; k < n; k++) {
        if (q) {
            if (s[k] == q) q = 0;
        } else if (s[k] == '"' || s[k] == '\'') {
            q = s[k];
        } else if (s[k] == '>') {
            return k + 1;
        }
    }
    return n;
}

int pt_html_runs(const char *s, size_t n, pt_span **runs, int *cap) {
    int k = 0;
    size_t run = 0, i = 0;
    while (i < n) {
        unsigned char c = i + 1 < n ? (unsigned char)s[i + 1] : 0;
        int opens = s[i] == '<' && ((lower(c) >= 'a' && lower(c) <= 'z') || c == '/' || c == '!' || c == '?');
        if (!opens) {
            i++;
            continue;
        }
        push(runs, cap, &k, s, run, i);
        size_t e = tag_end(s, n, i);
        const char *raw = match_ci(s, n, i, "<script") ? "</script" : match_ci(s, n, i, "<style") ? "</style" : NULL;
        if (raw && e < n) { /* raw text up to the closing tag */
            size_t k2 = e;
            while (k2 < n && !match_ci(s, n, k2, raw)) k2++;
            e = k2 < n ? tag_end(s, n, k2) : n;
        }
        i = run = e;
    }
    push(runs, cap, &k, s, run, n);
    return k;
}

static size_t put_utf8(char *o, unsigned long c) {
    if (c < 0x80) return o[0] = (char)c, 1;
    if (c < 0x800) return o[0] = (char)(0xc0 | c >> 6), o[1] = (char)(0x80 | (c & 0x3f)), 2;
    if (c < 0x10000) {
        o[0] = (char)(0xe0 | c >> 12), o[1] = (char)(0x80 | ((c >> 6) & 0x3f)), o[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | c >> 18), o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3f)), o[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

char *pt_html_unescape(const char *s, size_t n) {
    static const struct { const char *name, *text; } named[] = {
        {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&nbsp;", "\xc2\xa0"},
    };
    char *o = pt_malloc(n + 1); /* every entity is longer than its text */
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '&') {
            o[m++] = s[i++];
            continue;
        }
        size_t done = 0;
        for (size_t k = 0; k < sizeof named / sizeof named[0] && !done; k++)
            if (match(s, n, i, named[k].name)) {
                size_t l = strlen(named[k].text);
                memcpy(o + m, named[k].text, l), m += l;
                done = strlen(named[k].name);
            }
        if (!done && i + 2 < n && s[i + 1] == '#') {
            int hex = s[i + 2] == 'x' || s[i + 2] == 'X';
            size_t k = i + 2 + (size_t)hex, d0 = k;
            unsigned long c = 0;
            while (k < n && k - d0 < 7 &&
                   ((s[k] >= '0' && s[k] <= '9') || (hex && ((lower(s[k]) >= 'a' && lower(s[k]) <= 'f'))))) {
                int v = s[k] <= '9' ? s[k] - '0' : lower(s[k]) - 'a' + 10;
                c = c * (hex ? 16 : 10) + (unsigned long)v;
                k++;
            }
            int ok = k > d0 && k < n && s[k] == ';' && c > 0 && c <= 0x10ffff && !(c >= 0xd800 && c <= 0xdfff);
            if (ok) { /* "&#N;" is never shorter than N's UTF-8 */
                m += put_utf8(o + m, c);
                done = k + 1 - i;
            }
        }
        if (done) i += done;
        else o[m++] = s[i++];
    }
    o[m] = 0;
    return o;
}

char *pt_html_escape(const char *s) {
    size_t n = 0;
    for (const char *p = s; *p; p++) n += *p == '&' ? 5 : *p == '<' || *p == '>' ? 4 : 1;
    char *o = pt_malloc(n + 1), *q = o;
    for (const char *p = s; *p; p++) {
        if (*p == '&') memcpy(q, "&amp;", 5), q += 5;
        else if (*p == '<') memcpy(q, "&lt;", 4), q += 4;
        else if (*p == '>') memcpy(q, "&gt;", 4), q += 4;
        else *q++ = *p;
    }
    *q = 0;
    return o;
}
