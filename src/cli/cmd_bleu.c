/* cmd_bleu.c: placeholder until the [text] work lands; it refuses to run. */
#include "cli/cli.h"
int cmd_bleu(int argc, char **argv) { return cli_fail("bleu", "not built yet"); }
