#pragma once
// The queue seam for the long-running worker: a source of deliveries that
// must be acknowledged once stored (at-least-once), with a dead-letter place
// for those that can never be stored. Implemented on Redis Streams
// (redis/stream_queue.h); tests use a fake.
//
// A DeliveryQueue object belongs to one worker thread.

#include <string>
#include <vector>

namespace hm {

struct QueueEntry {
  std::string id;             // the queue's id for the entry (stream entry id)
  std::string payload;        // the webhook delivery, as enqueued
  long long enqueued_ms = 0;  // when it was enqueued (ms since epoch), 0 if unknown
  int deliveries = 1;         // times it has been delivered, this time included
  std::string problem;        // set when the entry itself is malformed (e.g. no payload field)
};

struct OutboundJob {
  std::string role;     // the stream of that role receives it
  std::string payload;
};

class DeliveryQueue {
 public:
  virtual ~DeliveryQueue() = default;

  // Up to `max` entries: first those this consumer left unacknowledged before
  // (after a restart) and those reclaimed from dead consumers, then new ones.
  // Waits a bounded time; returns empty on timeout, on stop, or while the
  // queue is unreachable (it reconnects with backoff). Never throws.
  virtual std::vector<QueueEntry> read(std::size_t max) = 0;

  // Acknowledges stored entries and, in the same atomic step, publishes the
  // jobs they owe to other roles (so a crash never acknowledges an entry
  // whose jobs were not published). Returns false if the queue could not be
  // told: the entries will be delivered again, which the unique key and the
  // idempotent handlers make harmless.
  virtual bool ack(const std::vector<std::string>& ids, const std::vector<OutboundJob>& jobs) = 0;
  bool ack(const std::vector<std::string>& ids) { return ack(ids, {}); }

  // Moves one entry to the dead-letter place with the reason and attempt count,
  // and acknowledges it, atomically. Returns false on failure (it stays pending).
  virtual bool dead_letter(const QueueEntry& entry, const std::string& reason, int attempts) = 0;
};

}  // namespace hm
