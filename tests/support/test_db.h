#pragma once
// Integration-test access to the real MariaDB of the local stack
// (scripts/stack start; DATABASE_URL comes from .run/env). Each TestDatabase is
// a fresh, migrated database of its own, dropped afterwards.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "mysql/driver.h"
#include "mysql/session.h"

namespace hm::test {

// Connection settings of the stack (DATABASE_URL), with test-friendly timeouts.
// Throws std::runtime_error with instructions when DATABASE_URL is not set.
DbOptions stack_db_options();

// The process's one driver (created on first use, from the main thread).
mysql::Driver& driver();

using Rows = std::vector<std::vector<std::optional<std::string>>>;

class TestDatabase {
 public:
  explicit TestDatabase(const std::string& suffix, bool migrate = true);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const DbOptions& options() const { return options_; }
  const std::string& name() const { return options_.name; }
  std::unique_ptr<mysql::Session> connect() const;
  Rows query(const std::string& sql);
  void execute(const std::string& sql);
  long long scalar(const std::string& sql);
  std::uint64_t admin_connection_id() const { return admin_->connection_id(); }

 private:
  void reconnect_if_broken();
  DbOptions options_;
  std::unique_ptr<mysql::Session> admin_;
};

// Runs a shell command; returns exit code, fills stdout and stderr.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult run_command(const std::string& command);

// Environment assignments that point the hm-worker binary at db, for run_command.
std::string worker_env(const DbOptions& db);
// The same as a map, for ChildProcess.
std::map<std::string, std::string> worker_env_map(const DbOptions& db);

// Redis settings of the stack (REDIS_URL).
std::string stack_redis_url();

}  // namespace hm::test
