#pragma once
// Producer and operator tools on one role's stream (redis/stream_group.h):
// enqueue, the dead-letter stream's list/replay/purge, and the counts shown by
// tests and `doctor`. Entries are written in the consumer's format
// (redis/stream_queue.h): `payload` and `enqueued_at`.
//
// Thread-safety: none; one connection, used by one thread at a time.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "hm/clock.h"
#include "hm/delivery_source.h"
#include "redis/connection.h"
#include "redis/stream_group.h"

namespace hm::redis {

// Connects at construction (throws RedisError) and creates the group if
// missing; every method throws RedisError on a transport or reply error.
class StreamAdmin {
 public:
  StreamAdmin(const RedisOptions& redis, StreamNames names);

  // XADDs every delivery of the source (pipelined), enqueued_at from `clock`.
  // Returns how many. Oversized deliveries are logged and skipped; if there
  // were any, throws std::runtime_error after enqueueing the others; so does
  // a read error of the source (after enqueueing what came before it).
  std::size_t enqueue(DeliverySource& source, const Clock& clock);
  // XADDs one payload; returns the new entry id.
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
  // Moves dead letters back to the stream: those named by ids, or when ids
  // is empty every one there was when the call began (at most max; 0 = no
  // limit), a page at a time (dead letters written meanwhile, e.g. by a
  // worker dead-lettering a replayed one again, are left for later). Each
  // page: XADD to the stream, then XDEL of those whose XADD succeeded. If some
  // failed, throws RedisError after moving the others; the failed ones stay.
  std::size_t replay(const std::vector<std::string>& ids, std::size_t max);
  // Deletes the dead letters named by ids.
  std::size_t purge(const std::vector<std::string>& ids);
  // Deletes every dead letter.
  std::size_t purge_all();
  // Deletes the dead letters written more than `age` ago (Redis' clock).
  std::size_t purge_older_than(std::chrono::milliseconds age);

  long long length();        // XLEN of the stream
  long long dead_length();   // XLEN of the dead-letter stream
  long long pending();       // entries delivered to the group but not acknowledged
  // Age of the oldest entry delivered to the group but not acknowledged, from
  // its id's time to Redis' TIME (one clock: no skew with the worker's); 0
  // when nothing is pending.
  long long oldest_pending_age_ms();
  // Entries not yet delivered to the group: 0 exactly when the group's last
  // delivered id is the stream's last id; otherwise Redis' "lag", or -1 when
  // Redis lost count (it does across a restart).
  long long lag();
  Connection& connection() { return *conn_; }

 private:
  // XRANGE of the dead-letter stream from start to end (inclusive, or
  // exclusive with a leading '('), at most count.
  std::vector<DeadEntry> read_dead(const std::string& start, const std::string& end, std::size_t count);
  // Replays these dead letters (see replay()); returns how many moved.
  std::size_t replay_entries(const std::vector<DeadEntry>& chosen);

  StreamNames names_;
  std::unique_ptr<Connection> conn_;
};

}  // namespace hm::redis
