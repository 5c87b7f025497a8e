#pragma once
// The daemon's /readyz checks and queue gauges, with connections of their
// own (not the pool's: a busy pool must not make the database look down).
// The probes (ops/probes.h) call database(), queue() and pool() from their
// own thread and gather_queue_gauges() from another; metrics() runs on the
// HTTP threads and answers from memory.
//
// Thread-safety: each connection behind its own mutex.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mysql/driver.h"
#include "mysql/message_store.h"
#include "mysql/options.h"
#include "ops/metrics.h"
#include "commands/queue_options.h"
#include "redis/stream_admin.h"
#include "redis/stream_queue.h"

namespace hm::commands {

class ReadinessChecks {
 public:
  ReadinessChecks(mysql::Driver& driver, DbOptions db, redis::RedisOptions redis, redis::StreamNames names,
                  const mysql::SessionPool& pool, PrometheusMetrics& metrics)
      : driver_(driver), db_options_(std::move(db)), redis_(std::move(redis)), names_(std::move(names)), pool_(pool),
        metrics_(metrics) {}

  // Each returns empty when ready, else the reason.
  std::string database();
  std::string queue();
  std::string pool() const;
  // Reads the queue gauges (pending, lag, dead letters, oldest pending age)
  // from Redis on a connection of its own and stores them in the metrics; on
  // a Redis error the last values stay.
  void gather_queue_gauges();
  // The streams whose length gather_queue_gauges() also reads (XLEN); call
  // before the background threads start.
  void measure_streams(std::vector<std::string> streams) { measured_streams_ = std::move(streams); }
  // Metrics text with the pool gauges and the process' figures (/proc/self) refreshed; no network I/O.
  std::string metrics();

 private:
  mysql::Driver& driver_;
  const DbOptions db_options_;
  const redis::RedisOptions redis_;
  const redis::StreamNames names_;
  const mysql::SessionPool& pool_;
  PrometheusMetrics& metrics_;
  std::mutex db_mutex_;
  std::unique_ptr<mysql::Session> db_;  // guarded by db_mutex_
  std::mutex admin_mutex_;
  std::unique_ptr<redis::StreamAdmin> admin_;  // guarded by admin_mutex_
  std::mutex gauge_mutex_;
  std::unique_ptr<redis::StreamAdmin> gauge_admin_;  // guarded by gauge_mutex_
  std::vector<std::string> measured_streams_;  // constant once the threads run
};

}  // namespace hm::commands
