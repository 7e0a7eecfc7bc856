/* cmd_plot.c: `petit plot METRICS.jsonl [-o curve.svg]` draws the training
 * loss (a line) and the dev loss (points joined by a line) against the step
 * as one self-contained SVG, with axes, tick labels, a legend and a title.
 *
 * The metrics file is what `petit train --metrics` appends: one flat JSON
 * object per line, e.g. {"step":120,"loss":5.43,...} with "dev_loss" on
 * validation steps. The reader is tolerant: it takes any flat object of
 * numbers (strings, booleans, null, nested values and NaN/Infinity are
 * accepted and ignored), skips blank lines, and counts and skips lines that
 * are not JSON objects. A step that goes back (a run restarted into the same
 * file) starts a new segment of the curve rather than a zig-zag.
 *
 * What it is not: a general JSON parser or a plotting library. Very long
 * runs are thinned to a min/max envelope per pixel column, so the SVG stays
 * small and looks the same. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli/cli.h"

static const char *usage_text =
    "usage: petit plot [-o OUT.svg] [--title TEXT] METRICS.jsonl\n"
    "\n"
    "Draw the training loss and dev loss of a metrics file (one JSON object per\n"
    "line, as written by `petit train --metrics`) against the step, as an SVG\n"
    "that a browser opens. Lines need \"step\" and \"loss\" and/or \"dev_loss\";\n"
    "other fields are ignored, and lines that are not JSON objects are skipped\n"
    "(their count goes to stderr).\n"
    "\n"
    "  -o, --output FILE  write the SVG to FILE (atomically); default: stdout\n"
    "  --title TEXT       the title (default: the metrics file's name)\n"
    "  -h, --help         this text\n";

/* ---- reading: a tolerant parser for flat JSON objects ------------------- */

enum { F_STEP, F_LOSS, F_DEV, N_FIELDS };
static const char *const field_names[N_FIELDS] = {"step", "loss", "dev_loss"};
/* plotted values beyond this are treated as garbage (keeps arithmetic finite) */
#define VALUE_LIMIT 1e12

typedef struct {
    const char *p, *end;
} scan;

static void skip_ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n')) s->p++;
}

/* a JSON string; on success *k, *kn hold its raw bytes (escapes not decoded) */
static int read_string(scan *s, const char **k, size_t *kn) {
    if (s->p >= s->end || *s->p != '"') return -1;
    const char *b = ++s->p;
    while (s->p < s->end && *s->p != '"') {
        if ((unsigned char)*s->p < 0x20) return -1;
        if (*s->p == '\\') s->p++;
        s->p++;
    }
    if (s->p >= s->end) return -1;
    *k = b;
    *kn = (size_t)(s->p - b);
    s->p++;
    return 0;
}

static int read_word(scan *s, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n)) return -1;
    s->p += n;
    return 0;
}

/* a JSON number (or NaN / Infinity / -Infinity, as Python writes them: then
 * *v is not finite). Digits are copied out, so strtod never reads past the
 * line. */
static int read_number(scan *s, double *v) {
    const char *b = s->p, *q = s->p;
    if (q < s->end && *q == '-') q++;
    s->p = q;
    if (!read_word(s, "Infinity")) return *v = (*b == '-' ? -INFINITY : INFINITY), 0;
    if (q == b && !read_word(s, "NaN")) return *v = NAN, 0;
    int digits = 0;
    if (q < s->end && *q == '0') q++, digits = 1;
    else
        while (q < s->end && *q >= '0' && *q <= '9') q++, digits++;
    if (!digits) return -1;
    if (q < s->end && *q == '.') {
        q++;
        int frac = 0;
        while (q < s->end && *q >= '0' && *q <= '9') q++, frac++;
        if (!frac) return -1;
    }
    if (q < s->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < s->end && (*q == '+' || *q == '-')) q++;
        int ex = 0;
        while (q < s->end && *q >= '0' && *q <= '9') q++, ex++;
        if (!ex) return -1;
    }
    char buf[64];
    size_t n = (size_t)(q - b);
    if (n >= sizeof buf) { /* absurdly many digits: still a number, not a value we plot */
        s->p = q;
        return *v = NAN, 0;
    }
    memcpy(buf, b, n);
    buf[n] = 0;
    *v = strtod(buf, NULL);
    s->p = q;
    return 0;
}

