/* cmd_plot.c: placeholder; it refuses to run. */
#include "cli/cli.h"
int cmd_plot(int argc, char **argv) { return cli_fail("plot", "not built yet"); }
