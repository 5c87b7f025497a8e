#pragma once
// Integration-test access to the real MariaDB of the local stack
// (scripts/stack start; DATABASE_URL comes from .run/env). Each TestDatabase is
// a fresh, migrated database of its own, dropped afterwards; a SuiteDatabase
// shares one among the tests of a suite, emptied before each test.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
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
  // Empties every table but schema_migration (DELETE, with foreign key checks
  // off on the admin session meanwhile) and sets moved auto-increments back to 1.
  void clear();

 private:
  void reconnect_if_broken();
  DbOptions options_;
  std::unique_ptr<mysql::Session> admin_;
};

// One migrated database for the tests of a suite instead of one per test:
// the fixture declares `static inline SuiteDatabase suite_db_{"name"};`,
// calls open() in SetUpTestSuite and close() in TearDownTestSuite, and takes
// `TestDatabase& db_ = suite_db_.emptied();` per test. Only for suites whose
// tests leave the schema, the users and the server's sessions alone (those
// that kill sessions, alter or drop tables keep a TestDatabase of their own).
// The saving is per process: ctest runs each test alone, so there a test
// still creates and migrates its database; a run of the binary shares it.
class SuiteDatabase {
 public:
  explicit SuiteDatabase(std::string suffix) : suffix_(std::move(suffix)) {}
  void open();   // creates and migrates it
  void close();  // drops it
  // The database with every table emptied; throws std::logic_error before open().
  TestDatabase& emptied();

 private:
  std::string suffix_;
  std::unique_ptr<TestDatabase> db_;
  bool fresh_ = false;  // opened and not yet handed out: nothing to empty
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
