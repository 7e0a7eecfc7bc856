/* test_split: the sentence splitter and the HTML text runs (text/split.h).
 * Hand-made cases for each rule (abbreviations, initials, numbers, quotes,
 * ellipses, French punctuation), then real text: consecutive lines of
 * newstest2013 (news, one sentence or more a line) joined into paragraphs
 * must split back where the lines met, and the splitter must not cut the
 * lines themselves much more often than they hold several sentences. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "test.h"
#include "text/split.h"

/* the spans fn finds in s joined with " | " (a static buffer) */
static const char *spans_str(int (*fn)(const char *, size_t, pt_span **, int *), const char *s) {
    static char out[8192];
    pt_span *sp = NULL;
    int cap = 0, n = fn(s, strlen(s), &sp, &cap);
    size_t m = 0;
    out[0] = 0;
    for (int i = 0; i < n && m + sp[i].len + 4 < sizeof out; i++) {
        if (i) memcpy(out + m, " | ", 3), m += 3;
        memcpy(out + m, s + sp[i].start, sp[i].len), m += sp[i].len;
    }
    out[m] = 0;
    free(sp);
    return out;
}

/* the sentences of s, and its runs of text between HTML tags */
static const char *split_str(const char *s) { return spans_str(pt_split_sentences, s); }
static const char *runs_str(const char *s) { return spans_str(pt_html_runs, s); }

static const struct { const char *in, *want; } cases[] = {
    {"", ""},
    {"   \t ", ""},
    {"One sentence.", "One sentence."},
    {"  Spaces around.  ", "Spaces around."},
    {"First. Second! Third? Fourth", "First. | Second! | Third? | Fourth"},
    {"Mr. Smith met Dr. Jones at St. Paul's. They talked.", "Mr. Smith met Dr. Jones at St. Paul's. | They talked."},
    {"J. K. Rowling wrote it. It sold well.", "J. K. Rowling wrote it. | It sold well."},
    {"It rose 3.5 percent in 2013. Prices fell.", "It rose 3.5 percent in 2013. | Prices fell."},
    {"See No. 5 and e.g. the U.S. branch.", "See No. 5 and e.g. the U.S. branch."},
    {"Visit example.com today. Bye.", "Visit example.com today. | Bye."},
    {"He said \"Stop.\" Then he left.", "He said \"Stop.\" | Then he left."},
    {"(This is aside.) The rest.", "(This is aside.) | The rest."},
    {"Wait... what? No... It was fine.", "Wait... what? | No... | It was fine."},
    {"Wait\xe2\x80\xa6 Really\xe2\x80\xa6 yes.", "Wait\xe2\x80\xa6 | Really\xe2\x80\xa6 yes."},
    {"sold for... 1.6 million. Then", "sold for... 1.6 million. | Then"},
    {"Really?! Yes.", "Really?! | Yes."},
    {"He won. \"Great,\" she said.", "He won. | \"Great,\" she said."},
    {"It ends. \xc2\xab Bonjour. \xc2\xbb Il part.", "It ends. | \xc2\xab Bonjour. \xc2\xbb | Il part."},
    {"Il est l\xc3\xa0. \xc3\x89tienne aussi.", "Il est l\xc3\xa0. | \xc3\x89tienne aussi."},
    {"I said no. Then I left.", "I said no. | Then I left."},
    {"Is it 5? 10 people think so.", "Is it 5? | 10 people think so."},
    {"and so on. and on", "and so on. and on"},
    {"No space.Next", "No space.Next"},
    {"Line one.\nLine two.", "Line one. | Line two."},
    {"It fell by 7.8%. Workers struck.", "It fell by 7.8%. | Workers struck."},
    {"Smith et al. Found it.", "Smith et al. Found it."},
};

