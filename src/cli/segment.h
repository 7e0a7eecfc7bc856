/* segment.h: a line of text as the pieces a translator sees, for
 * `petit translate --split` and `petit serve`: its sentences
 * (text/split.h), and a sentence longer than the model's max_len cut
 * further, at a clause boundary (", " "; " ": ") if one is near enough the
 * limit, else at a space, else (one huge word) at a character boundary, so
 * that no text is ever cut off. The pieces are joined back with a space. */
#ifndef PETIT_CLI_SEGMENT_H
#define PETIT_CLI_SEGMENT_H
#include <stddef.h>

#include "petit.h"

typedef struct {
    char **text; /* malloc'd pieces */
    int n, cap;
} cli_pieces;

/* appends the pieces of s[0..len) to p (none for blank text); returns how
 * many were added, or -1 (petit_last_error() says why) */
int cli_segment(const petit_model *m, const char *s, size_t len, cli_pieces *p);
void cli_pieces_free(cli_pieces *p);
/* texts[0..n) joined with single spaces: a malloc'd string */
char *cli_join(char *const *texts, int n);
#endif
