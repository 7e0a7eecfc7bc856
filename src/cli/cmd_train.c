/* cmd_train.c: placeholder; it refuses to run. */
#include "cli/cli.h"
int cmd_train(int argc, char **argv) { return cli_fail("train", "not built yet"); }
