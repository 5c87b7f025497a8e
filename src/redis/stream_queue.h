#pragma once
// DeliveryQueue on a Redis Stream with a consumer group (at-least-once):
// - entries are read with XREADGROUP ... BLOCK; at start the consumer first
//   takes back its own pending entries (XREADGROUP ... 0);
// - entries left pending by any consumer for longer than the visibility
//   timeout are reclaimed with XAUTOCLAIM (every visibility_timeout / 4);
// - an entry's delivery count comes from XPENDING for redelivered entries;
// - ack publishes the jobs (XADD to each role's stream, in one script that
//   caps a stream without a consumer group, a role not deployed, at about
//   unconsumed_max_entries: XADD MAXLEN ~) and, only when every XADD
//   succeeded, XACKs the entries; dead-lettering likewise XADDs to the
//   dead-letter stream, then XACKs. MULTI/EXEC would not help: Redis does not
//   roll back a transaction whose XADD failed, it would XACK anyway. A crash
//   between the two steps publishes again on redelivery (job handlers are
//   idempotent) and never loses a job or a dead letter.
// Every error (transport or error reply) is handled by its row of the one
// table, classify() in redis/connection.h: it is reported to
// Telemetry::redis_error, logged (first of a streak and every 20th), then the
// connection is dropped (READONLY, LOADING, MASTERDOWN, transport errors) or
// the group recreated (NOGROUP: the stream key was deleted or lost), and the
// queue backs off with jitter (interrupted by a stop) before trying again.
//
// Entry fields: `payload` (the delivery JSON) and `enqueued_at` (ms since epoch).
// Dead-letter fields: payload, reason, attempts, time (ms), entry_id, stream,
// consumer. Producing, dead-letter handling and counts: redis/stream_admin.h.
//
// Thread-safety: none; one queue (one Redis connection) per worker thread.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hm/delivery_queue.h"
#include "hm/stop_signal.h"
#include "hm/telemetry.h"
#include "redis/connection.h"
#include "redis/stream_group.h"

namespace hm::redis {

// The options of one consumer (one worker thread). The composition root
// builds them from the configuration (commands/queue_options.h).
struct StreamQueueOptions {
  RedisOptions redis;                      // where Redis is; its socket_timeout must exceed `block`
  StreamNames names;                       // the stream, group and dead-letter stream consumed
  std::string consumer;                    // the consumer's name in the group; unique per worker thread
  std::chrono::milliseconds block{1000};   // XREADGROUP BLOCK: longest wait of a read for new entries
  std::chrono::milliseconds batch_linger{20};  // time to fill a batch after its first entry; 0 = do not wait
  std::size_t per_transaction = 0;         // INGEST_BATCH_SIZE: the batch the linger waits for; 0 = the whole read
  // An entry pending this long with another consumer is reclaimed (XAUTOCLAIM min-idle-time).
  std::chrono::milliseconds visibility_timeout{120000};
  // QUEUE_UNCONSUMED_MAX_ENTRIES: a role stream without a consumer group keeps
  // about this many of the newest jobs (a role deployed later finds them); 0 =
  // no job is published to it.
  long long unconsumed_max_entries = 10000;
  // DEAD_LETTER_MAX_ENTRIES: the dead-letter stream is capped at about this
  // many entries at each write (XADD MAXLEN ~); 0 = no cap.
  long long dead_letter_max_entries = 10000;
};

class RedisStreamQueue final : public DeliveryQueue {
 public:
  RedisStreamQueue(StreamQueueOptions options, const StopSignal& stop, Telemetry& telemetry = no_telemetry());

  std::vector<QueueEntry> read(std::size_t max) override;
  using DeliveryQueue::ack;
  Status ack(const std::vector<std::string>& ids, const std::vector<OutboundJob>& jobs) override;
  Status dead_letter(const QueueEntry& entry, const std::string& reason, int attempts) override;
  // XCLAIM to this consumer with RETRYCOUNT one less and JUSTID (which does
  // not count a delivery): the next reclaim counts the same delivery again.
  Status keep_uncounted(const std::vector<QueueEntry>& entries) override;

  // Connects (up to max_attempts, with backoff between them) and creates the
  // group if missing. False when not connected (or on stop).
  bool ensure_connected(int max_attempts = 1000000);
  long long reconnects() const { return reconnects_; }
  long long reads() const { return reads_; }    // XREADGROUP commands sent
  long long errors() const { return errors_; }  // errors handled (replies and transport)

 private:
  // Reports e (telemetry, rate-limited log) and applies its policy: drops
  // the connection or recreates the group. Does not wait.
  void handle(const RedisError& e);
  void report(const RedisError& e, const RedisErrorPolicy& policy);
  // Waits a jittered, growing delay after failures_; true when a stop was requested.
  bool back_off();
  void recovered();
  void forget_connection_state();
  void read_batch(std::size_t max, std::vector<QueueEntry>& batch);
  // Sends tx and checks every reply: the first error reply is handled (and
  // backed off from) and makes the whole step Retryable.
  Status deliver(const std::string& what, const std::vector<std::vector<std::string>>& tx);
  // Sends `tx` as one pipeline, reconnecting (with backoff) and resending
  // after a broken connection up to kDeliverAttempts times; on stop, gives up
  // after the third try. Retryable when Redis could not be told.
  Result<std::vector<Reply>> send(const std::vector<std::vector<std::string>>& tx);
  std::vector<QueueEntry> read_group(const std::string& id, std::size_t count, std::optional<long long> block_ms);
  std::vector<QueueEntry> reclaim(std::size_t max);
  void fill_delivery_counts(std::vector<QueueEntry>& entries);

  StreamQueueOptions options_;
  const StopSignal& stop_;
  std::unique_ptr<Connection> conn_;
  bool own_pending_done_ = false;
  std::string own_pending_cursor_ = "0";
  std::string last_page_id_;  // last id of the last read_group page, deleted entries included
  std::string reclaim_cursor_ = "0-0";
  std::chrono::steady_clock::time_point next_reclaim_{};
  Telemetry& telemetry_;
  bool breaker_open_ = false;  // reported through Telemetry::breaker("redis", ...)
  int failures_ = 0;  // consecutive failures (connects, error replies), for backoff and the log
  long long reconnects_ = 0;
  long long reads_ = 0;
  long long errors_ = 0;
};

}  // namespace hm::redis