/* skip a nested array or object, strings included; no recursion */
static int skip_nested(scan *s) {
    long depth = 0;
    while (s->p < s->end) {
        char c = *s->p;
        if (c == '"') {
            const char *k;
            size_t kn;
            if (read_string(s, &k, &kn)) return -1;
            continue;
        }
        if (c == '[' || c == '{') depth++;
        else if (c == ']' || c == '}') {
            if (--depth == 0) {
                s->p++;
                return 0;
            }
        }
        s->p++;
    }
    return -1;
}

/* Parse one line. Returns 0 and fills val/has for the fields we plot, or -1
 * if the line is not a JSON object. */
static int parse_line(const char *line, size_t n, double val[N_FIELDS], int has[N_FIELDS]) {
    scan s = {line, line + n};
    for (int f = 0; f < N_FIELDS; f++) has[f] = 0;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{') return -1;
    s.p++;
    skip_ws(&s);
    if (s.p < s.end && *s.p == '}') {
        s.p++;
    } else {
        for (;;) {
            const char *k;
            size_t kn;
            skip_ws(&s);
            if (read_string(&s, &k, &kn)) return -1;
            skip_ws(&s);
            if (s.p >= s.end || *s.p != ':') return -1;
            s.p++;
            skip_ws(&s);
            if (s.p >= s.end) return -1;
            int field = -1;
            for (int f = 0; f < N_FIELDS; f++)
                if (kn == strlen(field_names[f]) && !memcmp(k, field_names[f], kn)) field = f;
            char c = *s.p;
            if (c == '"') {
                const char *sv;
                size_t sn;
                if (read_string(&s, &sv, &sn)) return -1;
                if (field >= 0) has[field] = 0;
            } else if (c == '{' || c == '[') {
                if (skip_nested(&s)) return -1;
                if (field >= 0) has[field] = 0;
            } else if (!read_word(&s, "true") || !read_word(&s, "false") || !read_word(&s, "null")) {
                if (field >= 0) has[field] = 0;
            } else {
                double v;
                if (read_number(&s, &v)) return -1;
                if (field >= 0) {
                    has[field] = isfinite(v) && fabs(v) <= VALUE_LIMIT;
                    val[field] = v;
                }
            }
            skip_ws(&s);
            if (s.p < s.end && *s.p == ',') {
                s.p++;
                continue;
            }
            if (s.p < s.end && *s.p == '}') {
                s.p++;
                break;
            }
            return -1;
        }
    }
    skip_ws(&s);
    return s.p == s.end ? 0 : -1;
}

/* A curve: points in file order, with a segment break wherever the step does
 * not increase. */
typedef struct {
    double *x, *y;
    char *brk; /* brk[i]: point i starts a new segment */
    size_t n, cap;
} series;

static void series_push(series *c, double x, double y) {
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->x = pt_realloc(c->x, c->cap * sizeof(double));
        c->y = pt_realloc(c->y, c->cap * sizeof(double));
        c->brk = pt_realloc(c->brk, c->cap);
    }
    c->brk[c->n] = c->n == 0 || x <= c->x[c->n - 1];
    c->x[c->n] = x;
    c->y[c->n] = y;
    c->n++;
}

static void series_free(series *c) { free(c->x), free(c->y), free(c->brk); }

typedef struct {
    series train, dev;
    long lines, blank, malformed, unusable;
    long first_malformed; /* 1-based line number */
} metrics;

