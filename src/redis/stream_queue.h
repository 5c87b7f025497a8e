#pragma once
// DeliveryQueue on a Redis Stream with a consumer group (at-least-once):
// - entries are read with XREADGROUP ... BLOCK; at start the consumer first
//   takes back its own pending entries (XREADGROUP ... 0);
// - entries left pending by any consumer for longer than the visibility
//   timeout are reclaimed with XAUTOCLAIM (every visibility_timeout / 4);
// - an entry's delivery count comes from XPENDING for redelivered entries;
// - ack is XACK; dead-lettering is XADD to the dead-letter stream and XACK of
//   the entry in one MULTI/EXEC.
// Transport errors drop the connection and reconnect with backoff (timeouts
// re-applied on the new connection); a stop request ends the waiting.
//
// Entry fields: `payload` (the delivery JSON) and `enqueued_at` (ms since epoch).
// Dead-letter fields: payload, reason, attempts, time (ms), entry_id, stream,
// consumer.
//
// Thread-safety: none; one queue (one Redis connection) per worker thread.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hm/clock.h"
#include "hm/delivery_queue.h"
#include "hm/delivery_source.h"
#include "redis/connection.h"
#include "hm/stop_signal.h"

namespace hm::redis {

struct StreamNames {
  std::string stream;       // e.g. hm:ingest
  std::string group;        // e.g. hm-worker
  std::string dead_stream;  // e.g. hm:ingest:dead
  std::string prefix = "hm:";  // jobs for role R go to <prefix>R
};

// The options of one consumer (one worker thread). The composition root
// builds them from the configuration (commands/queue_options.h).
struct StreamQueueOptions {
  RedisOptions redis;                      // where Redis is; its socket_timeout must exceed `block`
  StreamNames names;                       // the stream, group and dead-letter stream consumed
  std::string consumer;                    // the consumer's name in the group; unique per worker thread
  std::chrono::milliseconds block{1000};   // XREADGROUP BLOCK: longest wait of a read for new entries
  std::chrono::milliseconds linger{20};    // time to fill a batch after its first entry; 0 = do not wait
  // An entry pending this long with another consumer is reclaimed (XAUTOCLAIM min-idle-time).
  std::chrono::milliseconds visibility_timeout{120000};
};

class RedisStreamQueue final : public DeliveryQueue {
 public:
  RedisStreamQueue(StreamQueueOptions options, const StopSignal& stop);

  std::vector<QueueEntry> read(std::size_t max) override;
  using DeliveryQueue::ack;
  bool ack(const std::vector<std::string>& ids, const std::vector<OutboundJob>& jobs) override;
  bool dead_letter(const QueueEntry& entry, const std::string& reason, int attempts) override;

  // Connects (up to max_attempts, with backoff between them) and creates the
  // group if missing. False when not connected (or on stop).
  bool ensure_connected(int max_attempts = 1000000);
  long long reconnects() const { return reconnects_; }

 private:
  void drop(const RedisError& e);
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
  int failures_ = 0;  // consecutive connection failures, for backoff
  long long reconnects_ = 0;
};

// Producer and operator tools on a stream: enqueue, dead-letter handling, and
// counts for tests and `doctor`. One connection; not thread-safe.
class StreamAdmin {
 public:
  StreamAdmin(const RedisOptions& redis, StreamNames names);

  // XADDs every delivery of the source (pipelined). Returns how many.
  std::size_t enqueue(DeliverySource& source, const Clock& clock);
  std::string enqueue_one(const std::string& payload, long long enqueued_ms);

  struct DeadEntry {
    std::string id;
    std::string payload;
    std::string reason;
    std::string attempts;
    std::string time_ms;
    std::string entry_id;
  };
  std::vector<DeadEntry> dead_letters(std::size_t max);
  // Moves dead letters back to the stream (all when ids is empty, up to max).
  std::size_t replay(const std::vector<std::string>& ids, std::size_t max);
  // Deletes dead letters (all when ids is empty).
  std::size_t purge(const std::vector<std::string>& ids);

  long long length();        // XLEN of the stream
  long long dead_length();   // XLEN of the dead-letter stream
  long long pending();       // entries delivered to the group but not acknowledged
  // Entries not yet delivered to the group: 0 exactly when the group's last
  // delivered id is the stream's last id; otherwise Redis' "lag", or -1 when
  // Redis lost count (it does across a restart).
  long long lag();
  Connection& connection() { return *conn_; }

 private:
  StreamNames names_;
  std::unique_ptr<Connection> conn_;
};

}  // namespace hm::redis
