#include "support/test_db.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "mysql/schema.h"

namespace hm::test {

DbOptions stack_db_options() {
  const char* url = std::getenv("DATABASE_URL");
  if (!url || !*url) {
    throw std::runtime_error(
        "DATABASE_URL is not set: start the local stack with `scripts/stack start` and "
        "`source .run/env`, or run the tests with `scripts/test`");
  }
  RawConfig raw;
  raw.set("DATABASE_URL", url, ValueOrigin::kEnvironment);
  for (const auto& v : known_variables())
    if (!v.default_value.empty()) raw.set(v.name, v.default_value, ValueOrigin::kDefault);
  Config cfg = parse_config(raw);
  cfg.db.connect_timeout = std::chrono::seconds(5);
  cfg.db.query_timeout = std::chrono::seconds(30);
  cfg.db.lock_wait_timeout = std::chrono::seconds(2);
  return cfg.db;
}

mysql::Driver& driver() {
  static mysql::Driver d;
  return d;
}

TestDatabase::TestDatabase(const std::string& suffix, bool migrate) {
  options_ = stack_db_options();
  DbOptions bootstrap = options_;
  bootstrap.name = "mysql";
  admin_ = mysql::Session::connect(driver(), bootstrap);
  options_.name = "hm_it_" + suffix + "_" + std::to_string(::getpid());
  admin_->execute("DROP DATABASE IF EXISTS `" + options_.name + "`");
  admin_->execute("CREATE DATABASE `" + options_.name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
  admin_->execute("USE `" + options_.name + "`");
  if (migrate) mysql::migrate(*admin_);
}

TestDatabase::~TestDatabase() {
  try {
    reconnect_if_broken();
    admin_->execute("DROP DATABASE IF EXISTS `" + options_.name + "`");
  } catch (...) {
  }
}

std::unique_ptr<mysql::Session> TestDatabase::connect() const { return mysql::Session::connect(driver(), options_); }

void TestDatabase::reconnect_if_broken() {
  if (admin_ && !admin_->broken()) return;
  admin_ = mysql::Session::connect(driver(), options_);
}

Rows TestDatabase::query(const std::string& sql) {
  reconnect_if_broken();
  try {
    return admin_->query(sql);
  } catch (const DbError& e) {
    if (!e.connection_broken()) throw;
    reconnect_if_broken();  // e.g. after a server restart
    return admin_->query(sql);
  }
}

void TestDatabase::execute(const std::string& sql) {
  reconnect_if_broken();
  admin_->execute(sql);
}

long long TestDatabase::scalar(const std::string& sql) {
  const auto rows = query(sql);
  if (rows.empty() || rows[0].empty() || !rows[0][0]) return 0;
  return std::stoll(*rows[0][0]);
}

void TestDatabase::clear() {
  reconnect_if_broken();
  // DELETE, not TRUNCATE: TRUNCATE recreates each table (about 30 ms a table
  // here, slower than a fresh database); an auto-increment is set back only
  // when it moved.
  const auto tables = admin_->query(
      "SELECT table_name, COALESCE(auto_increment, 0) FROM information_schema.tables "
      "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migration'");
  admin_->execute("SET SESSION foreign_key_checks = 0");
  try {
    for (const auto& row : tables) {
      const std::string table = "`" + row.at(0).value_or("") + "`";
      admin_->execute("DELETE FROM " + table);
      if (std::stoll(row.at(1).value_or("0")) > 1) admin_->execute("ALTER TABLE " + table + " AUTO_INCREMENT = 1");
    }
  } catch (...) {
    admin_->execute("SET SESSION foreign_key_checks = 1");
    throw;
  }
  admin_->execute("SET SESSION foreign_key_checks = 1");
}

void SuiteDatabase::open() {
  db_ = std::make_unique<TestDatabase>(suffix_);
  fresh_ = true;
}

void SuiteDatabase::close() { db_.reset(); }

TestDatabase& SuiteDatabase::emptied() {
  if (!db_) throw std::logic_error("SuiteDatabase " + suffix_ + ": emptied() before open() (SetUpTestSuite)");
  // The first test finds it as migrate left it: under ctest, where each test
  // is a process of its own, a test costs what it did with a TestDatabase.
  if (!fresh_) db_->clear();
  fresh_ = false;
  return *db_;
}

CommandResult run_command(const std::string& command) {
  char out_path[] = "/tmp/hm-test-out-XXXXXX";
  char err_path[] = "/tmp/hm-test-err-XXXXXX";
  const int out_fd = ::mkstemp(out_path);
  const int err_fd = ::mkstemp(err_path);
  ::close(out_fd);
  ::close(err_fd);
  const std::string full = "(" + command + ") >" + out_path + " 2>" + err_path;
  const int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto slurp = [](const char* p) {
    std::ifstream in(p);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  ::unlink(out_path);
  ::unlink(err_path);
  return r;
}

std::string worker_env(const DbOptions& db) {
  return "env -u DATABASE_URL DB_HOST='" + db.host + "' DB_PORT=" + std::to_string(db.port) + " DB_NAME='" + db.name +
         "' DB_USER='" + db.user + "' DB_PASSWORD='" + db.password + "' ";
}

}  // namespace hm::test

namespace hm::test {

std::map<std::string, std::string> worker_env_map(const DbOptions& db) {
  return {{"DATABASE_URL", ""},
          {"DB_HOST", db.host},
          {"DB_PORT", std::to_string(db.port)},
          {"DB_NAME", db.name},
          {"DB_USER", db.user},
          {"DB_PASSWORD", db.password},
          {"REDIS_URL", stack_redis_url()}};
}

std::string stack_redis_url() {
  const char* url = std::getenv("REDIS_URL");
  if (!url || !*url) {
    throw std::runtime_error("REDIS_URL is not set: start the local stack with `scripts/stack start` and "
                             "`source .run/env`, or run the tests with `scripts/test`");
  }
  return url;
}

}  // namespace hm::test