static void metrics_read(metrics *m, const char *buf, size_t len) {
    pt_lines it;
    const char *line;
    size_t n;
    pt_lines_init(&it, buf, len);
    if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3)) it.p += 3; /* a UTF-8 byte-order mark */
    while (pt_lines_next(&it, &line, &n)) {
        m->lines++;
        size_t i = 0;
        while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
        if (i == n) {
            m->blank++;
            continue;
        }
        double v[N_FIELDS];
        int has[N_FIELDS];
        if (parse_line(line, n, v, has)) {
            if (!m->malformed++) m->first_malformed = m->lines;
            continue;
        }
        if (!has[F_STEP] || (!has[F_LOSS] && !has[F_DEV])) {
            m->unusable++;
            continue;
        }
        if (has[F_LOSS]) series_push(&m->train, v[F_STEP], v[F_LOSS]);
        if (has[F_DEV]) series_push(&m->dev, v[F_STEP], v[F_DEV]);
    }
}

/* ---- drawing -------------------------------------------------------------- */

enum { W = 900, H = 540, ML = 76, MR = 24, MT = 48, MB = 58 };
#define PW (W - ML - MR)
#define PH (H - MT - MB)
static const char *const train_colour = "#1f77b4", *const dev_colour = "#d62728";

typedef struct {
    double lo, hi, step; /* axis range and tick spacing */
    int decimals;        /* for tick labels */
} axis;

/* A "nice" axis (ticks at 1, 2 or 5 times a power of ten) covering [lo, hi]. */
static axis axis_make(double lo, double hi, int ticks) {
    axis a;
    if (!(hi > lo)) { /* one value: give it some room */
        double pad = fabs(lo) > 1 ? fabs(lo) * 0.1 : 1.0;
        lo -= pad, hi += pad;
    }
    double raw = (hi - lo) / ticks, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    a.step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    a.lo = floor(lo / a.step) * a.step;
    a.hi = ceil(hi / a.step) * a.step;
    if (!(a.hi > a.lo)) a.hi = a.lo + a.step;
    int d = (int)-floor(log10(a.step) + 1e-9);
    a.decimals = d < 0 ? 0 : d > 12 ? 12 : d;
    return a;
}

static double px(const axis *a, double x) { return ML + (x - a->lo) / (a->hi - a->lo) * PW; }
static double py(const axis *a, double y) { return MT + PH - (y - a->lo) / (a->hi - a->lo) * PH; }

/* Text for XML: escape markup, and replace control characters and invalid
 * UTF-8 (a file name can hold anything) so the document stays well-formed. */
static void put_xml_text(FILE *f, const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        const unsigned char *u = (const unsigned char *)s + i;
        int k = pt_utf8_len(u, n - i);
        if (k == 0 || (k == 1 && *u < 0x20) || *u == 0x7f) {
            fputs("\xef\xbf\xbd", f); /* U+FFFD */
            i++;
            continue;
        }
        /* U+FFFE and U+FFFF are not XML characters either */
        if (k == 3 && u[0] == 0xef && u[1] == 0xbf && (u[2] == 0xbe || u[2] == 0xbf)) fputs("\xef\xbf\xbd", f);
        else if (*u == '&') fputs("&amp;", f);
        else if (*u == '<') fputs("&lt;", f);
        else if (*u == '>') fputs("&gt;", f);
        else if (*u == '"') fputs("&quot;", f);
        else fwrite(u, 1, (size_t)k, f);
        i += (size_t)k;
    }
}

/* The polyline points of one segment [b, e), thinned to the first, minimum,
 * maximum and last point of each pixel column when it is long. */
static void put_points(FILE *f, const series *c, size_t b, size_t e, const axis *ax, const axis *ay) {
    int thin = e - b > 4 * (size_t)PW;
    size_t i = b;
    while (i < e) {
        if (!thin) {
            fprintf(f, "%.1f,%.1f ", px(ax, c->x[i]), py(ay, c->y[i]));
            i++;
            continue;
        }
        long col = lround(px(ax, c->x[i]));
        size_t j = i, lo = i, hi = i;
        while (j < e && lround(px(ax, c->x[j])) == col) {
            if (c->y[j] < c->y[lo]) lo = j;
            if (c->y[j] > c->y[hi]) hi = j;
            j++;
        }
        size_t pick[4] = {i, lo < hi ? lo : hi, lo < hi ? hi : lo, j - 1};
        for (int k = 0; k < 4; k++)
            if (k == 0 || pick[k] != pick[k - 1])
                fprintf(f, "%.1f,%.1f ", px(ax, c->x[pick[k]]), py(ay, c->y[pick[k]]));
        i = j;
    }
}

