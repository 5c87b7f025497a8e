#include "commands/cli.h"

#include <cxxopts.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <sstream>

#include "commands/command.h"
#include "hm/version.h"
#include "mysql/errors.h"
#include "ops/logging.h"
#include "redis/connection.h"

namespace hm {
namespace {

using commands::CommandSpec;
using commands::kExitFailure;
using commands::kExitOk;
using commands::kExitUsage;

const char* kVariablesNote =
    "Every variable can be set as a flag (below), in the environment, or in a --config file\n"
    "of KEY=VALUE lines; that is also the order of precedence. Secrets (DB_PASSWORD,\n"
    "DATABASE_URL) are not accepted as flags: use the environment, DB_PASSWORD_FILE or the file.\n";
const char* kExitCodes =
    "Exit codes: 0 done, 1 runtime failure, 2 usage or configuration error, 3 doctor found a problem.\n";

// The flags of every command, by long name: (spec for cxxopts, help, value).
void add_command_flags(cxxopts::OptionAdder add, const std::vector<std::string>& only) {
  const auto wanted = [&](const char* name) {
    return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
  };
  if (wanted("verify")) add("verify", "migrate: only verify the UNIQUE index on message.ig_message_id");
  if (wanted("role")) add("role", "the worker role whose stream the command works on (same as --worker-role)", cxxopts::value<std::string>(), "ROLE");
  if (wanted("source")) add("source", "run: redis (default), file:PATH or - for stdin", cxxopts::value<std::string>(), "SRC");
  if (wanted("id"))
    add("id", "dead-letters: only this dead-letter entry id (repeatable)", cxxopts::value<std::vector<std::string>>(), "ID");
  if (wanted("count"))
    add("count", "dead-letters: list at most N entries (default 100); replay at most N (default all)",
        cxxopts::value<std::size_t>(), "N");
  if (wanted("all")) add("all", "dead-letters purge: delete every dead letter");
  if (wanted("older-than"))
    add("older-than", "dead-letters purge: delete those written longer ago than DURATION (7d, 12h, 30m, 90s)",
        cxxopts::value<std::string>(), "DURATION");
  if (wanted("json")) add("json", "doctor: print the report as JSON");
  if (wanted("replicas"))
    add("replicas", "doctor: replicas per role, e.g. ingest=3,reply=2 (default 1 each)", cxxopts::value<std::string>(),
        "LIST");
  if (wanted("long-query-seconds"))
    add("long-query-seconds", "doctor: list statements running longer than this (default 5)", cxxopts::value<int>(), "N");
}

// A `reads` entry is a name, a prefix ending in '_', or either after '!' to
// leave it out again (only '!' entries: every variable but those).
bool reads_variable(const CommandSpec* command, const std::string& name) {
  if (!command || command->reads.empty()) return true;
  const auto matches = [&](std::string_view r) { return r.back() == '_' ? name.rfind(r, 0) == 0 : name == r; };
  bool read = std::all_of(command->reads.begin(), command->reads.end(), [](const std::string& r) { return r.front() == '!'; });
  for (const auto& r : command->reads) {
    if (r.front() == '!') {
      if (matches(std::string_view(r).substr(1))) return false;
    } else if (matches(r)) {
      read = true;
    }
  }
  return read;
}

// "list|replay|purge [--id ID]... " from "dead-letters list|replay|purge [--id ID]...".
std::string arguments_of(const CommandSpec& command) {
  const std::string synopsis = command.synopsis;
  const std::size_t skip = std::string(command.name).size() + 1;
  return synopsis.size() > skip ? synopsis.substr(skip) + " " : "";
}

// The parser: with command == nullptr it accepts every flag of every command
// (what the command line is parsed with); with a command, only that
// command's flags and the variables it reads (for its --help).
cxxopts::Options build_options(const CommandSpec* command) {
  const std::string program = command ? std::string("hm-worker ") + command->name : "hm-worker";
  cxxopts::Options options(program, "hm-worker " + std::string(kVersion) +
                                        ": stores Instagram direct-message webhooks in MySQL/MariaDB");
  options.custom_help(command ? arguments_of(*command) + "[OPTIONS]" : "COMMAND [OPTIONS]");
  options.positional_help("");
  options.add_options()("h,help", "print this help and exit")("version", "print the version and exit")(
      "config", "read KEY=VALUE settings from FILE", cxxopts::value<std::string>(), "FILE");
  add_command_flags(options.add_options(), command ? command->flags : std::vector<std::string>{});
  options.add_options()("command", "", cxxopts::value<std::string>())("extra", "",
                                                                     cxxopts::value<std::vector<std::string>>());
  for (const auto& v : known_variables()) {
    if (v.secret || !reads_variable(command, v.name)) continue;
    std::string help = v.help + " [" + v.name;
    if (!v.default_value.empty()) help += ", default " + v.default_value;
    help += "]";
    options.add_options("Configuration")(flag_name(v.name), help, cxxopts::value<std::string>(), "VALUE");
  }
  options.parse_positional({"command", "extra"});
  return options;
}

// "  migrate [--verify]            create or update..." with descriptions at column 32.
std::string commands_text() {
  std::ostringstream out;
  out << "Commands:\n";
  for (const auto& c : commands::command_table()) {
    const std::string synopsis = c.synopsis;
    std::string first = "  " + synopsis;
    if (first.size() + 1 <= 33) {
      first += std::string(first.size() + 1 > 32 ? 1 : 32 - first.size(), ' ');
    } else {
      first += "\n" + std::string(32, ' ');
    }
    std::istringstream lines(c.description);
    std::string line;
    bool head = true;
    while (std::getline(lines, line)) {
      out << (head ? first : std::string(32, ' ')) << line << "\n";
      head = false;
    }
  }
  return out.str();
}

std::string help_text(cxxopts::Options& options) {
  return options.help({"", "Configuration"}) + "\n" + commands_text() + "\n" + kVariablesNote + "\n" + kExitCodes;
}

std::string command_help_text(const CommandSpec& command) {
  auto options = build_options(&command);
  std::string text = options.help({"", "Configuration"});
  text += "\n" + std::string(command.name) + ": " + command.description;
  text += "\nThe variables above can also be set in the environment or a --config file.\n";
  text += kExitCodes;
  return text;
}

// Checks the positional arguments; an error message, or empty.
std::string check_arguments(const CommandSpec& command, const std::vector<std::string>& extra) {
  const std::size_t allowed = command.argument ? 1 : 0;
  if (extra.size() > allowed) return "unexpected argument '" + extra.back() + "'";
  if (command.argument && extra.empty()) return std::string(command.name) + " needs " + command.argument;
  return "";
}

std::map<std::string, std::string> flag_values(const cxxopts::ParseResult& args) {
  std::map<std::string, std::string> flags;
  for (const auto& v : known_variables()) {
    if (!v.secret && args.count(flag_name(v.name))) flags[v.name] = args[flag_name(v.name)].as<std::string>();
  }
  if (args.count("role")) flags["WORKER_ROLE"] = args["role"].as<std::string>();
  return flags;
}

// Runs the command; a failure that escapes it is a runtime failure (exit 1).
int run_guarded(const CommandSpec& command, const commands::Invocation& in) {
  try {
    return command.run(in);
  } catch (const redis::RedisError& e) {
    spdlog::critical("{}", e.what());
    std::cerr << "hm-worker: redis error: " << e.what() << "\n";
  } catch (const DbError& e) {
    spdlog::critical("{}", e.what());
    std::cerr << "hm-worker: database error: " << e.what() << "\n";
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    std::cerr << "hm-worker: " << e.what() << "\n";
  }
  return kExitFailure;
}

}  // namespace

int run_cli(int argc, char** argv) {
  auto options = build_options(nullptr);
  cxxopts::ParseResult args;
  try {
    args = options.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::cerr << "hm-worker: " << e.what() << "\n(see hm-worker --help)\n";
    return kExitUsage;
  }
  const std::string name = args.count("command") ? args["command"].as<std::string>() : "";
  const CommandSpec* command = commands::find_command(name);
  if (args.count("help")) {
    std::cout << (command ? command_help_text(*command) : help_text(options));
    return kExitOk;
  }
  if (args.count("version")) {
    std::cout << "hm-worker " << kVersion << " (commit " << kCommit << ")\n";
    return kExitOk;
  }
  if (name.empty()) {
    std::cerr << "hm-worker: no command given\n\n" << help_text(options);
    return kExitUsage;
  }
  std::vector<std::string> extra;
  if (args.count("extra")) extra = args["extra"].as<std::vector<std::string>>();
  if (!command) {
    if (!extra.empty()) {
      std::cerr << "hm-worker: unexpected argument '" << extra.back() << "'\n";
    } else {
      std::cerr << "hm-worker: unknown command '" << name << "' (migrate, run, enqueue, dead-letters, doctor, config)\n";
    }
    return kExitUsage;
  }
  if (const std::string problem = check_arguments(*command, extra); !problem.empty()) {
    std::cerr << "hm-worker: " << problem << "\n";
    return kExitUsage;
  }

  RawConfig raw;
  Config cfg;
  try {
    raw = layer_config(args.count("config") ? args["config"].as<std::string>() : "", process_env, flag_values(args));
    cfg = parse_config(raw);
  } catch (const ConfigError& e) {
    std::cerr << "hm-worker: configuration error: " << e.what() << "\n";
    return kExitUsage;
  }
  const commands::Invocation in{args, extra, raw, cfg};
  if (command->run == commands::run_config) return command->run(in);
  const bool daemon = command->logs_to_stdout && (!args.count("source") || args["source"].as<std::string>() == "redis");
  setup_logging(cfg.log, cfg.webhook.enabled ? "webhook" : to_string(cfg.role), daemon);
  // Names only: the value of a mistyped variable may be a secret.
  for (const auto& unknown : unknown_variables(environment_names()))
    spdlog::warn("unknown variable {} in the environment is ignored (a typo? `hm-worker --help` lists the known ones)",
                 unknown);
  return run_guarded(*command, in);
}

}  // namespace hm
