/* cmd_info.c: placeholder; it refuses to run. */
#include "cli/cli.h"
int cmd_info(int argc, char **argv) { return cli_fail("info", "not built yet"); }