static void put_series(FILE *f, const series *c, const char *colour, double width, int dots,
                       const axis *ax, const axis *ay) {
    for (size_t b = 0; b < c->n;) {
        size_t e = b + 1;
        while (e < c->n && !c->brk[e]) e++;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" "
                   "stroke-linejoin=\"round\" points=\"", colour, width);
        put_points(f, c, b, e, ax, ay);
        if (e - b == 1) /* a lone point still shows as a dot */
            fprintf(f, "%.1f,%.1f", px(ax, c->x[b]) + 0.1, py(ay, c->y[b]));
        fprintf(f, "\"/>\n");
        b = e;
    }
    if (dots && c->n <= 300)
        for (size_t i = 0; i < c->n; i++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(ax, c->x[i]),
                    py(ay, c->y[i]), colour);
}

static void put_tick_label(FILE *f, double v, int decimals) {
    if (fabs(v) < 1e-12) v = 0; /* no "-0" */
    fprintf(f, "%.*f", decimals, v);
}

static void draw_svg(FILE *f, const metrics *m, const char *title) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    const series *all[2] = {&m->train, &m->dev};
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < all[s]->n; i++) {
            x0 = fmin(x0, all[s]->x[i]), x1 = fmax(x1, all[s]->x[i]);
            y0 = fmin(y0, all[s]->y[i]), y1 = fmax(y1, all[s]->y[i]);
        }
    axis ax = axis_make(x0, x1, 8), ay = axis_make(y0, y1, 6);

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<title>");
    put_xml_text(f, title);
    fprintf(f, "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"28\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">", W / 2);
    put_xml_text(f, title);
    fprintf(f, "</text>\n");

    /* grid, ticks and labels */
    fprintf(f, "<g stroke=\"#e4e4e4\" stroke-width=\"1\">\n");
    for (double v = ax.lo; v <= ax.hi + ax.step * 1e-6; v += ax.step)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", px(&ax, v), MT, px(&ax, v), MT + PH);
    for (double v = ay.lo; v <= ay.hi + ay.step * 1e-6; v += ay.step)
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n", ML, py(&ay, v), ML + PW, py(&ay, v));
    fprintf(f, "</g>\n<g fill=\"#333\">\n");
    for (double v = ax.lo; v <= ax.hi + ax.step * 1e-6; v += ax.step) {
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", px(&ax, v), MT + PH + 18);
        put_tick_label(f, v, ax.decimals);
        fprintf(f, "</text>\n");
    }
    for (double v = ay.lo; v <= ay.hi + ay.step * 1e-6; v += ay.step) {
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"middle\">", ML - 8,
                py(&ay, v));
        put_tick_label(f, v, ay.decimals);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\">step</text>\n", ML + PW / 2,
            H - 14);
    fprintf(f, "<text x=\"18\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\" "
               "transform=\"rotate(-90 18 %d)\">loss</text>\n</g>\n",
            MT + PH / 2, MT + PH / 2);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#555\"/>\n", ML, MT,
            PW, PH);

    /* the curves, clipped to the plot area */
    fprintf(f, "<clipPath id=\"plot\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/></clipPath>\n"
               "<g clip-path=\"url(#plot)\">\n",
            ML - 4, MT - 4, PW + 8, PH + 8);
    put_series(f, &m->train, train_colour, 1.5, 0, &ax, &ay);
    put_series(f, &m->dev, dev_colour, 2.0, 1, &ax, &ay);
    fprintf(f, "</g>\n");

    /* legend, top right inside the plot */
    char text[2][96];
    int rows = 0;
    const char *colour[2];
    if (m->train.n) {
        snprintf(text[rows], sizeof text[0], "train loss (last %.4g)", m->train.y[m->train.n - 1]);
        colour[rows++] = train_colour;
    }
    if (m->dev.n) {
        size_t best = 0;
        for (size_t i = 1; i < m->dev.n; i++)
            if (m->dev.y[i] < m->dev.y[best]) best = i;
        snprintf(text[rows], sizeof text[0], "dev loss (best %.4g at step %.0f)", m->dev.y[best], m->dev.x[best]);
        colour[rows++] = dev_colour;
    }
    size_t longest = 0; /* about 7 px a character at font-size 12 */
    for (int r = 0; r < rows; r++)
        if (strlen(text[r]) > longest) longest = strlen(text[r]);
    int lw = 56 + 7 * (int)longest, lx = ML + PW - lw - 10, ly = MT + 10;
    fprintf(f, "<g>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"white\" fill-opacity=\"0.9\" "
               "stroke=\"#bbb\"/>\n",
            lx, ly, lw, 10 + 20 * rows);
    for (int r = 0; r < rows; r++) {
        int y = ly + 15 + 20 * r;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2.5\"/>\n", lx + 10,
                y, lx + 38, y, colour[r]);
        if (colour[r] == dev_colour)
            fprintf(f, "<circle cx=\"%d\" cy=\"%d\" r=\"3\" fill=\"%s\"/>\n", lx + 24, y, colour[r]);
        fprintf(f, "<text x=\"%d\" y=\"%d\" dominant-baseline=\"middle\">%s</text>\n", lx + 46, y, text[r]);
    }
    fprintf(f, "</g>\n</svg>\n");
}

