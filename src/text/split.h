/* split.h: a small rule-based sentence splitter, and the text runs of HTML.
 *
 *     pt_span *s = NULL;
 *     int cap = 0;
 *     int n = pt_split_sentences(text, strlen(text), &s, &cap);
 *     for (int i = 0; i < n; i++) printf("[%.*s]\n", (int)s[i].len, text + s[i].start);
 *     free(s);
 *
 * A sentence ends after '.', '!', '?', '…' (or a run of them: "?!", "...")
 * and any closing quotes or brackets, when whitespace follows and the next
 * word starts like a sentence: an upper-case letter, a digit, or an opening
 * quote, bracket or dash before one (after an ellipsis, a digit does not
 * start one: "sold for... 1.6 million"). A '.' does not end a sentence after a
 * known abbreviation ("Mr.", "Dr.", "e.g.", "No.", "Jan.": split.c's list),
 * after one letter ("J. K. Rowling"), or inside a word or number ("3.5",
 * "U.S.A.", "example.com"). A lower-case word after the mark never starts a
 * sentence ("... and so on"). Languages: English and French punctuation
 * (« », “ ”, ‘ ’); no CJK full stops, no Thai. The whitespace between
 * sentences is not part of either span; a text of whitespace only has none.
 *
 * What it is not: a statistical splitter (Punkt) or one with per-language
 * lists of non-breaking prefixes as long as Moses'. It errs towards not
 * splitting: two sentences kept together still translate, a sentence cut
 * in two translates worse.
 */
#ifndef PETIT_SPLIT_H
#define PETIT_SPLIT_H

#include <stddef.h>

typedef struct {
    size_t start, len; /* bytes of the text */
} pt_span;

/* The sentences of s[0..n): their spans, in order, into *spans (grown with
 * pt_realloc; *cap is its capacity, 0 with *spans NULL at first). Returns
 * the number of sentences (0 for empty or blank text). Never fails. */
int pt_split_sentences(const char *s, size_t n, pt_span **spans, int *cap);

/* HTML: the runs of text between tags that a translator should see.
 * pt_html_runs fills *runs with the spans of text outside tags, comments,
 * <!DOCTYPE ...> and the contents of <script> and <style>; runs of
 * whitespace only are left out. The
 * bytes outside the runs are kept verbatim by whoever rebuilds the page.
 * A '<' that does not open a tag (not followed by a letter, '/', '!' or
 * '?') is text. Returns the number of runs. Never fails. */
int pt_html_runs(const char *s, size_t n, pt_span **runs, int *cap);

/* The text of an HTML run with the entities &amp; &lt; &gt; &quot; &apos;
 * &#39; &nbsp; and numeric ones (&#NNN; &#xHH;) decoded: a malloc'd string.
 * An unknown entity stays as it is. */
char *pt_html_unescape(const char *s, size_t n);
/* s with & < > escaped (&amp; &lt; &gt;): a malloc'd string */
char *pt_html_escape(const char *s);

#endif
