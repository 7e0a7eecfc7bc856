/* cmd_vocab.c: placeholder until the [text] work lands; it refuses to run. */
#include "cli/cli.h"
int cmd_vocab(int argc, char **argv) { return cli_fail("vocab", "not built yet"); }
