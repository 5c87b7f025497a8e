#include "hm/cli.h"

#include <cxxopts.hpp>
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>

#include "hm/config.h"
#include "hm/dead_letter.h"
#include "hm/delivery_source.h"
#include "hm/ingest_service.h"
#include "hm/logging.h"
#include "hm/mysql/driver.h"
#include "hm/mysql/message_store.h"
#include "hm/mysql/schema.h"
#include "hm/mysql/session.h"
#include "hm/version.h"
#include "hm/worker_loop.h"

namespace hm {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

const char* kCommands =
    "Commands:\n"
    "  migrate [--verify]            create or update the schema (idempotent); --verify only checks that\n"
    "                                message.ig_message_id has a case-sensitive UNIQUE index\n"
    "  run --role ROLE --source SRC  consume deliveries; SRC is file:PATH or - (stdin, JSONL)\n"
    "  config                        print the effective configuration (secrets redacted)\n"
    "\n"
    "Every variable can be set as a flag (below), in the environment, or in a --config file\n"
    "of KEY=VALUE lines; that is also the order of precedence. Secrets (DB_PASSWORD,\n"
    "DATABASE_URL) are not accepted as flags: use the environment, DB_PASSWORD_FILE or the file.\n"
    "\n"
    "Exit codes: 0 done, 1 runtime failure, 2 usage or configuration error.\n";

cxxopts::Options build_options() {
  cxxopts::Options options("hm-worker", "hm-worker " + std::string(kVersion) +
                                            ": stores Instagram direct-message webhooks in MySQL/MariaDB");
  options.custom_help("COMMAND [OPTIONS]");
  options.positional_help("");
  options.add_options()("h,help", "print this help and exit")("version", "print the version and exit")(
      "config", "read KEY=VALUE settings from FILE", cxxopts::value<std::string>(), "FILE")(
      "verify", "migrate: only verify the UNIQUE index on message.ig_message_id")(
      "role", "run: the worker role (same as --worker-role)", cxxopts::value<std::string>(), "ROLE")(
      "source", "run: file:PATH or - for stdin", cxxopts::value<std::string>(), "SRC")(
      "command", "", cxxopts::value<std::string>())("extra", "", cxxopts::value<std::vector<std::string>>());
  for (const auto& v : known_variables()) {
    if (v.secret) continue;
    std::string help = v.help + " [" + v.name;
    if (!v.default_value.empty()) help += ", default " + v.default_value;
    help += "]";
    options.add_options("Configuration")(flag_name(v.name), help, cxxopts::value<std::string>(), "VALUE");
  }
  options.parse_positional({"command", "extra"});
  return options;
}

std::string help_text(cxxopts::Options& options) {
  return options.help({"", "Configuration"}) + "\n" + kCommands;
}

// Composition root for commands that need the database.
struct Database {
  mysql::Driver driver;  // get_driver_instance() once, before any thread starts
  mysql::Driver::ThreadScope scope{driver};
};

int cmd_config(const RawConfig& raw) {
  parse_config(raw);  // validate first: a bad value is exit 2
  for (const auto& line : describe_config(raw)) std::cout << line << "\n";
  return kExitOk;
}

int cmd_migrate(const Config& cfg, bool verify_only) {
  Database db;
  auto session = mysql::Session::connect(db.driver, cfg.db);
  if (!verify_only) {
    const auto result = mysql::migrate(*session);
    std::string applied;
    for (int v : result.applied) applied += (applied.empty() ? "" : ",") + std::to_string(v);
    std::cout << "schema at version " << result.current_version
              << (applied.empty() ? " (nothing to apply)" : " (applied " + applied + ")") << "\n";
  }
  const auto check = mysql::verify_message_index(*session);
  if (!check.ok) {
    for (const auto& p : check.problems) std::cerr << "index verification failed: " << p << "\n";
    return kExitFailure;
  }
  std::cout << "index ok: message." << "ig_message_id has UNIQUE index " << check.index_name << " with collation "
            << (check.collation.empty() ? "binary" : check.collation) << "\n";
  return kExitOk;
}

int cmd_run(const Config& cfg, const std::string& source_spec) {
  if (cfg.role != "ingest") {
    std::cerr << "hm-worker: --role " << cfg.role << ": only the ingest role is available in this build\n";
    return kExitUsage;
  }
  std::unique_ptr<std::ifstream> file;
  std::istream* in = nullptr;
  std::string name;
  if (source_spec == "-") {
    in = &std::cin;
    name = "stdin";
  } else if (source_spec.rfind("file:", 0) == 0 && source_spec.size() > 5) {
    name = source_spec.substr(5);
    file = std::make_unique<std::ifstream>(name, std::ios::binary);
    if (!*file) {
      std::cerr << "hm-worker: --source " << source_spec << ": cannot open '" << name << "'\n";
      return kExitUsage;
    }
    in = file.get();
  } else {
    std::cerr << "hm-worker: --source '" << source_spec << "': expected file:PATH or -\n";
    return kExitUsage;
  }

  Database db;
  SystemClock clock;
  mysql::SessionPool pool(
      cfg.pool, [&] { return mysql::Session::connect(db.driver, cfg.db); }, clock);
  {
    auto probe = pool.checkout();  // fail fast when the database cannot be reached
    spdlog::info("connected to {} (connection {}), pool size {} + overflow {}", probe->server_version(),
                 probe->connection_id(), cfg.pool.size, cfg.pool.max_overflow);
  }
  mysql::MysqlMessageStore store(pool);
  IngestService service(store, clock, cfg.retry);
  FileDeadLetterSink dead_letters(cfg.ingest.dead_letter_path);
  LineSource source(*in, "file:" + name, cfg.ingest.max_delivery_bytes);
  const IngestCounts counts = drain_source(source, service, dead_letters, clock, cfg.ingest.max_delivery_bytes);
  const PoolStats ps = pool.stats();
  spdlog::info("done: applied={} pool peak_open={} connects={}", counts.applied, ps.peak_open, ps.connects);
  if (counts.dead_lettered > 0) spdlog::warn("{} deliveries written to {}", counts.dead_lettered, dead_letters.path());
  std::cout << counts.summary() << std::endl;
  return kExitOk;
}

}  // namespace

