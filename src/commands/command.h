#pragma once
// The composition root's shared parts: every command is a function from an
// Invocation (its arguments and the validated configuration) to an exit code.
// Commands are the only code that reads the whole Config: each builds the
// real objects its work needs, hands every component its own options, and
// wires them together.

#include <cxxopts.hpp>

#include <string>
#include <vector>

#include "config/config.h"
#include "mysql/driver.h"

namespace hm::commands {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // runtime failure
inline constexpr int kExitUsage = 2;    // usage or configuration error
inline constexpr int kExitAttention = 3;  // doctor found a problem

struct Invocation {
  const cxxopts::ParseResult& args;
  const std::vector<std::string>& extra;  // positional arguments after the command name
  const RawConfig& raw;
  const Config& cfg;
};

using CommandFn = int (*)(const Invocation&);

// One command of the binary: what `hm-worker COMMAND --help` shows and what runs.
struct CommandSpec {
  const char* name;
  const char* synopsis;              // "migrate [--verify]"
  const char* description;           // a few lines, each ending in \n
  std::vector<std::string> flags;    // its own flags (long names), shown in its help
  std::vector<std::string> reads;    // the variables it reads: names, prefixes ending in '_', '!' excludes; only '!' entries: all but those; empty = all
  const char* argument;              // what its one positional argument is, or nullptr for none
  bool logs_to_stdout;               // the daemon logs to stdout, one-shot commands to stderr
  CommandFn run;
};

// Every command, in the order --help lists them.
const std::vector<CommandSpec>& command_table();
const CommandSpec* find_command(const std::string& name);

int run_config(const Invocation& in);
int run_migrate(const Invocation& in);
int run_doctor(const Invocation& in);
int run_run(const Invocation& in);
int run_enqueue(const Invocation& in);
int run_dead_letters(const Invocation& in);

// The Connector's driver for commands that use the database:
// get_driver_instance() once, before any thread starts, and this thread's
// scope.
struct Database {
  mysql::Driver driver;
  mysql::Driver::ThreadScope scope{driver};
};

}  // namespace hm::commands
