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

void ReadinessChecks::gather_queue_gauges() {
  std::lock_guard<std::mutex> lock(gauge_mutex_);
  try {
    if (!gauge_admin_) gauge_admin_ = std::make_unique<redis::StreamAdmin>(redis_, names_);
    QueueGauges q;
    q.pending = gauge_admin_->pending();
    q.lag = gauge_admin_->lag();
    q.dead_letters = gauge_admin_->dead_length();
    q.oldest_pending_age_ms = gauge_admin_->oldest_pending_age_ms();
    if (!measured_streams_.empty()) {
      std::vector<std::vector<std::string>> xlens;
      for (const auto& s : measured_streams_) xlens.push_back({"XLEN", s});
      const auto replies = gauge_admin_->connection().pipeline(xlens);
      for (std::size_t i = 0; i < replies.size(); ++i)
        if (replies[i].view().is_integer()) q.stream_lengths.emplace_back(measured_streams_[i], replies[i].view().integer());
    }
    metrics_.set_queue(q);
  } catch (const redis::RedisError&) {
    gauge_admin_.reset();  // reconnect next time; readiness reports the outage
  }
}

std::string ReadinessChecks::metrics() {
  metrics_.set_pool(pool_.stats());
  if (const auto process = read_process_stats()) metrics_.set_process(*process);
  return metrics_.serialize();
}

}  // namespace hm::commands
