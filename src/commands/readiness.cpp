#include "commands/readiness.h"

#include "mysql/schema.h"

namespace hm::commands {

std::string ReadinessChecks::database() {
  std::lock_guard<std::mutex> lock(db_mutex_);
  try {
    if (!db_ || db_->broken()) db_ = mysql::Session::connect(driver_, db_options_);
    if (!db_->ping()) {
      db_.reset();
      return "database does not answer";
    }
    // Unready until `migrate` has run and the grants are there: the stores
    // store nothing meanwhile (mysql::SchemaGate).
    if (const Status schema = mysql::check_schema(*db_); !schema.ok()) return "database: " + schema.message;
    return "";
  } catch (const DbError& e) {
    db_.reset();
    return std::string("database: ") + e.what();
  }
}

std::string ReadinessChecks::queue() {
  std::lock_guard<std::mutex> lock(admin_mutex_);
  return queue_locked();
}

std::string ReadinessChecks::queue_locked() {
  try {
    if (!admin_) admin_ = std::make_unique<redis::StreamAdmin>(redis_, names_);
    admin_->connection().command({"PING"});
    return "";
  } catch (const redis::RedisError& e) {
    admin_.reset();
    return std::string("redis: ") + e.what();
  }
}

std::string ReadinessChecks::pool() const {
  const PoolStats s = pool_.stats();
  if (s.waiting > 0 && s.in_use >= s.size + s.max_overflow) {
    return "pool exhausted: " + std::to_string(s.in_use) + " connections in use, " + std::to_string(s.waiting) +
           " threads waiting";
  }
  return "";
}

std::string ReadinessChecks::metrics() {
  metrics_.set_pool(pool_.stats());
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(admin_mutex_);
  if (now - queue_read_ >= std::chrono::seconds(5) && queue_locked().empty()) {
    queue_read_ = now;
    try {
      metrics_.set_queue({admin_->pending(), admin_->lag(), admin_->dead_length()});
    } catch (const redis::RedisError&) {
      admin_.reset();
    }
  }
  return metrics_.serialize();
}

}  // namespace hm::commands
