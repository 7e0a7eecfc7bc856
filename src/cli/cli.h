/* cli.h: the subcommands of ./petit and the few helpers they share.
 * Only src/cli/ prints for users or exits. Each subcommand lives in
 * src/cli/cmd_NAME.c as `int cmd_NAME(int argc, char **argv)` (argv[0] is the
 * subcommand's name) and returns the process exit code: 0 ok, 1 error
 * (bad input, I/O), 2 usage error. Every subcommand answers --help. */
#ifndef PETIT_CLI_H
#define PETIT_CLI_H
#include <stdio.h>

#include "model/model.h"
#include "model/quantize.h"

int cmd_train(int argc, char **argv);
int cmd_distill(int argc, char **argv);
int cmd_translate(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_vocab(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_decode(int argc, char **argv);
int cmd_bleu(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_average(int argc, char **argv);
int cmd_shortlist(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* "petit NAME: message" on stderr; returns 1 (the exit code for errors) */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "petit NAME: PATH: <pt_error()>", without a second PATH when the library's
 * message already starts with it; returns 1 */
int cli_fail_path(const char *cmd, const char *path);
/* --name=value is split into two arguments before a command sees them
 * (main.c). cli_split_flag(arg): the --name whose value arg was, or NULL.
 * cli_unknown: the usage error for an argument a command does not take:
 * "--quiet takes no value (in '--quiet=1')" for such a value, else
 * "unknown option 'ARG'"; returns 2. */
const char *cli_split_flag(const char *arg);
int cli_unknown(const char *cmd, const char *arg);
/* usage error: message plus "try 'petit NAME --help'"; returns 2 */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* where an option came from ("FILE:LINE" of a config file), or NULL; usage
 * errors name it instead of suggesting --help */
extern const char *cli_context;
/* true if argv[i] is -h or --help */
int cli_is_help(const char *a);
/* parse a whole-string number; on failure print a usage error and return -1 */
int cli_int(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);
int cli_float(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out);
/* "on" or "off" into *out (1, 0); otherwise a usage error and -1 */
int cli_on_off(const char *cmd, const char *flag, const char *s, int *out);
/* the default model: $PETIT_MODEL, else models/en-fr.gguf beside the
 * executable, else in the current folder (buf holds the path), else NULL */
const char *cli_default_model(char *buf, size_t n);
/* -m NAME: a bundled model's name ("tiny", "base") gives its file (NULL and
 * a message if it is not installed); anything else is a path, as given */
const char *cli_model_path(const char *cmd, const char *m, char *buf, size_t n);
/* a and b name the same file (both exist) */
int cli_same_file(const char *a, const char *b);
/* Open a float (all-F32) model for petit quantize / pack: on an integer or
 * coded tensor, "PATH <refusal> (NAME is TYPE): <cmd> the float model".
 * Returns 0 with *g open and m loaded, else 1 (error printed). */
int cli_load_float_model(const char *cmd, const char *refusal, const char *path, gguf_file **g, pt_model *m);
/* copy g's metadata into w, except the petit.quant.* and petit.ecq.* keys
 * of an earlier quantization */
void cli_copy_meta(gguf_writer *w, const gguf_file *g);

/* GPTQ's statistics for m (decode/calib.h's pt_calibrate) with the tokenizer
 * of g; quiet: no progress line. 0 and *out, or non-zero after an error
 * message. */
int cli_calibrate(const char *cmd, const gguf_file *g, const char *model_path, pt_model *m,
                  const pt_quant_policy *pol, const char *path, int max_lines, int grads, const char *cache,
                  int quiet, pt_calib **out);
/* A line reader over a file descriptor that flushes `flush` before every
 * read that might block, so results stream out as soon as they are ready.
 * Lines end at '\n' (not included); a last line without one is returned too.
 * Returns 1 with a line, 0 at the end, -1 on a read error (errno set). */
typedef struct {
    int fd;
    char *buf;
    size_t cap, start, end;
    int eof;
} cli_reader;
int cli_reader_next(cli_reader *r, FILE *flush, char **line, size_t *len);
#endif
