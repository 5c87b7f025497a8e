#pragma once

namespace hm {
// The whole command line: parses arguments, loads configuration, builds the
// real objects and runs the command. Returns the process exit code.
int run_cli(int argc, char** argv);
}  // namespace hm