int main(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = split_str(cases[i].in);
        CHECK(!strcmp(got, cases[i].want), "split '%s': got '%s' want '%s'", cases[i].in, got, cases[i].want);
    }

    /* five sentences of one paragraph */
    const char *para = "The committee met on Monday. Mr. Brown presented the report. It covered 2.5 million "
                       "euros of spending. \"Nobody objected,\" he said. The vote is next week.";
    pt_span *sp = NULL;
    int cap = 0;
    CHECK(pt_split_sentences(para, strlen(para), &sp, &cap) == 5, "paragraph: %s", split_str(para));

    /* HTML */
    CHECK(!strcmp(runs_str("<p>Hello <b>world</b>.</p>"), "Hello | world | ."), "%s", runs_str("<p>Hello <b>world</b>.</p>"));
    const char *h = "<!DOCTYPE html><html><head><title>T</title><style>p{x:1}</style><script>if(a<b)x();</script>"
                    "</head><body><!-- note --><a href=\"x>y\">Link</a> 3 < 4 &amp; more</body></html>";
    CHECK(!strcmp(runs_str(h), "T | Link | 3 < 4 &amp; more"), "html runs: '%s'", runs_str(h));
    CHECK(!strcmp(runs_str("plain text"), "plain text"), "no tags: %s", runs_str("plain text"));
    CHECK(!strcmp(runs_str("<p>unclosed"), "unclosed"), "%s", runs_str("<p>unclosed"));
    CHECK(!strcmp(runs_str("a <b"), "a"), "a tag cut at the end: '%s'", runs_str("a <b"));
    const char *esc = "&lt;a&gt; &amp;amp; &#233;t&#xE9; &bogus; &#0; &#";
    char *u = pt_html_unescape(esc, strlen(esc));
    CHECK(!strcmp(u, "<a> &amp; \xc3\xa9t\xc3\xa9 &bogus; &#0; &#"), "unescape: '%s'", u);
    free(u);
    u = pt_html_escape("a<b & c>d");
    CHECK(!strcmp(u, "a&lt;b &amp; c&gt;d"), "escape: '%s'", u);
    free(u);

    /* real text: pairs of newstest2013 lines split back where they met */
    char path[4096];
    snprintf(path, sizeof path, "%s/dev/newstest2013.en", test_data_dir());
    size_t len;
    char *buf = pt_read_file(path, &len);
    if (!buf) {
        printf("skip: real text (%s)\n", pt_error());
    } else {
        pt_lines it;
        pt_lines_init(&it, buf, len);
        const char *line[1000];
        size_t llen[1000];
        int nl = 0;
        while (nl < 1000 && pt_lines_next(&it, &line[nl], &llen[nl])) nl++;
        int pairs = 0, rejoined = 0, multi = 0, counted = 0;
        char *two = pt_malloc(65536);
        for (int i = 0; i < nl; i++) {
            int a = pt_split_sentences(line[i], llen[i], &sp, &cap);
            multi += a > 1;
            if (i + 1 >= nl || llen[i] + llen[i + 1] + 2 > 65536) continue;
            /* a boundary is only expected where the first line ends a sentence and the next
             * starts one (news headlines have no full stop) */
            char last = llen[i] ? line[i][llen[i] - 1] : 0;
            char first = llen[i + 1] ? line[i + 1][0] : 0;
            if (!(last == '.' || last == '?' || last == '!') || !(first >= 'A' && first <= 'Z')) continue;
            int b = pt_split_sentences(line[i + 1], llen[i + 1], &sp, &cap);
            memcpy(two, line[i], llen[i]);
            two[llen[i]] = ' ';
            memcpy(two + llen[i] + 1, line[i + 1], llen[i + 1]);
            size_t tl = llen[i] + 1 + llen[i + 1];
            int c = pt_split_sentences(two, tl, &sp, &cap);
            pairs++;
            int found = 0; /* a span that ends where line i ended */
            for (int k = 0; k < c; k++) found |= sp[k].start + sp[k].len == llen[i];
            rejoined += found && c == a + b;
            counted++;
        }
        printf("newstest2013: %d of %d line pairs split back where they met; %d of %d lines split in several\n",
               rejoined, pairs, multi, nl);
        CHECK(pairs > 500, "only %d pairs", pairs);
        CHECK(rejoined >= 0.97 * pairs, "%d of %d pairs rejoined", rejoined, pairs);
        CHECK(multi <= 0.06 * nl, "%d of %d lines split (news lines are mostly one sentence)", multi, nl);
        free(two);
        free(buf);
    }
    free(sp);
    printf("%d checks, %d failed\n", test_checks, test_failures);
    return test_failures != 0;
}