/* ---- the command ------------------------------------------------------------ */

int cmd_plot(int argc, char **argv) {
    const char *path = NULL, *out = NULL, *title = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (i + 1 >= argc) return cli_usage("plot", "%s needs a file name", a);
            out = argv[++i];
        } else if (!strcmp(a, "--title")) {
            if (i + 1 >= argc) return cli_usage("plot", "%s needs a value", a);
            title = argv[++i];
        } else if (!strcmp(a, "--")) {
            if (i + 1 < argc && !path) path = argv[++i];
            if (i + 1 < argc) return cli_usage("plot", "one METRICS file at a time");
        } else if (a[0] == '-' && a[1]) {
            return cli_unknown("plot", a);
        } else if (cli_split_flag(a)) {
            return cli_unknown("plot", a);
        } else if (path) {
            return cli_usage("plot", "one METRICS file at a time");
        } else {
            path = a;
        }
    }
    if (!path) return cli_usage("plot", "missing METRICS file");
    if (out && !*out) return cli_usage("plot", "-o needs a file name");

    size_t len;
    char *buf = pt_read_file(path, &len);
    if (!buf) return cli_fail("plot", "%s", pt_error());
    metrics m = {0};
    metrics_read(&m, buf, len);
    free(buf);

    int rc = 0;
    if (m.lines == m.blank) {
        rc = cli_fail("plot", "%s: empty file: no metrics lines to plot", path);
        goto done;
    }
    if (m.malformed)
        fprintf(stderr, "petit plot: %s: skipped %ld malformed line%s (not a JSON object; first at line %ld)\n",
                path, m.malformed, m.malformed == 1 ? "" : "s", m.first_malformed);
    if (!m.train.n && !m.dev.n) {
        rc = cli_fail("plot", "%s: nothing to plot: no line has \"step\" with \"loss\" or \"dev_loss\"", path);
        goto done;
    }
    if (!title) {
        const char *slash = strrchr(path, '/');
        title = slash && slash[1] ? slash + 1 : path;
    }
    if (out && strcmp(out, "-")) {
        pt_atomic_file af;
        if (pt_atomic_open(&af, out)) {
            rc = cli_fail("plot", "%s", pt_error());
            goto done;
        }
        draw_svg(af.f, &m, title);
        if (pt_atomic_commit(&af)) rc = cli_fail("plot", "%s", pt_error());
    } else {
        draw_svg(stdout, &m, title);
        if (fflush(stdout) != 0 || ferror(stdout)) rc = cli_fail("plot", "cannot write the SVG to stdout");
    }
done:
    series_free(&m.train);
    series_free(&m.dev);
    return rc;
}
