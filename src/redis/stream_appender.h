#pragma once
// The webhook receiver's writer: XADDs one delivery to the ingest stream in
// the consumer's format (redis/stream_queue.h: `payload`, `enqueued_at`)
// plus `received_at` (ms: when the HTTP request arrived), and answers Ok only
// once Redis acknowledged the XADD (and, when `replicas` > 0, WAIT saw that
// many replicas acknowledge it within `redis_wait`).
//
// Connections: hiredis contexts are not thread-safe, so each append leases
// one from a small idle list (connecting outside the lock when it is empty)
// and gives it back after; a connection that failed is dropped, never
// reused (a new one gets the timeouts again: connection.h). After a failure
// appends fail fast (kRetryable, no connect attempt) for a backoff that
// doubles from 100 ms up to `backoff_max`, with jitter, so a Redis outage
// costs no connect storm; the first success resets it.
//
// Thread-safety: append() from any number of threads.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hm/delivery_appender.h"
#include "redis/connection.h"
#include "redis/redis_url.h"

namespace hm::redis {

struct StreamAppenderOptions {
  RedisOptions redis;
  std::string stream = "hm:ingest";
  int replicas = 0;                                 // WEBHOOK_REDIS_REPLICAS; 0 = no WAIT
  std::chrono::milliseconds redis_wait{1000};       // WAIT's timeout
  std::chrono::milliseconds backoff_max{2000};      // longest fail-fast period after a failure
  std::size_t max_idle = 64;                        // idle connections kept; more are closed
};

class RedisStreamAppender final : public DeliveryAppender {
 public:
  explicit RedisStreamAppender(StreamAppenderOptions options);
  ~RedisStreamAppender() override;

  Status append(const std::string& payload, long long received_ms) override;

  // Whether the last append (or connect) succeeded; false before the first.
  bool healthy() const { return failures_.load() == 0 && used_.load(); }

 private:
  std::unique_ptr<Connection> lease();
  void give_back(std::unique_ptr<Connection> c);
  Status failed(const std::string& why);
  Status write(Connection& c, const std::string& payload, long long received_ms);

  const StreamAppenderOptions options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mutex_
  std::atomic<int> failures_{0};                   // in a row
  std::atomic<long long> quiet_until_ns_{0};       // steady clock: fail fast before this
  std::atomic<bool> used_{false};
};

}  // namespace hm::redis
