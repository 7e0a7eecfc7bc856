/* cmd_encode.c: placeholder until the [text] work lands; it refuses to run. */
#include "cli/cli.h"
int cmd_encode(int argc, char **argv) { return cli_fail("encode", "not built yet"); }
