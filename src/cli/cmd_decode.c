/* cmd_decode.c: placeholder until the [text] work lands; it refuses to run. */
#include "cli/cli.h"
int cmd_decode(int argc, char **argv) { return cli_fail("decode", "not built yet"); }