int run_cli(int argc, char** argv) {
  auto options = build_options();
  cxxopts::ParseResult args;
  try {
    args = options.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::cerr << "hm-worker: " << e.what() << "\n(see hm-worker --help)\n";
    return kExitUsage;
  }
  if (args.count("help")) {
    std::cout << help_text(options);
    return kExitOk;
  }
  if (args.count("version")) {
    std::cout << "hm-worker " << kVersion << "\n";
    return kExitOk;
  }
  if (!args.count("command")) {
    std::cerr << "hm-worker: no command given\n\n" << help_text(options);
    return kExitUsage;
  }
  const std::string command = args["command"].as<std::string>();
  if (args.count("extra")) {
    std::cerr << "hm-worker: unexpected argument '" << args["extra"].as<std::vector<std::string>>().front()
              << "'\n";
    return kExitUsage;
  }
  if (command != "migrate" && command != "run" && command != "config") {
    std::cerr << "hm-worker: unknown command '" << command << "' (migrate, run, config)\n";
    return kExitUsage;
  }

  std::map<std::string, std::string> flags;
  for (const auto& v : known_variables()) {
    if (!v.secret && args.count(flag_name(v.name))) flags[v.name] = args[flag_name(v.name)].as<std::string>();
  }
  if (args.count("role")) flags["WORKER_ROLE"] = args["role"].as<std::string>();

  RawConfig raw;
  Config cfg;
  try {
    raw = layer_config(args.count("config") ? args["config"].as<std::string>() : "", process_env, flags);
    if (command == "config") return cmd_config(raw);
    cfg = parse_config(raw);
  } catch (const ConfigError& e) {
    std::cerr << "hm-worker: configuration error: " << e.what() << "\n";
    return kExitUsage;
  }
  setup_logging(cfg.log, cfg.role);

  try {
    if (command == "migrate") return cmd_migrate(cfg, args.count("verify") > 0);
    if (!args.count("source")) {
      std::cerr << "hm-worker: run needs --source (file:PATH or -)\n";
      return kExitUsage;
    }
    return cmd_run(cfg, args["source"].as<std::string>());
  } catch (const DbError& e) {
    spdlog::critical("{}", e.what());
    std::cerr << "hm-worker: database error: " << e.what() << "\n";
    return kExitFailure;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    std::cerr << "hm-worker: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace hm
